/* core/rules_norm.c - shape and param rules of batch_norm and its backward.
 *
 * input (N, C, *): (N, C), (N, C, L), (N, C, H, W), (N, C, D, H, W) or any
 * rank >= 2, as PyTorch's op; every per-channel tensor (weight, bias,
 * running_mean, running_var, save_mean, save_invstd) is 1-d of C elements.
 * Under nnrt_op_infer() the call has no outputs: the running statistics
 * (outputs, as training updates them) are then checked only when the op
 * runs, as is eval mode's need for them. */
#include <math.h>

#include "core.h"

static nnrt_status per_channel(const nnrt_call *c, const char *name, const nnrt_tensor *t, const nnrt_tensor *x) {
  if (!t) return NNRT_OK;
  if (t->ndim == 1 && t->shape[0] == x->shape[1]) return NNRT_OK;
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s must be 1-d with C=%lld elements (input %s), got %s", c->op_name,
                    name, (long long)x->shape[1], nnrt_shape_str(x->ndim, x->shape, b, sizeof b),
                    nnrt_shape_str(t->ndim, t->shape, a, sizeof a));
}

static nnrt_status input_rank(const nnrt_call *c, const nnrt_tensor *x) {
  if (x->ndim >= 2) return NNRT_OK;
  char a[NNRT_SHAPE_STR_LEN];
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                    "%s: input must be (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W), got %s", c->op_name,
                    nnrt_shape_str(x->ndim, x->shape, a, sizeof a));
}

/* Values per channel: N times the spatial size. */
static int64_t per_channel_count(const nnrt_tensor *x) {
  int64_t m = x->shape[0];
  for (int i = 2; i < x->ndim; i++) m *= x->shape[i];
  return m;
}

nnrt_status nnrt_rule_batch_norm(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_batch_norm_params *p = c->params;
  const nnrt_tensor *x = c->inputs[0];
  nnrt_status st = input_rank(c, x);
  if (!st) st = per_channel(c, "weight", c->inputs[1], x);
  if (!st) st = per_channel(c, "bias", c->inputs[2], x);
  const nnrt_tensor *rm = c->outputs ? c->outputs[3] : NULL, *rv = c->outputs ? c->outputs[4] : NULL;
  if (!st) st = per_channel(c, "running_mean", rm, x);
  if (!st) st = per_channel(c, "running_var", rv, x);
  if (st) return st;
  if (!(p->eps >= 0) || isinf(p->eps))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: eps=%g must be finite and >= 0", c->op_name, p->eps);
  if (!isfinite(p->momentum))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: momentum=%g must be finite (for momentum=None pass 1/num_batches_tracked, as BatchNorm does)",
                      c->op_name, p->momentum);
  if (p->training) {
    if (per_channel_count(x) <= 1) {
      char a[NNRT_SHAPE_STR_LEN];
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                        "%s: expected more than 1 value per channel when training, got input %s", c->op_name,
                        nnrt_shape_str(x->ndim, x->shape, a, sizeof a));
    }
  } else if (c->outputs && (!rm || !rv)) {
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: training=false normalises with the running statistics: running_mean and running_var are required",
                      c->op_name);
  }
  nnrt_dtype dt = x->dtype;
  nnrt_shape ch = {.dtype = dt, .ndim = 1, .dims = {x->shape[1]}};
  nnrt_shape_of(x, &outs[0]);
  outs[1] = outs[2] = outs[3] = outs[4] = ch;
  return NNRT_OK;
}

nnrt_status nnrt_rule_batch_norm_backward(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_tensor *gy = c->inputs[0], *x = c->inputs[1];
  nnrt_status st = input_rank(c, x);
  if (st) return st;
  if (!nnrt_same_shape(gy, x)) return nnrt_err_shapes(c, "grad_output", gy, "input", x);
  if (!st) st = per_channel(c, "weight", c->inputs[2], x);
  if (!st) st = per_channel(c, "save_mean", c->inputs[3], x);
  if (!st) st = per_channel(c, "save_invstd", c->inputs[4], x);
  if (st) return st;
  nnrt_shape_of(x, &outs[0]);
  outs[1] = outs[2] = (nnrt_shape){.dtype = x->dtype, .ndim = 1, .dims = {x->shape[1]}};
  return NNRT_OK;
}
