// Element-wise ops. One thread per element; n elements.

// out = a + b[i mod inner]: b is broadcast over a's leading axes (inner = a's size when shapes match).
extern "C" __global__ void add_broadcast(float* out, const float* a, const float* b, long n, int inner) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i % inner];
}

// out (+)= a · b, n elements (dropout's mask, forward and backward).
extern "C" __global__ void multiply(float* out, const float* a, const float* b, long n, int add) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = add ? out[i] + a[i] * b[i] : a[i] * b[i];
}

// out (+)= x · s, n elements (out may be x). With s = 1 it passes a gradient on unchanged.
extern "C" __global__ void scale_into(float* out, const float* x, float s, long n, int add) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = add ? out[i] + x[i] * s : x[i] * s;
}

// y[n] = x[n] as bfloat16 bits, rounded to nearest, ties to even (NaN stays a quiet NaN): the
// inputs of bf16 matrix products.
extern "C" __global__ void to_bf16(unsigned short* y, const float* x, long n) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const unsigned u = __float_as_uint(x[i]);
  y[i] = (unsigned short)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : (u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// dst (+)= s[0] for every element: a scalar gradient spread over a sum's inputs. dst [n], s [1].
extern "C" __global__ void spread_scalar(float* dst, const float* s, long n, int add) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = add ? dst[i] + s[0] : s[0];
}

// GELU with GPT-2's tanh approximation, as x·σ(2u), u = √(2/π)(x + 0.044715x³): the CPU engine's form.
#define GELU_SCALE 0.79788456f
__device__ __forceinline__ float gelu_sigmoid(float x) {
  const float minus_two_u = x * (-2.0f * GELU_SCALE + x * x * (-2.0f * GELU_SCALE * 0.044715f));
  return 1.0f / (1.0f + expf(minus_two_u));
}

// out = gelu(x). x, out [n].
extern "C" __global__ void gelu_forward(float* out, const float* x, long n) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = x[i] * gelu_sigmoid(x[i]);
}

// dx (+)= dout · gelu'(x), gelu' = σ + xσ(1-σ)·2u'. x, dout, dx [n].
extern "C" __global__ void gelu_backward(float* dx, const float* x, const float* dout, long n, int add) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i], s = gelu_sigmoid(v);
  const float two_du = 2.0f * GELU_SCALE + v * v * (6.0f * GELU_SCALE * 0.044715f);
  const float d = dout[i] * (s + v * s * (1.0f - s) * two_du);
  dx[i] = add ? dx[i] + d : d;
}

// One AdamW step as torch.optim.AdamW (non-fused) and the CPU engine's `adamwUpdate` compute it:
// p *= decay; m = lerp(m, g, 1-β1); v = β2·v + (1-β2)·g²; p -= step · m / (√v / bc2 + eps).
// p, g, m, v [n].
extern "C" __global__ void adamw_update(float* p, const float* g, float* m, float* v, long n, float beta1,
                                        float beta2, float eps, float step_size, float bc2_sqrt, float decay) {
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float grad = g[i];
  const float mi = m[i] + (grad - m[i]) * (1.0f - beta1);
  const float vi = v[i] * beta2 + (1.0f - beta2) * (grad * grad);
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * decay - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
}

// partial[block] = Σ x[i]² over the elements block `block` owns in a grid-stride walk. Launch with a
// fixed grid (GRID_SUM_BLOCKS × 256) so the order of the sums never depends on the device.
extern "C" __global__ void sum_squares_partials(float* partial, const float* x, long n) {
  float acc = 0.0f;
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) acc += x[i] * x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// out[0] = Σ partial[0..<count], by one block in a fixed order.
extern "C" __global__ void sum_partials(float* out, const float* partial, int count) {
  float acc = 0.0f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[0] = acc;
}
