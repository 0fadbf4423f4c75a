// Runs SwiftGPT's CUDA kernels on the CPU, for tests on machines without a GPU. Each thread of a
// block is a fiber on one OS thread (switched by a few lines of assembly on x86-64: ucontext's
// swapcontext makes two system calls per switch; elsewhere ucontext), run until it finishes or reaches a barrier:
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
#if defined(__x86_64__)
// switch_stack(&from, to): saves the callee-saved registers on this stack, stores its pointer in
// *from, and resumes the stack `to` (a stack saved the same way, or a new one from new_stack).
extern "C" void emulator_switch_stack(void** from, void* to);
asm(R"(
  .text
  .globl emulator_switch_stack
  .type emulator_switch_stack, @function
emulator_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
)");

struct Context { void* sp = nullptr; };
inline void switch_to(Context& from, Context& to) { emulator_switch_stack(&from.sp, to.sp); }
// A stack that starts in entry(), which must never return.
inline void start(Context& context, char* stack, size_t size, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(stack + size) & ~uintptr_t(15);
  auto slots = reinterpret_cast<void**>(top);
  slots[-1] = nullptr;                          // entry's own return address: never used
  slots[-2] = reinterpret_cast<void*>(entry);  // where the first switch returns to
  for (int r = 3; r <= 8; r++) slots[-r] = nullptr;  // the six callee-saved registers
  context.sp = &slots[-8];
}
#else
struct Context { ucontext_t uc; };
inline void switch_to(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
inline void start(Context& context, char* stack, size_t size, void (*entry)()) {
  getcontext(&context.uc);
  context.uc.uc_stack.ss_sp = stack;
  context.uc.uc_stack.ss_size = size;
  context.uc.uc_link = nullptr;
  makecontext(&context.uc, entry, 0);
}
#endif

enum State { ready, at_warp_barrier, at_block_barrier, finished };
struct Fiber {
  Context context;
  State state = ready;
};
inline std::vector<Fiber> fibers;
inline std::vector<char> stacks;
inline Context scheduler;
inline unsigned current = 0;
inline float slots[1024];
constexpr size_t stack_size = 64 << 10;

inline void wait(State barrier) {
  fibers[current].state = barrier;
  switch_to(fibers[current].context, scheduler);
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
    switch_to(fibers[current].context, scheduler);  // never resumed
  }
};

// Runs f, which has no barrier, thread after thread: a plain loop.
template <typename... A>
void launch_plain(void (*f)(A...), dim3 grid, dim3 block, void** params) {
  gridDim = grid;
  blockDim = block;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        blockIdx = {bx, by, bz};
        for (unsigned t = 0; t < block.x; t++) {
          threadIdx = {t, 0, 0};
          invoke(f, params, std::index_sequence_for<A...>{});
        }
      }
}

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
          start(fiber.context, stacks.data() + t * stack_size, stack_size, Call<A...>::run);
        }
        for (;;) {
          for (unsigned t = 0; t < n; t++) {
            if (fibers[t].state != ready) continue;
            current = t;
            threadIdx = {t, 0, 0};
            switch_to(scheduler, fibers[t].context);
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
inline unsigned __float_as_uint(float f) { unsigned bits; std::memcpy(&bits, &f, 4); return bits; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
