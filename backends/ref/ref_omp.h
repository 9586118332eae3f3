/* backends/ref/ref_omp.h - thread helpers for ref kernels that give each
 * OpenMP thread its own scratch (accumulators that keep a sum's order
 * fixed, so results do not depend on the thread count).  Allocate
 * ref_max_threads() slices before a parallel region; index them by
 * ref_thread_num() inside it.  Builds without OpenMP too. */
#ifndef NNRT_REF_OMP_H
#define NNRT_REF_OMP_H

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

#endif
