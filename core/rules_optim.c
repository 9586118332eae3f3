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

/* adam_step: torch.optim.Adam's checks (0 <= lr, 0 <= eps, betas in
 * [0, 1), 0 <= weight_decay), plus a 1-based step, since the bias
 * corrections 1 - beta^step need it. */
nnrt_status nnrt_rule_adam(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_adam_step_params *p = c->params;
  const nnrt_tensor *grad = c->inputs[0];
  if (!(p->lr >= 0 && isfinite(p->lr)))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: lr=%g must be finite and >= 0", c->op_name, p->lr);
  if (!(p->beta1 >= 0 && p->beta1 < 1))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: beta1=%g must be in [0, 1)", c->op_name, p->beta1);
  if (!(p->beta2 >= 0 && p->beta2 < 1))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: beta2=%g must be in [0, 1)", c->op_name, p->beta2);
  if (!(p->eps >= 0 && isfinite(p->eps)))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: eps=%g must be finite and >= 0", c->op_name, p->eps);
  if (!(p->weight_decay >= 0 && isfinite(p->weight_decay)))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: weight_decay=%g must be finite and >= 0", c->op_name,
                      p->weight_decay);
  if (p->step < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: step=%lld must be >= 1 (the first step is 1)", c->op_name,
                      (long long)p->step);
  /* outputs is NULL when only shapes are inferred */
  if (p->amsgrad && c->outputs && !c->outputs[3])
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: amsgrad=true needs a max_exp_avg_sq", c->op_name);
  /* param and every state tensor take grad's shape */
  for (int i = 0; i < 4; i++) nnrt_shape_of(grad, &outs[i]);
  return NNRT_OK;
}
