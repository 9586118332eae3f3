/* core/module_rnn.c - the recurrent modules: RNN, LSTM, GRU (over the
 * layer ops rnn, lstm, gru) and RNNCell, LSTMCell, GRUCell (over the cell
 * ops), plus nnrt_module_param_by_name.
 *
 * The layer modules keep PyTorch's named parameters as separate tensors,
 * the truth that users load and optimizers update, and copy them into the
 * op's flat weights tensor at each forward (op slice_copy, so any device
 * works); backward fills a flat gradient and adds its slices into the named
 * gradients.  A training forward asks the op for its workspace and keeps it
 * for the backward; an eval forward asks for none, which is what lets a
 * backend run inference only (oneDNN's RNN primitives do), so a backward
 * after an eval forward first reruns that forward, with a workspace, into
 * a scratch output (the module's output keeps the eval forward's values):
 * PyTorch allows backward through an eval-mode RNN, and so do we, at the
 * price of a second forward.  Tensors given to a forward (input, packed
 * sequence, h0, c0) are borrowed until the backward, as every module
 * borrows its input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

/* extra[] slots of a layer module */
enum { X_FLAT, X_FLAT_GRAD, X_WORKSPACE, X_HN, X_CN, X_GRAD_H0, X_GRAD_C0 };
/* extra[] slots of a cell module */
enum { X_C_OUT, X_GRAD_HX, X_GRAD_CX };

typedef struct rnn_state {
  bool cell;
  int64_t offsets[NNRT_MODULE_MAX_PARAMS]; /* of each named parameter in the flat weights */
  int64_t flat_numel;
  uint64_t seed_state;       /* draws the dropout seed of each training forward */
  unsigned char used[256];   /* the op params of the last forward */
  /* borrowed from the last forward */
  nnrt_tensor *h0, *c0;
  const nnrt_packed_sequence *packed;
  nnrt_packed_sequence packed_out; /* data owned (m->output), the rest borrowed */
  bool forward_done;
  bool have_workspace; /* the last forward wrote extra[X_WORKSPACE] (it was training) */
} rnn_state;

static rnn_state *state_of(const nnrt_module *m) { return m->state; }

static void rnn_destroy(nnrt_module *m) { free(m->state); }

/* splitmix64, for initialisation and dropout seeds */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static nnrt_status fill_uniform(nnrt_tensor *t, double bound, uint64_t *seed) {
  size_t n = (size_t)nnrt_tensor_numel(t);
  float *v = malloc(n * sizeof *v + 1);
  if (!v) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "out of memory initialising a parameter");
  for (size_t i = 0; i < n; i++) v[i] = (float)((2 * ((double)(next_u64(seed) >> 11) / 9007199254740992.0) - 1) * bound);
  nnrt_status st = nnrt_tensor_write(t, v, n * sizeof *v);
  free(v);
  return st;
}

/* ---- layer params, the same members in the forward and backward ops ---- */
typedef struct layer_params {
  int64_t input_size, hidden_size, num_layers, seed;
  bool bias, batch_first, bidirectional, training;
  double dropout;
  int nonlinearity;
} layer_params;

#define LP_GET_(p, q)                                                            \
  ((q)->input_size = (p)->input_size, (q)->hidden_size = (p)->hidden_size, (q)->num_layers = (p)->num_layers, \
   (q)->seed = (p)->seed, (q)->bias = (p)->bias, (q)->batch_first = (p)->batch_first,                        \
   (q)->bidirectional = (p)->bidirectional, (q)->training = (p)->training, (q)->dropout = (p)->dropout)
#define LP_SET_(q, p)                                                            \
  ((p)->input_size = (q)->input_size, (p)->hidden_size = (q)->hidden_size, (p)->num_layers = (q)->num_layers, \
   (p)->seed = (q)->seed, (p)->bias = (q)->bias, (p)->batch_first = (q)->batch_first,                        \
   (p)->bidirectional = (q)->bidirectional, (p)->training = (q)->training, (p)->dropout = (q)->dropout)

