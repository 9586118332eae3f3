/* backends/ref/norm_p.c - the p-norm of all elements of a tensor as a 0-d
 * tensor (p > 0, or inf for max |x|), accumulated in double: the
 * per-tensor step of clip_grad_norm. */
#include <math.h>

#include "ref.h"

#define NORM_FN(T, SFX)                                                          \
  static double norm_##SFX(const T *x, int64_t n, double p) {                    \
    double acc = 0;                                                              \
    if (isinf(p)) {                                                              \
      for (int64_t i = 0; i < n; i++) {                                          \
        double a = fabs((double)x[i]);                                           \
        if (a > acc || isnan(a)) acc = a;                                        \
        if (isnan(acc)) break;                                                   \
      }                                                                          \
      return acc;                                                                \
    }                                                                            \
    if (p == 1) {                                                                \
      _Pragma("omp parallel for reduction(+ : acc) schedule(static) if (n > REF_OMP_MIN)") \
      for (int64_t i = 0; i < n; i++) acc += fabs((double)x[i]);                 \
      return acc;                                                                \
    }                                                                            \
    if (p == 2) {                                                                \
      _Pragma("omp parallel for reduction(+ : acc) schedule(static) if (n > REF_OMP_MIN)") \
      for (int64_t i = 0; i < n; i++) acc += (double)x[i] * (double)x[i];        \
      return sqrt(acc);                                                          \
    }                                                                            \
    _Pragma("omp parallel for reduction(+ : acc) schedule(static) if (n > REF_OMP_MIN)") \
    for (int64_t i = 0; i < n; i++) acc += pow(fabs((double)x[i]), p);           \
    return pow(acc, 1 / p);                                                      \
  }
NORM_FN(float, f32)
NORM_FN(double, f64)

nnrt_status ref_norm_p(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[0];
  double p = NNRT_PARAMS(call, norm_p)->p;
  if (x->dtype == NNRT_F64) *REF_OUT(call, 0, double) = norm_f64(x->data, x->numel, p);
  else *REF_OUT(call, 0, float) = (float)norm_f32(x->data, x->numel, p);
  return NNRT_OK;
}
