/* backends/opencl/rnn.c - the recurrent ops: rnn_cell, lstm_cell, gru_cell
 * and the rnn, lstm, gru layers, forward and backward, for padded
 * (time-major, batch-first), unbatched and packed inputs, bidirectional,
 * stacked, with dropout between layers.  The same algorithm as
 * backends/ref/rnn_impl.h: per layer and direction the input projection of
 * every step is one GEMM (ocl_gemm), each step one recurrent GEMM and one
 * gate kernel (kernels/rnn.cl); backward goes through time in reverse and
 * gets the weight gradients as three large GEMMs per layer and direction.
 * The workspace layout is ops.def's, so a workspace made by another
 * backend serves here too.  The host loops over time steps; batch_sizes
 * of a packed input are read to the host (blocking) to lay the steps out.
 * Temporaries live in scratch slot 1 (slot 0 serves the column sums).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rnn.cl.h"
#include "nnrt/scalar.h"
#include "ocl.h"

enum { MODE_TANH, MODE_RELU, MODE_LSTM, MODE_GRU };
enum {
  K_RNN_FWD, K_LSTM_FWD, K_GRU_FWD, K_RNN_BWD, K_LSTM_BWD, K_GRU_BWD, K_FILL, K_STATE_IN, K_STATE_OUT, K_PREV,
  K_DROPOUT
};
static const char *const names[] = {"rnn_step_fwd", "lstm_step_fwd", "gru_step_fwd", "rnn_step_bwd",
                                    "lstm_step_bwd", "gru_step_bwd", "rnn_fill",     "rnn_state_in",
                                    "rnn_state_out", "rnn_prev",     "rnn_dropout"};

static char *rnn_src;
static void rnn_src_make(void) {
  const char *rng = ocl_rng_source();
  size_t a = strlen(rng), b = strlen(ocl_src_rnn);
  rnn_src = malloc(a + b + 1);
  if (!rnn_src) return;
  memcpy(rnn_src, rng, a);
  memcpy(rnn_src + a, ocl_src_rnn, b + 1);
}
static const char *rnn_source(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, rnn_src_make);
  return rnn_src;
}

static const ocl_family fam = {
    .id = OCL_FAM_RNN,
    .name = "rnn",
    .gen_source = rnn_source,
    .kernel_names = names,
    .n_kernels = 11,
};

/* ---- helpers ---------------------------------------------------------------- */
#define A_MAT(x) OCL_A_MEM((x).mem), OCL_A_U64((x).off), OCL_A_U64((x).ld)
#define A_VEC(x) OCL_A_MEM((x).mem), OCL_A_U64((x).off)

static ocl_mat mat(cl_mem m, size_t off, size_t ld) { return (ocl_mat){m, off, ld}; }
static ocl_mat tmat(const nnrt_tensor *t, size_t ld) { return (ocl_mat){ocl_mem(t), 0, ld}; }
/* a matrix moved down r rows */
static ocl_mat rows_at(ocl_mat m, size_t r, size_t ld) { return (ocl_mat){m.mem, m.off + r * m.ld, ld}; }
static ocl_mat shift(ocl_mat m, size_t elems) { return (ocl_mat){m.mem, m.off + elems, m.ld}; }

typedef struct run_ctx {
  ocl_dev *d;
  const nnrt_call *call;
  nnrt_dtype dt;
} run_ctx;

/* launches kernel k over n rows of H units (a 2-D range, see ROW_UNIT);
 * the 1-D kernels (fill, dropout) take count elements as H and n = 1 */
#define UNITS(rc, k, n, H, ...)                                                   \
  units((rc), (k), (n), (H), (const ocl_arg[]){__VA_ARGS__},                      \
        (int)(sizeof((const ocl_arg[]){__VA_ARGS__}) / sizeof(ocl_arg)))

static nnrt_status units(const run_ctx *rc, int which, size_t n, size_t H, const ocl_arg *args, int nargs) {
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(rc->d, &fam, rc->dt, which, &k, &wg);
  if (s) return s;
  size_t global[2], local[2];
  ocl_range_rows(rc->d, wg, H, n, global, local);
  return ocl_run(rc->d, k, rc->call->op_name, names[which], args, nargs, 2, global, local);
}

static nnrt_status fill(const run_ctx *rc, cl_mem m, size_t off, size_t count, double v) {
  return UNITS(rc, K_FILL, 1, count, OCL_A_MEM(m), OCL_A_U64(off), OCL_A_U64(count), OCL_A_REAL(rc->dt, v));
}