static layer_params lp_get(nnrt_op op, const void *params) {
  layer_params q = {0};
  if (op == NNRT_OP_rnn) {
    LP_GET_((const nnrt_rnn_params *)params, &q);
    q.nonlinearity = ((const nnrt_rnn_params *)params)->nonlinearity;
  } else if (op == NNRT_OP_lstm) {
    LP_GET_((const nnrt_lstm_params *)params, &q);
  } else {
    LP_GET_((const nnrt_gru_params *)params, &q);
  }
  return q;
}

/* Writes q as the params of op (a layer op or its backward). */
static void lp_set(nnrt_op op, const layer_params *q, void *params) {
  nnrt_params_init(op, params);
  switch (op) {
  case NNRT_OP_rnn:
    LP_SET_(q, (nnrt_rnn_params *)params);
    ((nnrt_rnn_params *)params)->nonlinearity = q->nonlinearity;
    break;
  case NNRT_OP_rnn_backward:
    LP_SET_(q, (nnrt_rnn_backward_params *)params);
    ((nnrt_rnn_backward_params *)params)->nonlinearity = q->nonlinearity;
    break;
  case NNRT_OP_lstm: LP_SET_(q, (nnrt_lstm_params *)params); break;
  case NNRT_OP_lstm_backward: LP_SET_(q, (nnrt_lstm_backward_params *)params); break;
  case NNRT_OP_gru: LP_SET_(q, (nnrt_gru_params *)params); break;
  default: LP_SET_(q, (nnrt_gru_backward_params *)params); break;
  }
}

static nnrt_op backward_op(nnrt_op op) {
  switch (op) {
  case NNRT_OP_rnn: return NNRT_OP_rnn_backward;
  case NNRT_OP_lstm: return NNRT_OP_lstm_backward;
  case NNRT_OP_gru: return NNRT_OP_gru_backward;
  case NNRT_OP_rnn_cell: return NNRT_OP_rnn_cell_backward;
  case NNRT_OP_lstm_cell: return NNRT_OP_lstm_cell_backward;
  default: return NNRT_OP_gru_cell_backward;
  }
}

/* ---- RNN, LSTM, GRU ---- */

static const nnrt_module_vtbl rnn_vt, lstm_vt, gru_vt, rnn_cell_vt, lstm_cell_vt, gru_cell_vt;

static bool is_layer(const nnrt_module *m) { return m && (m->vt == &rnn_vt || m->vt == &lstm_vt || m->vt == &gru_vt); }
static bool is_cell(const nnrt_module *m) {
  return m && (m->vt == &rnn_cell_vt || m->vt == &lstm_cell_vt || m->vt == &gru_cell_vt);
}

/* Copies the named parameters into the flat weights. */
static nnrt_status pack_weights(nnrt_module *m) {
  rnn_state *s = state_of(m);
  nnrt_slice_copy_params p;
  nnrt_params_init(NNRT_OP_slice_copy, &p);
  p.dst_numel = s->flat_numel;
  for (size_t i = 0; i < m->n_params; i++) {
    p.dst_offset = s->offsets[i];
    nnrt_status st = nnrt_slice_copy(m->params[i].param, m->extra[X_FLAT], &p);
    if (st) return st;
  }
  return NNRT_OK;
}

/* Adds the flat gradient's slices into the named gradients. */
static nnrt_status unpack_grads(nnrt_module *m) {
  rnn_state *s = state_of(m);
  nnrt_slice_copy_params p;
  nnrt_params_init(NNRT_OP_slice_copy, &p);
  p.accumulate = true;
  for (size_t i = 0; i < m->n_params; i++) {
    nnrt_tensor *g = m->params[i].grad;
    p.src_offset = s->offsets[i];
    p.count = p.dst_numel = nnrt_tensor_numel(g);
    nnrt_status st = nnrt_slice_copy(m->extra[X_FLAT_GRAD], g, &p);
    if (st) return st;
  }
  return NNRT_OK;
}

