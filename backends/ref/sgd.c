/* backends/ref/sgd.c - one step of torch.optim.SGD on one parameter. */
#include "ref.h"

#define SGD_LOOP(T, SFX)                                                         \
  static void step_##SFX(const T *G, T *P, T *B, int64_t n, const nnrt_sgd_step_params *p) { \
    _Pragma("omp parallel for schedule(static) if (n > REF_OMP_MIN)")            \
    for (int64_t i = 0; i < n; i++) {                                            \
      double d = (double)G[i] + p->weight_decay * P[i];                          \
      if (p->momentum != 0) {                                                    \
        double b = p->first_step ? d : p->momentum * B[i] + (1 - p->dampening) * d; \
        B[i] = (T)b;                                                             \
        d = p->nesterov ? d + p->momentum * b : b;                               \
      }                                                                          \
      P[i] = (T)(P[i] - p->lr * d);                                              \
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
