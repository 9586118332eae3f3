/* core/rules_rnn.c - shape and value rules of the recurrent family: the
 * cells, the layers (rnn, lstm, gru; padded or packed input), packing and
 * padding of sequences, and the small utilities of clip_grad_norm and the
 * recurrent modules (norm_p, mul_scalar, slice_copy).
 *
 * The layer rules read the values of batch_sizes and sorted_indices (and
 * the packing rules those of lengths and unsorted_indices) because output
 * shapes and memory safety depend on them; on a device without host memory
 * that is a small copy to the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define SH(t, buf) nnrt_shape_str((t)->ndim, (t)->shape, buf, sizeof buf)

/* A call's tensor by its signature name; NULL when absent or not in the op. */
static const nnrt_tensor *in_named(const nnrt_call *c, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; i < s->n_inputs; i++)
    if (!strcmp(s->inputs[i].name, name)) return c->inputs[i];
  return NULL;
}

static int out_index(const nnrt_call *c, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; i < s->n_outputs; i++)
    if (!strcmp(s->outputs[i].name, name)) return i;
  return -1;
}

static void set_out(const nnrt_call *c, nnrt_shape *outs, const char *name, nnrt_dtype dt, int ndim,
                    const int64_t *dims) {
  int i = out_index(c, name);
  if (i < 0) return;
  outs[i] = (nnrt_shape){.dtype = dt, .ndim = ndim};
  for (int d = 0; d < ndim; d++) outs[i].dims[d] = dims[d];
}

static bool shape_is(const nnrt_tensor *t, int ndim, const int64_t *dims) {
  if (t->ndim != ndim) return false;
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != dims[i]) return false;
  return true;
}

static nnrt_status err_shape(const nnrt_call *c, const char *name, const nnrt_tensor *t, int ndim,
                             const int64_t *dims, const char *why) {
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s has shape %s, expected %s%s%s", c->op_name, name,
                    SH(t, a), nnrt_shape_str(ndim, dims, b, sizeof b), why ? " " : "", why ? why : "");
}

/* ---- cells ---- */

static int cell_gates(nnrt_op op) {
  return op == NNRT_OP_lstm_cell || op == NNRT_OP_lstm_cell_backward ? 4
         : op == NNRT_OP_gru_cell || op == NNRT_OP_gru_cell_backward ? 3 : 1;
}

static nnrt_status cell_common(const nnrt_call *c, int64_t *N, int64_t *H, bool *batched) {
  const nnrt_tensor *x = in_named(c, "input"), *hx = in_named(c, "hx"), *cx = in_named(c, "cx");
  const nnrt_tensor *wih = in_named(c, "weight_ih"), *whh = in_named(c, "weight_hh");
  const nnrt_tensor *bih = in_named(c, "bias_ih"), *bhh = in_named(c, "bias_hh");
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  int G = cell_gates(c->op);
  if (c->op == NNRT_OP_rnn_cell || c->op == NNRT_OP_rnn_cell_backward) {
    int nl = ((const nnrt_rnn_cell_params *)c->params)->nonlinearity;
    if (nl != 0 && nl != 1)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: nonlinearity=%d is not tanh|relu", c->op_name, nl);
  }
  if (wih->ndim != 2 || whh->ndim != 2 || whh->shape[0] % G || whh->shape[0] / G != whh->shape[1] ||
      wih->shape[0] != whh->shape[0])
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: weight_ih must be (%d*hidden_size, input_size) and weight_hh (%d*hidden_size, "
                      "hidden_size): weight_ih %s, weight_hh %s",
                      c->op_name, G, G, SH(wih, a), SH(whh, b));
  int64_t Hs = whh->shape[1], I = wih->shape[1];
  if (Hs < 1 || I < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: hidden_size=%lld and input_size=%lld must be >= 1 (weight_ih %s)",
                      c->op_name, (long long)Hs, (long long)I, SH(wih, a));
  if (x->ndim != 1 && x->ndim != 2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be (N, input_size) or (input_size), got %s",
                      c->op_name, SH(x, a));
  if (x->shape[x->ndim - 1] != I)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: input has %lld features but weight_ih expects input_size=%lld (input %s, weight_ih %s)",
                      c->op_name, (long long)x->shape[x->ndim - 1], (long long)I, SH(x, a), SH(wih, b));
  *batched = x->ndim == 2;
  *N = *batched ? x->shape[0] : 1;
  *H = Hs;
  int64_t hd[2] = {*N, Hs};
  int hn = *batched ? 2 : 1;
  const int64_t *hdims = *batched ? hd : hd + 1;
  if (hx && !shape_is(hx, hn, hdims)) return err_shape(c, "hx", hx, hn, hdims, "(batch, hidden_size)");
  if (cx && !shape_is(cx, hn, hdims)) return err_shape(c, "cx", cx, hn, hdims, "(batch, hidden_size)");
  if (!bih != !bhh)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: give both bias_ih and bias_hh or neither (%s is NULL)",
                      c->op_name, bih ? "bias_hh" : "bias_ih");
  int64_t bd = G * Hs;
  if (bih && !shape_is(bih, 1, &bd)) return err_shape(c, "bias_ih", bih, 1, &bd, NULL);
  if (bhh && !shape_is(bhh, 1, &bd)) return err_shape(c, "bias_hh", bhh, 1, &bd, NULL);
  return NNRT_OK;
}

