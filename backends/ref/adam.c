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

#include "ref.h"

typedef struct adam_k {
  double lr, beta1, beta2, eps, wd, step_size, bc2_sqrt, sign;
  bool amsgrad;
} adam_k;

#define ADAM_LOOP(T, SFX)                                                        \
  static void step_##SFX(const T *G, T *P, T *M, T *V, T *VM, int64_t n, const adam_k *k) { \
    _Pragma("omp parallel for schedule(static) if (n > REF_OMP_MIN)")            \
    for (int64_t i = 0; i < n; i++) {                                            \
      double g = k->sign * (double)G[i] + k->wd * (double)P[i];                  \
      double m = k->beta1 * (double)M[i] + (1 - k->beta1) * g;                   \
      double v = k->beta2 * (double)V[i] + (1 - k->beta2) * g * g;               \
      /* the rounded v, as the stored state is what a later step reads */        \
      M[i] = (T)m;                                                               \
      V[i] = (T)v;                                                               \
      double vd = V[i];                                                          \
      if (k->amsgrad) {                                                          \
        if (vd > (double)VM[i] || vd != vd) VM[i] = V[i]; /* NaN wins, as torch.maximum */ \
        vd = VM[i];                                                              \
      }                                                                          \
      double denom = sqrt(vd) / k->bc2_sqrt + k->eps;                            \
      P[i] = (T)((double)P[i] - k->step_size * ((double)M[i] / denom));          \
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
