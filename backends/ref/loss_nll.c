/* backends/ref/loss_nll.c - nll_loss forward and backward for (C), (N, C)
 * and (N, C, d1..dk) inputs (NLLLoss2d is the (N, C, H, W) case), with
 * class weights and ignore_index, as PyTorch 1.13:
 *   loss_i = -w[t_i] * x_i[t_i], 0 where t_i == ignore_index;
 * `mean` divides the sum by the sum of w[t_i] over counted positions, so a
 * batch with every target ignored gives 0/0 = NaN (and 0 for `sum`), as
 * PyTorch does.  Sums accumulate in double.  The rule (class_loss) has
 * checked every target. */
#include "ref.h"

typedef struct nll_dims {
  int64_t P, C, inner; /* positions P = N * inner; class stride = inner */
  const int64_t *t;
  int64_t ignore;
  int reduction;
} nll_dims;

static nll_dims nll_dims_of(const nnrt_call *call, const nnrt_tensor *x, const nnrt_tensor *t) {
  const nnrt_nll_loss_params *p = call->params;
  nll_dims d = {1, x->shape[x->ndim == 1 ? 0 : 1], 1, t->data, p->ignore_index, p->reduction};
  if (x->ndim >= 2) {
    d.P = x->shape[0];
    for (int i = 2; i < x->ndim; i++) d.inner *= x->shape[i];
    d.P *= d.inner;
  }
  return d;
}

/* x at class c of position pos */
#define NLL_AT(X, d, pos, c) ((X)[((pos) / (d).inner * (d).C + (c)) * (d).inner + (pos) % (d).inner])

#define NLL_FNS(T, SFX)                                                          \
  static void nll_fwd_##SFX(const T *X, const T *W, T *Y, nll_dims d) {          \
    double sum = 0, wsum = 0;                                                    \
    _Pragma("omp parallel for reduction(+ : sum, wsum) schedule(static) if (d.P > REF_OMP_MIN)") \
    for (int64_t pos = 0; pos < d.P; pos++) {                                    \
      int64_t t = d.t[pos];                                                      \
      double l = 0;                                                              \
      if (t != d.ignore) {                                                       \
        double wt = W ? W[t] : 1.0;                                              \
        l = -wt * NLL_AT(X, d, pos, t);                                          \
        wsum += wt;                                                              \
      }                                                                          \
      if (d.reduction == 0) Y[pos] = (T)l;                                       \
      sum += l;                                                                  \
    }                                                                            \
    if (d.reduction == 1) Y[0] = (T)(sum / wsum);                                \
    if (d.reduction == 2) Y[0] = (T)sum;                                         \
  }                                                                              \
  static void nll_bwd_##SFX(const T *GY, const T *W, T *GX, nll_dims d) {        \
    double wsum = 0;                                                             \
    if (d.reduction == 1)                                                        \
      for (int64_t pos = 0; pos < d.P; pos++)                                    \
        if (d.t[pos] != d.ignore) wsum += W ? W[d.t[pos]] : 1.0;                 \
    memset(GX, 0, sizeof(T) * (size_t)(d.P * d.C));                              \
    _Pragma("omp parallel for schedule(static) if (d.P > REF_OMP_MIN)")          \
    for (int64_t pos = 0; pos < d.P; pos++) {                                    \
      int64_t t = d.t[pos];                                                      \
      if (t == d.ignore) continue;                                               \
      double g = d.reduction == 0 ? GY[pos] : d.reduction == 1 ? GY[0] / wsum : GY[0]; \
      NLL_AT(GX, d, pos, t) = (T)(-(W ? W[t] : 1.0) * g);                        \
    }                                                                            \
  }
NLL_FNS(float, f32)
NLL_FNS(double, f64)

nnrt_status ref_nll_loss(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[0];
  REF_DISPATCH(call, nll_fwd, x->data, REF_IN_OPT(call, 2, void), call->outputs[0]->data,
               nll_dims_of(call, x, call->inputs[1]));
  return NNRT_OK;
}

nnrt_status ref_nll_loss_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[1];
  REF_DISPATCH(call, nll_bwd, call->inputs[0]->data, REF_IN_OPT(call, 3, void), call->outputs[0]->data,
               nll_dims_of(call, x, call->inputs[2]));
  return NNRT_OK;
}