nnrt_status nnrt_rule_rnn_cell(const nnrt_call *c, nnrt_shape *outs) {
  int64_t N, H;
  bool batched;
  nnrt_status st = cell_common(c, &N, &H, &batched);
  if (st) return st;
  nnrt_dtype dt = c->inputs[0]->dtype;
  int64_t hd[2] = {N, H};
  set_out(c, outs, "output", dt, batched ? 2 : 1, batched ? hd : hd + 1);
  set_out(c, outs, "c_out", dt, batched ? 2 : 1, batched ? hd : hd + 1);
  return NNRT_OK;
}

nnrt_status nnrt_rule_rnn_cell_backward(const nnrt_call *c, nnrt_shape *outs) {
  int64_t N, H;
  bool batched;
  nnrt_status st = cell_common(c, &N, &H, &batched);
  if (st) return st;
  const nnrt_tensor *x = in_named(c, "input");
  int64_t hd[2] = {N, H};
  int hn = batched ? 2 : 1;
  const int64_t *hdims = batched ? hd : hd + 1;
  const char *gnames[] = {"grad_output", "grad_c_out"};
  for (int i = 0; i < 2; i++) {
    const nnrt_tensor *g = in_named(c, gnames[i]);
    if (g && !shape_is(g, hn, hdims)) return err_shape(c, gnames[i], g, hn, hdims, "(the shape of h')");
  }
  nnrt_dtype dt = x->dtype;
  set_out(c, outs, "grad_input", dt, x->ndim, x->shape);
  set_out(c, outs, "grad_hx", dt, hn, hdims);
  set_out(c, outs, "grad_cx", dt, hn, hdims);
  const char *w[] = {"weight_ih", "weight_hh"};
  const char *gw[] = {"grad_weight_ih", "grad_weight_hh"};
  for (int i = 0; i < 2; i++) {
    const nnrt_tensor *t = in_named(c, w[i]);
    set_out(c, outs, gw[i], dt, t->ndim, t->shape);
  }
  int64_t bd = cell_gates(c->op) * H;
  set_out(c, outs, "grad_bias_ih", dt, 1, &bd);
  set_out(c, outs, "grad_bias_hh", dt, 1, &bd);
  return NNRT_OK;
}

/* ---- layers ---- */

typedef struct {
  int64_t I, H, L, D, G, K; /* K: workspace columns per unit, see ops.def */
  bool bias, batch_first;
  double dropout;
  int nonlinearity;
} layer_cfg;

