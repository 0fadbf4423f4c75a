// A stand-in for the CUDA driver, runtime and cuBLAS on machines without a GPU, built by
// CUDATests into libcuda.so.1, libcudart.so.13, libcublasLt.so.13 and libcublas.so.13:
// "device memory" is host memory, kernels run in emulator.h, products are plain loops. With
// -DNO_DEVICE, cuInit reports CUDA_ERROR_NO_DEVICE (and the kernels are left out). The test writes the kernels' program to
// program.cu and their names to kernel_table.inc beside this build: KERNEL(name), or PLAIN_KERNEL(name) for a kernel
// with no barrier or shuffle, which runs as a plain loop.
#include "emulator.h"

#include <dlfcn.h>
#include <map>
#include <mutex>

#ifndef NO_DEVICE
#include "program.cu"
#endif

// probe(float* out, int n, long big, float s, const float* maybe_null): out[0..6] = n, big, s,
// whether maybe_null is null, grid x, block x and the shared bytes of the launch.
static unsigned last_shared = 0;
static void probe(float* out, int n, long big, float s, const float* maybe_null) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  out[0] = (float)n;
  out[1] = (float)big;
  out[2] = s;
  out[3] = maybe_null == nullptr ? 1.0f : 0.0f;
  out[4] = (float)gridDim.x;
  out[5] = (float)blockDim.x;
  out[6] = (float)last_shared;
}

namespace {
void* const context = (void*)0x1234;

// Every allocation is followed by 64 guard bytes, checked after each kernel and product: a write
// past the end of a buffer aborts naming the launch (the GPU would corrupt memory silently).
constexpr size_t guard_bytes = 64;
constexpr unsigned char guard_value = 0xAB;
std::mutex allocations_mutex;
std::map<uint64_t, size_t> allocations;

void check_guards(const char* after) {
  std::lock_guard<std::mutex> lock(allocations_mutex);
  for (auto& [address, size] : allocations) {
    const unsigned char* guard = (const unsigned char*)address + size;
    for (size_t i = 0; i < guard_bytes; i++)
      if (guard[i] != guard_value) {
        fprintf(stderr, "fake CUDA: %s wrote past the end of a %zu-byte buffer\n", after, size);
        abort();
      }
  }
}

struct Kernel { const char* name; void (*launch)(dim3, dim3, void**); };
#define KERNEL(f) {#f, [](dim3 g, dim3 b, void** p) { emulator::launch(f, g, b, p); }},
#define PLAIN_KERNEL(f) {#f, [](dim3 g, dim3 b, void** p) { emulator::launch_plain(f, g, b, p); }},
const Kernel kernels[] = {
#ifndef NO_DEVICE
#include "kernel_table.inc"
#endif
  KERNEL(probe)
};
}  // namespace

