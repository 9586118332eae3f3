/* core/module.c - modules: the generic machinery (parameters, buffers,
 * train/eval, Sequential) and the kinds of the foundation: activations,
 * PReLU, Linear.  Losses as modules are in core/module_loss.c, optimizers
 * in core/optim.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

nnrt_status nnrt_module_alloc(nnrt_device *dev, const nnrt_module_vtbl *vt, nnrt_module **out) {
  if (!dev) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: device is NULL", vt->kind);
  if (!out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: out is NULL", vt->kind);
  nnrt_module *m = calloc(1, sizeof *m);
  if (!m) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", vt->kind);
  m->vt = vt;
  m->dev = dev;
  m->training = true;
  m->op = NNRT_OP_COUNT;
  *out = m;
  return NNRT_OK;
}

nnrt_status nnrt_module_add_param(nnrt_module *m, const char *name, int ndim, const int64_t *shape, nnrt_tensor **param) {
  if (m->n_params >= NNRT_MODULE_MAX_PARAMS)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: more than %d parameters", m->vt->kind, NNRT_MODULE_MAX_PARAMS);
  module_param_t *p = &m->params[m->n_params];
  nnrt_status st = nnrt_tensor_new(m->dev, NNRT_MODULE_DTYPE, ndim, shape, &p->param);
  if (st) return st;
  if ((st = nnrt_tensor_new(m->dev, NNRT_MODULE_DTYPE, ndim, shape, &p->grad))) {
    nnrt_tensor_free(p->param);
    p->param = NULL;
    return st;
  }
  snprintf(p->name, sizeof p->name, "%s", name);
  m->n_params++;
  if (param) *param = p->param;
  return NNRT_OK;
}

nnrt_status nnrt_module_add_buffer(nnrt_module *m, const char *name, nnrt_dtype dtype, int ndim, const int64_t *shape,
                                   nnrt_tensor **buf) {
  if (m->n_buffers >= NNRT_MODULE_MAX_BUFFERS)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: more than %d buffers", m->vt->kind, NNRT_MODULE_MAX_BUFFERS);
  nnrt_status st = nnrt_tensor_new(m->dev, dtype, ndim, shape, &m->buffers[m->n_buffers].t);
  if (st) return st;
  snprintf(m->buffers[m->n_buffers].name, sizeof m->buffers[0].name, "%s", name);
  if (buf) *buf = m->buffers[m->n_buffers].t;
  m->n_buffers++;
  return NNRT_OK;
}

nnrt_status nnrt_module_ensure(nnrt_module *m, nnrt_tensor **slot, const nnrt_shape *s) {
  nnrt_tensor *t = *slot;
  if (t && t->dtype == s->dtype && t->ndim == s->ndim && !memcmp(t->shape, s->dims, sizeof(int64_t) * (size_t)s->ndim))
    return NNRT_OK;
  nnrt_tensor *n;
  nnrt_status st = nnrt_tensor_new(m->dev, s->dtype, s->ndim, s->dims, &n);
  if (st) return st;
  nnrt_tensor_free(t);
  *slot = n;
  return NNRT_OK;
}

nnrt_status nnrt_module_run_forward(nnrt_module *m, nnrt_tensor *const *inputs, nnrt_tensor **output) {
  nnrt_shape s[8];
  nnrt_status st = nnrt_op_infer(m->op, m->op_params, inputs, s);
  if (st) return st;
  if ((st = nnrt_module_ensure(m, &m->output, &s[0]))) return st;
  nnrt_tensor *outs[8] = {m->output};
  if ((st = nnrt_op_run(m->op, m->op_params, inputs, outs))) return st;
  m->input = inputs[0];
  *output = m->output;
  return NNRT_OK;
}

static nnrt_status check_module(const nnrt_module *m, const char *fn) {
  if (!m) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: module is NULL", fn);
  return NNRT_OK;
}

nnrt_status nnrt_module_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  nnrt_status st = check_module(m, "nnrt_module_forward");
  if (st) return st;
  if (!output) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s forward: output is NULL", m->vt->kind);
  if (!input) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s forward: input is NULL", m->vt->kind);
  if (!m->vt->forward) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: use nnrt_loss_forward", m->vt->kind);
  return m->vt->forward(m, input, output);
}

nnrt_status nnrt_module_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  nnrt_status st = check_module(m, "nnrt_module_backward");
  if (st) return st;
  if (!grad_input) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s backward: grad_input is NULL", m->vt->kind);
  if (!m->input) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s backward: no forward pass to go back through", m->vt->kind);
  if (!grad_output && !m->vt->loss_forward)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s backward: grad_output is NULL", m->vt->kind);
  return m->vt->backward(m, grad_output, grad_input);
}

void nnrt_module_train(nnrt_module *m, bool training) {
  if (!m) return;
  m->training = training;
  for (size_t i = 0; i < m->n_children; i++) nnrt_module_train(m->children[i], training);
}

bool nnrt_module_is_training(const nnrt_module *m) { return m && m->training; }
const char *nnrt_module_kind(const nnrt_module *m) { return m ? m->vt->kind : "(null)"; }

nnrt_status nnrt_module_zero_grad(nnrt_module *m) {
  nnrt_status st = check_module(m, "nnrt_module_zero_grad");
  for (size_t i = 0; i < m->n_params && !st; i++) st = nnrt_tensor_fill(m->params[i].grad, 0.0);
  for (size_t i = 0; i < m->n_children && !st; i++) st = nnrt_module_zero_grad(m->children[i]);
  return st;
}

size_t nnrt_module_param_count(const nnrt_module *m) {
  if (!m) return 0;
  size_t n = m->n_params;
  for (size_t i = 0; i < m->n_children; i++) n += nnrt_module_param_count(m->children[i]);
  return n;
}

/* The i-th parameter, depth first; names of children get "k." prefixes. */
static const module_param_t *param_at(const nnrt_module *m, size_t i, char *prefix, size_t plen) {
  if (i < m->n_params) return &m->params[i];
  i -= m->n_params;
  for (size_t c = 0; c < m->n_children; c++) {
    size_t n = nnrt_module_param_count(m->children[c]);
    if (i < n) {
      size_t l = strlen(prefix);
      snprintf(prefix + l, plen - l, "%zu.", c);
      return param_at(m->children[c], i, prefix, plen);
    }
    i -= n;
  }
  return NULL;
}

