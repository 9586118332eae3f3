/* backends/ref/softmax.c - softmax, softmin and log_softmax along any dim,
 * forward and backward.  The input is seen as (outer, D, inner); each of
 * the outer*inner lines is reduced with its maximum subtracted first, so
 * no exp overflows; sums accumulate in double. */
#include <math.h>

#include "ref.h"

typedef enum { SOFTMAX, SOFTMIN, LOG_SOFTMAX } mode_t_;

#define SOFTMAX_LOOPS(T, SFX)                                                    \
  static void fwd_##SFX(const T *X, T *Y, int64_t outer, int64_t D, int64_t inner, mode_t_ m) { \
    double sign = m == SOFTMIN ? -1.0 : 1.0;                                     \
    _Pragma("omp parallel for schedule(static) if (outer * D * inner > REF_OMP_MIN)") \
    for (int64_t line = 0; line < outer * inner; line++) {                       \
      const T *x = X + (line / inner) * D * inner + line % inner;                \
      T *y = Y + (line / inner) * D * inner + line % inner;                      \
      double mx = -INFINITY;                                                     \
      for (int64_t d = 0; d < D; d++) mx = fmax(mx, sign * x[d * inner]);        \
      if (isinf(mx)) mx = 0; /* all -inf (or +inf): let exp give nan/0 as torch */ \
      double sum = 0;                                                            \
      for (int64_t d = 0; d < D; d++) {                                          \
        double e = exp(sign * x[d * inner] - mx);                                \
        sum += e;                                                                \
        if (m != LOG_SOFTMAX) y[d * inner] = (T)e;                               \
      }                                                                          \
      if (m == LOG_SOFTMAX) {                                                    \
        double lse = mx + log(sum);                                              \
        for (int64_t d = 0; d < D; d++) y[d * inner] = (T)(x[d * inner] - lse);  \
      } else {                                                                   \
        double r = 1.0 / sum;                                                    \
        for (int64_t d = 0; d < D; d++) y[d * inner] = (T)(y[d * inner] * r);    \
      }                                                                          \
    }                                                                            \
  }                                                                              \
  static void bwd_##SFX(const T *G, const T *Y, T *GX, int64_t outer, int64_t D, int64_t inner, mode_t_ m) { \
    _Pragma("omp parallel for schedule(static) if (outer * D * inner > REF_OMP_MIN)") \
    for (int64_t line = 0; line < outer * inner; line++) {                       \
      int64_t base = (line / inner) * D * inner + line % inner;                  \
      const T *g = G + base, *y = Y + base;                                      \
      T *gx = GX + base;                                                         \
      double s = 0;                                                              \
      if (m == LOG_SOFTMAX) {                                                    \
        for (int64_t d = 0; d < D; d++) s += g[d * inner];                       \
        for (int64_t d = 0; d < D; d++) gx[d * inner] = (T)(g[d * inner] - exp((double)y[d * inner]) * s); \
      } else {                                                                   \
        for (int64_t d = 0; d < D; d++) s += (double)g[d * inner] * y[d * inner]; \
        double sign = m == SOFTMIN ? -1.0 : 1.0;                                 \
        for (int64_t d = 0; d < D; d++) gx[d * inner] = (T)(sign * y[d * inner] * (g[d * inner] - s)); \
      }                                                                          \
    }                                                                            \
  }
SOFTMAX_LOOPS(float, f32)
SOFTMAX_LOOPS(double, f64)

static int norm_dim(int64_t dim, int ndim) { return (int)(dim < 0 ? dim + (ndim ? ndim : 1) : dim); }

static nnrt_status forward(const nnrt_call *call, mode_t_ m) {
  const nnrt_tensor *x = call->inputs[0];
  int64_t outer, D, inner;
  ref_split(x, norm_dim(((const nnrt_softmax_params *)call->params)->dim, x->ndim), &outer, &D, &inner);
  REF_DISPATCH(call, fwd, x->data, call->outputs[0]->data, outer, D, inner, m);
  return NNRT_OK;
}

static nnrt_status backward(const nnrt_call *call, mode_t_ m) {
  const nnrt_tensor *y = call->inputs[1];
  int64_t outer, D, inner;
  ref_split(y, norm_dim(((const nnrt_softmax_params *)call->params)->dim, y->ndim), &outer, &D, &inner);
  REF_DISPATCH(call, bwd, call->inputs[0]->data, y->data, call->outputs[0]->data, outer, D, inner, m);
  return NNRT_OK;
}

nnrt_status ref_softmax(nnrt_device *dev, const nnrt_call *call) { (void)dev; return forward(call, SOFTMAX); }
nnrt_status ref_softmin(nnrt_device *dev, const nnrt_call *call) { (void)dev; return forward(call, SOFTMIN); }
nnrt_status ref_log_softmax(nnrt_device *dev, const nnrt_call *call) { (void)dev; return forward(call, LOG_SOFTMAX); }
nnrt_status ref_softmax_backward(nnrt_device *dev, const nnrt_call *call) { (void)dev; return backward(call, SOFTMAX); }
nnrt_status ref_softmin_backward(nnrt_device *dev, const nnrt_call *call) { (void)dev; return backward(call, SOFTMIN); }
nnrt_status ref_log_softmax_backward(nnrt_device *dev, const nnrt_call *call) { (void)dev; return backward(call, LOG_SOFTMAX); }
