/* core/rules_losses2.c - shape, param and target rules of the losses other
 * than cross_entropy and nll_loss (those are core/rules_loss.c's class_loss).
 *
 * Rules find their tensors by the names ops.def gives them ("input",
 * "input1", "input2", "target", "weight", "pos_weight"), so one function
 * serves an op's forward and its backward, whose inputs are grad_output
 * followed by the forward's.  Every backward rule is the forward's check
 * plus: grad_output has the loss's shape, and grad_<name> has <name>'s.
 *
 * What is rejected follows PyTorch 1.13 where it checks values, and is
 * stricter where it only broadcasts:
 *  - target (and input2) must have input's shape: no broadcasting;
 *  - weight, pos_weight: input's shape, or 1-d of input's last dim;
 *  - bce_loss input outside [0, 1] (NaN included), as PyTorch; its target
 *    is not checked (PyTorch does not either);
 *  - multi_margin target outside [0, C), weight not (C), p not 1 or 2;
 *  - multilabel_margin target outside [-1, C), also after the first -1;
 *  - smooth_l1 beta < 0.
 * Not checked, as in PyTorch: ±1 targets of hinge_embedding, margin_ranking,
 * soft_margin and cosine_embedding (a value that is neither selects the
 * terms PyTorch's formulas select), kl_div targets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* The input named `name` of the call (NULL where absent or left out). */
static const nnrt_tensor *arg(const nnrt_call *c, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; i < s->n_inputs; i++)
    if (!strcmp(s->inputs[i].name, name)) return c->inputs[i];
  return NULL;
}

/* The first-order input: "input", or "input1" of the two-input losses. */
static const nnrt_tensor *main_input(const nnrt_call *c, const char **name) {
  const nnrt_tensor *x = arg(c, "input");
  *name = "input";
  if (!x) {
    x = arg(c, "input1");
    *name = "input1";
  }
  return x;
}

static const nnrt_param_desc *param_desc(const nnrt_call *c, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; i < s->n_params; i++)
    if (!strcmp(s->params[i].name, name)) return &s->params[i];
  return NULL;
}

#define PARAM(c, type, desc) (*(const type *)((const char *)(c)->params + (desc)->offset))

/* reduction within its choices ("none|mean|sum", kl_div adds batchmean). */
static nnrt_status check_reduction(const nnrt_call *c, int *reduction) {
  const nnrt_param_desc *d = param_desc(c, "reduction");
  int r = PARAM(c, int, d), n = 1;
  for (const char *p = d->choices; *p; p++) n += *p == '|';
  if (r < 0 || r >= n)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: reduction=%d is not an index into %s", c->op_name, r, d->choices);
  *reduction = r;
  return NNRT_OK;
}

/* The loss's shape: `item` for reduction none, else a scalar. */
static void reduced_shape(int reduction, int ndim, const int64_t *item, nnrt_shape *out) {
  out->ndim = reduction == 0 ? ndim : 0;
  if (reduction == 0) memcpy(out->dims, item, sizeof(int64_t) * (size_t)ndim);
}

static nnrt_status err_same(const nnrt_call *c, const char *an, const nnrt_tensor *a, const char *bn,
                            const nnrt_tensor *b) {
  char sa[NNRT_SHAPE_STR_LEN], sb[NNRT_SHAPE_STR_LEN];
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s shape %s must equal %s shape %s (no broadcasting)", c->op_name,
                    bn, nnrt_shape_str(b->ndim, b->shape, sb, sizeof sb), an,
                    nnrt_shape_str(a->ndim, a->shape, sa, sizeof sa));
}

/* weight / pos_weight of an elementwise loss: x's shape, or 1-d of x's
 * last dim (a per-class vector broadcast over the leading dims). */
static nnrt_status check_bcast(const nnrt_call *c, const char *name, const nnrt_tensor *w, const nnrt_tensor *x) {
  if (!w || nnrt_same_shape(w, x)) return NNRT_OK;
  if (x->ndim >= 1 && w->ndim == 1 && w->shape[0] == x->shape[x->ndim - 1]) return NNRT_OK;
  char sa[NNRT_SHAPE_STR_LEN], sb[NNRT_SHAPE_STR_LEN];
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s must have input's shape %s or be 1-d of its last dim (%lld), got %s",
                    c->op_name, name, nnrt_shape_str(x->ndim, x->shape, sa, sizeof sa),
                    (long long)(x->ndim ? x->shape[x->ndim - 1] : 1), nnrt_shape_str(w->ndim, w->shape, sb, sizeof sb));
}

/* Float values on the host: borrowed on host-memory devices, else a copy
 * left in *owned for the caller to free. */
static nnrt_status float_values(const nnrt_tensor *t, const void **vals, void **owned) {
  *owned = NULL;
  if (nnrt_device_is_host_memory(t->device)) {
    *vals = t->data;
    return NNRT_OK;
  }
  *owned = malloc(t->bytes ? t->bytes : 1);
  if (!*owned) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "out of memory reading a tensor for validation");
  nnrt_status st = nnrt_tensor_read(t, *owned, t->bytes);
  if (st) {
    free(*owned);
    *owned = NULL;
  }
  *vals = *owned;
  return st;
}