nnrt_status nnrt_module_param(const nnrt_module *m, size_t i, const char **name, nnrt_tensor **param, nnrt_tensor **grad) {
  static _Thread_local char full[256];
  nnrt_status st = check_module(m, "nnrt_module_param");
  if (st) return st;
  char prefix[192] = "";
  const module_param_t *p = param_at(m, i, prefix, sizeof prefix);
  if (!p)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: parameter %zu of %zu", m->vt->kind, i, nnrt_module_param_count(m));
  snprintf(full, sizeof full, "%s%s", prefix, p->name);
  if (name) *name = full;
  if (param) *param = p->param;
  if (grad) *grad = p->grad;
  return NNRT_OK;
}

void nnrt_module_free(nnrt_module *m) {
  if (!m) return;
  if (m->vt->destroy) m->vt->destroy(m);
  for (size_t i = 0; i < m->n_children; i++) nnrt_module_free(m->children[i]);
  free(m->children);
  for (size_t i = 0; i < m->n_params; i++) {
    nnrt_tensor_free(m->params[i].param);
    nnrt_tensor_free(m->params[i].grad);
  }
  for (size_t i = 0; i < m->n_buffers; i++) nnrt_tensor_free(m->buffers[i].t);
  for (int i = 0; i < NNRT_MODULE_MAX_EXTRA; i++) nnrt_tensor_free(m->extra[i]);
  nnrt_tensor_free(m->output);
  nnrt_tensor_free(m->grad_input);
  free(m);
}

/* ---- activations: the forward op and its _backward ---- */
static nnrt_op backward_of(nnrt_op op) {
  char name[96];
  snprintf(name, sizeof name, "%s_backward", nnrt_op_name(op));
  return nnrt_op_from_name(name);
}

