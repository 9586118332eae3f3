/* core/rules_misc.c - shape and param rules of dropout (and its 2d/3d
 * channel forms), embedding and the distances (pairwise_distance,
 * cosine_similarity).
 *
 * Limits: the distances take x1 and x2 of one shape (no broadcasting);
 * embedding has no max_norm, scale_grad_by_freq or sparse gradient. */
#include <math.h>
#include <stdlib.h>

#include "core.h"

/* ---- dropout ---- */

/* Every dropout op's params start with p, training, seed. */
static nnrt_status dropout_common(const nnrt_call *c, const nnrt_tensor *x) {
  const nnrt_dropout_backward_params *p = c->params;
  if (!(p->p >= 0 && p->p <= 1))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: p=%g is not a probability in [0, 1]", c->op_name, p->p);
  bool d2 = c->op == NNRT_OP_dropout2d || c->op == NNRT_OP_dropout2d_backward;
  bool d3 = c->op == NNRT_OP_dropout3d || c->op == NNRT_OP_dropout3d_backward;
  if ((d2 && x->ndim != 3 && x->ndim != 4) || (d3 && x->ndim != 4 && x->ndim != 5)) {
    char a[NNRT_SHAPE_STR_LEN];
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be %s, got %s", c->op_name,
                      d2 ? "3-d (N, C, L) or 4-d (N, C, H, W)" : "4-d (C, D, H, W) or 5-d (N, C, D, H, W)",
                      nnrt_shape_str(x->ndim, x->shape, a, sizeof a));
  }
  return NNRT_OK;
}

nnrt_status nnrt_rule_dropout(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_status st = dropout_common(c, c->inputs[0]);
  if (st) return st;
  nnrt_shape_of(c->inputs[0], &outs[0]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_dropout_backward(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_status st = dropout_common(c, c->inputs[0]);
  if (st) return st;
  nnrt_shape_of(c->inputs[0], &outs[0]);
  return NNRT_OK;
}

/* ---- embedding ---- */

static nnrt_status embedding_common(const nnrt_call *c, const nnrt_tensor *idx, const nnrt_tensor *w) {
  char a[NNRT_SHAPE_STR_LEN];
  int64_t pad = ((const nnrt_embedding_params *)c->params)->padding_idx;
  if (w->ndim != 2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: weight must be 2-d (num_embeddings, embedding_dim), got %s",
                      c->op_name, nnrt_shape_str(w->ndim, w->shape, a, sizeof a));
  if (idx->ndim >= NNRT_MAX_DIMS)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input has %d dims; the output would need %d > %d", c->op_name,
                      idx->ndim, idx->ndim + 1, NNRT_MAX_DIMS);
  int64_t n = w->shape[0];
  if (pad != NNRT_PADDING_IDX_NONE && (pad < -n || pad >= n))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: padding_idx=%lld must be within num_embeddings=%lld ([%lld, %lld))",
                      c->op_name, (long long)pad, (long long)n, (long long)-n, (long long)n);
  int64_t *v;
  bool owned;
  nnrt_status st = nnrt_index_values(idx, &v, &owned);
  if (st) return st;
  for (int64_t i = 0; i < idx->numel && !st; i++)
    if (v[i] < 0 || v[i] >= n)
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input[%lld]=%lld is out of range [0, %lld) (num_embeddings)",
                      c->op_name, (long long)i, (long long)v[i], (long long)n);
  if (owned) free(v);
  return st;
}

static void embedding_out(const nnrt_tensor *idx, const nnrt_tensor *w, nnrt_shape *s) {
  nnrt_shape_of(idx, s);
  s->dtype = w->dtype;
  s->dims[s->ndim++] = w->shape[1];
}

