/* backends/ref/sgd.c - one step of torch.optim.SGD on one parameter, in
 * double whatever the dtype:
 *   d = grad + weight_decay * param
 *   with momentum: b = first_step ? d : momentum * b + (1 - dampening) d,
 *                  d = nesterov ? d + momentum * b : b
 *   param -= lr * d
 * Each thread's share runs through an `omp simd` loop compiled per ISA
 * (REF_CLONES), the flags hoisted out of it. */
#include <stdbool.h>

#include "ref_vecmath.h"

#include "ref.h"
#include "ref_omp.h"

/* The momentum loop for constant FIRST (first_step) and NEST (nesterov):
 * four copies, each a straight vector loop. */
#define SGD_MOMENTUM(T, FIRST, NEST)                                             \
  {                                                                              \
    _Pragma("omp simd")                                                          \
    for (int64_t i = 0; i < n; i++) {                                            \
      double d = (double)G[i] + wd * P[i];                                       \
      double b = FIRST ? d : mom * B[i] + (1 - damp) * d;                        \
      B[i] = (T)b;                                                               \
      d = NEST ? d + mom * b : b;                                                \
      P[i] = (T)(P[i] - lr * d);                                                 \
    }                                                                            \
  }
#define SGD_LOOP(T, SFX)                                                         \
  REF_CLONES static void span_##SFX(const T *G, T *P, T *B, int64_t n, double lr, double mom, double damp, \
                                    double wd, bool nesterov, bool first) {      \
    if (mom == 0) {                                                              \
      _Pragma("omp simd")                                                        \
      for (int64_t i = 0; i < n; i++) P[i] = (T)(P[i] - lr * ((double)G[i] + wd * P[i])); \
    } else if (first && nesterov) SGD_MOMENTUM(T, 1, 1)                          \
    else if (first) SGD_MOMENTUM(T, 1, 0)                                        \
    else if (nesterov) SGD_MOMENTUM(T, 0, 1)                                     \
    else SGD_MOMENTUM(T, 0, 0)                                                   \
  }                                                                              \
  static void step_##SFX(const T *G, T *P, T *B, int64_t n, const nnrt_sgd_step_params *p) { \
    _Pragma("omp parallel if (n > REF_OMP_MIN)")                                 \
    {                                                                            \
      int64_t lo, hi;                                                            \
      ref_span(n, 16, &lo, &hi);                                                 \
      span_##SFX(G + lo, P + lo, B ? B + lo : NULL, hi - lo, p->lr, p->momentum, p->dampening, p->weight_decay, \
                 p->nesterov, p->first_step);                                    \
    }                                                                            \
  }
SGD_LOOP(float, f32)
SGD_LOOP(double, f64)

nnrt_status ref_sgd_step(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  REF_DISPATCH(call, step, call->inputs[0]->data, call->outputs[0]->data, REF_OUT_OPT(call, 1, void),
               call->inputs[0]->numel, call->params);
  return NNRT_OK;
}
