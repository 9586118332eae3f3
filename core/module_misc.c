/* core/module_misc.c - Dropout/Dropout2d/Dropout3d and Embedding modules,
 * and nnrt_module_buffer (buffers by name, children included).
 *
 * Dropout keeps the seed of its last training forward for backward and
 * advances to the next one per training forward, so every step draws a
 * new mask and a run repeats from the same starting seed.  Embedding's
 * weight is drawn from N(0, 1) by a seeded splitmix64 + Box-Muller
 * generator (not PyTorch's generator: the values differ, the law is the
 * same). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

/* ---- Dropout ---- */
typedef struct drop_state {
  double p;
  uint64_t next_seed;
  nnrt_dropout_backward_params last; /* p, training, seed of the last forward */
} drop_state;

static nnrt_status drop_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  drop_state *s = m->state;
  /* every dropout op's params are p, training, seed, inplace */
  nnrt_dropout_params p;
  nnrt_params_init(NNRT_OP_dropout, &p);
  p.p = s->p;
  p.training = m->training;
  p.seed = (int64_t)s->next_seed;
  memcpy(m->op_params, &p, sizeof p);
  nnrt_tensor *ins[] = {input};
  nnrt_status st = nnrt_module_run_forward(m, ins, output);
  if (st) return st;
  s->last = (nnrt_dropout_backward_params){.p = p.p, .training = p.training, .seed = p.seed};
  if (m->training) s->next_seed++;
  return NNRT_OK;
}

static nnrt_status drop_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  drop_state *s = m->state;
  char name[96];
  snprintf(name, sizeof name, "%s_backward", nnrt_op_name(m->op));
  nnrt_shape sh;
  nnrt_shape_of(m->input, &sh);
  nnrt_status st = nnrt_module_ensure(m, &m->grad_input, &sh);
  if (st) return st;
  nnrt_tensor *ins[] = {grad_output};
  nnrt_tensor *outs[] = {m->grad_input};
  if ((st = nnrt_op_run(nnrt_op_from_name(name), &s->last, ins, outs))) return st;
  *grad_input = m->grad_input;
  return NNRT_OK;
}

static void free_state(nnrt_module *m) { free(m->state); }

static const nnrt_module_vtbl dropout_vt = {"Dropout", drop_forward, drop_backward, NULL, free_state};
static const nnrt_module_vtbl dropout2d_vt = {"Dropout2d", drop_forward, drop_backward, NULL, free_state};
static const nnrt_module_vtbl dropout3d_vt = {"Dropout3d", drop_forward, drop_backward, NULL, free_state};

nnrt_status nnrt_module_dropout(nnrt_device *dev, nnrt_op op, double p, uint64_t seed, nnrt_module **out) {
  const nnrt_module_vtbl *vt = op == NNRT_OP_dropout     ? &dropout_vt
                               : op == NNRT_OP_dropout2d ? &dropout2d_vt
                               : op == NNRT_OP_dropout3d ? &dropout3d_vt
                                                         : NULL;
  if (!vt)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_dropout: op %s is not dropout, dropout2d or dropout3d",
                      nnrt_op_name(op) ? nnrt_op_name(op) : "(unknown)");
  if (!(p >= 0 && p <= 1))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: p=%g is not a probability in [0, 1]", vt->kind, p);
  nnrt_module *m;
  nnrt_status st = nnrt_module_alloc(dev, vt, &m);
  if (st) return st;
  drop_state *s = calloc(1, sizeof *s);
  if (!s) {
    nnrt_module_free(m);
    return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", vt->kind);
  }
  s->p = p;
  s->next_seed = seed;
  m->state = s;
  m->op = op;
  *out = m;
  return NNRT_OK;
}

/* ---- Embedding ---- */
static nnrt_status emb_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  nnrt_tensor *ins[] = {input, m->params[0].param};
  return nnrt_module_run_forward(m, ins, output);
}

static nnrt_status emb_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  nnrt_status st = nnrt_embedding_backward(grad_output, m->input, m->params[0].param, m->params[0].grad,
                                           (const nnrt_embedding_backward_params *)m->op_params);
  if (st) return st;
  *grad_input = NULL;
  return NNRT_OK;
}

