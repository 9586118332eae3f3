/* core/rules_activation.c - shape and param rules of the activations. */
#include <math.h>
#include <string.h>

#include "core.h"

static nnrt_status param_error(const nnrt_call *c, const char *name, double v, const char *why) {
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s=%g %s", c->op_name, name, v, why);
}

/* Float params of elementwise ops: finite unless stated, and the few
 * ranges PyTorch enforces. */
static nnrt_status unary_params(const nnrt_call *c) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; i < s->n_params; i++) {
    if (s->params[i].type != NNRT_PARAM_F64) continue;
    double v = *(const double *)((const char *)c->params + s->params[i].offset);
    if (isnan(v)) return param_error(c, s->params[i].name, v, "is not a number");
  }
  const char *base = c->op_name;
#define IS(name) (!strncmp(base, name, strlen(name)) && (base[strlen(name)] == 0 || !strcmp(base + strlen(name), "_backward")))
  if (IS("hardtanh")) {
    /* forward and backward params start with the same members */
    const nnrt_hardtanh_params *p = c->params;
    if (p->min_val > p->max_val) return param_error(c, "min_val", p->min_val, "is above max_val");
  } else if (IS("softshrink")) {
    const nnrt_softshrink_params *p = c->params;
    if (p->lambd < 0) return param_error(c, "lambd", p->lambd, "must be >= 0");
  } else if (IS("celu")) {
    const nnrt_celu_params *p = c->params;
    if (p->alpha == 0) return param_error(c, "alpha", p->alpha, "must not be 0");
  } else if (IS("softplus")) {
    const nnrt_softplus_params *p = c->params;
    if (p->beta == 0) return param_error(c, "beta", p->beta, "must not be 0");
  }
#undef IS
  return NNRT_OK;
}

nnrt_status nnrt_rule_unary(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_status st = unary_params(c);
  if (st) return st;
  nnrt_shape_of(c->inputs[0], &outs[0]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_unary_backward(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_status st = unary_params(c);
  if (st) return st;
  if (!nnrt_same_shape(c->inputs[0], c->inputs[1])) return nnrt_err_shapes(c, "grad_output", c->inputs[0], "input", c->inputs[1]);
  nnrt_shape_of(c->inputs[1], &outs[0]);
  return NNRT_OK;
}

/* weight: 1-d of 1 or C elements, C = input.shape[1] (1 for a 1-d input). */
static nnrt_status prelu_weight(const nnrt_call *c, const nnrt_tensor *input, const nnrt_tensor *w) {
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  int64_t ch = input->ndim >= 2 ? input->shape[1] : 1;
  if (input->ndim == 0 && w->numel != 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: a 0-d input needs a weight of 1 element", c->op_name);
  if (w->ndim != 1 || (w->numel != 1 && w->numel != ch))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: weight must be 1-d with 1 or %lld (input channels) elements: weight %s, input %s",
                      c->op_name, (long long)ch, nnrt_shape_str(w->ndim, w->shape, a, sizeof a),
                      nnrt_shape_str(input->ndim, input->shape, b, sizeof b));
  return NNRT_OK;
}

nnrt_status nnrt_rule_prelu(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_status st = prelu_weight(c, c->inputs[0], c->inputs[1]);
  if (st) return st;
  nnrt_shape_of(c->inputs[0], &outs[0]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_prelu_backward(const nnrt_call *c, nnrt_shape *outs) {
  if (!nnrt_same_shape(c->inputs[0], c->inputs[1])) return nnrt_err_shapes(c, "grad_output", c->inputs[0], "input", c->inputs[1]);
  nnrt_status st = prelu_weight(c, c->inputs[1], c->inputs[2]);
  if (st) return st;
  nnrt_shape_of(c->inputs[1], &outs[0]);
  nnrt_shape_of(c->inputs[2], &outs[1]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_softmax(const nnrt_call *c, nnrt_shape *outs) {
  int d;
  nnrt_status st = nnrt_check_dim(c, ((const nnrt_softmax_params *)c->params)->dim, c->inputs[0]->ndim, &d);
  if (st) return st;
  nnrt_shape_of(c->inputs[0], &outs[0]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_softmax_backward(const nnrt_call *c, nnrt_shape *outs) {
  if (!nnrt_same_shape(c->inputs[0], c->inputs[1])) return nnrt_err_shapes(c, "grad_output", c->inputs[0], "output", c->inputs[1]);
  int d;
  nnrt_status st = nnrt_check_dim(c, ((const nnrt_softmax_params *)c->params)->dim, c->inputs[1]->ndim, &d);
  if (st) return st;
  nnrt_shape_of(c->inputs[1], &outs[0]);
  return NNRT_OK;
}