/* count elements from (src, soff) to (dst, doff) */
static nnrt_status copy(const run_ctx *rc, cl_mem src, size_t soff, cl_mem dst, size_t doff, size_t count) {
  if (!count) return NNRT_OK;
  size_t es = ocl_tsize(rc->dt);
  cl_int err = ocl.clEnqueueCopyBuffer(rc->d->queue, src, dst, soff * es, doff * es, count * es, 0, NULL, NULL);
  return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueCopyBuffer", rc->call->op_name, err);
}

static nnrt_status gemm(const run_ctx *rc, bool ta, bool tb, size_t M, size_t N, size_t K, ocl_mat A, ocl_mat B,
                        bool acc, ocl_mat C) {
  return ocl_gemm(rc->d, rc->call, rc->dt, ta, tb, M, N, K, A, B, acc, C, NULL);
}

/* The gate kernels' bias arguments: (bias_ih, bias_hh, present). */
typedef struct biases {
  ocl_mat ih, hh;
  bool on;
} biases;

/* ---- one step of gate math, forward and backward ------------------------------ */
/* rnn: P (n, H) pre-activations -> h, also into H2 */
static nnrt_status step_fwd_rnn(const run_ctx *rc, int mode, size_t n, size_t H, ocl_mat P, biases b, ocl_mat H2,
                                bool has_h2) {
  return UNITS(rc, K_RNN_FWD, n, H, OCL_A_U64(n), OCL_A_U64(H), OCL_A_INT(mode == MODE_RELU), A_MAT(P), A_VEC(b.ih),
               A_VEC(b.hh), OCL_A_INT(b.on), A_MAT(H2), OCL_A_INT(has_h2));
}

static nnrt_status step_fwd_lstm(const run_ctx *rc, size_t n, size_t H, ocl_mat G, biases b, ocl_mat CP, bool has_cp,
                                 ocl_mat H1, ocl_mat H2, bool has_h2, ocl_mat C2, bool has_c2) {
  return UNITS(rc, K_LSTM_FWD, n, H, OCL_A_U64(n), OCL_A_U64(H), A_MAT(G), A_VEC(b.ih), A_VEC(b.hh), OCL_A_INT(b.on),
               A_MAT(CP), OCL_A_INT(has_cp), A_MAT(H1), A_MAT(H2), OCL_A_INT(has_h2), A_MAT(C2), OCL_A_INT(has_c2));
}

static nnrt_status step_fwd_gru(const run_ctx *rc, size_t n, size_t H, ocl_mat G, ocl_mat GH, bool has_gh, biases b,
                                ocl_mat HP, bool has_hp, ocl_mat H1, ocl_mat H2, bool has_h2) {
  return UNITS(rc, K_GRU_FWD, n, H, OCL_A_U64(n), OCL_A_U64(H), A_MAT(G), A_MAT(GH), OCL_A_INT(has_gh), A_VEC(b.ih),
               A_VEC(b.hh), OCL_A_INT(b.on), A_MAT(HP), OCL_A_INT(has_hp), A_MAT(H1), A_MAT(H2), OCL_A_INT(has_h2));
}

static nnrt_status step_bwd_rnn(const run_ctx *rc, int mode, size_t n, size_t H, ocl_mat Hh, ocl_mat DH, ocl_mat DY,
                                bool has_dy, ocl_mat DG) {
  return UNITS(rc, K_RNN_BWD, n, H, OCL_A_U64(n), OCL_A_U64(H), OCL_A_INT(mode == MODE_RELU), A_MAT(Hh), A_MAT(DH),
               A_MAT(DY), OCL_A_INT(has_dy), A_MAT(DG));
}

static nnrt_status step_bwd_lstm(const run_ctx *rc, size_t n, size_t H, ocl_mat G, ocl_mat CP, bool has_cp,
                                 ocl_mat DH, ocl_mat DY, bool has_dy, ocl_mat DC, bool has_dc, ocl_mat DG) {
  return UNITS(rc, K_LSTM_BWD, n, H, OCL_A_U64(n), OCL_A_U64(H), A_MAT(G), A_MAT(CP), OCL_A_INT(has_cp), A_MAT(DH),
               A_MAT(DY), OCL_A_INT(has_dy), A_MAT(DC), OCL_A_INT(has_dc), A_MAT(DG));
}

static nnrt_status step_bwd_gru(const run_ctx *rc, size_t n, size_t H, ocl_mat G, ocl_mat HP, bool has_hp,
                                ocl_mat DH, ocl_mat DY, bool has_dy, ocl_mat DGI, ocl_mat DGH) {
  return UNITS(rc, K_GRU_BWD, n, H, OCL_A_U64(n), OCL_A_U64(H), A_MAT(G), A_MAT(HP), OCL_A_INT(has_hp), A_MAT(DH),
               A_MAT(DY), OCL_A_INT(has_dy), A_MAT(DGI), A_MAT(DGH));
}

