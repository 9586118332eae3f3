/* backends/ref/loss_nll.c - nll_loss forward and backward for (C), (N, C)
 * and (N, C, d1..dk) inputs (NLLLoss2d is the (N, C, H, W) case), with
 * class weights and ignore_index, as PyTorch 1.13:
 *   loss_i = -w[t_i] * x_i[t_i], 0 where t_i == ignore_index;
 * `mean` divides the sum by the sum of w[t_i] over counted positions, so a
 * batch with every target ignored gives 0/0 = NaN (and 0 for `sum`), as
 * PyTorch does.  Sums accumulate in double.  The rule (class_loss) has
 * checked every target. */
#include <string.h>

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

/* Work is split into tasks of NLL_BLOCK neighbouring positions: for
 * (N, C) (inner == 1) NLL_BLOCK rows, else positions of one batch element
 * n (inner per n, classes inner apart), so no position is divided into
 * (n, i) and each task touches C short contiguous runs.  Position p of a
 * task is (n, i) with p = n * inner + i; its class c sits at
 * n * C * inner + c * inner + i. */
#define NLL_BLOCK 1024

static int64_t nll_tasks(nll_dims d) {
  if (d.P == 0) return 0; /* an empty spatial dim makes inner 0 too */
  if (d.inner == 1) return (d.P + NLL_BLOCK - 1) / NLL_BLOCK;
  return d.P / d.inner * ((d.inner + NLL_BLOCK - 1) / NLL_BLOCK);
}

/* task k: positions [*p0, *p0 + *len) */
static void nll_task(nll_dims d, int64_t k, int64_t *p0, int64_t *len) {
  int64_t span = d.inner == 1 ? d.P : d.inner, nblk = (span + NLL_BLOCK - 1) / NLL_BLOCK, i0 = k % nblk * NLL_BLOCK;
  *p0 = k / nblk * span + i0;
  *len = span - i0 < NLL_BLOCK ? span - i0 : NLL_BLOCK;
}

/* offset of class c of position p */
static inline int64_t nll_at(nll_dims d, int64_t p, int64_t c) {
  return d.inner == 1 ? p * d.C + c : (p / d.inner * d.C + c) * d.inner + p % d.inner;
}

#define NLL_FNS(T, SFX)                                                          \
  static void nll_fwd_##SFX(const T *X, const T *W, T *Y, nll_dims d) {          \
    double sum = 0, wsum = 0;                                                    \
    _Pragma("omp parallel for reduction(+ : sum, wsum) schedule(static) if (d.P > REF_OMP_MIN)") \
    for (int64_t k = 0; k < nll_tasks(d); k++) {                                 \
      int64_t p0, len;                                                           \
      nll_task(d, k, &p0, &len);                                                 \
      const T *xb = X + nll_at(d, p0, 0); /* class c of p0 + j: c * cs + j * ps */ \
      int64_t cs = d.inner == 1 ? 1 : d.inner, ps = d.inner == 1 ? d.C : 1;     \
      for (int64_t j = 0; j < len; j++) {                                        \
        int64_t t = d.t[p0 + j];                                                 \
        double l = 0;                                                            \
        if (t != d.ignore) {                                                     \
          double wt = W ? W[t] : 1.0;                                            \
          l = -wt * xb[t * cs + j * ps];                                         \
          wsum += wt;                                                            \
        }                                                                        \
        if (d.reduction == 0) Y[p0 + j] = (T)l;                                  \
        sum += l;                                                                \
      }                                                                          \
    }                                                                            \
    if (d.reduction == 1) Y[0] = (T)(sum / wsum);                                \
    if (d.reduction == 2) Y[0] = (T)sum;                                         \
  }                                                                              \
  /* each task zeroes its positions' gradients (rows, or class by class), \
   * then sets the targets' */                                                  \
  static void nll_bwd_##SFX(const T *GY, const T *W, T *GX, nll_dims d) {        \
    double wsum = 0;                                                             \
    if (d.reduction == 1)                                                        \
      for (int64_t pos = 0; pos < d.P; pos++)                                    \
        if (d.t[pos] != d.ignore) wsum += W ? W[d.t[pos]] : 1.0;                 \
    _Pragma("omp parallel for schedule(static) if (d.P * d.C > REF_OMP_MIN)")    \
    for (int64_t k = 0; k < nll_tasks(d); k++) {                                 \
      int64_t p0, len;                                                           \
      nll_task(d, k, &p0, &len);                                                 \
      T *gb = GX + nll_at(d, p0, 0);                                             \
      int64_t cs = d.inner == 1 ? 1 : d.inner, ps = d.inner == 1 ? d.C : 1;     \
      if (d.inner == 1) memset(gb, 0, sizeof(T) * (size_t)(len * d.C));          \
      else                                                                       \
        for (int64_t c = 0; c < d.C; c++) memset(gb + c * cs, 0, sizeof(T) * (size_t)len); \
      for (int64_t j = 0; j < len; j++) {                                        \
        int64_t t = d.t[p0 + j];                                                 \
        if (t == d.ignore) continue;                                             \
        double g = d.reduction == 0 ? GY[p0 + j] : d.reduction == 1 ? GY[0] / wsum : GY[0]; \
        gb[t * cs + j * ps] = (T)(-(W ? W[t] : 1.0) * g);                        \
      }                                                                          \
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
