/* backends/ref/rnn_cell.c - rnn_cell, lstm_cell, gru_cell and their
 * backward ops on OpenBLAS: two GEMMs for the gates and one fused pass for
 * the gate math (vectorized in float32, rnn_impl.h).  The backward
 * recomputes the gates (one forward's worth of work) instead of taking
 * saved ones, so the ops keep PyTorch's inputs. */
#include "ref_vecmath.h"

#include <cblas.h>
#include <tgmath.h>

#include "rnn_ref.h"

#include "rnn_both.h"

static rnn_cell_args cell_args(const nnrt_call *c, int mode) {
  const nnrt_tensor *x = ref_in_named(c, "input"), *whh = ref_in_named(c, "weight_hh");
  rnn_cell_args a = {.mode = mode};
  a.H = whh->shape[1];
  a.G = whh->shape[0] / a.H;
  a.In = x->shape[x->ndim - 1];
  a.N = x->ndim == 2 ? x->shape[0] : 1;
  a.x = x->data;
  a.hx = ref_data(ref_in_named(c, "hx"));
  a.cx = ref_data(ref_in_named(c, "cx"));
  a.wih = ref_data(ref_in_named(c, "weight_ih"));
  a.whh = whh->data;
  a.bih = ref_data(ref_in_named(c, "bias_ih"));
  a.bhh = ref_data(ref_in_named(c, "bias_hh"));
  a.gy = ref_data(ref_in_named(c, "grad_output"));
  a.gc = ref_data(ref_in_named(c, "grad_c_out"));
  a.h_out = ref_data(ref_out_named(c, "output"));
  a.c_out = ref_data(ref_out_named(c, "c_out"));
  a.gx = ref_data(ref_out_named(c, "grad_input"));
  a.ghx = ref_data(ref_out_named(c, "grad_hx"));
  a.gcx = ref_data(ref_out_named(c, "grad_cx"));
  a.gwih = ref_data(ref_out_named(c, "grad_weight_ih"));
  a.gwhh = ref_data(ref_out_named(c, "grad_weight_hh"));
  a.gbih = ref_data(ref_out_named(c, "grad_bias_ih"));
  a.gbhh = ref_data(ref_out_named(c, "grad_bias_hh"));
  return a;
}

/* One scratch block: g (N, 5H), gh (N, 3H), and for backward dGi, dGh
 * (N, 4H), dh, dc (N, H); then zeros (4H). */
static nnrt_status run_cell(const nnrt_call *c, int mode, bool backward) {
  rnn_cell_args a = cell_args(c, mode);
  bool f64 = ref_in_named(c, "input")->dtype == NNRT_F64; /* grad_output may be NULL */
  size_t es = f64 ? sizeof(double) : sizeof(float);
  size_t NH = (size_t)(a.N * a.H), nz = 4 * (size_t)a.H;
  size_t n = NH * (5 + 3 + (backward ? 4 + 4 + 1 + 1 : 0)) + nz;
  char *buf = malloc(n * es + 1);
  if (!buf) return NNRT_ERR_OUT_OF_MEMORY;
  char *g = buf, *gh = g + 5 * NH * es, *dGi = gh + 3 * NH * es, *dGh = dGi + 4 * NH * es;
  char *dh = dGh + 4 * NH * es, *dc = dh + NH * es;
  char *zeros = buf + (n - nz) * es;
  memset(zeros, 0, nz * es);
  if (!backward) {
    if (f64) cell_fwd_f64(&a, (double *)g, (double *)gh, (const double *)zeros);
    else cell_fwd_f32(&a, (float *)g, (float *)gh, (const float *)zeros);
  } else {
    if (f64)
      cell_bwd_f64(&a, (double *)g, (double *)gh, (double *)dGi, (double *)dGh, (double *)dh, (double *)dc,
                   (const double *)zeros);
    else
      cell_bwd_f32(&a, (float *)g, (float *)gh, (float *)dGi, (float *)dGh, (float *)dh, (float *)dc,
                   (const float *)zeros);
  }
  free(buf);
  return NNRT_OK;
}

static int rnn_mode(const nnrt_call *c) {
  return ((const nnrt_rnn_cell_params *)c->params)->nonlinearity ? RNN_MODE_RELU : RNN_MODE_TANH;
}

nnrt_status ref_rnn_cell(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run_cell(call, rnn_mode(call), false);
}

nnrt_status ref_rnn_cell_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  int mode = ((const nnrt_rnn_cell_backward_params *)call->params)->nonlinearity ? RNN_MODE_RELU : RNN_MODE_TANH;
  return run_cell(call, mode, true);
}

nnrt_status ref_lstm_cell(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run_cell(call, RNN_MODE_LSTM, false);
}

nnrt_status ref_lstm_cell_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run_cell(call, RNN_MODE_LSTM, true);
}

nnrt_status ref_gru_cell(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run_cell(call, RNN_MODE_GRU, false);
}

nnrt_status ref_gru_cell_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return run_cell(call, RNN_MODE_GRU, true);
}