/* ---- cells -------------------------------------------------------------------------- */
typedef struct cell {
  int mode;
  size_t N, In, H, G;
  const nnrt_tensor *x, *hx, *cx, *wih, *whh, *bih, *bhh, *gy, *gc;
} cell;

static cell cell_of(const nnrt_call *c, int mode) {
  cell a = {.mode = mode};
  a.x = ocl_in_named(c, "input");
  a.hx = ocl_in_named(c, "hx");
  a.cx = ocl_in_named(c, "cx");
  a.wih = ocl_in_named(c, "weight_ih");
  a.whh = ocl_in_named(c, "weight_hh");
  a.bih = ocl_in_named(c, "bias_ih");
  a.bhh = ocl_in_named(c, "bias_hh");
  a.gy = ocl_in_named(c, "grad_output");
  a.gc = ocl_in_named(c, "grad_c_out");
  a.H = (size_t)a.whh->shape[1];
  a.G = a.H ? (size_t)a.whh->shape[0] / a.H : 0;
  a.In = (size_t)a.x->shape[a.x->ndim - 1];
  a.N = a.x->ndim == 2 ? (size_t)a.x->shape[0] : 1;
  return a;
}

/* g (N, 5H), gh (N, 3H): scratch; hout, cout: where h' and c' go */
static nnrt_status cell_fwd(const run_ctx *rc, const cell *a, ocl_mat g, ocl_mat gh, ocl_mat hout, ocl_mat cout,
                            bool has_cout) {
  size_t N = a->N, H = a->H, GH = a->G * H;
  cl_mem dummy = rc->d->dummy;
  biases b = {{a->bih ? ocl_mem(a->bih) : dummy, 0, 0}, {a->bhh ? ocl_mem(a->bhh) : dummy, 0, 0}, a->bih != NULL};
  ocl_mat hx = a->hx ? tmat(a->hx, H) : mat(dummy, 0, 0), none = mat(dummy, 0, 0);
  nnrt_status s = gemm(rc, false, true, N, GH, a->In, tmat(a->x, a->In), tmat(a->wih, a->In), false, g);
  if (s) return s;
  if (a->mode == MODE_GRU) {
    if (a->hx && (s = gemm(rc, false, true, N, GH, H, hx, tmat(a->whh, H), false, gh))) return s;
    return step_fwd_gru(rc, N, H, g, gh, a->hx != NULL, b, hx, a->hx != NULL, hout, none, false);
  }
  if (a->hx && (s = gemm(rc, false, true, N, GH, H, hx, tmat(a->whh, H), true, g))) return s;
  if (a->mode == MODE_LSTM)
    return step_fwd_lstm(rc, N, H, g, b, a->cx ? tmat(a->cx, H) : none, a->cx != NULL, hout, none, false, cout,
                         has_cout);
  return step_fwd_rnn(rc, a->mode, N, H, g, b, hout, true);
}

static int cell_mode(const nnrt_call *c) {
  if (!strncmp(c->op_name, "lstm", 4)) return MODE_LSTM;
  if (!strncmp(c->op_name, "gru", 3)) return MODE_GRU;
  /* rnn_cell and rnn_cell_backward have the same params layout */
  return ((const nnrt_rnn_cell_params *)c->params)->nonlinearity ? MODE_RELU : MODE_TANH;
}