nnrt_status nnrt_rule_embedding(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_status st = embedding_common(c, c->inputs[0], c->inputs[1]);
  if (st) return st;
  embedding_out(c->inputs[0], c->inputs[1], &outs[0]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_embedding_backward(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_tensor *gy = c->inputs[0], *idx = c->inputs[1], *w = c->inputs[2];
  nnrt_status st = embedding_common(c, idx, w);
  if (st) return st;
  nnrt_shape want;
  embedding_out(idx, w, &want);
  bool ok = gy->ndim == want.ndim;
  for (int i = 0; ok && i < gy->ndim; i++) ok = gy->shape[i] == want.dims[i];
  if (!ok) {
    char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: grad_output has shape %s, the forward's output has %s", c->op_name,
                      nnrt_shape_str(gy->ndim, gy->shape, a, sizeof a), nnrt_shape_str(want.ndim, want.dims, b, sizeof b));
  }
  nnrt_shape_of(w, &outs[0]);
  return NNRT_OK;
}

/* ---- distances ---- */

static nnrt_status pair_shapes(const nnrt_call *c, const nnrt_tensor *x1, const nnrt_tensor *x2) {
  if (!nnrt_same_shape(x1, x2)) return nnrt_err_shapes(c, "x1", x1, "x2", x2);
  if (x1->ndim < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: x1 and x2 must have at least 1 dim, got 0-d", c->op_name);
  return NNRT_OK;
}

/* The shape of x without dim d, or with it set to 1 (keepdim). */
static void reduced(const nnrt_tensor *x, int d, bool keepdim, nnrt_shape *s) {
  nnrt_shape_of(x, s);
  if (keepdim) {
    s->dims[d] = 1;
    return;
  }
  for (int i = d; i + 1 < x->ndim; i++) s->dims[i] = x->shape[i + 1];
  s->ndim--;
}

static nnrt_status grad_matches(const nnrt_call *c, const nnrt_tensor *gy, const nnrt_shape *want) {
  bool ok = gy->ndim == want->ndim;
  for (int i = 0; ok && i < gy->ndim; i++) ok = gy->shape[i] == want->dims[i];
  if (ok) return NNRT_OK;
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: grad_output has shape %s, the forward's output has %s", c->op_name,
                    nnrt_shape_str(gy->ndim, gy->shape, a, sizeof a), nnrt_shape_str(want->ndim, want->dims, b, sizeof b));
}

static nnrt_status pairwise_common(const nnrt_call *c, const nnrt_tensor *x1, const nnrt_tensor *x2, nnrt_shape *out) {
  const nnrt_pairwise_distance_params *p = c->params;
  nnrt_status st = pair_shapes(c, x1, x2);
  if (st) return st;
  if (!(p->p >= 0))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: p=%g must be >= 0 (inf allowed)", c->op_name, p->p);
  if (!isfinite(p->eps)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: eps=%g must be finite", c->op_name, p->eps);
  reduced(x1, x1->ndim - 1, p->keepdim, out);
  return NNRT_OK;
}

nnrt_status nnrt_rule_pairwise_distance(const nnrt_call *c, nnrt_shape *outs) {
  return pairwise_common(c, c->inputs[0], c->inputs[1], &outs[0]);
}

nnrt_status nnrt_rule_pairwise_distance_backward(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_shape want;
  nnrt_status st = pairwise_common(c, c->inputs[1], c->inputs[2], &want);
  if (!st) st = grad_matches(c, c->inputs[0], &want);
  if (st) return st;
  nnrt_shape_of(c->inputs[1], &outs[0]);
  nnrt_shape_of(c->inputs[2], &outs[1]);
  return NNRT_OK;
}

static nnrt_status cosine_common(const nnrt_call *c, const nnrt_tensor *x1, const nnrt_tensor *x2, nnrt_shape *out) {
  const nnrt_cosine_similarity_params *p = c->params;
  nnrt_status st = pair_shapes(c, x1, x2);
  if (st) return st;
  int d;
  if ((st = nnrt_check_dim(c, p->dim, x1->ndim, &d))) return st;
  if (!(p->eps >= 0) || isinf(p->eps))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: eps=%g must be finite and >= 0", c->op_name, p->eps);
  reduced(x1, d, false, out);
  return NNRT_OK;
}

nnrt_status nnrt_rule_cosine_similarity(const nnrt_call *c, nnrt_shape *outs) {
  return cosine_common(c, c->inputs[0], c->inputs[1], &outs[0]);
}

nnrt_status nnrt_rule_cosine_similarity_backward(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_shape want;
  nnrt_status st = cosine_common(c, c->inputs[1], c->inputs[2], &want);
  if (!st) st = grad_matches(c, c->inputs[0], &want);
  if (st) return st;
  nnrt_shape_of(c->inputs[1], &outs[0]);
  nnrt_shape_of(c->inputs[2], &outs[1]);
  return NNRT_OK;
}
