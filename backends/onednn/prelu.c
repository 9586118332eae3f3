/* backends/onednn/prelu.c - PReLU forward and backward on oneDNN's prelu
 * primitive: y = x > 0 ? x : w_c x, gx = x > 0 ? g : w_c g,
 * gw_c += sum of g x over x <= 0 (PyTorch's and ref's formulas: the value
 * at x = 0 takes the w branch in all three, and gives 0 there anyway).
 *
 * The input is seen as (outer, C, inner), C = the weight's length when it
 * is one per channel (dim 1), else (1, 1, numel) with one weight, as ref
 * does.  oneDNN overwrites diff_weights, so the backward computes them
 * into a temporary and adds it to grad_weight (which ACCUMULATES).  A call
 * that wants grad_weight but not grad_input would need a full-size
 * temporary for oneDNN's diff_src: it is left to ref.  The weight gradient
 * sums in float within a piece (below), the pieces in double (ref: double).
 *
 * Non-finite values: a NaN, inf or -inf weight is left to ref in both
 * directions, a per-call check of C floats: the forward's x > 0 lanes come
 * out NaN with it (every ISA: min(x,0) w + max(x,0)), and so do the
 * backward's gx on AVX2, AVX and SSE4.1, whose kernel computes
 * gx = ((x > 0) + (x <= 0) w) g with 0/1 masks (AVX-512 selects, and is
 * right).  The same kernel computes gw's terms as (g x) (x <= 0), which
 * is NaN where x > 0 and g x is not finite (x = +inf, g = +-inf or NaN, or
 * g x overflowing float: all-finite inputs such as x = g = 1e20), where
 * PyTorch adds 0.  A NaN x in the backward takes the wrong branch in
 * oneDNN (gx = 0; and on AVX-512 left out of gw; PyTorch: w g, and gw
 * NaN).  Both are repaired after the primitive: a channel whose gw comes
 * out NaN is summed again here from x and g in double, as ref does (C
 * floats checked per piece; NaN there is rare, and right only where the
 * sum gives NaN again), and large calls run in pieces along the batch dim
 * (the elements, with one weight) that stay in L2 (onednn_execute_cut),
 * each piece's x scanned once for NaN, and only then repaired.
 * README.md has the costs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onednn.h"

static dnnl_status_t build(const onednn_key *k, onednn_prim *p) {
  dnnl_memory_desc_t data, wei;
  dnnl_dims_t dims = {k->d[0], k->d[1], k->d[2]}, wdims = {1, k->d[1], 1};
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(&data, 3, dims, dnnl_f32, dnnl_abc);
  if (!st) st = dnnl_memory_desc_init_by_tag(&wei, 3, wdims, dnnl_f32, dnnl_abc);
  if (st) return st;
  bool bwd = k->kind == ONEDNN_K_PRELU_BWD;
  dnnl_prelu_desc_t fd, bd;
  dnnl_primitive_desc_t pd = NULL;
  st = dnnl_prelu_forward_desc_init(&fd, bwd ? dnnl_forward_training : dnnl_forward_inference, &data, &wei);
  if (!st && bwd) st = dnnl_prelu_backward_desc_init(&bd, &data, &wei, &data, &wei);
  if (!st) st = onednn_pd_create(&fd, bwd ? &bd : NULL, &pd);
  if (st) return st;
  onednn_prim_arg(p, DNNL_ARG_SRC, &data);
  onednn_prim_arg(p, DNNL_ARG_WEIGHTS, &wei);
  if (bwd) {
    onednn_prim_arg(p, DNNL_ARG_DIFF_DST, &data);
    onednn_prim_arg(p, DNNL_ARG_DIFF_SRC, &data);
    onednn_prim_arg(p, DNNL_ARG_DIFF_WEIGHTS, &wei);
  } else {
    onednn_prim_arg(p, DNNL_ARG_DST, &data);
  }
  return onednn_prim_from_pd(p, pd);
}

/* The key of a call whose input is inputs[x_at] and weight inputs[x_at + 1]. */
static bool make_key(const nnrt_call *c, int x_at, bool bwd, onednn_key *k) {
  if (!onednn_call_f32_nonempty(c)) return false;
  const nnrt_tensor *x = c->inputs[x_at], *w = c->inputs[x_at + 1];
  int64_t d[3] = {1, 1, x->numel};
  if (x->ndim >= 2 && w->numel > 1) {
    d[0] = x->shape[0];
    d[1] = x->shape[1];
    d[2] = x->numel / (d[0] * d[1]);
  }
  *k = (onednn_key){.kind = bwd ? ONEDNN_K_PRELU_BWD : ONEDNN_K_PRELU_FWD,
                    .d = {d[0], d[1], d[2], 0},
                    .serial = x->numel < ONEDNN_SERIAL_ELEMENTS};
  return true;
}

/* The key of a call, if oneDNN may run it: a non-finite weight is left to
 * ref, oneDNN's x > 0 lanes coming out NaN with it, where PyTorch's are x
 * (forward) and g (backward, all but AVX-512). */
static bool finite_key(const nnrt_call *c, int x_at, bool bwd, onednn_key *k) {
  const nnrt_tensor *w = c->inputs[x_at + 1];
  return make_key(c, x_at, bwd, k) && !onednn_has_nonfinite(w->data, w->numel);
}

