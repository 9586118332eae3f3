/* core/optim.c - optimizers over every parameter of a module:
 * torch.optim.SGD (op sgd_step) and torch.optim.Adam (op adam_step).
 *
 * An optimizer keeps up to OPT_MAX_STATE state tensors per parameter, on
 * the parameter's device with its dtype and shape, zero at the start as
 * PyTorch's lazily made state is, and the number of steps taken: SGD's
 * first_step and Adam's 1-based step come from it, so the caller never
 * sets them.  Limits: one param group, hyper-parameters fixed at creation
 * (no schedulers), no saving of the optimizer state. */
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define OPT_MAX_STATE 3

typedef enum opt_kind { OPT_SGD, OPT_ADAM } opt_kind;

struct nnrt_optimizer {
  opt_kind kind;
  nnrt_module *m;
  size_t n; /* parameters of m when the optimizer was made */
  union {
    nnrt_sgd_step_params sgd;
    nnrt_adam_step_params adam;
  } p;
  int n_state;          /* state tensors per parameter */
  nnrt_tensor **state;  /* n * OPT_MAX_STATE, row i for parameter i; unused slots NULL.
                           SGD: momentum_buffer (only with momentum).
                           Adam: exp_avg, exp_avg_sq, max_exp_avg_sq (only with amsgrad). */
  int64_t steps;        /* steps completed */
};

static const char *opt_fn(opt_kind k) { return k == OPT_SGD ? "nnrt_optimizer_sgd" : "nnrt_optimizer_adam"; }

/* The parameters' hyper-parameters are checked now, by the op's rule on
 * the first parameter, rather than at the first step. */
static nnrt_status opt_check_params(nnrt_optimizer *o) {
  if (!o->n) return NNRT_OK;
  nnrt_tensor *grad;
  nnrt_status st = nnrt_module_param(o->m, 0, NULL, NULL, &grad);
  if (st) return st;
  nnrt_shape outs[8];
  if (o->kind == OPT_SGD) return nnrt_op_infer(NNRT_OP_sgd_step, &o->p.sgd, &grad, outs);
  return nnrt_op_infer(NNRT_OP_adam_step, &o->p.adam, &grad, outs);
}

/* A new optimizer of kind k with n_state zeroed state tensors per parameter. */
static nnrt_status opt_new(nnrt_module *m, opt_kind k, const void *params, int n_state, nnrt_optimizer **out) {
  nnrt_optimizer *o = calloc(1, sizeof *o);
  if (!o) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", opt_fn(k));
  o->kind = k;
  o->m = m;
  o->n = nnrt_module_param_count(m);
  if (k == OPT_SGD) o->p.sgd = *(const nnrt_sgd_step_params *)params;
  else o->p.adam = *(const nnrt_adam_step_params *)params;
  o->n_state = n_state;
  nnrt_status st = opt_check_params(o);
  if (!st) {
    o->state = calloc(o->n * OPT_MAX_STATE + 1, sizeof *o->state);
    if (!o->state) st = nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", opt_fn(k));
  }
  for (size_t i = 0; i < o->n && !st; i++) {
    nnrt_tensor *p;
    nnrt_module_param(m, i, NULL, &p, NULL);
    for (int j = 0; j < n_state && !st; j++)
      st = nnrt_tensor_new(nnrt_tensor_device(p), nnrt_tensor_dtype(p), nnrt_tensor_ndim(p), nnrt_tensor_shape(p),
                           &o->state[i * OPT_MAX_STATE + (size_t)j]);
  }
  if (st) {
    nnrt_optimizer_free(o);
    return st;
  }
  *out = o;
  return NNRT_OK;
}

nnrt_status nnrt_optimizer_sgd(nnrt_module *m, const nnrt_sgd_step_params *params, nnrt_optimizer **out) {
  if (!m || !out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_optimizer_sgd: module or out is NULL");
  nnrt_sgd_step_params p;
  nnrt_params_init(NNRT_OP_sgd_step, &p);
  if (params) p = *params;
  return opt_new(m, OPT_SGD, &p, p.momentum != 0 ? 1 : 0, out);
}

nnrt_status nnrt_optimizer_adam(nnrt_module *m, const nnrt_adam_step_params *params, nnrt_optimizer **out) {
  if (!m || !out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_optimizer_adam: module or out is NULL");
  nnrt_adam_step_params p;
  nnrt_params_init(NNRT_OP_adam_step, &p);
  if (params) p = *params;
  p.step = 1; /* counted by the optimizer */
  return opt_new(m, OPT_ADAM, &p, p.amsgrad ? 3 : 2, out);
}

nnrt_status nnrt_optimizer_step(nnrt_optimizer *o) {
  if (!o) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_optimizer_step: optimizer is NULL");
  size_t now = nnrt_module_param_count(o->m);
  if (now != o->n)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "nnrt_optimizer_step: the module has %zu parameters now, %zu when the optimizer was made", now,
                      o->n);
  nnrt_sgd_step_params sp = o->p.sgd;
  nnrt_adam_step_params ap = o->p.adam;
  if (o->kind == OPT_SGD) sp.first_step = o->steps == 0;
  else ap.step = o->steps + 1;
  for (size_t i = 0; i < o->n; i++) {
    nnrt_tensor *param, *grad, **s = &o->state[i * OPT_MAX_STATE];
    nnrt_status st = nnrt_module_param(o->m, i, NULL, &param, &grad);
    if (!st) st = o->kind == OPT_SGD ? nnrt_sgd_step(grad, param, s[0], &sp)
                                     : nnrt_adam_step(grad, param, s[0], s[1], s[2], &ap);
    if (st) return st;
  }
  o->steps++;
  return NNRT_OK;
}

void nnrt_optimizer_free(nnrt_optimizer *o) {
  if (!o) return;
  for (size_t i = 0; o->state && i < o->n * OPT_MAX_STATE; i++) nnrt_tensor_free(o->state[i]);
  free(o->state);
  free(o);
}
