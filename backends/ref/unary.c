/* backends/ref/unary.c - every elementwise activation, forward and
 * backward, from the formulas of nnrt/scalar.h: one driver, one X-macro. */
#include <tgmath.h>

#include "nnrt/scalar.h"
#include "ref.h"

/* a, b, c: the op's numeric params in ops.def order, `inplace` skipped. */
static void unary_abc(const nnrt_call *call, double abc[3]) {
  const nnrt_op_signature *s = nnrt_op_signature_of(call->op);
  int k = 0;
  abc[0] = abc[1] = abc[2] = 0;
  for (int i = 0; i < s->n_params && k < 3; i++) {
    const char *at = (const char *)call->params + s->params[i].offset;
    switch (s->params[i].type) {
    case NNRT_PARAM_F64: abc[k++] = *(const double *)at; break;
    case NNRT_PARAM_I64: abc[k++] = (double)*(const int64_t *)at; break;
    case NNRT_PARAM_ENUM: abc[k++] = *(const int *)at; break;
    default: break;
    }
  }
}

#define K(v) ((T)(v))
#define UNARY_LOOPS(name, fwd, bwd, TY, SFX)                                      \
  static void name##_fwd_##SFX(const TY *X, TY *Y, int64_t n, TY a, TY b, TY c) { \
    typedef TY T; /* what K() converts to */                                     \
    (void)a, (void)b, (void)c;                                                   \
    _Pragma("omp parallel for simd schedule(static) if (n > REF_OMP_MIN)")       \
    for (int64_t i = 0; i < n; i++) {                                            \
      T x = X[i];                                                                \
      Y[i] = (fwd);                                                              \
    }                                                                            \
  }                                                                              \
  static void name##_bwd_##SFX(const TY *G, const TY *X, TY *GX, int64_t n, TY a, TY b, TY c) { \
    typedef TY T;                                                                \
    (void)a, (void)b, (void)c;                                                   \
    _Pragma("omp parallel for simd schedule(static) if (n > REF_OMP_MIN)")       \
    for (int64_t i = 0; i < n; i++) {                                            \
      T x = X[i], g = G[i];                                                      \
      GX[i] = (bwd);                                                             \
    }                                                                            \
  }
#define UNARY_KERNELS(name, fwd, bwd)                                            \
  UNARY_LOOPS(name, fwd, bwd, float, f32)                                        \
  UNARY_LOOPS(name, fwd, bwd, double, f64)                                       \
  nnrt_status ref_##name(nnrt_device *dev, const nnrt_call *call) {              \
    (void)dev;                                                                   \
    double p[3];                                                                 \
    unary_abc(call, p);                                                          \
    const nnrt_tensor *x = call->inputs[0];                                      \
    if (x->dtype == NNRT_F64)                                                    \
      name##_fwd_f64(x->data, call->outputs[0]->data, x->numel, p[0], p[1], p[2]); \
    else                                                                         \
      name##_fwd_f32(x->data, call->outputs[0]->data, x->numel, (float)p[0], (float)p[1], (float)p[2]); \
    return NNRT_OK;                                                              \
  }                                                                              \
  nnrt_status ref_##name##_backward(nnrt_device *dev, const nnrt_call *call) {   \
    (void)dev;                                                                   \
    double p[3];                                                                 \
    unary_abc(call, p);                                                          \
    const nnrt_tensor *g = call->inputs[0], *x = call->inputs[1];                \
    if (x->dtype == NNRT_F64)                                                    \
      name##_bwd_f64(g->data, x->data, call->outputs[0]->data, x->numel, p[0], p[1], p[2]); \
    else                                                                         \
      name##_bwd_f32(g->data, x->data, call->outputs[0]->data, x->numel, (float)p[0], (float)p[1], (float)p[2]); \
    return NNRT_OK;                                                              \
  }

NNRT_UNARY_LIST(UNARY_KERNELS)