/* bce_loss takes probabilities: PyTorch refuses any input outside [0, 1]. */
static nnrt_status check_probabilities(const nnrt_call *c, const nnrt_tensor *x) {
  const void *v = NULL;
  void *owned;
  nnrt_status st = float_values(x, &v, &owned);
  for (int64_t i = 0; i < x->numel && !st; i++) {
    double e = x->dtype == NNRT_F64 ? ((const double *)v)[i] : ((const float *)v)[i];
    if (!(e >= 0 && e <= 1))
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input[%lld]=%g is outside [0, 1] (bce_loss takes probabilities)",
                      c->op_name, (long long)i, e);
  }
  free(owned);
  return st;
}

#define IS_OP(call, name) ((call)->op == NNRT_OP_##name || (call)->op == NNRT_OP_##name##_backward)

/* Computes the loss's shape into *loss after checking the call. */
typedef nnrt_status (*loss_check_fn)(const nnrt_call *c, nnrt_shape *loss);

/* ---- elementwise losses ---- */
static nnrt_status pointwise_check(const nnrt_call *c, nnrt_shape *loss) {
  const char *xn;
  const nnrt_tensor *x = main_input(c, &xn), *x2 = arg(c, "input2"), *t = arg(c, "target");
  int reduction;
  nnrt_status st = check_reduction(c, &reduction);
  if (st) return st;
  if (x2 && !nnrt_same_shape(x, x2)) return err_same(c, xn, x, "input2", x2);
  if (!nnrt_same_shape(x, t)) return err_same(c, xn, x, "target", t);
  if ((st = check_bcast(c, "weight", arg(c, "weight"), x))) return st;
  if ((st = check_bcast(c, "pos_weight", arg(c, "pos_weight"), x))) return st;
  if (IS_OP(c, smooth_l1_loss)) {
    double beta = ((const nnrt_smooth_l1_loss_params *)c->params)->beta;
    if (!(beta >= 0))
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: beta=%g must be >= 0 (0 is l1_loss)", c->op_name, beta);
  }
  if (IS_OP(c, bce_loss) && (st = check_probabilities(c, x))) return st;
  reduced_shape(reduction, x->ndim, x->shape, loss);
  return NNRT_OK;
}

/* ---- multilabel_soft_margin: rows along the last dim ---- */
static nnrt_status mlsm_check(const nnrt_call *c, nnrt_shape *loss) {
  const nnrt_tensor *x = arg(c, "input"), *t = arg(c, "target");
  int reduction;
  nnrt_status st = check_reduction(c, &reduction);
  if (st) return st;
  if (x->ndim < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be (N, C) or (..., C), got 0-d", c->op_name);
  if (!nnrt_same_shape(x, t)) return err_same(c, "input", x, "target", t);
  if ((st = check_bcast(c, "weight", arg(c, "weight"), x))) return st;
  reduced_shape(reduction, x->ndim - 1, x->shape, loss);
  return NNRT_OK;
}

/* ---- cosine_embedding: (N, D) with (N), or (D) with () ---- */
static nnrt_status cosine_check(const nnrt_call *c, nnrt_shape *loss) {
  const nnrt_tensor *x1 = arg(c, "input1"), *x2 = arg(c, "input2"), *t = arg(c, "target");
  int reduction;
  char sa[NNRT_SHAPE_STR_LEN], sb[NNRT_SHAPE_STR_LEN];
  nnrt_status st = check_reduction(c, &reduction);
  if (st) return st;
  if (x1->ndim != 1 && x1->ndim != 2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input1 must be (N, D) or (D), got %s", c->op_name,
                      nnrt_shape_str(x1->ndim, x1->shape, sa, sizeof sa));
  if (!nnrt_same_shape(x1, x2)) return err_same(c, "input1", x1, "input2", x2);
  if (t->ndim != x1->ndim - 1 || (t->ndim == 1 && t->shape[0] != x1->shape[0]))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: target shape %s does not fit input1 %s (want (N) for (N, D), () for (D))",
                      c->op_name, nnrt_shape_str(t->ndim, t->shape, sa, sizeof sa),
                      nnrt_shape_str(x1->ndim, x1->shape, sb, sizeof sb));
  reduced_shape(reduction, t->ndim, t->shape, loss);
  return NNRT_OK;
}

/* (N, C) or (C) with C >= 1, as PyTorch's "non-empty vector or matrix". */
static nnrt_status check_vector_or_matrix(const nnrt_call *c, const nnrt_tensor *x) {
  char sa[NNRT_SHAPE_STR_LEN];
  if ((x->ndim != 1 && x->ndim != 2) || x->shape[x->ndim - 1] < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be (N, C) or (C) with C >= 1, got %s", c->op_name,
                      nnrt_shape_str(x->ndim, x->shape, sa, sizeof sa));
  return NNRT_OK;
}