#define LAYER_CFG_(p)                                                            \
  (layer_cfg) {                                                                  \
    .I = (p)->input_size, .H = (p)->hidden_size, .L = (p)->num_layers, .D = (p)->bidirectional ? 2 : 1, \
    .bias = (p)->bias, .batch_first = (p)->batch_first, .dropout = (p)->dropout  \
  }

static layer_cfg layer_cfg_of(const nnrt_call *c) {
  layer_cfg g;
  switch (c->op) {
  case NNRT_OP_rnn:
    g = LAYER_CFG_((const nnrt_rnn_params *)c->params);
    g.nonlinearity = ((const nnrt_rnn_params *)c->params)->nonlinearity;
    g.G = 1, g.K = 1;
    break;
  case NNRT_OP_rnn_backward:
    g = LAYER_CFG_((const nnrt_rnn_backward_params *)c->params);
    g.nonlinearity = ((const nnrt_rnn_backward_params *)c->params)->nonlinearity;
    g.G = 1, g.K = 1;
    break;
  case NNRT_OP_lstm: g = LAYER_CFG_((const nnrt_lstm_params *)c->params), g.G = 4, g.K = 6; break;
  case NNRT_OP_lstm_backward: g = LAYER_CFG_((const nnrt_lstm_backward_params *)c->params), g.G = 4, g.K = 6; break;
  case NNRT_OP_gru: g = LAYER_CFG_((const nnrt_gru_params *)c->params), g.G = 3, g.K = 5; break;
  default: g = LAYER_CFG_((const nnrt_gru_backward_params *)c->params), g.G = 3, g.K = 5; break;
  }
  if (c->op != NNRT_OP_rnn && c->op != NNRT_OP_rnn_backward) g.nonlinearity = 0;
  return g;
}

/* Number of elements of the flat weights tensor (layout in ops.def). */
static int64_t flat_weights_numel(const layer_cfg *g) {
  int64_t n = 0;
  for (int64_t l = 0; l < g->L; l++) {
    int64_t in = l ? g->D * g->H : g->I;
    n += g->D * g->G * g->H * (in + g->H + (g->bias ? 2 : 0));
  }
  return n;
}

/* Checks batch_sizes (positive, non-increasing, summing to rows) and gives
 * T and N = batch_sizes[0]. */
static nnrt_status check_batch_sizes(const nnrt_call *c, const nnrt_tensor *bs, int64_t rows, int64_t *T, int64_t *N) {
  char a[NNRT_SHAPE_STR_LEN];
  if (bs->ndim != 1 || bs->shape[0] < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: batch_sizes must be 1-d with at least one step, got %s",
                      c->op_name, SH(bs, a));
  int64_t *v;
  bool owned;
  nnrt_status st = nnrt_index_values(bs, &v, &owned);
  if (st) return st;
  int64_t sum = 0;
  for (int64_t t = 0; t < bs->shape[0] && !st; t++) {
    if (v[t] < 1)
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: batch_sizes[%lld]=%lld must be >= 1", c->op_name,
                      (long long)t, (long long)v[t]);
    else if (t && v[t] > v[t - 1])
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: batch_sizes must not increase: batch_sizes[%lld]=%lld > batch_sizes[%lld]=%lld",
                      c->op_name, (long long)t, (long long)v[t], (long long)t - 1, (long long)v[t - 1]);
    else sum += v[t];
  }
  if (!st && sum != rows)
    st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                    "%s: batch_sizes sum to %lld but the packed data has %lld rows", c->op_name, (long long)sum,
                    (long long)rows);
  if (!st) {
    *T = bs->shape[0];
    *N = v[0];
  }
  if (owned) free(v);
  return st;
}

