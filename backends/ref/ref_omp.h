/* backends/ref/ref_omp.h - thread helpers for ref kernels that give each
 * OpenMP thread its own scratch (accumulators that keep a sum's order
 * fixed, so results do not depend on the thread count).  Allocate
 * ref_max_threads() slices before a parallel region; index them by
 * ref_thread_num() inside it.  ref_span splits n items among the threads
 * of a parallel region.  Builds without OpenMP too. */
#ifndef NNRT_REF_OMP_H
#define NNRT_REF_OMP_H

#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static inline int ref_thread_num(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

static inline int ref_max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* This thread's contiguous share [*lo, *hi) of n items inside a parallel
 * region (everything outside one, or without OpenMP), in whole groups of
 * `grain` items (16 floats: one 64-byte line, so no two threads write
 * the same line); shares differ by at most one group. */
static inline void ref_span(int64_t n, int64_t grain, int64_t *lo, int64_t *hi) {
#ifdef _OPENMP
  int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
#else
  int64_t nt = 1, t = 0;
#endif
  int64_t groups = (n + grain - 1) / grain, per = groups / nt, extra = groups % nt;
  int64_t first = t * per + (t < extra ? t : extra), count = per + (t < extra);
  *lo = first * grain < n ? first * grain : n;
  *hi = (first + count) * grain < n ? (first + count) * grain : n;
}

#endif
