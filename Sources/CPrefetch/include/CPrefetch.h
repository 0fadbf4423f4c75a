#ifndef CPREFETCH_H
#define CPREFETCH_H

// Swift cannot express a prefetch (clang's _mm_prefetch is a macro, and the builtin is not
// imported), so the tensor kernels get it from this header, inlined by clang.

/// Asks for the cache line holding p to be brought into L2 (PREFETCHT1 on x86): a hint that
/// never faults, whatever p is.
static inline __attribute__((always_inline)) void swiftgpt_prefetch_l2(const void *p) {
  __builtin_prefetch(p, 0, 2);
}

#endif
