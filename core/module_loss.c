/* core/module_loss.c - every loss op as a module (torch.nn.L1Loss,
 * CrossEntropyLoss, ...): nnrt_module_loss, nnrt_loss_forward(2),
 * nnrt_loss_backward(2), nnrt_loss_set_tensor.
 *
 * One generic module serves every op of ops.def that has a `target` input
 * and a _backward: the module's tensors are matched to the op's inputs by
 * name (input or input1, input2, target; the rest, such as weight and
 * pos_weight, are constants the module owns), so validation is the op's
 * own, and a new loss op needs only a line in LOSS_KINDS for its class
 * name.  Limits: NLLLoss2d is reported as "NLLLoss" (the same op). */
#include <stdlib.h>
#include <string.h>

#include "module.h"

/* op name -> the PyTorch class name nnrt_module_kind reports */
#define LOSS_KINDS(X)                                                            \
  X(cross_entropy, CrossEntropyLoss)                                             \
  X(nll_loss, NLLLoss)                                                           \
  X(l1_loss, L1Loss)                                                             \
  X(mse_loss, MSELoss)                                                           \
  X(kl_div, KLDivLoss)                                                           \
  X(bce_loss, BCELoss)                                                           \
  X(bce_with_logits, BCEWithLogitsLoss)                                          \
  X(margin_ranking_loss, MarginRankingLoss)                                      \
  X(hinge_embedding_loss, HingeEmbeddingLoss)                                    \
  X(multilabel_margin_loss, MultiLabelMarginLoss)                                \
  X(smooth_l1_loss, SmoothL1Loss)                                                \
  X(soft_margin_loss, SoftMarginLoss)                                            \
  X(multilabel_soft_margin_loss, MultiLabelSoftMarginLoss)                       \
  X(cosine_embedding_loss, CosineEmbeddingLoss)                                  \
  X(multi_margin_loss, MultiMarginLoss)

/* m->extra: a constant input sits at its forward input index (ops have at
 * most four inputs); then the ones of grad_output and grad_input2. */
enum { SLOT_ONES = 6, SLOT_GRAD2 = 7 };

typedef struct loss_state {
  nnrt_op bop;         /* the backward op */
  bool two_inputs;     /* (input1, input2, target) */
  nnrt_tensor *input2; /* borrowed from the last forward */
} loss_state;

static nnrt_status loss_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *target, nnrt_tensor **loss);
static nnrt_status loss_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input);
static void loss_destroy(nnrt_module *m) { free(m->state); }

#define LOSS_VT(op, kind) {#kind, NULL, loss_backward, loss_forward, loss_destroy},
#define LOSS_OP_NAME(op, kind) #op,
static const nnrt_module_vtbl loss_vts[] = {LOSS_KINDS(LOSS_VT){"Loss", NULL, loss_backward, loss_forward, loss_destroy}};
static const char *const loss_op_names[] = {LOSS_KINDS(LOSS_OP_NAME)};
#define N_KINDS (sizeof loss_op_names / sizeof loss_op_names[0])

static bool is_loss_module(const nnrt_module *m) { return m && m->vt->loss_forward == loss_forward; }
static loss_state *state_of(const nnrt_module *m) { return m->state; }

static bool is_variable(const char *name) {
  return !strcmp(name, "input") || !strcmp(name, "input1") || !strcmp(name, "input2") || !strcmp(name, "target") ||
         !strcmp(name, "grad_output");
}

/* The forward input index of `name`, or -1. */
static int input_index(nnrt_op op, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  for (int i = 0; i < s->n_inputs; i++)
    if (!strcmp(s->inputs[i].name, name)) return i;
  return -1;
}

/* The tensors a call of the forward or backward op takes by name. */
typedef struct loss_vars {
  nnrt_tensor *grad_output, *input, *input2, *target;
} loss_vars;

static nnrt_tensor *tensor_for(nnrt_module *m, const char *name, const loss_vars *v) {
  if (!strcmp(name, "grad_output")) return v->grad_output;
  if (!strcmp(name, "input") || !strcmp(name, "input1")) return v->input;
  if (!strcmp(name, "input2")) return v->input2;
  if (!strcmp(name, "target")) return v->target;
  int i = input_index(m->op, name);
  return i >= 0 ? m->extra[i] : NULL;
}

static nnrt_status run_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *input2, nnrt_tensor *target,
                               nnrt_tensor **loss) {
  const nnrt_op_signature *s = nnrt_op_signature_of(m->op);
  loss_vars v = {NULL, input, input2, target};
  nnrt_tensor *ins[8] = {0};
  for (int i = 0; i < s->n_inputs; i++) ins[i] = tensor_for(m, s->inputs[i].name, &v);
  nnrt_status st = nnrt_module_run_forward(m, ins, loss); /* sets m->input */
  if (st) return st;
  state_of(m)->input2 = input2;
  m->target = target;
  return NNRT_OK;
}

static nnrt_status run_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input,
                                nnrt_tensor **grad_input2) {
  loss_state *ls = state_of(m);
  nnrt_status st;
  nnrt_shape s;
  if (!grad_output) { /* d loss = 1, or ones for reduction none */
    nnrt_shape_of(m->output, &s);
    if ((st = nnrt_module_ensure(m, &m->extra[SLOT_ONES], &s)) || (st = nnrt_tensor_fill(m->extra[SLOT_ONES], 1.0)))
      return st;
    grad_output = m->extra[SLOT_ONES];
  }
  nnrt_shape_of(m->input, &s);
  if ((st = nnrt_module_ensure(m, &m->grad_input, &s))) return st;
  if (ls->two_inputs) {
    nnrt_shape_of(ls->input2, &s);
    if ((st = nnrt_module_ensure(m, &m->extra[SLOT_GRAD2], &s))) return st;
  }
  const nnrt_op_signature *bs = nnrt_op_signature_of(ls->bop);
  nnrt_tensor *ins[8] = {0}, *outs[8] = {0};
  loss_vars v = {grad_output, m->input, ls->input2, m->target};
  for (int i = 0; i < bs->n_inputs; i++) ins[i] = tensor_for(m, bs->inputs[i].name, &v);
  for (int i = 0; i < bs->n_outputs; i++)
    outs[i] = !strcmp(bs->outputs[i].name, "grad_input2") ? m->extra[SLOT_GRAD2] : m->grad_input;
  if ((st = nnrt_op_run(ls->bop, m->op_params, ins, outs))) return st;
  *grad_input = m->grad_input;
  if (grad_input2) *grad_input2 = m->extra[SLOT_GRAD2];
  return NNRT_OK;
}