static nnrt_status k_cell(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  cell a = cell_of(call, cell_mode(call));
  run_ctx rc = {d, call, a.x->dtype};
  size_t N = a.N, H = a.H;
  nnrt_tensor *c_out = ocl_out_named(call, "c_out");
  OCL_LOCK(d);
  cl_mem scr;
  nnrt_status s = ocl_scratch_slot(d, 1, N * 8 * H * ocl_tsize(rc.dt), &scr);
  if (!s)
    s = cell_fwd(&rc, &a, mat(scr, 0, 5 * H), mat(scr, N * 5 * H, a.G * H), tmat(ocl_out_named(call, "output"), H),
                 c_out ? tmat(c_out, H) : mat(d->dummy, 0, 0), c_out != NULL);
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_cell_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  cell a = cell_of(call, cell_mode(call));
  run_ctx rc = {d, call, a.x->dtype};
  size_t N = a.N, H = a.H, In = a.In, GH = a.G * H, NH = N * H;
  nnrt_tensor *gx = ocl_out_named(call, "grad_input"), *ghx = ocl_out_named(call, "grad_hx");
  nnrt_tensor *gcx = ocl_out_named(call, "grad_cx"), *gwih = ocl_out_named(call, "grad_weight_ih");
  nnrt_tensor *gwhh = ocl_out_named(call, "grad_weight_hh"), *gbih = ocl_out_named(call, "grad_bias_ih");
  nnrt_tensor *gbhh = ocl_out_named(call, "grad_bias_hh");
  bool gru = a.mode == MODE_GRU;
  OCL_LOCK(d);
  cl_mem scr;
  /* g (N, 5H), gh (N, 3H), dGi, dGh (N, GH), dh, dc (N, H) */
  size_t o_g = 0, o_gh = o_g + 5 * NH, o_dgi = o_gh + 3 * NH, o_dgh = o_dgi + N * GH, o_dh = o_dgh + N * GH,
         o_dc = o_dh + NH, total = o_dc + NH;
  nnrt_status s = ocl_scratch_slot(d, 1, total * ocl_tsize(rc.dt), &scr);
  ocl_mat g = mat(scr, o_g, 5 * H), dGi = mat(scr, o_dgi, GH), dGh = mat(scr, o_dgh, GH);
  ocl_mat dh = mat(scr, o_dh, H), dc = mat(scr, o_dc, H), none = mat(d->dummy, 0, 0);
  /* the forward again: the gates; h' and c' land in dh, dc and are replaced below */
  if (!s) s = cell_fwd(&rc, &a, g, mat(scr, o_gh, GH), dh, dc, true);
  if (!s) s = a.gy ? copy(&rc, ocl_mem(a.gy), 0, scr, o_dh, NH) : fill(&rc, scr, o_dh, NH, 0);
  if (!s) s = a.gc ? copy(&rc, ocl_mem(a.gc), 0, scr, o_dc, NH) : fill(&rc, scr, o_dc, NH, 0);
  ocl_mat dGhh = gru ? dGh : dGi;
  if (!s) {
    if (a.mode == MODE_LSTM)
      s = step_bwd_lstm(&rc, N, H, g, a.cx ? tmat(a.cx, H) : none, a.cx != NULL, dh, none, false, dc, true, dGi);
    else if (gru)
      s = step_bwd_gru(&rc, N, H, g, a.hx ? tmat(a.hx, H) : none, a.hx != NULL, dh, none, false, dGi, dGh);
    else
      s = step_bwd_rnn(&rc, a.mode, N, H, g, dh, none, false, dGi);
  }
  /* dh now holds the direct part of grad hx (gru) */
  if (!s && ghx) {
    if (gru) s = copy(&rc, scr, o_dh, ocl_mem(ghx), 0, NH);
    if (!s) s = gemm(&rc, false, false, N, H, GH, dGhh, tmat(a.whh, H), gru, tmat(ghx, H));
  }
  if (!s && gcx) s = copy(&rc, scr, o_dc, ocl_mem(gcx), 0, NH);
  if (!s && gx) s = gemm(&rc, false, false, N, In, GH, dGi, tmat(a.wih, In), false, tmat(gx, In));
  if (!s && gwih) s = gemm(&rc, true, false, GH, In, N, dGi, tmat(a.x, In), true, tmat(gwih, In));
  if (!s && gwhh && a.hx) s = gemm(&rc, true, false, GH, H, N, dGhh, tmat(a.hx, H), true, tmat(gwhh, H));
  if (!s && gbih) s = ocl_colsum_acc(d, call, rc.dt, N, GH, dGi, ocl_mem(gbih), 0);
  if (!s && gbhh) s = ocl_colsum_acc(d, call, rc.dt, N, GH, dGhh, ocl_mem(gbhh), 0);
  OCL_UNLOCK(d);
  return s;
}

/* ---- layers --------------------------------------------------------------------------- */
typedef struct geom {
  int mode;
  size_t In, H, L, D, G, K, T, N, R;
  bool bias, batch_first, packed, dropout_on;
  double dropout;
  uint64_t key, threshold;
  int64_t *bs, *offs; /* packed: batch sizes and first rows of each step (host) */
  cl_mem perm;        /* sorted_indices, or NULL */
} geom;

static size_t g_rows(const geom *q, size_t t) { return q->packed ? (size_t)q->bs[t] : q->N; }
static size_t g_base(const geom *q, size_t t) {
  return q->packed ? (size_t)q->offs[t] : q->batch_first ? t : t * q->N;
}
static size_t g_stride(const geom *q) { return !q->packed && q->batch_first ? q->T : 1; }
static size_t ws_layer(const geom *q, size_t l) { return l * q->R * q->D * q->H * q->K; }