/* A permutation of [0, N). */
static nnrt_status check_permutation(const nnrt_call *c, const char *name, const nnrt_tensor *p, int64_t N) {
  char a[NNRT_SHAPE_STR_LEN];
  if (p->ndim != 1 || p->shape[0] != N)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s must be 1-d with %lld elements (the batch), got %s",
                      c->op_name, name, (long long)N, SH(p, a));
  int64_t *v;
  bool owned;
  nnrt_status st = nnrt_index_values(p, &v, &owned);
  if (st) return st;
  unsigned char *seen = calloc((size_t)N + 1, 1);
  if (!seen) st = nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", c->op_name);
  for (int64_t i = 0; i < N && !st; i++) {
    if (v[i] < 0 || v[i] >= N || seen[v[i]])
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s is not a permutation of [0, %lld): %s[%lld]=%lld",
                      c->op_name, name, (long long)N, name, (long long)i, (long long)v[i]);
    else seen[v[i]] = 1;
  }
  free(seen);
  if (owned) free(v);
  return st;
}

typedef struct {
  layer_cfg g;
  int64_t T, N, R;
  bool unbatched, packed;
  int y_ndim, h_ndim;
  int64_t y_dims[3], h_dims[3];
  int64_t w_numel, ws_numel;
} layer_dims;

static nnrt_status layer_common(const nnrt_call *c, layer_dims *d) {
  char a[NNRT_SHAPE_STR_LEN];
  memset(d, 0, sizeof *d);
  layer_cfg g = layer_cfg_of(c);
  d->g = g;
  if (g.I < 1 || g.H < 1 || g.L < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: input_size=%lld, hidden_size=%lld and num_layers=%lld must all be >= 1", c->op_name,
                      (long long)g.I, (long long)g.H, (long long)g.L);
  if (!(g.dropout >= 0 && g.dropout <= 1))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: dropout=%g must be in [0, 1]", c->op_name, g.dropout);
  if (g.nonlinearity != 0 && g.nonlinearity != 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: nonlinearity=%d is not tanh|relu", c->op_name, g.nonlinearity);
  const nnrt_tensor *x = in_named(c, "input"), *bs = in_named(c, "batch_sizes");
  const nnrt_tensor *si = in_named(c, "sorted_indices");
  d->packed = bs != NULL;
  if (d->packed ? x->ndim != 2 : (x->ndim != 2 && x->ndim != 3))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be %s, got %s", c->op_name,
                      d->packed ? "the packed data (sum of lengths, input_size)"
                                : "(T, N, input_size), (N, T, input_size) with batch_first, or (T, input_size)",
                      SH(x, a));
  if (x->shape[x->ndim - 1] != g.I)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input.size(-1) must equal input_size=%lld, got %lld (input %s)",
                      c->op_name, (long long)g.I, (long long)x->shape[x->ndim - 1], SH(x, a));
  nnrt_status st;
  if (d->packed) {
    d->R = x->shape[0];
    if ((st = check_batch_sizes(c, bs, d->R, &d->T, &d->N))) return st;
  } else {
    if (si)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: sorted_indices is given without batch_sizes", c->op_name);
    d->unbatched = x->ndim == 2;
    d->T = d->unbatched || !g.batch_first ? x->shape[0] : x->shape[1];
    d->N = d->unbatched ? 1 : g.batch_first ? x->shape[0] : x->shape[1];
    d->R = d->T * d->N;
    if (d->T < 1)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: the sequence length must be >= 1 (input %s)", c->op_name,
                        SH(x, a));
  }
  if (si && (st = check_permutation(c, "sorted_indices", si, d->N))) return st;
  /* output and h_n shapes */
  int64_t DH = g.D * g.H;
  if (d->packed) {
    d->y_ndim = 2, d->y_dims[0] = d->R, d->y_dims[1] = DH;
  } else {
    d->y_ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) d->y_dims[i] = x->shape[i];
    d->y_dims[x->ndim - 1] = DH;
  }
  d->h_ndim = d->unbatched ? 2 : 3;
  d->h_dims[0] = g.L * g.D;
  d->h_dims[1] = d->unbatched ? g.H : d->N;
  d->h_dims[2] = g.H;
  const char *hn[] = {"h0", "c0"};
  for (int i = 0; i < 2; i++) {
    const nnrt_tensor *h = in_named(c, hn[i]);
    if (h && !shape_is(h, d->h_ndim, d->h_dims))
      return err_shape(c, hn[i], h, d->h_ndim, d->h_dims,
                       d->unbatched ? "(num_layers*num_directions, hidden_size)"
                                    : "(num_layers*num_directions, batch, hidden_size)");
  }
  d->w_numel = flat_weights_numel(&g);
  const nnrt_tensor *w = in_named(c, "weights");
  if (w->ndim != 1 || w->shape[0] != d->w_numel)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: weights must be 1-d with %lld elements (input_size=%lld hidden_size=%lld num_layers=%lld "
                      "bias=%s bidirectional=%s), got %s",
                      c->op_name, (long long)d->w_numel, (long long)g.I, (long long)g.H, (long long)g.L,
                      g.bias ? "true" : "false", g.D == 2 ? "true" : "false", SH(w, a));
  d->ws_numel = g.L * d->R * g.D * g.H * g.K;
  return NNRT_OK;
}

