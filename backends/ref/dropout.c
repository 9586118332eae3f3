/* backends/ref/dropout.c - dropout, dropout2d, dropout3d and their
 * backward ops.  In training y = x * m with m = keep ? 1/(1-p) : 0 (a
 * multiply, as PyTorch's input * noise, so a NaN or inf input dropped still
 * gives NaN); out of training y = x.  The keep decision is the
 * counter-based hash of nnrt/scalar.h on (seed, index), so the backward
 * recomputes the forward's mask from the same params, and any thread
 * count, or any backend using the same header, draws the same mask.
 * Channel-wise forms use one decision per plane of `plane` elements. */
#include <stdint.h>

#include "nnrt/scalar.h"
#include "ref.h"

typedef struct drop_cfg {
  bool active;        /* training and p > 0 */
  uint64_t key;       /* NNRT_RNG_KEY of the seed */
  uint64_t threshold; /* keep iff bits >> NNRT_DROPOUT_SHIFT >= threshold */
  double p;
  int64_t plane; /* elements per mask decision: 1, or a channel's size */
} drop_cfg;

/* Every dropout op's params start with p, training, seed. */
static drop_cfg cfg_of(const nnrt_call *call, const nnrt_tensor *x) {
  const nnrt_dropout_backward_params *p = call->params;
  drop_cfg c = {p->training && p->p > 0, 0, (uint64_t)(p->p * NNRT_DROPOUT_ONE), p->p, 1};
  uint64_t seed = (uint64_t)p->seed;
  NNRT_RNG_KEY(c.key, seed);
  const char *n = call->op_name;
  if (!strncmp(n, "dropout2d", 9)) {
    c.plane = 1;
    for (int i = 2; i < x->ndim; i++) c.plane *= x->shape[i];
  } else if (!strncmp(n, "dropout3d", 9)) {
    c.plane = x->shape[x->ndim - 1] * x->shape[x->ndim - 2] * x->shape[x->ndim - 3];
  }
  return c;
}

static inline bool keep(const drop_cfg *c, uint64_t i) {
  uint64_t r;
  NNRT_RNG_BITS(r, c->key, i);
  return (r >> NNRT_DROPOUT_SHIFT) >= c->threshold;
}

#define DROP_FN(T, SFX)                                                          \
  static void apply_##SFX(const T *X, T *Y, int64_t n, const drop_cfg *c) {      \
    if (!c->active) {                                                            \
      if (Y != X) memcpy(Y, X, sizeof(T) * (size_t)n);                           \
      return;                                                                    \
    }                                                                            \
    /* the scale as PyTorch forms it: 1 / (1 - p) in the element type */         \
    T scale = c->p < 1 ? (T)1 / (T)(1 - c->p) : (T)0;                            \
    int64_t planes = c->plane ? n / c->plane : 0;                                \
    _Pragma("omp parallel for schedule(static) if (n > REF_OMP_MIN)")            \
    for (int64_t q = 0; q < planes; q++) {                                       \
      if (c->plane == 1) {                                                       \
        Y[q] = X[q] * (keep(c, (uint64_t)q) ? scale : (T)0);                     \
        continue;                                                                \
      }                                                                          \
      T m = keep(c, (uint64_t)q) ? scale : (T)0;                                 \
      for (int64_t i = q * c->plane; i < (q + 1) * c->plane; i++) Y[i] = X[i] * m; \
    }                                                                            \
  }
DROP_FN(float, f32)
DROP_FN(double, f64)

static nnrt_status run(const nnrt_call *call) {
  const nnrt_tensor *x = call->inputs[0];
  drop_cfg c = cfg_of(call, x);
  REF_DISPATCH(call, apply, x->data, call->outputs[0]->data, x->numel, &c);
  return NNRT_OK;
}

nnrt_status ref_dropout(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run(call);
}

nnrt_status ref_dropout_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run(call);
}

nnrt_status ref_dropout2d(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run(call);
}

nnrt_status ref_dropout2d_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run(call);
}

nnrt_status ref_dropout3d(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run(call);
}

nnrt_status ref_dropout3d_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run(call);
}