static nnrt_status act_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  nnrt_tensor *ins[] = {input};
  return nnrt_module_run_forward(m, ins, output);
}

/* Elementwise backward takes (grad_output, input); the softmax family takes
 * (grad_output, output), as its forward's output is what it needs. */
static nnrt_status act_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  nnrt_op bop = backward_of(m->op);
  const char *rule = nnrt_op_signature_of(bop)->rule;
  nnrt_tensor *ins[] = {grad_output, strcmp(rule, "softmax_backward") ? m->input : m->output};
  nnrt_shape s;
  nnrt_shape_of(m->input, &s);
  nnrt_status st = nnrt_module_ensure(m, &m->grad_input, &s);
  if (st) return st;
  nnrt_tensor *outs[] = {m->grad_input};
  if ((st = nnrt_op_run(bop, m->op_params, ins, outs))) return st;
  *grad_input = m->grad_input;
  return NNRT_OK;
}

static const nnrt_module_vtbl activation_vt = {"Activation", act_forward, act_backward, NULL, NULL};

nnrt_status nnrt_module_activation(nnrt_device *dev, nnrt_op op, const void *params, nnrt_module **out) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!s || (strcmp(s->rule, "unary") && strcmp(s->rule, "softmax")))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_activation: op %s is not an elementwise or softmax activation",
                      s ? s->name : "(unknown)");
  if (params && s->n_params) {
    /* in-place would overwrite the input that backward needs */
    for (int i = 0; i < s->n_params; i++)
      if (!strcmp(s->params[i].name, "inplace") && *(const bool *)((const char *)params + s->params[i].offset))
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_activation: %s: inplace=true is not supported in a module", s->name);
  }
  nnrt_status st = nnrt_module_alloc(dev, &activation_vt, out);
  if (st) return st;
  (*out)->op = op;
  nnrt_params_init(op, (*out)->op_params);
  if (params) memcpy((*out)->op_params, params, s->params_size);
  return NNRT_OK;
}

/* ---- PReLU ---- */
static nnrt_status prelu_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  nnrt_tensor *ins[] = {input, m->params[0].param};
  return nnrt_module_run_forward(m, ins, output);
}

static nnrt_status prelu_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  nnrt_shape s;
  nnrt_shape_of(m->input, &s);
  nnrt_status st = nnrt_module_ensure(m, &m->grad_input, &s);
  if (st) return st;
  nnrt_tensor *ins[] = {grad_output, m->input, m->params[0].param};
  nnrt_tensor *outs[] = {m->grad_input, m->params[0].grad};
  if ((st = nnrt_prelu_backward(ins[0], ins[1], ins[2], outs[0], outs[1], NULL))) return st;
  *grad_input = m->grad_input;
  return NNRT_OK;
}

static const nnrt_module_vtbl prelu_vt = {"PReLU", prelu_forward, prelu_backward, NULL, NULL};

nnrt_status nnrt_module_prelu(nnrt_device *dev, int64_t num_parameters, double init, nnrt_module **out) {
  if (num_parameters < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "PReLU: num_parameters=%lld must be >= 1", (long long)num_parameters);
  /* nnrt_module_alloc sets m on success only, and GCC at -O3 cannot tell
   * that its error returns are not NNRT_OK: m starts NULL */
  nnrt_module *m = NULL;
  nnrt_status st = nnrt_module_alloc(dev, &prelu_vt, &m);
  if (st) return st; /* nothing to free */
  nnrt_tensor *w = NULL;
  st = nnrt_module_add_param(m, "weight", 1, &num_parameters, &w);
  if (!st) st = nnrt_tensor_fill(w, init);
  if (st) {
    nnrt_module_free(m);
    return st;
  }
  m->op = NNRT_OP_prelu;
  *out = m;
  return NNRT_OK;
}

/* ---- Linear ---- */
static nnrt_status linear_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  nnrt_tensor *ins[] = {input, m->params[0].param, m->n_params > 1 ? m->params[1].param : NULL};
  return nnrt_module_run_forward(m, ins, output);
}