static nnrt_status ensure_out(nnrt_module *m, nnrt_tensor **slot, const nnrt_shape *s, bool wanted) {
  if (!wanted) return NNRT_OK;
  return nnrt_module_ensure(m, slot, s);
}

static nnrt_status layer_run(nnrt_module *m, const char *fn, nnrt_tensor *input, const nnrt_packed_sequence *packed,
                             nnrt_tensor *h0, nnrt_tensor *c0) {
  rnn_state *s = state_of(m);
  bool lstm = m->op == NNRT_OP_lstm;
  if (!input) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s input is NULL", fn, m->vt->kind);
  if (c0 && !lstm) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s takes no c0", fn, m->vt->kind);
  layer_params q = lp_get(m->op, m->op_params);
  q.training = m->training;
  if (m->training && q.dropout > 0) q.seed = (int64_t)next_u64(&s->seed_state);
  unsigned char params[256];
  lp_set(m->op, &q, params);
  nnrt_tensor *bs = packed ? packed->batch_sizes : NULL, *si = packed ? packed->sorted_indices : NULL;
  nnrt_tensor *ins[6];
  int k = 0;
  ins[k++] = input;
  ins[k++] = h0;
  if (lstm) ins[k++] = c0;
  ins[k++] = m->extra[X_FLAT];
  ins[k++] = bs;
  ins[k++] = si;
  nnrt_shape sh[4];
  nnrt_status st = nnrt_op_infer(m->op, params, ins, sh);
  if (st) return st;
  /* outputs: output, h_n, [c_n], workspace (training only) */
  int ws = lstm ? 3 : 2;
  bool want_ws = m->training;
  if ((st = nnrt_module_ensure(m, &m->output, &sh[0])) || (st = nnrt_module_ensure(m, &m->extra[X_HN], &sh[1])) ||
      (st = ensure_out(m, &m->extra[X_CN], &sh[2], lstm)) ||
      (st = ensure_out(m, &m->extra[X_WORKSPACE], &sh[ws], want_ws)))
    return st;
  if ((st = pack_weights(m))) return st;
  nnrt_tensor *outs[4];
  k = 0;
  outs[k++] = m->output;
  outs[k++] = m->extra[X_HN];
  if (lstm) outs[k++] = m->extra[X_CN];
  outs[k++] = want_ws ? m->extra[X_WORKSPACE] : NULL;
  s->have_workspace = false; /* a failed run leaves no usable workspace */
  if ((st = nnrt_op_run(m->op, params, ins, outs))) return st;
  s->have_workspace = want_ws;
  memcpy(s->used, params, sizeof s->used);
  m->input = input;
  s->h0 = h0;
  s->c0 = c0;
  s->packed = packed;
  s->forward_done = true;
  return NNRT_OK;
}

/* After an eval forward: the same forward again (same params, inputs and
 * flat weights), this time with a workspace for the backward, its output
 * in a scratch tensor so that the module's output is left as it was. */
static nnrt_status rerun_for_workspace(nnrt_module *m) {
  rnn_state *s = state_of(m);
  bool lstm = m->op == NNRT_OP_lstm;
  nnrt_tensor *bs = s->packed ? s->packed->batch_sizes : NULL, *si = s->packed ? s->packed->sorted_indices : NULL;
  nnrt_tensor *ins[6];
  int k = 0;
  ins[k++] = m->input;
  ins[k++] = s->h0;
  if (lstm) ins[k++] = s->c0;
  ins[k++] = m->extra[X_FLAT];
  ins[k++] = bs;
  ins[k++] = si;
  nnrt_shape sh[4];
  nnrt_status st = nnrt_op_infer(m->op, s->used, ins, sh);
  if (st) return st;
  nnrt_tensor *scratch = NULL;
  if ((st = nnrt_module_ensure(m, &m->extra[X_WORKSPACE], &sh[lstm ? 3 : 2])) ||
      (st = nnrt_tensor_new(m->dev, sh[0].dtype, sh[0].ndim, sh[0].dims, &scratch)))
    return st;
  nnrt_tensor *outs[4] = {scratch, NULL, NULL, NULL};
  outs[lstm ? 3 : 2] = m->extra[X_WORKSPACE];
  st = nnrt_op_run(m->op, s->used, ins, outs);
  nnrt_tensor_free(scratch);
  if (!st) s->have_workspace = true;
  return st;
}

