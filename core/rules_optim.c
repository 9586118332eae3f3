/* core/rules_optim.c - optimizer steps. */
#include <math.h>

#include "core.h"

nnrt_status nnrt_rule_sgd(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_sgd_step_params *p = c->params;
  const nnrt_tensor *grad = c->inputs[0];
  if (!(p->lr >= 0)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: lr=%g must be >= 0", c->op_name, p->lr);
  if (!(p->momentum >= 0)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: momentum=%g must be >= 0", c->op_name, p->momentum);
  if (!(p->weight_decay >= 0))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: weight_decay=%g must be >= 0", c->op_name, p->weight_decay);
  if (!isfinite(p->dampening)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: dampening=%g", c->op_name, p->dampening);
  if (p->nesterov && (p->momentum <= 0 || p->dampening != 0))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: nesterov needs momentum > 0 and dampening = 0", c->op_name);
  /* outputs is NULL when only shapes are inferred */
  if (p->momentum > 0 && c->outputs && !c->outputs[1])
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: momentum=%g needs a momentum_buffer", c->op_name, p->momentum);
  /* param and momentum_buffer take grad's shape */
  nnrt_shape_of(grad, &outs[0]);
  nnrt_shape_of(grad, &outs[1]);
  return NNRT_OK;
}
