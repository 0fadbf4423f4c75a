// Shared helpers of SwiftGPT's CUDA kernels. The kernel sources are one NVRTC program, this file
// first; they include no headers (NVRTC wheels ship none), and use no float atomics, so every sum
// is added in the same order on every run.

#define NEG_INF __int_as_float(0xff800000)

// Reductions in a fixed order: over the 32 lanes of a warp (a butterfly of shuffles), and over a
// block of up to 1024 threads (a multiple of 32; each warp's result, then those of the warps).
struct Sum { __device__ float operator()(float a, float b) const { return a + b; } };
struct Max { __device__ float operator()(float a, float b) const { return fmaxf(a, b); } };

template <typename Op> __device__ __forceinline__ float warp_reduce(float v) {
  for (int o = 16; o > 0; o >>= 1) v = Op()(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename Op> __device__ float block_reduce(float v, float identity) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_reduce<Op>(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = warp_reduce<Op>(lane < warps ? partial[lane] : identity);
  __syncthreads();  // partial may be reused by the next call
  return v;
}

// The sum and the maximum of v over a warp or a block, given to every thread of it.
__device__ __forceinline__ float warp_sum(float v) { return warp_reduce<Sum>(v); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce<Max>(v); }
__device__ float block_sum(float v) { return block_reduce<Sum>(v, 0.0f); }
__device__ float block_max(float v) { return block_reduce<Max>(v, NEG_INF); }

// Column sums in chunks, the CPU engine's `sumRows` order: partial[chunk, j] = Σ x[r, j] over the
// rows of `chunk` (rows·chunk/chunks up to rows·(chunk+1)/chunks), in row order.
// x [rows, cols], partial [chunks, cols]. Grid (⌈cols/256⌉, chunks), 256 threads.
extern "C" __global__ void column_sum_partials(float* partial, const float* x, int rows, int cols, int chunks) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
  if (j >= cols) return;
  const long lo = (long)rows * chunk / chunks, hi = (long)rows * (chunk + 1) / chunks;
  float acc = 0.0f;
  for (long r = lo; r < hi; r++) acc += x[r * cols + j];
  partial[(long)chunk * cols + j] = acc;
}

// out[j] = out[j] + partial[0, j] + partial[1, j] + ..., added one chunk at a time (as `sumRows`),
// or out[j] = that sum without out's old value when accumulate is 0. out [cols], partial [chunks, cols].
extern "C" __global__ void add_partials(float* out, const float* partial, int chunks, int cols, int accumulate) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  float acc = accumulate ? out[j] : 0.0f;
  for (int c = 0; c < chunks; c++) acc += partial[(long)c * cols + j];
  out[j] = acc;
}
