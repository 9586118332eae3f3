/* backends/ref/rnn.c - the rnn, lstm and gru layers and their backward ops
 * on OpenBLAS, for padded (time-major or batch-first), unbatched and packed
 * inputs.  Per layer and direction: the input projection of every time step
 * is ONE GEMM, each step one recurrent GEMM plus one fused pass of gate
 * math; backward does the same in reverse and gets the weight gradients as
 * three large GEMMs per layer and direction.  The gate math is vectorized
 * in float32 (rnn_impl.h).  Scratch memory is allocated once per call,
 * never per step.  Without a workspace output (inference) the forward
 * uses a scratch one of the same size. */
#include "ref_vecmath.h"

#include <cblas.h>
#include <math.h>
#include <tgmath.h>

#include "rnn_ref.h"

#include "rnn_both.h"

#define GEOM_FROM_(p, q)                                                         \
  do {                                                                           \
    (q)->In = (p)->input_size, (q)->H = (p)->hidden_size, (q)->L = (p)->num_layers; \
    (q)->D = (p)->bidirectional ? 2 : 1, (q)->bias = (p)->bias, (q)->batch_first = (p)->batch_first; \
    (q)->dropout = (p)->dropout;                                                 \
    (q)->dropout_on = (p)->training && (p)->dropout > 0 && (p)->num_layers > 1;  \
    NNRT_RNG_KEY((q)->key, (uint64_t)(p)->seed);                                 \
  } while (0)

/* The geometry of a layer call; offs is malloc'ed for packed input. */
static nnrt_status geom_of(const nnrt_call *c, rnn_geom *q) {
  memset(q, 0, sizeof *q);
  switch (c->op) {
  case NNRT_OP_rnn: {
    const nnrt_rnn_params *p = c->params;
    GEOM_FROM_(p, q);
    q->mode = p->nonlinearity ? RNN_MODE_RELU : RNN_MODE_TANH;
    break;
  }
  case NNRT_OP_rnn_backward: {
    const nnrt_rnn_backward_params *p = c->params;
    GEOM_FROM_(p, q);
    q->mode = p->nonlinearity ? RNN_MODE_RELU : RNN_MODE_TANH;
    break;
  }
  case NNRT_OP_lstm: GEOM_FROM_((const nnrt_lstm_params *)c->params, q); q->mode = RNN_MODE_LSTM; break;
  case NNRT_OP_lstm_backward: GEOM_FROM_((const nnrt_lstm_backward_params *)c->params, q); q->mode = RNN_MODE_LSTM; break;
  case NNRT_OP_gru: GEOM_FROM_((const nnrt_gru_params *)c->params, q); q->mode = RNN_MODE_GRU; break;
  default: GEOM_FROM_((const nnrt_gru_backward_params *)c->params, q); q->mode = RNN_MODE_GRU; break;
  }
  q->G = q->mode == RNN_MODE_LSTM ? 4 : q->mode == RNN_MODE_GRU ? 3 : 1;
  q->K = q->mode == RNN_MODE_LSTM ? 6 : q->mode == RNN_MODE_GRU ? 5 : 1;
  double thr = q->dropout * NNRT_DROPOUT_ONE;
  q->threshold = (uint64_t)thr;
  const nnrt_tensor *x = ref_in_named(c, "input"), *bs = ref_in_named(c, "batch_sizes");
  const nnrt_tensor *si = ref_in_named(c, "sorted_indices");
  q->perm = si ? si->data : NULL;
  if (bs) {
    q->packed = true;
    q->bs = bs->data;
    q->T = bs->shape[0];
    q->N = q->bs[0];
    q->R = x->shape[0];
    q->offs = malloc(sizeof(int64_t) * (size_t)q->T);
    if (!q->offs) return NNRT_ERR_OUT_OF_MEMORY;
    for (int64_t t = 0, o = 0; t < q->T; o += q->bs[t], t++) q->offs[t] = o;
  } else if (x->ndim == 2) {
    q->T = x->shape[0], q->N = 1, q->R = q->T;
  } else {
    q->T = x->shape[q->batch_first ? 1 : 0];
    q->N = x->shape[q->batch_first ? 0 : 1];
    q->R = q->T * q->N;
  }
  return NNRT_OK;
}

static size_t ws_numel(const rnn_geom *q) { return (size_t)(q->L * q->R * q->D * q->H * q->K); }

