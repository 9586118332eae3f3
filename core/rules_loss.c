/* core/rules_loss.c - shape, param and target rules of the losses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

nnrt_status nnrt_index_values(const nnrt_tensor *t, int64_t **vals, bool *owned) {
  /* both set on every path, errors included (nothing owned then) */
  *owned = false;
  if (nnrt_device_is_host_memory(t->device)) {
    *vals = t->data;
    return NNRT_OK;
  }
  *vals = malloc(t->bytes ? t->bytes : 1);
  if (!*vals) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "out of memory reading an index tensor");
  nnrt_status st = nnrt_tensor_read(t, *vals, t->bytes);
  if (st) {
    free(*vals);
    *vals = NULL;
    return st;
  }
  *owned = true;
  return NNRT_OK;
}

/* input (C) with target (), or (N, C, d1..dk) with target (N, d1..dk). */
static nnrt_status class_shapes(const nnrt_call *c, const nnrt_tensor *x, const nnrt_tensor *t,
                                const nnrt_tensor *w) {
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  if (x->ndim < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be (C), (N, C) or (N, C, d1, ...), got 0-d", c->op_name);
  bool ok = t->ndim == (x->ndim == 1 ? 0 : x->ndim - 1);
  if (ok && x->ndim >= 2) {
    ok = t->shape[0] == x->shape[0];
    for (int i = 2; ok && i < x->ndim; i++) ok = t->shape[i - 1] == x->shape[i];
  }
  if (!ok)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: target shape %s does not fit input %s (want input's shape without the class dim 1)",
                      c->op_name, nnrt_shape_str(t->ndim, t->shape, a, sizeof a), nnrt_shape_str(x->ndim, x->shape, b, sizeof b));
  int64_t C = x->ndim == 1 ? x->shape[0] : x->shape[1];
  if (w && (w->ndim != 1 || w->shape[0] != C))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: weight must have one element per class (%lld), got %s",
                      c->op_name, (long long)C, nnrt_shape_str(w->ndim, w->shape, a, sizeof a));
  return NNRT_OK;
}

nnrt_status nnrt_check_class_targets(const nnrt_call *c, const nnrt_tensor *t, int64_t C, int64_t ignore_index) {
  int64_t *v;
  bool owned;
  nnrt_status st = nnrt_index_values(t, &v, &owned);
  if (st) return st;
  for (int64_t i = 0; i < t->numel && !st; i++)
    if (v[i] != ignore_index && (v[i] < 0 || v[i] >= C))
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: target[%lld]=%lld is not a class in [0, %lld) nor ignore_index=%lld",
                      c->op_name, (long long)i, (long long)v[i], (long long)C, (long long)ignore_index);
  if (owned) free(v);
  return st;
}

static nnrt_status class_loss_common(const nnrt_call *c, const nnrt_tensor *x, const nnrt_tensor *t,
                                     const nnrt_tensor *w) {
  const nnrt_cross_entropy_params *p = c->params;
  nnrt_status st = class_shapes(c, x, t, w);
  if (st) return st;
  if ((unsigned)p->reduction > 2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: reduction=%d is not none|mean|sum", c->op_name, p->reduction);
  if (c->op == NNRT_OP_cross_entropy || c->op == NNRT_OP_cross_entropy_backward)
    if (!(p->label_smoothing >= 0 && p->label_smoothing <= 1))
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: label_smoothing=%g must be in [0, 1]", c->op_name, p->label_smoothing);
  return nnrt_check_class_targets(c, t, x->ndim == 1 ? x->shape[0] : x->shape[1], p->ignore_index);
}

static void loss_output_shape(const nnrt_tensor *target, int reduction, nnrt_dtype dt, nnrt_shape *out) {
  if (reduction == 0) nnrt_shape_of(target, out);
  else *out = (nnrt_shape){.ndim = 0};
  out->dtype = dt;
}

nnrt_status nnrt_rule_class_loss(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_status st = class_loss_common(c, c->inputs[0], c->inputs[1], c->inputs[2]);
  if (st) return st;
  loss_output_shape(c->inputs[1], ((const nnrt_cross_entropy_params *)c->params)->reduction, c->inputs[0]->dtype, &outs[0]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_class_loss_backward(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_tensor *gy = c->inputs[0], *x = c->inputs[1], *t = c->inputs[2];
  nnrt_status st = class_loss_common(c, x, t, c->inputs[3]);
  if (st) return st;
  nnrt_shape want;
  loss_output_shape(t, ((const nnrt_cross_entropy_params *)c->params)->reduction, x->dtype, &want);
  bool ok = gy->ndim == want.ndim;
  for (int i = 0; ok && i < gy->ndim; i++) ok = gy->shape[i] == want.dims[i];
  if (!ok) {
    char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: grad_output has shape %s, the loss has %s", c->op_name,
                      nnrt_shape_str(gy->ndim, gy->shape, a, sizeof a), nnrt_shape_str(want.ndim, want.dims, b, sizeof b));
  }
  nnrt_shape_of(x, &outs[0]);
  return NNRT_OK;
}
