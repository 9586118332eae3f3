/* backends/ref/prelu.c - PReLU with one weight or one per channel (dim 1). */
#include "ref.h"

/* input seen as (outer, C, inner); weight index is the channel, or 0. */
static void prelu_dims(const nnrt_tensor *x, const nnrt_tensor *w, int64_t *outer, int64_t *C, int64_t *inner) {
  if (x->ndim >= 2 && w->numel > 1) ref_split(x, 1, outer, C, inner);
  else *outer = 1, *C = 1, *inner = x->numel;
}

#define PRELU_LOOPS(T, SFX)                                                      \
  static void fwd_##SFX(const T *X, const T *W, T *Y, int64_t outer, int64_t C, int64_t inner) { \
    _Pragma("omp parallel for schedule(static) if (outer * C * inner > REF_OMP_MIN)") \
    for (int64_t oc = 0; oc < outer * C; oc++) {                                 \
      T w = W[oc % C];                                                           \
      for (int64_t i = oc * inner; i < (oc + 1) * inner; i++) Y[i] = X[i] > 0 ? X[i] : w * X[i]; \
    }                                                                            \
  }                                                                              \
  static void bwd_##SFX(const T *G, const T *X, const T *W, T *GX, T *GW, int64_t outer, int64_t C, int64_t inner) { \
    for (int64_t ch = 0; ch < C; ch++) {                                         \
      double acc = 0;                                                            \
      T w = W[ch];                                                               \
      _Pragma("omp parallel for reduction(+ : acc) schedule(static) if (outer * inner > REF_OMP_MIN)") \
      for (int64_t o = 0; o < outer; o++)                                        \
        for (int64_t i = (o * C + ch) * inner; i < (o * C + ch + 1) * inner; i++) { \
          if (GX) GX[i] = X[i] > 0 ? G[i] : w * G[i];                            \
          if (!(X[i] > 0)) acc += (double)G[i] * X[i]; /* NaN x counts, as torch */ \
        }                                                                        \
      if (GW) GW[ch] += (T)acc;                                                  \
    }                                                                            \
  }
PRELU_LOOPS(float, f32)
PRELU_LOOPS(double, f64)

nnrt_status ref_prelu(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  int64_t outer, C, inner;
  prelu_dims(call->inputs[0], call->inputs[1], &outer, &C, &inner);
  REF_DISPATCH(call, fwd, call->inputs[0]->data, call->inputs[1]->data, call->outputs[0]->data, outer, C, inner);
  return NNRT_OK;
}

nnrt_status ref_prelu_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  int64_t outer, C, inner;
  prelu_dims(call->inputs[1], call->inputs[2], &outer, &C, &inner);
  REF_DISPATCH(call, bwd, call->inputs[0]->data, call->inputs[1]->data, call->inputs[2]->data,
               REF_OUT_OPT(call, 0, void), REF_OUT_OPT(call, 1, void), outer, C, inner);
  return NNRT_OK;
}