/* ---- forward: (input, weight) -> (output) ---- */
static bool forward_key(const nnrt_call *c, onednn_key *k) { return finite_key(c, 0, false, k); }

static bool prelu_s(const nnrt_call *c) {
  onednn_key k;
  return forward_key(c, &k) && onednn_available(c->op_name, &k, build);
}

static nnrt_status prelu_k(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  onednn_key k;
  if (!forward_key(c, &k))
    return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  void *ptrs[] = {c->inputs[0]->data, c->inputs[1]->data, c->outputs[0]->data};
  return onednn_execute(c->op_name, &k, build, ptrs);
}

/* ---- backward: (grad_output, input, weight) -> (grad_input?, grad_weight?) ---- */
static bool prelu_backward_s(const nnrt_call *c) {
  if (!c->outputs[0] && !c->outputs[1]) return true; /* nothing to compute */
  onednn_key k;
  return c->outputs[0] && finite_key(c, 1, true, &k) && onednn_available(c->op_name, &k, build);
}

/* The repair of one piece, ptrs (x, w, g, gx, gw) of (outer, C, inner);
 * ctx points to whether grad_weight is wanted.  First gw: a NaN channel
 * is summed again as ref sums it, g x over !(x > 0) in double (the AVX2
 * and SSE4.1 kernels' (g x) (x <= 0) is NaN for x > 0 when g x is not
 * finite; a NaN that is right comes out NaN again).  Then NaN x: PyTorch
 * takes the w branch, gx = w g, and adds g x = NaN to gw; oneDNN gives
 * gx = 0 there (and on AVX-512 leaves the element out of gw). */
static void backward_repair(void *ctx, int64_t piece, const onednn_key *k, void *const *ptrs) {
  (void)piece;
  int64_t outer = k->d[0], C = k->d[1], inner = k->d[2];
  const float *x = ptrs[0], *w = ptrs[1], *g = ptrs[2];
  float *gx = ptrs[3], *gw = ptrs[4];
  if (*(const bool *)ctx)
    for (int64_t ch = 0; ch < C; ch++) {
      if (gw[ch] == gw[ch]) continue;
      double sum = 0;
      for (int64_t o = 0; o < outer; o++)
        for (int64_t i = (o * C + ch) * inner; i < (o * C + ch + 1) * inner; i++)
          if (!(x[i] > 0)) sum += (double)g[i] * x[i];
      gw[ch] = (float)sum;
    }
  if (!onednn_has_nan(x, outer * C * inner)) return;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t ch = 0; ch < C; ch++)
      for (int64_t i = (o * C + ch) * inner; i < (o * C + ch + 1) * inner; i++)
        if (x[i] != x[i]) {
          gx[i] = w[ch] * g[i];
          gw[ch] = NAN;
        }
}

/* Run in pieces (onednn_execute_cut) along the batch dim, or along the
 * elements with one weight, each piece's gw into a slot of its own; the
 * slots are summed here in piece order.  Not cut where the slots would
 * take more than 1/16 of the input (many channels, few elements each). */
static nnrt_status prelu_backward_k(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  if (!c->outputs[0] && !c->outputs[1]) return NNRT_OK;
  onednn_key k;
  if (!c->outputs[0] || !finite_key(c, 1, true, &k))
    return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  int64_t C = k.d[1], inner = k.d[2];
  int axis = C == 1 ? 2 : 0;
  onednn_cut cut;
  onednn_cut_plan(&k, axis, axis ? 1 : C * inner, &cut);
  if (cut.pieces * C * 16 > k.d[0] * C * inner) cut.pieces = 1;
  float *gw_tmp = aligned_alloc(64, ((size_t)(cut.pieces * C) * sizeof(float) + 63) / 64 * 64);
  if (!gw_tmp) return onednn_host->error(NNRT_ERR_OUT_OF_MEMORY, "%s: onednn: out of memory", c->op_name);
  cut.n = 5;
  int64_t unit = axis ? 1 : C * inner;
  const int64_t units[] = {unit, 0, unit, unit, 0};
  for (int i = 0; i < 5; i++) {
    cut.unit[i] = units[i];
    cut.step[i] = i == 4 ? C : 0;
  }
  void *ptrs[] = {c->inputs[1]->data, c->inputs[2]->data, c->inputs[0]->data, c->outputs[0]->data, gw_tmp};
  bool want_gw = c->outputs[1] != NULL;
  nnrt_status st = onednn_execute_cut(c->op_name, &k, build, ptrs, &cut, backward_repair, &want_gw);
  if (!st && c->outputs[1]) {
    float *gw = c->outputs[1]->data;
    for (int64_t ch = 0; ch < C; ch++) {
      double sum = 0;
      for (int64_t p = 0; p < cut.pieces; p++) sum += gw_tmp[p * C + ch];
      gw[ch] += (float)sum;
    }
  }
  free(gw_tmp);
  return st;
}

bool onednn_prelu_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports_fn) {
  if (!strcmp(op, "prelu")) {
    *kernel = prelu_k;
    *supports_fn = prelu_s;
    return true;
  }
  if (!strcmp(op, "prelu_backward")) {
    *kernel = prelu_backward_k;
    *supports_fn = prelu_backward_s;
    return true;
  }
  return false;
}