/* Every index in [lo, hi), else an error naming the first one outside. */
static nnrt_status check_index_range(const nnrt_call *c, const nnrt_tensor *t, int64_t lo, int64_t hi, const char *what) {
  int64_t *v;
  bool owned;
  nnrt_status st = nnrt_index_values(t, &v, &owned);
  if (st) return st;
  for (int64_t i = 0; i < t->numel && !st; i++)
    if (v[i] < lo || v[i] >= hi)
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: target[%lld]=%lld is outside [%lld, %lld)%s", c->op_name,
                      (long long)i, (long long)v[i], (long long)lo, (long long)hi, what);
  if (owned) free(v);
  return st;
}

/* ---- multi_margin: target (N) of class indices ---- */
static nnrt_status multi_margin_check(const nnrt_call *c, nnrt_shape *loss) {
  const nnrt_tensor *x = arg(c, "input"), *t = arg(c, "target"), *w = arg(c, "weight");
  const nnrt_multi_margin_loss_params *p = c->params;
  int reduction;
  char sa[NNRT_SHAPE_STR_LEN], sb[NNRT_SHAPE_STR_LEN];
  nnrt_status st = check_reduction(c, &reduction);
  if (st || (st = check_vector_or_matrix(c, x))) return st;
  if (p->p != 1 && p->p != 2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: p=%lld must be 1 or 2", c->op_name, (long long)p->p);
  int64_t N = x->ndim == 2 ? x->shape[0] : 1, C = x->shape[x->ndim - 1];
  bool ok = x->ndim == 2 ? t->ndim == 1 && t->shape[0] == N : t->ndim == 0 || (t->ndim == 1 && t->shape[0] == 1);
  if (!ok)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: target shape %s does not fit input %s (want (N) for (N, C), () or (1) for (C))",
                      c->op_name, nnrt_shape_str(t->ndim, t->shape, sa, sizeof sa),
                      nnrt_shape_str(x->ndim, x->shape, sb, sizeof sb));
  if (w && (w->ndim != 1 || w->shape[0] != C))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: weight must have one element per class (%lld), got %s", c->op_name,
                      (long long)C, nnrt_shape_str(w->ndim, w->shape, sa, sizeof sa));
  if ((st = check_index_range(c, t, 0, C, " (a class index)"))) return st;
  reduced_shape(reduction, t->ndim, t->shape, loss);
  return NNRT_OK;
}

/* ---- multilabel_margin: target of input's shape, lists ended by -1 ---- */
static nnrt_status multilabel_margin_check(const nnrt_call *c, nnrt_shape *loss) {
  const nnrt_tensor *x = arg(c, "input"), *t = arg(c, "target");
  int reduction;
  nnrt_status st = check_reduction(c, &reduction);
  if (st || (st = check_vector_or_matrix(c, x))) return st;
  if (!nnrt_same_shape(x, t)) return err_same(c, "input", x, "target", t);
  /* PyTorch checks every entry, those after the ending -1 too */
  if ((st = check_index_range(c, t, -1, x->shape[x->ndim - 1], " (class indices, -1 ends a row's list)"))) return st;
  reduced_shape(reduction, x->ndim - 1, x->shape, loss);
  return NNRT_OK;
}

/* ---- the backward of any of them ---- */
static nnrt_status loss_backward(const nnrt_call *c, nnrt_shape *outs, loss_check_fn check) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  const nnrt_tensor *gy = c->inputs[0];
  nnrt_shape want;
  nnrt_status st = check(c, &want);
  if (st) return st;
  bool ok = gy->ndim == want.ndim;
  for (int i = 0; ok && i < gy->ndim; i++) ok = gy->shape[i] == want.dims[i];
  if (!ok) {
    char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: grad_output has shape %s, the loss has %s", c->op_name,
                      nnrt_shape_str(gy->ndim, gy->shape, a, sizeof a), nnrt_shape_str(want.ndim, want.dims, b, sizeof b));
  }
  for (int i = 0; i < s->n_outputs; i++) {
    const nnrt_tensor *x = arg(c, s->outputs[i].name + strlen("grad_"));
    nnrt_shape_of(x, &outs[i]);
  }
  return NNRT_OK;
}

#define LOSS_RULES(rule, check)                                                  \
  nnrt_status nnrt_rule_##rule(const nnrt_call *c, nnrt_shape *outs) { return check(c, &outs[0]); } \
  nnrt_status nnrt_rule_##rule##_backward(const nnrt_call *c, nnrt_shape *outs) { return loss_backward(c, outs, check); }

LOSS_RULES(pointwise_loss, pointwise_check)
LOSS_RULES(multilabel_soft_margin, mlsm_check)
LOSS_RULES(cosine_embedding, cosine_check)
LOSS_RULES(multi_margin, multi_margin_check)
LOSS_RULES(multilabel_margin, multilabel_margin_check)