static size_t weights_offset(const geom *q, size_t l, size_t d) {
  size_t o = 0, GH = q->G * q->H;
  for (size_t k = 0; k < l * q->D + d; k++) {
    size_t in = k / q->D ? q->D * q->H : q->In;
    o += GH * (in + q->H + (q->bias ? 2 : 0));
  }
  return o;
}

static nnrt_status geom_of(ocl_dev *d, const nnrt_call *c, geom *q) {
  /* every layer op's params start with the same members (NNRT_RNN_PARAMS_) */
  const nnrt_lstm_params *p = c->params;
  memset(q, 0, sizeof *q);
  q->In = (size_t)p->input_size, q->H = (size_t)p->hidden_size, q->L = (size_t)p->num_layers;
  q->D = p->bidirectional ? 2 : 1, q->bias = p->bias, q->batch_first = p->batch_first;
  q->dropout = p->dropout;
  q->dropout_on = p->training && p->dropout > 0 && p->num_layers > 1;
  uint64_t seed = (uint64_t)p->seed;
  NNRT_RNG_KEY(q->key, seed);
  q->threshold = (uint64_t)(q->dropout * NNRT_DROPOUT_ONE);
  if (!strncmp(c->op_name, "lstm", 4)) q->mode = MODE_LSTM;
  else if (!strncmp(c->op_name, "gru", 3)) q->mode = MODE_GRU;
  else q->mode = ((const nnrt_rnn_params *)c->params)->nonlinearity ? MODE_RELU : MODE_TANH;
  q->G = q->mode == MODE_LSTM ? 4 : q->mode == MODE_GRU ? 3 : 1;
  q->K = q->mode == MODE_LSTM ? 6 : q->mode == MODE_GRU ? 5 : 1;
  const nnrt_tensor *x = ocl_in_named(c, "input"), *bs = ocl_in_named(c, "batch_sizes");
  const nnrt_tensor *si = ocl_in_named(c, "sorted_indices");
  q->perm = si ? ocl_mem(si) : NULL;
  if (bs) {
    q->packed = true;
    q->T = (size_t)bs->shape[0];
    q->R = (size_t)x->shape[0];
    q->bs = malloc(sizeof(int64_t) * (2 * q->T + 1));
    if (!q->bs) return ocl_host->error(NNRT_ERR_OUT_OF_MEMORY, "opencl: %s: out of memory", c->op_name);
    q->offs = q->bs + q->T;
    cl_int err = q->T ? ocl.clEnqueueReadBuffer(d->queue, ocl_mem(bs), CL_TRUE, 0, sizeof(int64_t) * q->T, q->bs, 0,
                                                NULL, NULL)
                      : CL_SUCCESS;
    if (err != CL_SUCCESS) {
      free(q->bs);
      return ocl_fail("clEnqueueReadBuffer", "batch_sizes", err);
    }
    q->N = q->T ? (size_t)q->bs[0] : 0;
    for (size_t t = 0, o = 0; t < q->T; o += (size_t)q->bs[t], t++) q->offs[t] = (int64_t)o;
  } else if (x->ndim == 2) {
    q->T = (size_t)x->shape[0], q->N = 1, q->R = q->T;
  } else {
    q->T = (size_t)x->shape[q->batch_first ? 1 : 0];
    q->N = (size_t)x->shape[q->batch_first ? 0 : 1];
    q->R = q->T * q->N;
  }
  return NNRT_OK;
}

typedef struct lweights {
  ocl_mat ih, hh;
  biases b;
} lweights;

static lweights layer_weights(const geom *q, cl_mem w, cl_mem dummy, size_t l, size_t d) {
  size_t o = weights_offset(q, l, d), GH = q->G * q->H, in = l ? q->D * q->H : q->In;
  lweights r = {mat(w, o, in), mat(w, o + GH * in, q->H), {mat(dummy, 0, 0), mat(dummy, 0, 0), q->bias}};
  if (q->bias) {
    r.b.ih = mat(w, o + GH * (in + q->H), 0);
    r.b.hh = mat(w, o + GH * (in + q->H) + GH, 0);
  }
  return r;
}

static nnrt_status dropout(const run_ctx *rc, const geom *q, size_t l, cl_mem src, size_t soff, cl_mem dst,
                           size_t doff) {
  size_t n = q->R * q->D * q->H;
  /* the scale as ref forms it: 1 / (1 - p) in double, then the element type */
  double scale = q->dropout < 1 ? 1.0 / (1.0 - q->dropout) : 0;
  return UNITS(rc, K_DROPOUT, 1, n, OCL_A_MEM(src), OCL_A_U64(soff), OCL_A_MEM(dst), OCL_A_U64(doff), OCL_A_U64(n),
               OCL_A_U64((l - 1) * n), OCL_A_U64(q->key), OCL_A_U64(q->threshold), OCL_A_REAL(rc->dt, scale));
}

