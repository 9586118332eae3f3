/* core/module_distance.c - PairwiseDistance and CosineSimilarity as
 * modules of two inputs: nnrt_module_distance, nnrt_module_forward2,
 * nnrt_module_backward2.  The ops pairwise_distance and cosine_similarity
 * do the work (and the validation); the module keeps its params, the two
 * inputs of the last forward, its output and the two input gradients. */
#include <string.h>

#include "module.h"

enum { SLOT_X2 = 0, SLOT_GRAD_X2 = 1 };

static nnrt_status two_input_only(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  (void)input, (void)output;
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s takes two inputs: use nnrt_module_forward2", m->vt->kind);
}

static nnrt_status two_grads_only(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  (void)grad_output, (void)grad_input;
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s has two input gradients: use nnrt_module_backward2", m->vt->kind);
}

static const nnrt_module_vtbl pairwise_vt = {"PairwiseDistance", two_input_only, two_grads_only, NULL, NULL};
static const nnrt_module_vtbl cosine_vt = {"CosineSimilarity", two_input_only, two_grads_only, NULL, NULL};

static bool is_distance(const nnrt_module *m) { return m && (m->vt == &pairwise_vt || m->vt == &cosine_vt); }

nnrt_status nnrt_module_distance(nnrt_device *dev, nnrt_op op, const void *params, nnrt_module **out) {
  const nnrt_module_vtbl *vt = op == NNRT_OP_pairwise_distance ? &pairwise_vt
                               : op == NNRT_OP_cosine_similarity ? &cosine_vt : NULL;
  if (!vt)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_distance: op %s is not pairwise_distance or cosine_similarity",
                      nnrt_op_name(op) ? nnrt_op_name(op) : "(unknown)");
  nnrt_status st = nnrt_module_alloc(dev, vt, out);
  if (st) return st;
  (*out)->op = op;
  nnrt_params_init(op, (*out)->op_params);
  if (params) memcpy((*out)->op_params, params, nnrt_op_signature_of(op)->params_size);
  return NNRT_OK;
}

nnrt_status nnrt_module_forward2(nnrt_module *m, nnrt_tensor *x1, nnrt_tensor *x2, nnrt_tensor **output) {
  if (!is_distance(m)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_forward2: not a two-input module");
  if (!output) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s forward: output is NULL", m->vt->kind);
  nnrt_tensor *ins[] = {x1, x2};
  nnrt_status st = nnrt_module_run_forward(m, ins, output);
  if (!st) m->target = x2; /* the second input, kept for backward */
  return st;
}

nnrt_status nnrt_module_backward2(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_x1,
                                  nnrt_tensor **grad_x2) {
  if (!is_distance(m)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_backward2: not a two-input module");
  if (!m->input || !m->target)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s backward: no forward pass to go back through", m->vt->kind);
  nnrt_shape s1, s2;
  nnrt_shape_of(m->input, &s1);
  nnrt_shape_of(m->target, &s2);
  nnrt_status st;
  if ((st = nnrt_module_ensure(m, &m->grad_input, &s1)) || (st = nnrt_module_ensure(m, &m->extra[SLOT_GRAD_X2], &s2)))
    return st;
  nnrt_tensor *ins[] = {grad_output, m->input, m->target};
  nnrt_tensor *outs[] = {m->grad_input, m->extra[SLOT_GRAD_X2]};
  nnrt_op bop = m->op == NNRT_OP_pairwise_distance ? NNRT_OP_pairwise_distance_backward : NNRT_OP_cosine_similarity_backward;
  if ((st = nnrt_op_run(bop, m->op_params, ins, outs))) return st;
  if (grad_x1) *grad_x1 = m->grad_input;
  if (grad_x2) *grad_x2 = m->extra[SLOT_GRAD_X2];
  return NNRT_OK;
}