nnrt_status nnrt_rule_rnn(const nnrt_call *c, nnrt_shape *outs) {
  layer_dims d;
  nnrt_status st = layer_common(c, &d);
  if (st) return st;
  nnrt_dtype dt = in_named(c, "input")->dtype;
  set_out(c, outs, "output", dt, d.y_ndim, d.y_dims);
  set_out(c, outs, "h_n", dt, d.h_ndim, d.h_dims);
  set_out(c, outs, "c_n", dt, d.h_ndim, d.h_dims);
  set_out(c, outs, "workspace", dt, 1, &d.ws_numel);
  return NNRT_OK;
}

nnrt_status nnrt_rule_rnn_backward(const nnrt_call *c, nnrt_shape *outs) {
  layer_dims d;
  nnrt_status st = layer_common(c, &d);
  if (st) return st;
  const nnrt_tensor *gy = in_named(c, "grad_output"), *ws = in_named(c, "workspace");
  if (gy && !shape_is(gy, d.y_ndim, d.y_dims)) return err_shape(c, "grad_output", gy, d.y_ndim, d.y_dims, "(output's shape)");
  const char *gh[] = {"grad_h_n", "grad_c_n"};
  for (int i = 0; i < 2; i++) {
    const nnrt_tensor *g = in_named(c, gh[i]);
    if (g && !shape_is(g, d.h_ndim, d.h_dims)) return err_shape(c, gh[i], g, d.h_ndim, d.h_dims, "(h_n's shape)");
  }
  if (!shape_is(ws, 1, &d.ws_numel))
    return err_shape(c, "workspace", ws, 1, &d.ws_numel, "(the forward's workspace for these params and input)");
  const nnrt_tensor *x = in_named(c, "input");
  nnrt_dtype dt = x->dtype;
  set_out(c, outs, "grad_input", dt, x->ndim, x->shape);
  set_out(c, outs, "grad_h0", dt, d.h_ndim, d.h_dims);
  set_out(c, outs, "grad_c0", dt, d.h_ndim, d.h_dims);
  set_out(c, outs, "grad_weights", dt, 1, &d.w_numel);
  return NNRT_OK;
}

/* ---- packing ---- */

typedef struct {
  int64_t T, N, F, total, maxlen; /* F: elements per step of one sequence */
} pack_dims;

