// Softmax cross-entropy against integer targets; rows whose target is `ignore` count for nothing.
// One block of 256 threads per row.

// lse[r] = log Σ exp(logits[r, :]), losses[r] = lse[r] - logits[r, target] (0 for ignored rows).
// logits [rows, V], targets, lse, losses [rows].
extern "C" __global__ void cross_entropy_forward(float* losses, float* lse, const float* logits, const int* targets,
                                                 int v, int ignore) {
  const int r = blockIdx.x;
  const float* row = logits + (long)r * v;
  if (targets[r] == ignore) {
    if (threadIdx.x == 0) { losses[r] = 0.0f; lse[r] = 0.0f; }
    return;
  }
  float top = NEG_INF;
  for (int j = threadIdx.x; j < v; j += blockDim.x) top = fmaxf(top, row[j]);
  top = block_max(top);
  float total = 0.0f;
  for (int j = threadIdx.x; j < v; j += blockDim.x) total += expf(row[j] - top);
  total = block_sum(total);
  if (threadIdx.x == 0) {
    const float shift = top + logf(total);
    lse[r] = shift;
    losses[r] = shift - row[targets[r]];
  }
}

// out[0] = the mean of losses over the rows not ignored (0 when all are), summed in double by one
// block in a fixed order. losses, targets [rows].
extern "C" __global__ void cross_entropy_mean(float* out, const float* losses, const int* targets, int rows, int ignore) {
  __shared__ double sums[256];
  __shared__ int counts[256];
  double acc = 0.0;
  int counted = 0;
  for (int r = threadIdx.x; r < rows; r += blockDim.x)
    if (targets[r] != ignore) { acc += losses[r]; counted++; }
  sums[threadIdx.x] = acc;
  counts[threadIdx.x] = counted;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) { sums[threadIdx.x] += sums[threadIdx.x + s]; counts[threadIdx.x] += counts[threadIdx.x + s]; }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = counts[0] == 0 ? 0.0f : (float)(sums[0] / counts[0]);
}

// dlogits[r, :] (+)= g·(softmax(logits[r, :]) - onehot(target)), 0 for ignored rows, where g is the
// loss's gradient dloss[0] over the number of rows counted. logits, dlogits [rows, V].
extern "C" __global__ void cross_entropy_backward(float* dlogits, const float* logits, const float* lse,
                                                  const int* targets, const float* dloss, float counted, int v,
                                                  int ignore, int add) {
  const int r = blockIdx.x;
  const float g = dloss[0] / counted;
  const float* row = logits + (long)r * v;
  float* drow = dlogits + (long)r * v;
  const int target = targets[r];
  const float shift = lse[r];
  for (int j = threadIdx.x; j < v; j += blockDim.x) {
    const float d = target == ignore ? 0.0f : g * expf(row[j] - shift) - (j == target ? g : 0.0f);
    drow[j] = add ? drow[j] + d : d;
  }
}