static const nnrt_module_vtbl embedding_vt = {"Embedding", emb_forward, emb_backward, NULL, NULL};

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* N(0, 1) by Box-Muller; u1 in (0, 1] keeps the log finite. */
static void fill_normal(float *v, size_t n, uint64_t seed) {
  const double two_pi = 6.283185307179586476925;
  for (size_t i = 0; i < n; i += 2) {
    double u1 = ((double)(splitmix64(&seed) >> 11) + 1.0) / 9007199254740992.0;
    double u2 = (double)(splitmix64(&seed) >> 11) / 9007199254740992.0;
    double r = sqrt(-2.0 * log(u1));
    v[i] = (float)(r * cos(two_pi * u2));
    if (i + 1 < n) v[i + 1] = (float)(r * sin(two_pi * u2));
  }
}

nnrt_status nnrt_module_embedding(nnrt_device *dev, int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx,
                                  uint64_t seed, nnrt_module **out) {
  if (num_embeddings < 1 || embedding_dim < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "Embedding: num_embeddings=%lld and embedding_dim=%lld must be >= 1",
                      (long long)num_embeddings, (long long)embedding_dim);
  if (padding_idx != NNRT_PADDING_IDX_NONE && (padding_idx < -num_embeddings || padding_idx >= num_embeddings))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "Embedding: padding_idx=%lld must be within num_embeddings=%lld",
                      (long long)padding_idx, (long long)num_embeddings);
  if (num_embeddings > INT64_MAX / 8 / embedding_dim)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "Embedding: %lld x %lld weights are too many", (long long)num_embeddings,
                      (long long)embedding_dim);
  int64_t pad = padding_idx == NNRT_PADDING_IDX_NONE ? -1 : padding_idx < 0 ? padding_idx + num_embeddings : padding_idx;
  nnrt_module *m;
  nnrt_status st = nnrt_module_alloc(dev, &embedding_vt, &m);
  if (st) return st;
  int64_t ws[2] = {num_embeddings, embedding_dim};
  nnrt_tensor *w;
  size_t n = (size_t)(num_embeddings * embedding_dim);
  float *v = NULL;
  if (!(st = nnrt_module_add_param(m, "weight", 2, ws, &w))) {
    v = malloc(n * sizeof *v + 1);
    if (!v) st = nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "Embedding: out of memory");
  }
  if (!st) {
    fill_normal(v, n, seed);
    if (pad >= 0) memset(v + pad * embedding_dim, 0, sizeof *v * (size_t)embedding_dim);
    st = nnrt_tensor_write(w, v, n * sizeof *v);
  }
  free(v);
  if (st) {
    nnrt_module_free(m);
    return st;
  }
  m->op = NNRT_OP_embedding;
  nnrt_embedding_params p;
  nnrt_params_init(NNRT_OP_embedding, &p);
  p.padding_idx = padding_idx; /* the backward's params have the same layout */
  memcpy(m->op_params, &p, sizeof p);
  *out = m;
  return NNRT_OK;
}

/* ---- buffers by name ---- */
nnrt_status nnrt_module_buffer(const nnrt_module *m, const char *name, nnrt_tensor **buffer) {
  if (!m || !name || !buffer)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_buffer: module, name or buffer is NULL");
  const nnrt_module *at = m;
  const char *rest = name;
  /* "k.name": child k of a Sequential, any depth */
  while (rest[0] >= '0' && rest[0] <= '9') {
    char *end;
    unsigned long long k = strtoull(rest, &end, 10);
    if (*end != '.' || k >= at->n_children) break;
    at = at->children[k];
    rest = end + 1;
  }
  for (size_t i = 0; i < at->n_buffers; i++)
    if (!strcmp(at->buffers[i].name, rest)) {
      *buffer = at->buffers[i].t;
      return NNRT_OK;
    }
  return nnrt_error(NNRT_ERR_NOT_FOUND, "%s: no buffer named '%s'", m->vt->kind, name);
}
