/* core/rules_linear.c - linear: input (*, in), weight (out, in), bias (out). */
#include "core.h"

static nnrt_status linear_common(const nnrt_call *c, const nnrt_tensor *x, const nnrt_tensor *w) {
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  if (w->ndim != 2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: weight must be 2-d (out_features, in_features), got %s",
                      c->op_name, nnrt_shape_str(w->ndim, w->shape, a, sizeof a));
  if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: input's last dim must equal in_features=%lld: input %s, weight %s", c->op_name,
                      (long long)w->shape[1], nnrt_shape_str(x->ndim, x->shape, a, sizeof a),
                      nnrt_shape_str(w->ndim, w->shape, b, sizeof b));
  return NNRT_OK;
}

nnrt_status nnrt_rule_linear(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_tensor *x = c->inputs[0], *w = c->inputs[1], *bias = c->inputs[2];
  nnrt_status st = linear_common(c, x, w);
  if (st) return st;
  if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))
    return nnrt_err_shapes(c, "bias", bias, "weight", w);
  nnrt_shape_of(x, &outs[0]);
  outs[0].dims[x->ndim - 1] = w->shape[0];
  return NNRT_OK;
}

nnrt_status nnrt_rule_linear_backward(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_tensor *gy = c->inputs[0], *x = c->inputs[1], *w = c->inputs[2];
  nnrt_status st = linear_common(c, x, w);
  if (st) return st;
  bool ok = gy->ndim == x->ndim && gy->shape[gy->ndim - 1] == w->shape[0];
  for (int i = 0; ok && i + 1 < x->ndim; i++) ok = gy->shape[i] == x->shape[i];
  if (!ok) return nnrt_err_shapes(c, "grad_output", gy, "input", x);
  nnrt_shape_of(x, &outs[0]);
  nnrt_shape_of(w, &outs[1]);
  outs[2] = (nnrt_shape){.dtype = w->dtype, .ndim = 1, .dims = {w->shape[0]}};
  return NNRT_OK;
}