static nnrt_status loss_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *target, nnrt_tensor **loss) {
  if (state_of(m)->two_inputs)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s takes (input1, input2, target): use nnrt_loss_forward2", m->vt->kind);
  return run_forward(m, input, NULL, target, loss);
}

static nnrt_status loss_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  if (state_of(m)->two_inputs)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s has two input gradients: use nnrt_loss_backward2", m->vt->kind);
  return run_backward(m, grad_output, grad_input, NULL);
}

static nnrt_op backward_op(nnrt_op op) {
  char name[96];
  snprintf(name, sizeof name, "%s_backward", nnrt_op_name(op));
  return nnrt_op_from_name(name);
}

nnrt_status nnrt_module_loss(nnrt_device *dev, nnrt_op op, const void *params, nnrt_tensor *weight, nnrt_module **out) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  nnrt_op bop = s ? backward_op(op) : NNRT_OP_COUNT;
  if (!s || bop == NNRT_OP_COUNT || input_index(op, "target") < 0 || s->n_outputs != 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_loss: %s is not a loss op", s ? s->name : "(unknown op)");
  if (weight && input_index(op, "weight") < 0)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_loss: %s takes no weight", s->name);
  size_t k = 0;
  while (k < N_KINDS && strcmp(loss_op_names[k], s->name)) k++;
  nnrt_module *m;
  nnrt_status st = nnrt_module_alloc(dev, &loss_vts[k], &m);
  if (st) return st;
  loss_state *ls = calloc(1, sizeof *ls);
  if (!ls) {
    nnrt_module_free(m);
    return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", loss_vts[k].kind);
  }
  ls->bop = bop;
  ls->two_inputs = input_index(op, "input2") >= 0;
  m->state = ls;
  m->op = op;
  nnrt_params_init(op, m->op_params);
  if (params) memcpy(m->op_params, params, s->params_size);
  if (weight && (st = nnrt_loss_set_tensor(m, "weight", weight))) {
    nnrt_module_free(m);
    return st;
  }
  *out = m;
  return NNRT_OK;
}

nnrt_status nnrt_loss_set_tensor(nnrt_module *m, const char *name, nnrt_tensor *t) {
  if (!is_loss_module(m)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_loss_set_tensor: not a loss module");
  int i = name ? input_index(m->op, name) : -1;
  if (i < 0 || is_variable(name))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' is not a constant input of %s (weight, pos_weight, ...)",
                      m->vt->kind, name ? name : "(null)", nnrt_op_name(m->op));
  if (!t) {
    nnrt_tensor_free(m->extra[i]);
    m->extra[i] = NULL;
    return NNRT_OK;
  }
  /* copy into a fresh tensor so that a failed copy leaves the old one */
  nnrt_tensor *c = NULL;
  nnrt_shape s;
  nnrt_shape_of(t, &s);
  nnrt_status st = nnrt_module_ensure(m, &c, &s);
  if (!st) st = nnrt_tensor_copy(c, t);
  if (st) {
    nnrt_tensor_free(c);
    return st;
  }
  nnrt_tensor_free(m->extra[i]);
  m->extra[i] = c;
  return NNRT_OK;
}

nnrt_status nnrt_loss_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *target, nnrt_tensor **loss) {
  if (!m) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_loss_forward: module is NULL");
  if (!m->vt->loss_forward) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s is not a loss module", m->vt->kind);
  if (!loss) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: loss is NULL", m->vt->kind);
  return m->vt->loss_forward(m, input, target, loss);
}

nnrt_status nnrt_loss_backward(nnrt_module *m, nnrt_tensor **grad_input) {
  if (!m) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_loss_backward: module is NULL");
  if (!m->vt->loss_forward) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s is not a loss module", m->vt->kind);
  return nnrt_module_backward(m, NULL, grad_input);
}

nnrt_status nnrt_loss_forward2(nnrt_module *m, nnrt_tensor *input1, nnrt_tensor *input2, nnrt_tensor *target,
                               nnrt_tensor **loss) {
  if (!is_loss_module(m)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_loss_forward2: not a loss module");
  if (!loss) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: loss is NULL", m->vt->kind);
  if (!state_of(m)->two_inputs)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s takes (input, target): use nnrt_loss_forward", m->vt->kind);
  return run_forward(m, input1, input2, target, loss);
}

nnrt_status nnrt_loss_backward2(nnrt_module *m, nnrt_tensor **grad_input1, nnrt_tensor **grad_input2) {
  if (!is_loss_module(m)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_loss_backward2: not a loss module");
  if (!state_of(m)->two_inputs)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s has one input gradient: use nnrt_loss_backward", m->vt->kind);
  if (!grad_input1 || !grad_input2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s backward: grad_input1 or grad_input2 is NULL", m->vt->kind);
  if (!m->input) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s backward: no forward pass to go back through", m->vt->kind);
  return run_backward(m, NULL, grad_input1, grad_input2);
}
