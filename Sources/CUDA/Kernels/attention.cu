// Causal self-attention with the probabilities kept (llm.c's unfused path): the products run in
// cuBLAS, these kernels move heads and do the masked softmax.

// q, k, v [B, NH, T, hs] ← qkv [B, T, 3C] (C = NH·hs, q | k | v). One thread per element of q.
extern "C" __global__ void attention_split_heads(float* q, float* k, float* v, const float* qkv, int b, int t, int nh,
                                                 int hs) {
  const long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
  const long total = (long)b * nh * t * hs;
  if (e >= total) return;
  const int d = e % hs, ti = (e / hs) % t, h = (e / ((long)hs * t)) % nh, bi = e / ((long)hs * t * nh);
  const int c = nh * hs;
  const float* src = qkv + ((long)bi * t + ti) * 3 * c + h * hs + d;
  q[e] = src[0];
  k[e] = src[c];
  v[e] = src[2 * c];
}

// dqkv [B, T, 3C] (+)= dq | dk | dv, each [B, NH, T, hs]. One thread per element of dq.
extern "C" __global__ void attention_merge_head_grads(float* dqkv, const float* dq, const float* dk, const float* dv,
                                                      int b, int t, int nh, int hs, int add) {
  const long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
  const long total = (long)b * nh * t * hs;
  if (e >= total) return;
  const int d = e % hs, ti = (e / hs) % t, h = (e / ((long)hs * t)) % nh, bi = e / ((long)hs * t * nh);
  const int c = nh * hs;
  float* dst = dqkv + ((long)bi * t + ti) * 3 * c + h * hs + d;
  dst[0] = add ? dst[0] + dq[e] : dq[e];
  dst[c] = add ? dst[c] + dk[e] : dk[e];
  dst[2 * c] = add ? dst[2 * c] + dv[e] : dv[e];
}

// y [B, T, C] ← yh [B, NH, T, hs] (heads concatenated), or the reverse when to_heads is 1.
extern "C" __global__ void attention_move_heads(float* dst, const float* src, int b, int t, int nh, int hs, int to_heads) {
  const long e = (long)blockIdx.x * blockDim.x + threadIdx.x;  // index into the [B, NH, T, hs] side
  const long total = (long)b * nh * t * hs;
  if (e >= total) return;
  const int d = e % hs, ti = (e / hs) % t, h = (e / ((long)hs * t)) % nh, bi = e / ((long)hs * t * nh);
  const long flat = ((long)bi * t + ti) * nh * hs + h * hs + d;
  if (to_heads) dst[e] = src[flat]; else dst[flat] = src[e];
}

// att[r, j] = softmax(scale · scores[r, 0..past+i])[j] for j ≤ past + i and 0 beyond, where row r
// is new query i = r mod T after `past` cached tokens (0 in training). scores, att [rows, past + T]
// (rows = B·NH·T); one warp per row, 4 rows per block.
extern "C" __global__ void causal_softmax_forward(float* att, const float* scores, int rows, int t, int past, float scale) {
  const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= rows) return;
  const int visible = past + r % t + 1;
  t += past;  // the row length
  const float* s = scores + (long)r * t;
  float top = NEG_INF;
  for (int j = lane; j < visible; j += 32) top = fmaxf(top, s[j]);
  top = warp_max(top);
  float total = 0.0f;
  for (int j = lane; j < visible; j += 32) total += expf(scale * s[j] - scale * top);
  total = warp_sum(total);
  float* a = att + (long)r * t;
  for (int j = lane; j < t; j += 32) a[j] = j < visible ? expf(scale * s[j] - scale * top) / total : 0.0f;
}

// dscores[r, j] = scale · att[r, j] · (datt[r, j] - Σ att·datt) (0 past the diagonal).
// att, datt, dscores [rows, T]; one warp per row, 4 rows per block.
extern "C" __global__ void causal_softmax_backward(float* dscores, const float* att, const float* datt, int rows, int t,
                                                   float scale) {
  const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= rows) return;
  const int visible = r % t + 1;
  const float *a = att + (long)r * t, *da = datt + (long)r * t;
  float dot = 0.0f;
  for (int j = lane; j < visible; j += 32) dot += a[j] * da[j];
  dot = warp_sum(dot);
  float* ds = dscores + (long)r * t;
  for (int j = lane; j < t; j += 32) ds[j] = j < visible ? scale * a[j] * (da[j] - dot) : 0.0f;
}

// keys[past + i, :] = k_i and values[past + i, :] = v_i for the new tokens' qkv [T, 3C] (a decoder's
// cache, [capacity, C]). One thread per element of the new keys.
extern "C" __global__ void kv_cache_store(float* keys, float* values, const float* qkv, int t, int c, int past) {
  const long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long)t * c) return;
  const long i = e / c, j = e % c;
  keys[(past + i) * c + j] = qkv[i * 3 * c + c + j];
  values[(past + i) * c + j] = qkv[i * 3 * c + 2 * c + j];
}