static nnrt_status check_layer(const nnrt_module *m, const char *fn) {
  if (!m) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: module is NULL", fn);
  if (!is_layer(m)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s is not an RNN, LSTM or GRU", fn, m->vt->kind);
  return NNRT_OK;
}

nnrt_status nnrt_module_rnn_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *h0, nnrt_tensor *c0,
                                    nnrt_tensor **output, nnrt_tensor **h_n, nnrt_tensor **c_n) {
  static const char *fn = "nnrt_module_rnn_forward";
  nnrt_status st = check_layer(m, fn);
  if (st) return st;
  if ((st = layer_run(m, fn, input, NULL, h0, c0))) return st;
  if (output) *output = m->output;
  if (h_n) *h_n = m->extra[X_HN];
  if (c_n) *c_n = m->extra[X_CN];
  return NNRT_OK;
}

nnrt_status nnrt_module_rnn_forward_packed(nnrt_module *m, const nnrt_packed_sequence *input, nnrt_tensor *h0,
                                           nnrt_tensor *c0, const nnrt_packed_sequence **output, nnrt_tensor **h_n,
                                           nnrt_tensor **c_n) {
  static const char *fn = "nnrt_module_rnn_forward_packed";
  nnrt_status st = check_layer(m, fn);
  if (st) return st;
  if (!input) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: the packed sequence is NULL", fn);
  if (!input->batch_sizes)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: the packed sequence has no batch_sizes", fn);
  if (!input->sorted_indices != !input->unsorted_indices)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: the packed sequence has %s but not %s", fn,
                      input->sorted_indices ? "sorted_indices" : "unsorted_indices",
                      input->sorted_indices ? "unsorted_indices" : "sorted_indices");
  if ((st = layer_run(m, fn, input->data, input, h0, c0))) return st;
  rnn_state *s = state_of(m);
  s->packed_out = (nnrt_packed_sequence){m->output, input->batch_sizes, input->sorted_indices, input->unsorted_indices};
  if (output) *output = &s->packed_out;
  if (h_n) *h_n = m->extra[X_HN];
  if (c_n) *c_n = m->extra[X_CN];
  return NNRT_OK;
}

nnrt_status nnrt_module_rnn_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor *grad_h_n,
                                     nnrt_tensor *grad_c_n, nnrt_tensor **grad_input, nnrt_tensor **grad_h0,
                                     nnrt_tensor **grad_c0) {
  static const char *fn = "nnrt_module_rnn_backward";
  nnrt_status st = check_layer(m, fn);
  if (st) return st;
  rnn_state *s = state_of(m);
  bool lstm = m->op == NNRT_OP_lstm;
  if (!s->forward_done) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s: no forward pass to go back through", fn, m->vt->kind);
  if (grad_c_n && !lstm) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s takes no grad_c_n", fn, m->vt->kind);
  if (!s->have_workspace && (st = rerun_for_workspace(m))) return st;
  nnrt_op bop = backward_op(m->op);
  layer_params q = lp_get(m->op, s->used);
  unsigned char params[256];
  lp_set(bop, &q, params);
  nnrt_tensor *bs = s->packed ? s->packed->batch_sizes : NULL, *si = s->packed ? s->packed->sorted_indices : NULL;
  nnrt_tensor *ins[10];
  int k = 0;
  ins[k++] = grad_output;
  ins[k++] = grad_h_n;
  if (lstm) ins[k++] = grad_c_n;
  ins[k++] = m->input;
  ins[k++] = s->h0;
  if (lstm) ins[k++] = s->c0;
  ins[k++] = m->extra[X_FLAT];
  ins[k++] = bs;
  ins[k++] = si;
  ins[k++] = m->extra[X_WORKSPACE];
  nnrt_shape sh[4];
  if ((st = nnrt_op_infer(bop, params, ins, sh))) return st;
  /* outputs: grad_input, grad_h0, [grad_c0], grad_weights */
  int gw = lstm ? 3 : 2;
  if ((st = ensure_out(m, &m->grad_input, &sh[0], grad_input != NULL)) ||
      (st = ensure_out(m, &m->extra[X_GRAD_H0], &sh[1], grad_h0 != NULL)) ||
      (st = ensure_out(m, &m->extra[X_GRAD_C0], &sh[2], lstm && grad_c0 != NULL)) ||
      (st = nnrt_module_ensure(m, &m->extra[X_FLAT_GRAD], &sh[gw])) || (st = nnrt_tensor_fill(m->extra[X_FLAT_GRAD], 0)))
    return st;
  nnrt_tensor *outs[4];
  k = 0;
  outs[k++] = grad_input ? m->grad_input : NULL;
  outs[k++] = grad_h0 ? m->extra[X_GRAD_H0] : NULL;
  if (lstm) outs[k++] = grad_c0 ? m->extra[X_GRAD_C0] : NULL;
  outs[k++] = m->extra[X_FLAT_GRAD];
  if ((st = nnrt_op_run(bop, params, ins, outs))) return st;
  if ((st = unpack_grads(m))) return st;
  if (grad_input) *grad_input = m->grad_input;
  if (grad_h0) *grad_h0 = m->extra[X_GRAD_H0];
  if (grad_c0) *grad_c0 = lstm ? m->extra[X_GRAD_C0] : NULL;
  return NNRT_OK;
}

