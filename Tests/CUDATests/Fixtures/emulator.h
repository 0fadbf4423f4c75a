// Runs SwiftGPT's CUDA kernels on the CPU, for tests on machines without a GPU. Each thread of a
// block is a fiber (ucontext) on one OS thread, run until it finishes or reaches a barrier:
// __syncthreads waits for every live thread of the block, a warp shuffle for every live thread of
// its warp (each writes its value to a slot, then reads its partner's). Blocks run one after
// another, so a kernel's __shared__ arrays can be plain statics. A thread that has returned no
// longer counts at barriers, as on a GPU. Threads of one warp that wait at different barriers
// are a divergence CUDA does not allow either: the emulator aborts.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h>
#include <ucontext.h>
#include <utility>
#include <vector>

struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

namespace emulator {
enum State { ready, at_warp_barrier, at_block_barrier, finished };
struct Fiber {
  ucontext_t context;
  State state = ready;
};
inline std::vector<Fiber> fibers;
inline std::vector<char> stacks;
inline ucontext_t scheduler;
inline unsigned current = 0;
inline float slots[1024];
constexpr size_t stack_size = 64 << 10;

inline void wait(State barrier) {
  fibers[current].state = barrier;
  swapcontext(&fibers[current].context, &scheduler);
}

template <typename... A, size_t... I>
void invoke(void (*f)(A...), void** p, std::index_sequence<I...>) { f(*static_cast<A*>(p[I])...); }

template <typename... A>
struct Call {
  static inline void (*function)(A...);
  static inline void** params;
  static void run() {
    invoke(function, params, std::index_sequence_for<A...>{});
    fibers[current].state = finished;
  }
};

// Runs f on a grid of one-dimensional blocks, its arguments read from the driver's kernelParams.
template <typename... A>
void launch(void (*f)(A...), dim3 grid, dim3 block, void** params) {
  Call<A...>::function = f;
  Call<A...>::params = params;
  gridDim = grid;
  blockDim = block;
  const unsigned n = block.x;
  fibers.assign(n, Fiber());
  stacks.resize(n * stack_size);
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        blockIdx = {bx, by, bz};
        for (unsigned t = 0; t < n; t++) {
          Fiber& fiber = fibers[t];
          fiber.state = ready;
          getcontext(&fiber.context);
          fiber.context.uc_stack.ss_sp = stacks.data() + t * stack_size;
          fiber.context.uc_stack.ss_size = stack_size;
          fiber.context.uc_link = &scheduler;
          makecontext(&fiber.context, (void (*)())Call<A...>::run, 0);
        }
        for (;;) {
          for (unsigned t = 0; t < n; t++) {
            if (fibers[t].state != ready) continue;
            current = t;
            threadIdx = {t, 0, 0};
            swapcontext(&scheduler, &fibers[t].context);
          }
          // Every live thread now waits: release whole warps at a shuffle first, else the block.
          bool live = false, released = false;
          for (unsigned w = 0; w * 32 < n; w++) {
            bool warp_waits = false, all_at_warp = true;
            for (unsigned t = w * 32; t < n && t < w * 32 + 32; t++) {
              if (fibers[t].state == finished) continue;
              live = true;
              if (fibers[t].state == at_warp_barrier) warp_waits = true; else all_at_warp = false;
            }
            if (warp_waits && !all_at_warp) { fprintf(stderr, "emulator: divergent warp %u\n", w); abort(); }
            if (warp_waits) {
              for (unsigned t = w * 32; t < n && t < w * 32 + 32; t++) if (fibers[t].state != finished) fibers[t].state = ready;
              released = true;
            }
          }
          if (!live) break;
          if (!released)
            for (Fiber& fiber : fibers) if (fiber.state == at_block_barrier) fiber.state = ready;
        }
      }
}
}  // namespace emulator

inline void __syncthreads() { emulator::wait(emulator::at_block_barrier); }

inline float __shfl_xor_sync(unsigned, float v, int offset) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  emulator::slots[threadIdx.x] = v;
  emulator::wait(emulator::at_warp_barrier);
  const float other = emulator::slots[warp * 32 + (lane ^ offset)];
  emulator::wait(emulator::at_warp_barrier);
  return other;
}

inline float __int_as_float(unsigned bits) { float f; std::memcpy(&f, &bits, 4); return f; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