static nnrt_status state_in(const run_ctx *rc, const geom *q, ocl_mat dst, const nnrt_tensor *src, size_t s0) {
  return UNITS(rc, K_STATE_IN, q->N, q->H, OCL_A_U64(q->N), OCL_A_U64(q->H), A_MAT(dst),
               OCL_A_MEM(src ? ocl_mem(src) : rc->d->dummy), OCL_A_U64(0), OCL_A_INT(src != NULL),
               OCL_A_MEM(q->perm ? q->perm : rc->d->dummy), OCL_A_INT(q->perm != NULL), OCL_A_U64(s0));
}

static nnrt_status state_out(const run_ctx *rc, const geom *q, ocl_mat src, nnrt_tensor *dst, size_t s0) {
  if (!dst) return NNRT_OK;
  return UNITS(rc, K_STATE_OUT, q->N, q->H, OCL_A_U64(q->N), OCL_A_U64(q->H), A_MAT(src), OCL_A_MEM(ocl_mem(dst)),
               OCL_A_U64(0), OCL_A_MEM(q->perm ? q->perm : rc->d->dummy), OCL_A_INT(q->perm != NULL), OCL_A_U64(s0));
}

static nnrt_status layer_forward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = ocl_in_named(call, "input"), *w = ocl_in_named(call, "weights");
  const nnrt_tensor *h0 = ocl_in_named(call, "h0"), *c0 = ocl_in_named(call, "c0");
  nnrt_tensor *y = ocl_out_named(call, "output"), *hn = ocl_out_named(call, "h_n"), *cn = ocl_out_named(call, "c_n");
  nnrt_tensor *wst = ocl_out_named(call, "workspace");
  run_ctx rc = {d, call, x->dtype};
  OCL_LOCK(d);
  geom q;
  nnrt_status s = geom_of(d, call, &q);
  if (s) {
    OCL_UNLOCK(d);
    return s;
  }
  size_t H = q.H, D = q.D, DH = D * H, GH = q.G * H, E = (q.K - 1) * H, R = q.R, N = q.N, NH = N * H;
  bool lstm = q.mode == MODE_LSTM, gru = q.mode == MODE_GRU;
  /* slot 1: sh, sc (N, H), gh (N, 3H), xbuf (R, DH) with dropout, ws without a workspace output */
  size_t o_sh = 0, o_sc = NH, o_gh = 2 * NH, o_x = 5 * NH, o_ws = o_x + (q.dropout_on ? R * DH : 0);
  size_t total = o_ws + (wst ? 0 : q.L * R * DH * q.K);
  cl_mem scr;
  s = ocl_scratch_slot(d, 1, total * ocl_tsize(rc.dt), &scr);
  cl_mem ws = wst ? ocl_mem(wst) : scr;
  size_t ws0 = wst ? 0 : o_ws;
  ocl_mat sh = mat(scr, o_sh, H), sc = mat(scr, o_sc, H), gh = mat(scr, o_gh, GH);
  for (size_t l = 0; l < q.L && !s; l++) {
    size_t in = l ? DH : q.In;
    ocl_mat X = l ? mat(ws, ws0 + ws_layer(&q, l - 1), DH) : tmat(x, q.In);
    if (l && q.dropout_on) {
      s = dropout(&rc, &q, l, X.mem, X.off, scr, o_x);
      X = mat(scr, o_x, DH);
    }
    for (size_t dd = 0; dd < D && !s; dd++) {
      lweights lw = layer_weights(&q, ocl_mem(w), d->dummy, l, dd);
      ocl_mat Yd = mat(ws, ws0 + ws_layer(&q, l) + dd * H, DH), Gd = mat(ws, ws0 + ws_layer(&q, l) + R * DH + dd * R * E, E);
      /* every step's input projection in one GEMM */
      s = gemm(&rc, false, true, R, GH, in, X, lw.ih, false, q.mode == MODE_TANH || q.mode == MODE_RELU ? Yd : Gd);
      size_t s0 = (l * D + dd) * N;
      if (!s) s = state_in(&rc, &q, sh, h0, s0);
      if (!s && lstm) s = state_in(&rc, &q, sc, c0, s0);
      for (size_t st = 0; st < q.T && !s; st++) {
        size_t t = dd ? q.T - 1 - st : st, n = g_rows(&q, t), r0 = g_base(&q, t), S = g_stride(&q);
        ocl_mat Yt = rows_at(Yd, r0, S * DH), Gt = rows_at(Gd, r0, S * E);
        if (!n) continue;
        if (lstm) {
          s = gemm(&rc, false, true, n, GH, H, sh, lw.hh, true, Gt);
          if (!s) s = step_fwd_lstm(&rc, n, H, Gt, lw.b, sc, true, Yt, sh, true, sc, true);
        } else if (gru) {
          s = gemm(&rc, false, true, n, GH, H, sh, lw.hh, false, gh);
          if (!s) s = step_fwd_gru(&rc, n, H, Gt, gh, true, lw.b, sh, true, Yt, sh, true);
        } else {
          s = gemm(&rc, false, true, n, H, H, sh, lw.hh, true, Yt);
          if (!s) s = step_fwd_rnn(&rc, q.mode, n, H, Yt, lw.b, sh, true);
        }
      }
      if (!s) s = state_out(&rc, &q, sh, hn, s0);
      if (!s && lstm) s = state_out(&rc, &q, sc, cn, s0);
    }
  }
  if (!s) s = copy(&rc, ws, ws0 + ws_layer(&q, q.L - 1), ocl_mem(y), 0, R * DH);
  OCL_UNLOCK(d);
  free(q.bs);
  return s;
}