static nnrt_status layer_vt_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  return nnrt_module_rnn_forward(m, input, NULL, NULL, output, NULL, NULL);
}

static nnrt_status layer_vt_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  return nnrt_module_rnn_backward(m, grad_output, NULL, NULL, grad_input, NULL, NULL);
}

static const nnrt_module_vtbl rnn_vt = {"RNN", layer_vt_forward, layer_vt_backward, NULL, rnn_destroy};
static const nnrt_module_vtbl lstm_vt = {"LSTM", layer_vt_forward, layer_vt_backward, NULL, rnn_destroy};
static const nnrt_module_vtbl gru_vt = {"GRU", layer_vt_forward, layer_vt_backward, NULL, rnn_destroy};

static nnrt_status layer_new(nnrt_device *dev, nnrt_op op, const nnrt_module_vtbl *vt, const void *params,
                             uint64_t seed, nnrt_module **out) {
  const char *kind = vt->kind;
  if (!out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: out is NULL", kind);
  unsigned char full[256];
  nnrt_params_init(op, full);
  if (params) memcpy(full, params, nnrt_op_signature_of(op)->params_size);
  layer_params q = lp_get(op, full);
  if (q.input_size < 1 || q.hidden_size < 1 || q.num_layers < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input_size=%lld, hidden_size=%lld and num_layers=%lld must be >= 1",
                      kind, (long long)q.input_size, (long long)q.hidden_size, (long long)q.num_layers);
  if (!(q.dropout >= 0 && q.dropout <= 1))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: dropout=%g must be in [0, 1]", kind, q.dropout);
  if (q.nonlinearity != 0 && q.nonlinearity != 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: nonlinearity=%d is not tanh|relu", kind, q.nonlinearity);
  int64_t D = q.bidirectional ? 2 : 1, G = op == NNRT_OP_lstm ? 4 : op == NNRT_OP_gru ? 3 : 1, H = q.hidden_size;
  if (q.num_layers * D * (q.bias ? 4 : 2) > NNRT_MODULE_MAX_PARAMS)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: num_layers=%lld needs more than %d parameters", kind,
                      (long long)q.num_layers, NNRT_MODULE_MAX_PARAMS);
  nnrt_module *m;
  nnrt_status st = nnrt_module_alloc(dev, vt, &m);
  if (st) return st;
  rnn_state *s = calloc(1, sizeof *s);
  if (!s) {
    nnrt_module_free(m);
    return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", kind);
  }
  m->state = s;
  m->op = op;
  q.training = false;
  q.seed = 0;
  lp_set(op, &q, m->op_params);
  s->seed_state = seed ^ 0x5bd1e9955bd1e995ull; /* dropout seeds apart from the init stream */
  double bound = 1.0 / sqrt((double)H);
  int64_t off = 0;
  for (int64_t l = 0; l < q.num_layers && !st; l++)
    for (int64_t d = 0; d < D && !st; d++) {
      const char *sfx = d ? "_reverse" : "";
      int64_t in = l ? D * H : q.input_size;
      int64_t shapes[4][2] = {{G * H, in}, {G * H, H}, {G * H, 0}, {G * H, 0}};
      const char *names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
      for (int k = 0; k < (q.bias ? 4 : 2) && !st; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s_l%lld%s", names[k], (long long)l, sfx);
        s->offsets[m->n_params] = off;
        nnrt_tensor *p;
        st = nnrt_module_add_param(m, name, k < 2 ? 2 : 1, shapes[k], &p);
        if (!st) {
          off += nnrt_tensor_numel(p);
          st = fill_uniform(p, bound, &seed);
        }
      }
    }
  s->flat_numel = off;
  if (!st) st = nnrt_tensor_new(dev, NNRT_MODULE_DTYPE, 1, &off, &m->extra[X_FLAT]);
  if (st) {
    nnrt_module_free(m);
    return st;
  }
  *out = m;
  return NNRT_OK;
}

nnrt_status nnrt_module_rnn(nnrt_device *dev, const nnrt_rnn_params *params, uint64_t seed, nnrt_module **out) {
  return layer_new(dev, NNRT_OP_rnn, &rnn_vt, params, seed, out);
}
nnrt_status nnrt_module_lstm(nnrt_device *dev, const nnrt_lstm_params *params, uint64_t seed, nnrt_module **out) {
  return layer_new(dev, NNRT_OP_lstm, &lstm_vt, params, seed, out);
}
nnrt_status nnrt_module_gru(nnrt_device *dev, const nnrt_gru_params *params, uint64_t seed, nnrt_module **out) {
  return layer_new(dev, NNRT_OP_gru, &gru_vt, params, seed, out);
}

/* ---- RNNCell, LSTMCell, GRUCell ---- */

static nnrt_status check_cell(const nnrt_module *m, const char *fn) {
  if (!m) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: module is NULL", fn);
  if (!is_cell(m))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s is not an RNNCell, LSTMCell or GRUCell", fn, m->vt->kind);
  return NNRT_OK;
}

nnrt_status nnrt_module_cell_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *hx, nnrt_tensor *cx,
                                     nnrt_tensor **h, nnrt_tensor **c) {
  static const char *fn = "nnrt_module_cell_forward";
  nnrt_status st = check_cell(m, fn);
  if (st) return st;
  bool lstm = m->op == NNRT_OP_lstm_cell;
  if (!input) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s input is NULL", fn, m->vt->kind);
  if (cx && !lstm) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s takes no cx", fn, m->vt->kind);
  bool bias = m->n_params == 4;
  nnrt_tensor *ins[7];
  int k = 0;
  ins[k++] = input;
  ins[k++] = hx;
  if (lstm) ins[k++] = cx;
  ins[k++] = m->params[0].param;
  ins[k++] = m->params[1].param;
  ins[k++] = bias ? m->params[2].param : NULL;
  ins[k++] = bias ? m->params[3].param : NULL;
  nnrt_shape sh[2];
  if ((st = nnrt_op_infer(m->op, m->op_params, ins, sh))) return st;
  if ((st = nnrt_module_ensure(m, &m->output, &sh[0])) || (st = ensure_out(m, &m->extra[X_C_OUT], &sh[1], lstm)))
    return st;
  nnrt_tensor *outs[2] = {m->output, lstm ? m->extra[X_C_OUT] : NULL};
  if ((st = nnrt_op_run(m->op, m->op_params, ins, outs))) return st;
  rnn_state *s = state_of(m);
  m->input = input;
  s->h0 = hx;
  s->c0 = cx;
  s->forward_done = true;
  if (h) *h = m->output;
  if (c) *c = lstm ? m->extra[X_C_OUT] : NULL;
  return NNRT_OK;
}

