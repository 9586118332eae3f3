/* backends/ref/adam.c - one step of torch.optim.Adam (PyTorch 1.13's
 * single-tensor path) on one parameter, in double whatever the dtype:
 *   g = (maximize ? -grad : grad) + weight_decay * param
 *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
 *   vmax = max(vmax, v) with amsgrad, else vmax = v (only read)
 *   param -= lr / (1 - beta1^t) * m / (sqrt(vmax) / sqrt(1 - beta2^t) + eps)
 * in PyTorch's order of operations, so float64 matches it to rounding.
 * max_exp_avg_sq is neither read nor written without amsgrad. */
#include <math.h>
#include <stdbool.h>

#include "ref_vecmath.h"

#include "ref.h"
#include "ref_omp.h"

typedef struct adam_k {
  double lr, beta1, beta2, eps, wd, step_size, bc2_sqrt, sign;
  bool amsgrad;
} adam_k;

/* One thread's share in an `omp simd` loop compiled per ISA
 * (REF_CLONES), amsgrad hoisted out of it; the same operations in the
 * same order as the scalar formula above. */
#define ADAM_BODY(T, AMSGRAD)                                                    \
  for (int64_t i = 0; i < n; i++) {                                              \
    double g = k.sign * (double)G[i] + k.wd * (double)P[i];                      \
    T m = (T)(k.beta1 * (double)M[i] + (1 - k.beta1) * g);                       \
    /* the rounded v, as the stored state is what a later step reads */          \
    T v = (T)(k.beta2 * (double)V[i] + (1 - k.beta2) * g * g);                   \
    M[i] = m;                                                                    \
    V[i] = v;                                                                    \
    if (AMSGRAD) {                                                               \
      T vm = (double)v > (double)VM[i] || v != v ? v : VM[i]; /* NaN wins, as torch.maximum */ \
      VM[i] = vm;                                                                \
      v = vm;                                                                    \
    }                                                                            \
    double denom = sqrt((double)v) / k.bc2_sqrt + k.eps;                         \
    P[i] = (T)((double)P[i] - k.step_size * ((double)m / denom));                \
  }
#define ADAM_LOOP(T, SFX)                                                        \
  REF_CLONES static void span_##SFX(const T *G, T *P, T *M, T *V, T *VM, int64_t n, adam_k k) { \
    if (k.amsgrad) {                                                             \
      _Pragma("omp simd")                                                        \
      ADAM_BODY(T, true)                                                         \
    } else {                                                                     \
      _Pragma("omp simd")                                                        \
      ADAM_BODY(T, false)                                                        \
    }                                                                            \
  }                                                                              \
  static void step_##SFX(const T *G, T *P, T *M, T *V, T *VM, int64_t n, const adam_k *k) { \
    _Pragma("omp parallel if (n > REF_OMP_MIN)")                                 \
    {                                                                            \
      int64_t lo, hi;                                                            \
      ref_span(n, 16, &lo, &hi);                                                 \
      span_##SFX(G + lo, P + lo, M + lo, V + lo, VM ? VM + lo : NULL, hi - lo, *k); \
    }                                                                            \
  }
ADAM_LOOP(float, f32)
ADAM_LOOP(double, f64)

nnrt_status ref_adam_step(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_adam_step_params *p = call->params;
  double t = (double)p->step;
  adam_k k = {p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, 0, 0, p->maximize ? -1.0 : 1.0, p->amsgrad};
  k.step_size = p->lr / (1 - pow(p->beta1, t));
  k.bc2_sqrt = sqrt(1 - pow(p->beta2, t));
  REF_DISPATCH(call, step, call->inputs[0]->data, REF_OUT(call, 0, void), REF_OUT(call, 1, void),
               REF_OUT(call, 2, void), REF_OUT_OPT(call, 3, void), call->inputs[0]->numel, &k);
  return NNRT_OK;
}