static nnrt_status layer_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = ocl_in_named(call, "input"), *w = ocl_in_named(call, "weights");
  const nnrt_tensor *h0 = ocl_in_named(call, "h0"), *c0 = ocl_in_named(call, "c0");
  const nnrt_tensor *gy = ocl_in_named(call, "grad_output"), *ghn = ocl_in_named(call, "grad_h_n");
  const nnrt_tensor *gcn = ocl_in_named(call, "grad_c_n"), *wst = ocl_in_named(call, "workspace");
  nnrt_tensor *gx = ocl_out_named(call, "grad_input"), *gh0 = ocl_out_named(call, "grad_h0");
  nnrt_tensor *gc0 = ocl_out_named(call, "grad_c0"), *gw = ocl_out_named(call, "grad_weights");
  run_ctx rc = {d, call, x->dtype};
  OCL_LOCK(d);
  geom q;
  nnrt_status s = geom_of(d, call, &q);
  if (s) {
    OCL_UNLOCK(d);
    return s;
  }
  size_t H = q.H, D = q.D, DH = D * H, GH = q.G * H, E = (q.K - 1) * H, R = q.R, N = q.N, NH = N * H, T = q.T;
  bool lstm = q.mode == MODE_LSTM, gru = q.mode == MODE_GRU;
  /* slot 1: dG, dGh (gru) (R, GH), hp (R, H), cp, dh, dc (N, H), dyA, dyB (R, DH) below the top
   * layer, xbuf (R, DH) to redo dropout for the weight gradients */
  size_t o_dg = 0, o_dgh = R * GH, o_hp = o_dgh + (gru ? R * GH : 0), o_cp = o_hp + R * H, o_dh = o_cp + NH,
         o_dc = o_dh + NH, o_ya = o_dc + NH, o_yb = o_ya + (q.L > 1 ? R * DH : 0),
         o_x = o_yb + (q.L > 1 ? R * DH : 0), total = o_x + (gw && q.dropout_on ? R * DH : 0);
  cl_mem scr, ws = ocl_mem(wst), none = d->dummy;
  s = ocl_scratch_slot(d, 1, total * ocl_tsize(rc.dt), &scr);
  ocl_mat dGi = mat(scr, o_dg, GH), dGh = gru ? mat(scr, o_dgh, GH) : dGi, hp = mat(scr, o_hp, H);
  ocl_mat cp = mat(scr, o_cp, H), dh = mat(scr, o_dh, H), dc = mat(scr, o_dc, H);
  /* gradient of layer l's output: grad_output at the top, then a scratch buffer */
  bool has_dY = gy != NULL;
  ocl_mat dY = gy ? tmat(gy, DH) : mat(none, 0, 0);
  for (size_t l = q.L; l-- > 0 && !s;) {
    size_t in = l ? DH : q.In;
    ocl_mat X = l ? mat(ws, ws_layer(&q, l - 1), DH) : tmat(x, q.In);
    if (l && gw && q.dropout_on) {
      s = dropout(&rc, &q, l, X.mem, X.off, scr, o_x);
      X = mat(scr, o_x, DH);
    }
    /* never the buffer dY is in */
    bool has_dX = l || gx;
    ocl_mat dX = l ? mat(scr, l & 1 ? o_yb : o_ya, in) : gx ? tmat(gx, in) : mat(none, 0, 0);
    for (size_t dd = 0; dd < D && !s; dd++) {
      lweights lw = layer_weights(&q, ocl_mem(w), none, l, dd);
      ocl_mat Yd = mat(ws, ws_layer(&q, l) + dd * H, DH), Gd = mat(ws, ws_layer(&q, l) + R * DH + dd * R * E, E);
      size_t s0 = (l * D + dd) * N;
      s = state_in(&rc, &q, dh, ghn, s0);
      if (!s) s = state_in(&rc, &q, dc, gcn, s0);
      for (size_t st = 0; st < T && !s; st++) {
        size_t t = dd ? st : T - 1 - st, n = g_rows(&q, t), r0 = g_base(&q, t), S = g_stride(&q);
        if (!n) continue;
        /* h (and c) before step t: the previous step's rows, then h0 (c0) */
        size_t tp = dd ? t + 1 : t - 1; /* wraps past 0 to a huge value: no step */
        size_t np = tp < T ? g_rows(&q, tp) : 0, rp = np ? g_base(&q, tp) : 0;
        ocl_mat hpt = rows_at(hp, r0, S * H);
        s = UNITS(&rc, K_PREV, n, H, OCL_A_U64(n), OCL_A_U64(H), OCL_A_U64(np), A_MAT(hpt),
                  A_MAT(rows_at(Yd, rp, S * DH)), OCL_A_MEM(h0 ? ocl_mem(h0) : none), OCL_A_U64(0),
                  OCL_A_INT(h0 != NULL), OCL_A_MEM(q.perm ? q.perm : none), OCL_A_INT(q.perm != NULL), OCL_A_U64(s0),
                  OCL_A_INT(lstm), A_MAT(cp), A_MAT(shift(rows_at(Gd, rp, S * E), 4 * H)),
                  OCL_A_MEM(c0 ? ocl_mem(c0) : none), OCL_A_U64(0), OCL_A_INT(c0 != NULL));
        ocl_mat dy = has_dY ? shift(rows_at(dY, r0, S * DH), dd * H) : mat(none, 0, 0);
        ocl_mat dGt = rows_at(dGi, r0, S * GH), dGht = rows_at(dGh, r0, S * GH);
        if (!s) {
          if (lstm)
            s = step_bwd_lstm(&rc, n, H, rows_at(Gd, r0, S * E), cp, true, dh, dy, has_dY, dc, true, dGt);
          else if (gru)
            s = step_bwd_gru(&rc, n, H, rows_at(Gd, r0, S * E), hpt, true, dh, dy, has_dY, dGt, dGht);
          else
            s = step_bwd_rnn(&rc, q.mode, n, H, rows_at(Yd, r0, S * DH), dh, dy, has_dY, dGt);
        }
        if (!s) s = gemm(&rc, false, false, n, H, GH, dGht, lw.hh, gru, dh);
      }
      if (!s) s = state_out(&rc, &q, dh, gh0, s0);
      if (!s && lstm) s = state_out(&rc, &q, dc, gc0, s0);
      if (!s && gw) {
        size_t o = weights_offset(&q, l, dd);
        cl_mem g = ocl_mem(gw);
        s = gemm(&rc, true, false, GH, in, R, dGi, X, true, mat(g, o, in));
        if (!s) s = gemm(&rc, true, false, GH, H, R, dGh, hp, true, mat(g, o + GH * in, H));
        if (!s && q.bias) s = ocl_colsum_acc(d, call, rc.dt, R, GH, dGi, g, o + GH * (in + H));
        if (!s && q.bias) s = ocl_colsum_acc(d, call, rc.dt, R, GH, dGh, g, o + GH * (in + H) + GH);
      }
      if (!s && has_dX) s = gemm(&rc, false, false, R, in, GH, dGi, lw.ih, dd > 0, dX);
    }
    if (!s && l) {
      /* the gradient of layer l-1's output, through the dropout mask */
      if (q.dropout_on) s = dropout(&rc, &q, l, dX.mem, dX.off, dX.mem, dX.off);
      dY = dX;
      has_dY = true;
    }
  }
  OCL_UNLOCK(d);
  free(q.bs);
  return s;
}

nnrt_kernel_fn ocl_rnn_lookup(const char *op) {
  static const struct {
    const char *name;
    nnrt_kernel_fn fn;
  } t[] = {
      {"rnn_cell", k_cell},          {"rnn_cell_backward", k_cell_backward},
      {"lstm_cell", k_cell},         {"lstm_cell_backward", k_cell_backward},
      {"gru_cell", k_cell},          {"gru_cell_backward", k_cell_backward},
      {"rnn", layer_forward},        {"rnn_backward", layer_backward},
      {"lstm", layer_forward},       {"lstm_backward", layer_backward},
      {"gru", layer_forward},        {"gru_backward", layer_backward},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(t[i].name, op)) return t[i].fn;
  return NULL;
}