extern "C" {
void fake_cuda_check_guards(const char* after) { check_guards(after); }

int cuInit(unsigned flags) {
#ifdef NO_DEVICE
  return 100;
#else
  return flags == 0 ? 0 : 1;
#endif
}
int cuDriverGetVersion(int* v) { *v = 13000; return 0; }
int cuDeviceGetCount(int* c) { *c = 1; return 0; }
int cuDeviceGet(int* d, int ordinal) { *d = ordinal; return 0; }
int cuDeviceGetName(char* name, int length, int) { strncpy(name, "Fake H200", length); return 0; }
int cuDeviceTotalMem_v2(size_t* bytes, int) { *bytes = (size_t)141 << 30; return 0; }
int cuDeviceGetAttribute(int* v, int attribute, int) {
  *v = attribute == 75 ? 9 : attribute == 76 ? 0 : attribute == 16 ? 132 : 0;
  return 0;
}
int cuDevicePrimaryCtxRetain(void** c, int) { *c = context; return 0; }
int cuCtxSetCurrent(void* c) { return c == context ? 0 : 201; }  // CUDA_ERROR_INVALID_CONTEXT
int cuCtxSynchronize(void) { return 0; }
int cuMemAlloc_v2(uint64_t* p, size_t n) {
  if (n > ((size_t)1 << 40)) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
  unsigned char* memory = (unsigned char*)malloc(n + guard_bytes);
  memset(memory + n, guard_value, guard_bytes);
  *p = (uint64_t)memory;
  std::lock_guard<std::mutex> lock(allocations_mutex);
  allocations[*p] = n;
  return 0;
}
int cuMemFree_v2(uint64_t p) {
  check_guards("a kernel");
  std::lock_guard<std::mutex> lock(allocations_mutex);
  allocations.erase(p);
  free((void*)p);
  return 0;
}
int cuMemGetInfo_v2(size_t* free_bytes, size_t* total) { *free_bytes = (size_t)140 << 30; *total = (size_t)141 << 30; return 0; }
int cuMemcpyHtoD_v2(uint64_t d, const void* s, size_t n) { memcpy((void*)d, s, n); check_guards("cuMemcpyHtoD"); return 0; }
int cuMemcpyDtoH_v2(void* d, uint64_t s, size_t n) { memcpy(d, (void*)s, n); return 0; }
int cuMemsetD8_v2(uint64_t d, unsigned char v, size_t n) { memset((void*)d, v, n); check_guards("cuMemsetD8"); return 0; }
int cuModuleLoadData(void** m, const void* image) { *m = (void*)image; return 0; }
int cuModuleGetFunction(void** f, void*, const char* name) {
  for (const Kernel& k : kernels) if (strcmp(k.name, name) == 0) { *f = (void*)&k; return 0; }
  return 500;  // CUDA_ERROR_NOT_FOUND
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void*, void** params, void**) {
  if (by != 1 || bz != 1 || bx > 1024) return 1;  // the emulator runs one-dimensional blocks
  static std::mutex one_launch_at_a_time;           // the emulator's state is global
  std::lock_guard<std::mutex> lock(one_launch_at_a_time);
  last_shared = shared;
  static_cast<const Kernel*>(f)->launch({gx, gy, gz}, {bx, by, bz}, params);
  check_guards(static_cast<const Kernel*>(f)->name);
  return 0;
}
int cuGetErrorName(int e, const char** s) {
  *s = e == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : e == 500 ? "CUDA_ERROR_NOT_FOUND" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
int cuGetErrorString(int e, const char** s) {
  *s = e == 2 ? "out of memory" : e == 500 ? "named symbol not found" : "unknown error";
  return 0;
}

// The runtime and cuBLAS calls SwiftGPT makes. Column-major, as cuBLAS.
int cudaSetDevice(int) { return 0; }
int cudaFree(void*) { return 0; }
int cublasCreate_v2(void** handle) { *handle = (void*)0x5678; return 0; }
int cublasSetMathMode(void*, int) { return 0; }
int cublasSgemmStridedBatched(void*, int ta, int tb, int m, int n, int k, const float* alpha, const float* a, int lda,
                              long long sa, const float* b, int ldb, long long sb, const float* beta, float* c, int ldc,
                              long long sc, int batch) {
  for (int p = 0; p < batch; p++)
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) {
        float acc = 0.0f;
        for (int l = 0; l < k; l++)
          acc += (ta ? a[p * sa + l + (long)i * lda] : a[p * sa + i + (long)l * lda]) *
                 (tb ? b[p * sb + j + (long)l * ldb] : b[p * sb + l + (long)j * ldb]);
        float* out = c + p * sc + i + (long)j * ldc;
        *out = *alpha * acc + (*beta == 0.0f ? 0.0f : *beta * *out);
      }
  // The library is loaded once per soname: the driver's copy holds the allocations.
  auto driver_check = (void (*)(const char*))dlsym(RTLD_DEFAULT, "fake_cuda_check_guards");
  driver_check("cublasSgemmStridedBatched");
  return 0;
}
// cublasGemmStridedBatchedEx with FP32 output and compute (CUBLAS_COMPUTE_32F), inputs FP32
// (CUDA_R_32F) or bfloat16 bits (CUDA_R_16BF): widened exactly, then the same loops as Sgemm.
static float element(const void* p, int type, long i) {
  if (type == 14) { unsigned bits = (unsigned)((const unsigned short*)p)[i] << 16; float f; memcpy(&f, &bits, 4); return f; }
  return ((const float*)p)[i];
}
int cublasGemmStridedBatchedEx(void*, int ta, int tb, int m, int n, int k, const void* alpha, const void* a, int atype,
                               int lda, long long sa, const void* b, int btype, int ldb, long long sb, const void* beta,
                               void* c, int ctype, int ldc, long long sc, int batch, int compute, int) {
  if (ctype != 0 || compute != 68 || (atype != 0 && atype != 14) || (btype != 0 && btype != 14)) return 15;  // NOT_SUPPORTED
  const float al = *(const float*)alpha, be = *(const float*)beta;
  for (int p = 0; p < batch; p++)
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) {
        float acc = 0.0f;
        for (int l = 0; l < k; l++)
          acc += element(a, atype, ta ? p * sa + l + (long)i * lda : p * sa + i + (long)l * lda) *
                 element(b, btype, tb ? p * sb + j + (long)l * ldb : p * sb + l + (long)j * ldb);
        float* out = (float*)c + p * sc + i + (long)j * ldc;
        *out = al * acc + (be == 0.0f ? 0.0f : be * *out);
      }
  auto driver_check = (void (*)(const char*))dlsym(RTLD_DEFAULT, "fake_cuda_check_guards");
  driver_check("cublasGemmStridedBatchedEx");
  return 0;
}
int cublasGemmEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* a, int atype, int lda,
                 const void* b, int btype, int ldb, const void* beta, void* c, int ctype, int ldc, int compute, int algo) {
  return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, a, atype, lda, 0, b, btype, ldb, 0, beta, c, ctype, ldc, 0, 1,
                                    compute, algo);
}
int cublasSgemm_v2(void* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* a, int lda,
                   const float* b, int ldb, const float* beta, float* c, int ldc) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}
}