static nnrt_status pack_common(const nnrt_call *c, const nnrt_tensor *x, const nnrt_tensor *len, bool batch_first,
                               bool enforce_sorted, pack_dims *d) {
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  if (x->ndim < 2)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be (T, N, *) or (N, T, *) with batch_first, got %s",
                      c->op_name, SH(x, a));
  d->T = x->shape[batch_first ? 1 : 0];
  d->N = x->shape[batch_first ? 0 : 1];
  d->F = 1;
  for (int i = 2; i < x->ndim; i++) d->F *= x->shape[i];
  if (len->ndim != 1 || len->shape[0] != d->N)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: lengths must be 1-d with one entry per sequence (%lld), got %s (input %s, batch_first=%s)",
                      c->op_name, (long long)d->N, SH(len, a), SH(x, b), batch_first ? "true" : "false");
  if (d->N < 1) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: the batch holds no sequence", c->op_name);
  int64_t *v;
  bool owned;
  nnrt_status st = nnrt_index_values(len, &v, &owned);
  if (st) return st;
  d->total = 0;
  d->maxlen = 0;
  for (int64_t i = 0; i < d->N && !st; i++) {
    if (v[i] < 1)
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: lengths[%lld]=%lld: every length must be >= 1", c->op_name,
                      (long long)i, (long long)v[i]);
    else if (v[i] > d->T)
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: lengths[%lld]=%lld exceeds the %lld time steps of input %s",
                      c->op_name, (long long)i, (long long)v[i], (long long)d->T, SH(x, a));
    else if (enforce_sorted && i && v[i] > v[i - 1])
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: lengths must be sorted in decreasing order with enforce_sorted=true: lengths[%lld]=%lld > "
                      "lengths[%lld]=%lld (pass enforce_sorted=false to sort them)",
                      c->op_name, (long long)i, (long long)v[i], (long long)i - 1, (long long)v[i - 1]);
    else {
      d->total += v[i];
      if (v[i] > d->maxlen) d->maxlen = v[i];
    }
  }
  if (owned) free(v);
  return st;
}

nnrt_status nnrt_rule_pack_padded(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_pack_padded_sequence_params *p = c->params;
  const nnrt_tensor *x = c->inputs[0];
  pack_dims d;
  nnrt_status st = pack_common(c, x, c->inputs[1], p->batch_first, p->enforce_sorted, &d);
  if (st) return st;
  outs[0] = (nnrt_shape){.dtype = x->dtype, .ndim = x->ndim - 1, .dims = {d.total}};
  for (int i = 2; i < x->ndim; i++) outs[0].dims[i - 1] = x->shape[i];
  set_out(c, outs, "batch_sizes", NNRT_I64, 1, &d.maxlen);
  set_out(c, outs, "sorted_indices", NNRT_I64, 1, &d.N);
  set_out(c, outs, "unsorted_indices", NNRT_I64, 1, &d.N);
  return NNRT_OK;
}

nnrt_status nnrt_rule_pack_padded_backward(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_pack_padded_sequence_backward_params *p = c->params;
  const nnrt_tensor *gy = c->inputs[0], *x = c->inputs[1];
  pack_dims d;
  nnrt_status st = pack_common(c, x, c->inputs[2], p->batch_first, p->enforce_sorted, &d);
  if (st) return st;
  int64_t dims[NNRT_MAX_DIMS] = {d.total};
  for (int i = 2; i < x->ndim; i++) dims[i - 1] = x->shape[i];
  if (!shape_is(gy, x->ndim - 1, dims)) return err_shape(c, "grad_output", gy, x->ndim - 1, dims, "(data's shape)");
  nnrt_shape_of(x, &outs[0]);
  return NNRT_OK;
}

static nnrt_status pad_common(const nnrt_call *c, const nnrt_tensor *data, const nnrt_tensor *bs,
                              const nnrt_tensor *unsorted, bool batch_first, int64_t total_length, nnrt_shape *out) {
  char a[NNRT_SHAPE_STR_LEN];
  if (data->ndim < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: data must be (sum of lengths, *), got %s", c->op_name, SH(data, a));
  int64_t T, N;
  nnrt_status st = check_batch_sizes(c, bs, data->shape[0], &T, &N);
  if (st) return st;
  if (unsorted && (st = check_permutation(c, "unsorted_indices", unsorted, N))) return st;
  if (total_length != -1 && total_length < T)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: total_length=%lld must be -1 (none) or at least the length of the longest sequence, %lld",
                      c->op_name, (long long)total_length, (long long)T);
  int64_t Tp = total_length > T ? total_length : T;
  *out = (nnrt_shape){.dtype = data->dtype, .ndim = data->ndim + 1};
  out->dims[0] = batch_first ? N : Tp;
  out->dims[1] = batch_first ? Tp : N;
  for (int i = 1; i < data->ndim; i++) out->dims[i + 1] = data->shape[i];
  return NNRT_OK;
}