nnrt_status nnrt_module_cell_backward(nnrt_module *m, nnrt_tensor *grad_h, nnrt_tensor *grad_c,
                                      nnrt_tensor **grad_input, nnrt_tensor **grad_hx, nnrt_tensor **grad_cx) {
  static const char *fn = "nnrt_module_cell_backward";
  nnrt_status st = check_cell(m, fn);
  if (st) return st;
  rnn_state *s = state_of(m);
  bool lstm = m->op == NNRT_OP_lstm_cell, bias = m->n_params == 4;
  if (!s->forward_done) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s: no forward pass to go back through", fn, m->vt->kind);
  if (grad_c && !lstm) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s takes no grad_c", fn, m->vt->kind);
  nnrt_tensor *zero = NULL;
  if (!grad_h && !lstm) {
    /* rnn_cell and gru_cell need a grad_output: zeros of h's shape */
    nnrt_shape hs;
    nnrt_shape_of(m->output, &hs);
    if ((st = nnrt_tensor_new(m->dev, hs.dtype, hs.ndim, hs.dims, &zero))) return st;
    grad_h = zero;
  }
  nnrt_op bop = backward_op(m->op);
  nnrt_tensor *ins[9];
  int k = 0;
  ins[k++] = grad_h;
  if (lstm) ins[k++] = grad_c;
  ins[k++] = m->input;
  ins[k++] = s->h0;
  if (lstm) ins[k++] = s->c0;
  ins[k++] = m->params[0].param;
  ins[k++] = m->params[1].param;
  ins[k++] = bias ? m->params[2].param : NULL;
  ins[k++] = bias ? m->params[3].param : NULL;
  nnrt_shape sh[7];
  st = nnrt_op_infer(bop, m->op_params, ins, sh);
  /* outputs: grad_input, grad_hx, [grad_cx], grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh */
  if (!st) st = ensure_out(m, &m->grad_input, &sh[0], grad_input != NULL);
  if (!st) st = ensure_out(m, &m->extra[X_GRAD_HX], &sh[1], grad_hx != NULL);
  if (!st) st = ensure_out(m, &m->extra[X_GRAD_CX], &sh[2], lstm && grad_cx != NULL);
  if (!st) {
    nnrt_tensor *outs[7];
    k = 0;
    outs[k++] = grad_input ? m->grad_input : NULL;
    outs[k++] = grad_hx ? m->extra[X_GRAD_HX] : NULL;
    if (lstm) outs[k++] = grad_cx ? m->extra[X_GRAD_CX] : NULL;
    for (size_t i = 0; i < 4; i++) outs[k++] = i < m->n_params ? m->params[i].grad : NULL;
    st = nnrt_op_run(bop, m->op_params, ins, outs);
  }
  nnrt_tensor_free(zero);
  if (st) return st;
  if (grad_input) *grad_input = m->grad_input;
  if (grad_hx) *grad_hx = m->extra[X_GRAD_HX];
  if (grad_cx) *grad_cx = lstm ? m->extra[X_GRAD_CX] : NULL;
  return NNRT_OK;
}

