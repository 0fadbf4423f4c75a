// LayerNorm over the last axis (biased variance, as PyTorch). One warp per row; 4 rows per block
// of 128 threads.

// out = (x - mean)·rstd·w + b; stats[r] = (mean, rstd). x, out [rows, C], w, b [C] (b may be null),
// stats [rows, 2].
extern "C" __global__ void layernorm_forward(float* out, float* stats, const float* x, const float* w, const float* b,
                                             int rows, int c, float eps) {
  const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float* xr = x + (long)r * c;
  float sum = 0.0f;
  for (int j = lane; j < c; j += 32) sum += xr[j];
  const float mean = warp_sum(sum) / c;
  float var = 0.0f;
  for (int j = lane; j < c; j += 32) { const float d = xr[j] - mean; var += d * d; }
  const float rstd = rsqrtf(warp_sum(var) / c + eps);
  float* orow = out + (long)r * c;
  for (int j = lane; j < c; j += 32) orow[j] = (xr[j] - mean) * rstd * w[j] + (b ? b[j] : 0.0f);
  if (lane == 0) { stats[2 * r] = mean; stats[2 * r + 1] = rstd; }
}

// dx (+)= ((w·dout) - mean(w·dout) - x̂·mean(w·dout·x̂))·rstd, x̂ = (x - mean)·rstd (llm.c's form).
// x, dout, dx [rows, C], w [C], stats [rows, 2].
extern "C" __global__ void layernorm_backward_input(float* dx, const float* dout, const float* x, const float* w,
                                                    const float* stats, int rows, int c, int add) {
  const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float *xr = x + (long)r * c, *dr = dout + (long)r * c;
  const float mean = stats[2 * r], rstd = stats[2 * r + 1];
  float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
  for (int j = lane; j < c; j += 32) {
    const float dnorm = w[j] * dr[j];
    dnorm_mean += dnorm;
    dnorm_norm_mean += dnorm * (xr[j] - mean) * rstd;
  }
  dnorm_mean = warp_sum(dnorm_mean) / c;
  dnorm_norm_mean = warp_sum(dnorm_norm_mean) / c;
  float* dxr = dx + (long)r * c;
  for (int j = lane; j < c; j += 32) {
    const float norm = (xr[j] - mean) * rstd;
    const float d = (w[j] * dr[j] - dnorm_mean - norm * dnorm_norm_mean) * rstd;
    dxr[j] = add ? dxr[j] + d : d;
  }
}

// The weight gradient's chunk partials, as `column_sum_partials` over the rows x̂·dout:
// partial[chunk, j] = Σ (x[r, j] - mean_r)·rstd_r·dout[r, j]. Grid (⌈C/256⌉, chunks), 256 threads.
extern "C" __global__ void layernorm_weight_partials(float* partial, const float* dout, const float* x,
                                                     const float* stats, int rows, int c, int chunks) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
  if (j >= c) return;
  const long lo = (long)rows * chunk / chunks, hi = (long)rows * (chunk + 1) / chunks;
  float acc = 0.0f;
  for (long r = lo; r < hi; r++) acc += (x[r * c + j] - stats[2 * r]) * stats[2 * r + 1] * dout[r * c + j];
  partial[(long)chunk * c + j] = acc;
}