static nnrt_status layer_forward(const nnrt_call *c) {
  rnn_geom q;
  nnrt_status st = geom_of(c, &q);
  if (st) return st;
  bool f64 = c->inputs[0]->dtype == NNRT_F64;
  size_t es = f64 ? sizeof(double) : sizeof(float), NH = (size_t)(q.N * q.H), RDH = (size_t)(q.R * q.D * q.H);
  nnrt_tensor *wst = ref_out_named(c, "workspace");
  size_t nz = 4 * (size_t)q.H;
  size_t n = NH * (1 + 1 + 3) + (q.dropout_on ? RDH : 0) + nz + (wst ? 0 : ws_numel(&q));
  char *buf = malloc(n * es + 1);
  if (!buf) {
    free(q.offs);
    return NNRT_ERR_OUT_OF_MEMORY;
  }
  char *sh = buf, *sc = sh + NH * es, *gh = sc + NH * es, *xbuf = gh + 3 * NH * es;
  char *zeros = xbuf + (q.dropout_on ? RDH : 0) * es;
  memset(zeros, 0, nz * es);
  char *ws = wst ? wst->data : zeros + nz * es;
  const void *x = ref_in_named(c, "input")->data, *w = ref_in_named(c, "weights")->data;
  const void *h0 = ref_data(ref_in_named(c, "h0")), *c0 = ref_data(ref_in_named(c, "c0"));
  void *y = ref_out_named(c, "output")->data;
  void *hn = ref_data(ref_out_named(c, "h_n")), *cn = ref_data(ref_out_named(c, "c_n"));
  bool lstm = q.mode == RNN_MODE_LSTM;
  if (f64)
    layer_fwd_f64(&q, x, h0, c0, w, y, hn, cn, (double *)ws, (double *)sh, lstm ? (double *)sc : NULL,
                  (double *)gh, (double *)xbuf, (const double *)zeros);
  else
    layer_fwd_f32(&q, x, h0, c0, w, y, hn, cn, (float *)ws, (float *)sh, lstm ? (float *)sc : NULL, (float *)gh,
                  (float *)xbuf, (const float *)zeros);
  free(buf);
  free(q.offs);
  return NNRT_OK;
}

static nnrt_status layer_backward(const nnrt_call *c) {
  rnn_geom q;
  nnrt_status st = geom_of(c, &q);
  if (st) return st;
  const nnrt_tensor *xt = ref_in_named(c, "input");
  bool f64 = xt->dtype == NNRT_F64;
  size_t es = f64 ? sizeof(double) : sizeof(float);
  size_t NH = (size_t)(q.N * q.H), RDH = (size_t)(q.R * q.D * q.H), RGH = (size_t)(q.R * q.G * q.H);
  void *gw = ref_data(ref_out_named(c, "grad_weights"));
  bool gru = q.mode == RNN_MODE_GRU;
  size_t n_dG = RGH, n_dGh = gru ? RGH : 0, n_hp = (size_t)(q.R * q.H), n_dy = q.L > 1 ? RDH : 0;
  size_t n_x = gw && q.dropout_on ? RDH : 0;
  size_t nz = 4 * (size_t)q.H;
  size_t n = n_dG + n_dGh + n_hp + 3 * NH + 2 * n_dy + n_x + nz;
  char *buf = malloc(n * es + 1);
  if (!buf) {
    free(q.offs);
    return NNRT_ERR_OUT_OF_MEMORY;
  }
  char *p = buf;
#define TAKE_(k) (p += (k) * es, p - (k) * es)
  char *dG = TAKE_(n_dG), *dGh = TAKE_(n_dGh), *hp = TAKE_(n_hp), *cp = TAKE_(NH), *dh = TAKE_(NH), *dc = TAKE_(NH);
  char *dyA = TAKE_(n_dy), *dyB = TAKE_(n_dy), *xbuf = TAKE_(n_x), *zeros = TAKE_(nz);
#undef TAKE_
  memset(zeros, 0, nz * es);
  const void *gy = ref_data(ref_in_named(c, "grad_output")), *ghn = ref_data(ref_in_named(c, "grad_h_n"));
  const void *gcn = ref_data(ref_in_named(c, "grad_c_n"));
  const void *h0 = ref_data(ref_in_named(c, "h0")), *c0 = ref_data(ref_in_named(c, "c0"));
  const void *w = ref_in_named(c, "weights")->data, *ws = ref_in_named(c, "workspace")->data;
  void *gx = ref_data(ref_out_named(c, "grad_input")), *gh0 = ref_data(ref_out_named(c, "grad_h0"));
  void *gc0 = ref_data(ref_out_named(c, "grad_c0"));
  if (f64) {
    bwd_scratch_f64 s = {(double *)dG, gru ? (double *)dGh : NULL, (double *)hp, (double *)cp, (double *)dh,
                         (double *)dc, (double *)dyA, (double *)dyB, (double *)xbuf, (const double *)zeros};
    layer_bwd_f64(&q, gy, ghn, gcn, xt->data, h0, c0, w, ws, gx, gh0, gc0, gw, &s);
  } else {
    bwd_scratch_f32 s = {(float *)dG, gru ? (float *)dGh : NULL, (float *)hp, (float *)cp, (float *)dh,
                         (float *)dc, (float *)dyA, (float *)dyB, (float *)xbuf, (const float *)zeros};
    layer_bwd_f32(&q, gy, ghn, gcn, xt->data, h0, c0, w, ws, gx, gh0, gc0, gw, &s);
  }
  free(buf);
  free(q.offs);
  return NNRT_OK;
}

nnrt_status ref_rnn(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return layer_forward(call);
}
nnrt_status ref_rnn_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return layer_backward(call);
}
nnrt_status ref_lstm(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return layer_forward(call);
}
nnrt_status ref_lstm_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return layer_backward(call);
}
nnrt_status ref_gru(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return layer_forward(call);
}
nnrt_status ref_gru_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return layer_backward(call);
}