static nnrt_status cell_vt_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  return nnrt_module_cell_forward(m, input, NULL, NULL, output, NULL);
}

static nnrt_status cell_vt_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  return nnrt_module_cell_backward(m, grad_output, NULL, grad_input, NULL, NULL);
}

static const nnrt_module_vtbl rnn_cell_vt = {"RNNCell", cell_vt_forward, cell_vt_backward, NULL, rnn_destroy};
static const nnrt_module_vtbl lstm_cell_vt = {"LSTMCell", cell_vt_forward, cell_vt_backward, NULL, rnn_destroy};
static const nnrt_module_vtbl gru_cell_vt = {"GRUCell", cell_vt_forward, cell_vt_backward, NULL, rnn_destroy};

static nnrt_status cell_new(nnrt_device *dev, nnrt_op op, const nnrt_module_vtbl *vt, int64_t input_size,
                            int64_t hidden_size, bool bias, const void *params, uint64_t seed, nnrt_module **out) {
  if (!out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: out is NULL", vt->kind);
  if (input_size < 1 || hidden_size < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input_size=%lld and hidden_size=%lld must be >= 1", vt->kind,
                      (long long)input_size, (long long)hidden_size);
  if (params && ((const nnrt_rnn_cell_params *)params)->nonlinearity != 0 &&
      ((const nnrt_rnn_cell_params *)params)->nonlinearity != 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: nonlinearity=%d is not tanh|relu", vt->kind,
                      ((const nnrt_rnn_cell_params *)params)->nonlinearity);
  int64_t G = op == NNRT_OP_lstm_cell ? 4 : op == NNRT_OP_gru_cell ? 3 : 1, GH = G * hidden_size;
  nnrt_module *m;
  nnrt_status st = nnrt_module_alloc(dev, vt, &m);
  if (st) return st;
  m->state = calloc(1, sizeof(rnn_state));
  if (!m->state) {
    nnrt_module_free(m);
    return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", vt->kind);
  }
  state_of(m)->cell = true;
  m->op = op;
  nnrt_params_init(op, m->op_params);
  if (params) memcpy(m->op_params, params, nnrt_op_signature_of(op)->params_size);
  int64_t shapes[4][2] = {{GH, input_size}, {GH, hidden_size}, {GH, 0}, {GH, 0}};
  const char *names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  double bound = 1.0 / sqrt((double)hidden_size);
  for (int k = 0; k < (bias ? 4 : 2) && !st; k++) {
    nnrt_tensor *p;
    st = nnrt_module_add_param(m, names[k], k < 2 ? 2 : 1, shapes[k], &p);
    if (!st) st = fill_uniform(p, bound, &seed);
  }
  if (st) {
    nnrt_module_free(m);
    return st;
  }
  *out = m;
  return NNRT_OK;
}

nnrt_status nnrt_module_rnn_cell(nnrt_device *dev, int64_t input_size, int64_t hidden_size, bool bias,
                                 const nnrt_rnn_cell_params *params, uint64_t seed, nnrt_module **out) {
  return cell_new(dev, NNRT_OP_rnn_cell, &rnn_cell_vt, input_size, hidden_size, bias, params, seed, out);
}
nnrt_status nnrt_module_lstm_cell(nnrt_device *dev, int64_t input_size, int64_t hidden_size, bool bias, uint64_t seed,
                                  nnrt_module **out) {
  return cell_new(dev, NNRT_OP_lstm_cell, &lstm_cell_vt, input_size, hidden_size, bias, NULL, seed, out);
}
nnrt_status nnrt_module_gru_cell(nnrt_device *dev, int64_t input_size, int64_t hidden_size, bool bias, uint64_t seed,
                                 nnrt_module **out) {
  return cell_new(dev, NNRT_OP_gru_cell, &gru_cell_vt, input_size, hidden_size, bias, NULL, seed, out);
}

/* ---- by name ---- */
nnrt_status nnrt_module_param_by_name(const nnrt_module *m, const char *name, nnrt_tensor **param, nnrt_tensor **grad) {
  if (!m || !name)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_param_by_name: %s is NULL", m ? "name" : "module");
  size_t n = nnrt_module_param_count(m);
  for (size_t i = 0; i < n; i++) {
    const char *pn;
    nnrt_tensor *p, *g;
    nnrt_status st = nnrt_module_param(m, i, &pn, &p, &g);
    if (st) return st;
    if (!strcmp(pn, name)) {
      if (param) *param = p;
      if (grad) *grad = g;
      return NNRT_OK;
    }
  }
  return nnrt_error(NNRT_ERR_NOT_FOUND, "nnrt_module_param_by_name: %s has no parameter named '%s'", nnrt_module_kind(m),
                    name);
}