nnrt_status nnrt_rule_pad_packed(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_pad_packed_sequence_params *p = c->params;
  nnrt_status st = pad_common(c, c->inputs[0], c->inputs[1], c->inputs[2], p->batch_first, p->total_length, &outs[0]);
  if (st) return st;
  int64_t N = outs[0].dims[p->batch_first ? 0 : 1];
  outs[1] = (nnrt_shape){.dtype = NNRT_I64, .ndim = 1, .dims = {N}};
  return NNRT_OK;
}

nnrt_status nnrt_rule_pad_packed_backward(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_pad_packed_sequence_backward_params *p = c->params;
  const nnrt_tensor *gy = c->inputs[0], *data = c->inputs[1];
  nnrt_shape want;
  nnrt_status st = pad_common(c, data, c->inputs[2], c->inputs[3], p->batch_first, p->total_length, &want);
  if (st) return st;
  if (!shape_is(gy, want.ndim, want.dims)) return err_shape(c, "grad_output", gy, want.ndim, want.dims, "(output's shape)");
  nnrt_shape_of(data, &outs[0]);
  return NNRT_OK;
}

/* ---- utilities ---- */

nnrt_status nnrt_rule_norm_p(const nnrt_call *c, nnrt_shape *outs) {
  double p = ((const nnrt_norm_p_params *)c->params)->p;
  if (!(p > 0))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: p=%g must be > 0 or inf", c->op_name, p);
  outs[0] = (nnrt_shape){.dtype = c->inputs[0]->dtype, .ndim = 0};
  return NNRT_OK;
}

nnrt_status nnrt_rule_mul_scalar(const nnrt_call *c, nnrt_shape *outs) {
  nnrt_shape_of(c->inputs[0], &outs[0]);
  return NNRT_OK;
}

nnrt_status nnrt_rule_slice_copy(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_slice_copy_params *p = c->params;
  const nnrt_tensor *src = c->inputs[0], *dst = c->outputs ? c->outputs[0] : NULL; /* no outputs under nnrt_op_infer */
  int64_t count = p->count == -1 ? src->numel - p->src_offset : p->count;
  if (p->src_offset < 0 || p->dst_offset < 0 || count < 0 || p->src_offset > src->numel ||
      count > src->numel - p->src_offset)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: src_offset=%lld, dst_offset=%lld, count=%lld do not fit src of %lld elements", c->op_name,
                      (long long)p->src_offset, (long long)p->dst_offset, (long long)p->count, (long long)src->numel);
  if (p->dst_numel < -1 || (p->dst_numel >= 0 && count > p->dst_numel - p->dst_offset))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: dst_offset=%lld + count=%lld do not fit dst_numel=%lld",
                      c->op_name, (long long)p->dst_offset, (long long)count, (long long)p->dst_numel);
  if (dst) {
    char a[NNRT_SHAPE_STR_LEN];
    if (p->dst_numel >= 0 && dst->numel != p->dst_numel)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: dst %s has %lld elements, dst_numel=%lld", c->op_name,
                        SH(dst, a), (long long)dst->numel, (long long)p->dst_numel);
    if (count > dst->numel - p->dst_offset)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: dst_offset=%lld + count=%lld exceed dst's %lld elements",
                        c->op_name, (long long)p->dst_offset, (long long)count, (long long)dst->numel);
    nnrt_shape_of(dst, &outs[0]);
    outs[0].dtype = src->dtype;
  } else {
    /* nnrt_op_infer has no dst: a 1-d one of dst_numel (or just fitting) */
    outs[0] = (nnrt_shape){.dtype = src->dtype, .ndim = 1,
                           .dims = {p->dst_numel >= 0 ? p->dst_numel : p->dst_offset + count}};
  }
  return NNRT_OK;
}
