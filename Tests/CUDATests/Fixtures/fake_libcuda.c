// A stand-in for libcuda.so.1 on machines without a GPU: "device memory" is host memory, and
// the one kernel, "probe", writes back the arguments it was launched with, so the tests can check
// that SwiftGPT's driver binding passes every C type at its exact width. Built by CUDATests with
// the C compiler at hand; -DNO_DEVICE makes cuInit report CUDA_ERROR_NO_DEVICE.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void* const context = (void*)0x1234;

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
int cuDeviceGetName(char* name, int length, int d) { strncpy(name, "Fake H200", length); return 0; }
int cuDeviceTotalMem_v2(size_t* bytes, int d) { *bytes = (size_t)141 << 30; return 0; }
int cuDeviceGetAttribute(int* v, int attribute, int d) {
  *v = attribute == 75 ? 9 : attribute == 76 ? 0 : attribute == 16 ? 132 : 0;
  return 0;
}
int cuDevicePrimaryCtxRetain(void** c, int d) { *c = context; return 0; }
int cuCtxSetCurrent(void* c) { return c == context ? 0 : 201; }  // CUDA_ERROR_INVALID_CONTEXT
int cuCtxSynchronize(void) { return 0; }
int cuMemAlloc_v2(uint64_t* p, size_t n) {
  if (n > ((size_t)1 << 40)) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
  *p = (uint64_t)malloc(n);
  return 0;
}
int cuMemFree_v2(uint64_t p) { free((void*)p); return 0; }
int cuMemGetInfo_v2(size_t* free_bytes, size_t* total) { *free_bytes = (size_t)140 << 30; *total = (size_t)141 << 30; return 0; }
int cuMemcpyHtoD_v2(uint64_t d, const void* s, size_t n) { memcpy((void*)d, s, n); return 0; }
int cuMemcpyDtoH_v2(void* d, uint64_t s, size_t n) { memcpy(d, (void*)s, n); return 0; }
int cuMemsetD8_v2(uint64_t d, unsigned char v, size_t n) { memset((void*)d, v, n); return 0; }
int cuModuleLoadData(void** m, const void* image) { *m = (void*)image; return 0; }
int cuModuleGetFunction(void** f, void* m, const char* name) {
  if (strcmp(name, "probe") != 0) return 500;  // CUDA_ERROR_NOT_FOUND
  *f = (void*)"probe";
  return 0;
}
// probe(float* out, int n, long big, float s, const float* maybe_null): out[0..6] = n, big, s,
// whether maybe_null is null, grid x, block x, shared bytes.
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void* stream, void** params, void** extra) {
  float* out = *(float**)params[0];
  out[0] = (float)*(int*)params[1];
  out[1] = (float)*(long*)params[2];
  out[2] = *(float*)params[3];
  out[3] = *(void**)params[4] == 0 ? 1.0f : 0.0f;
  out[4] = (float)gx;
  out[5] = (float)bx;
  out[6] = (float)shared;
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