static nnrt_status linear_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  nnrt_shape s;
  nnrt_shape_of(m->input, &s);
  nnrt_status st = nnrt_module_ensure(m, &m->grad_input, &s);
  if (st) return st;
  if ((st = nnrt_linear_backward(grad_output, m->input, m->params[0].param, m->grad_input, m->params[0].grad,
                                 m->n_params > 1 ? m->params[1].grad : NULL, NULL)))
    return st;
  *grad_input = m->grad_input;
  return NNRT_OK;
}

static const nnrt_module_vtbl linear_vt = {"Linear", linear_forward, linear_backward, NULL, NULL};

/* splitmix64: a small seeded generator for initialisation */
static double uniform01(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

static nnrt_status fill_uniform(nnrt_tensor *t, double bound, uint64_t *seed) {
  size_t n = (size_t)nnrt_tensor_numel(t);
  float *v = malloc(n * sizeof *v + 1);
  if (!v) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "out of memory initialising a parameter");
  for (size_t i = 0; i < n; i++) v[i] = (float)((2 * uniform01(seed) - 1) * bound);
  nnrt_status st = nnrt_tensor_write(t, v, n * sizeof *v);
  free(v);
  return st;
}

nnrt_status nnrt_module_linear(nnrt_device *dev, int64_t in_features, int64_t out_features, bool bias, uint64_t seed,
                               nnrt_module **out) {
  if (in_features < 1 || out_features < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "Linear: in_features=%lld and out_features=%lld must be >= 1",
                      (long long)in_features, (long long)out_features);
  nnrt_module *m = NULL; /* as in nnrt_module_prelu */
  nnrt_status st = nnrt_module_alloc(dev, &linear_vt, &m);
  if (st) return st;
  int64_t ws[2] = {out_features, in_features};
  nnrt_tensor *w = NULL, *b = NULL;
  double bound = 1.0 / sqrt((double)in_features);
  st = nnrt_module_add_param(m, "weight", 2, ws, &w);
  if (!st && bias) st = nnrt_module_add_param(m, "bias", 1, &out_features, &b);
  if (!st) st = fill_uniform(w, bound, &seed);
  if (!st && b) st = fill_uniform(b, bound, &seed);
  if (st) {
    nnrt_module_free(m);
    return st;
  }
  m->op = NNRT_OP_linear;
  *out = m;
  return NNRT_OK;
}

/* ---- Sequential ---- */
static nnrt_status seq_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  nnrt_tensor *x = input;
  for (size_t i = 0; i < m->n_children; i++) {
    nnrt_status st = nnrt_module_forward(m->children[i], x, &x);
    if (st) return st;
  }
  m->input = input;
  *output = x;
  return NNRT_OK;
}

static nnrt_status seq_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  nnrt_tensor *g = grad_output;
  for (size_t i = m->n_children; i-- > 0;) {
    nnrt_status st = nnrt_module_backward(m->children[i], g, &g);
    if (st) return st;
  }
  *grad_input = g;
  return NNRT_OK;
}

static const nnrt_module_vtbl sequential_vt = {"Sequential", seq_forward, seq_backward, NULL, NULL};

nnrt_status nnrt_module_sequential(nnrt_device *dev, nnrt_module **out) {
  return nnrt_module_alloc(dev, &sequential_vt, out);
}

nnrt_status nnrt_sequential_add(nnrt_module *seq, nnrt_module *child) {
  if (!seq || seq->vt != &sequential_vt)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_sequential_add: not a Sequential");
  if (!child || child == seq) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_sequential_add: bad child");
  if (child->dev != seq->dev)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_sequential_add: child on %s, Sequential on %s",
                      nnrt_device_name(child->dev), nnrt_device_name(seq->dev));
  nnrt_module **c = realloc(seq->children, (seq->n_children + 1) * sizeof *c);
  if (!c) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "nnrt_sequential_add: out of memory");
  c[seq->n_children++] = child;
  seq->children = c;
  child->training = seq->training;
  return NNRT_OK;
}
