/* backends/onednn/batch_norm.c - batch_norm forward (training with batch
 * statistics, eval with the running ones) and backward (both modes) on
 * oneDNN's batch normalization, input (N, C, *) seen as (N, C, 1, S): plain
 * 4-d is the layout oneDNN 2.6 serves with an optimised kernel (ncsp_bnorm;
 * 3-d (N, C, L) gets only its reference implementation).
 *
 * oneDNN speaks mean and biased variance where nnrt speaks save_mean and
 * save_invstd = 1/sqrt(var + eps), and it overwrites diff_scale/shift where
 * nnrt's grad_weight/grad_bias ACCUMULATE; the per-channel glue (C values)
 * is done here in double:
 *   forward           oneDNN normalises with given statistics
 *                     (use_global_stats): in eval the running ones; in
 *                     training the batch mean and biased variance computed
 *                     here in double (see channel_stats: oneDNN's own
 *                     float statistics cost 1e-3 of accuracy at mean 1e4,
 *                     std 1), with the mean's float rounding moved into
 *                     the shift.  Then save_invstd, and the running stats
 *                     r = (1-m) r + m s with the unbiased var * M/(M-1)
 *   backward          variance = 1/save_invstd^2 with epsilon 0, so oneDNN's
 *                     1/sqrt(var + eps) is save_invstd whatever eps the
 *                     forward used; eval mode = use_global_stats (the
 *                     statistics are constants, as PyTorch's eval backward).
 *                     It uses save_mean as given, as PyTorch does; ref
 *                     re-derives the exact batch mean from the input, so at
 *                     mean 1e4, std 0.6 the two differ by ~5e-4 relative in
 *                     grad_weight and 1e-5 in grad_input (PyTorch's f32
 *                     against its f64: the same).
 * Left to ref: calls wanting grad_weight without a weight, or no
 * grad_input (oneDNN would need full-size temporaries), empty tensors,
 * and inputs oneDNN serves only with its reference implementation.
 * The backward's sums are in float (ref: double).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onednn.h"

#define BWD_FULL 0x10000 /* alg bit: dnnl_backward (diff scale/shift), else backward_data */

static dnnl_status_t build(const onednn_key *k, onednn_prim *p) {
  unsigned flags = (unsigned)k->alg & 0xffffu;
  bool bwd = k->kind == ONEDNN_K_BN_BWD, global = flags & dnnl_use_global_stats;
  bool scale = flags & dnnl_use_scale, shift = flags & dnnl_use_shift;
  dnnl_memory_desc_t data, ch;
  dnnl_dims_t dims = {k->d[0], k->d[1], 1, k->d[2]}, cdims = {k->d[1]};
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(&data, 4, dims, dnnl_f32, dnnl_abcd);
  if (!st) st = dnnl_memory_desc_init_by_tag(&ch, 1, cdims, dnnl_f32, dnnl_a);
  if (st) return st;
  dnnl_batch_normalization_desc_t fd, bd;
  dnnl_primitive_desc_t pd = NULL;
  st = dnnl_batch_normalization_forward_desc_init(&fd, bwd || !global ? dnnl_forward_training : dnnl_forward_inference,
                                                  &data, k->f[0], flags);
  if (!st && bwd)
    st = dnnl_batch_normalization_backward_desc_init(&bd, (k->alg & BWD_FULL) ? dnnl_backward : dnnl_backward_data,
                                                     &data, &data, k->f[0], flags);
  if (!st) st = onednn_pd_create(&fd, bwd ? &bd : NULL, &pd);
  if (st) return st;
  onednn_prim_arg(p, DNNL_ARG_SRC, &data);
  if (!bwd) {
    if (scale) onednn_prim_arg(p, DNNL_ARG_SCALE, &ch);
    if (shift) onednn_prim_arg(p, DNNL_ARG_SHIFT, &ch);
    onednn_prim_arg(p, DNNL_ARG_MEAN, &ch);
    onednn_prim_arg(p, DNNL_ARG_VARIANCE, &ch);
    onednn_prim_arg(p, DNNL_ARG_DST, &data);
  } else {
    onednn_prim_arg(p, DNNL_ARG_MEAN, &ch);
    onednn_prim_arg(p, DNNL_ARG_VARIANCE, &ch);
    onednn_prim_arg(p, DNNL_ARG_DIFF_DST, &data);
    if (scale) onednn_prim_arg(p, DNNL_ARG_SCALE, &ch);
    if (shift) onednn_prim_arg(p, DNNL_ARG_SHIFT, &ch); /* required, unused: zeros */
    onednn_prim_arg(p, DNNL_ARG_DIFF_SRC, &data);
    if ((k->alg & BWD_FULL) && scale) onednn_prim_arg(p, DNNL_ARG_DIFF_SCALE, &ch);
    if ((k->alg & BWD_FULL) && shift) onednn_prim_arg(p, DNNL_ARG_DIFF_SHIFT, &ch);
  }
  return onednn_prim_from_pd(p, pd);
}

static void nchs(const nnrt_tensor *x, int64_t d[3]) {
  d[0] = x->shape[0];
  d[1] = x->shape[1];
  d[2] = 1;
  for (int i = 2; i < x->ndim; i++) d[2] *= x->shape[i];
}

/* ---- forward: (input, weight?, bias?) -> (output, save_mean, save_invstd, running_mean?, running_var?) ---- */
/* Both modes run oneDNN's normalisation with given statistics
 * (use_global_stats) and always a shift, which carries the bias and, in
 * training, the correction for the float rounding of the mean. */
static bool fwd_key(const nnrt_call *c, onednn_key *k) {
  if (!onednn_call_f32_nonempty(c)) return false;
  const nnrt_batch_norm_params *p = c->params;
  const nnrt_tensor *x = c->inputs[0];
  if (!p->training && (!c->outputs[3] || !c->outputs[4])) return false; /* core rejects this */
  unsigned flags = dnnl_use_global_stats | dnnl_use_shift | (c->inputs[1] ? dnnl_use_scale : 0u);
  int64_t d[3];
  nchs(x, d);
  *k = (onednn_key){.kind = ONEDNN_K_BN_FWD,
                    .alg = (int32_t)flags,
                    .f = {(float)p->eps, 0},
                    .d = {d[0], d[1], d[2], 0},
                    .serial = x->numel < ONEDNN_SERIAL_ELEMENTS};
  return true;
}

/* Mean and biased variance of every channel in double, one pass over
 * x - K with K the channel's first value: no cancellation for inputs with
 * a large mean (oneDNN's own float statistics lose ~1e-3 at mean 1e4,
 * std 1, as PyTorch's f32 output does; ref and this stay at ~1e-7). */
static void channel_stats(const float *X, int64_t N, int64_t C, int64_t S, double *mean, double *var) {
  double M = (double)N * (double)S;
#pragma omp parallel for schedule(static) if (N * C * S >= ONEDNN_SERIAL_ELEMENTS)
  for (int64_t c = 0; c < C; c++) {
    double K = X[c * S], s1 = 0, s2 = 0;
    for (int64_t n = 0; n < N; n++) {
      const float *row = X + (n * C + c) * S;
      double r1 = 0, r2 = 0;
#pragma omp simd reduction(+ : r1, r2)
      for (int64_t i = 0; i < S; i++) {
        double e = (double)row[i] - K;
        r1 += e;
        r2 += e * e;
      }
      s1 += r1;
      s2 += r2;
    }
    double m = s1 / M, v = s2 / M - m * m;
    mean[c] = K + m;
    var[c] = v > 0 ? v : 0;
  }
}

static bool batch_norm_s(const nnrt_call *c) {
  onednn_key k;
  return fwd_key(c, &k) && onednn_available(c->op_name, &k, build);
}

static nnrt_status batch_norm_k(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  const nnrt_batch_norm_params *p = c->params;
  onednn_key k;
  if (!fwd_key(c, &k)) return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  int64_t N = k.d[0], C = k.d[1], S = k.d[2];
  double M = (double)N * (double)S;
  const float *w = c->inputs[1] ? c->inputs[1]->data : NULL, *b = c->inputs[2] ? c->inputs[2]->data : NULL;
  float *sm = c->outputs[1]->data, *si = c->outputs[2]->data;
  float *rm = c->outputs[3] ? c->outputs[3]->data : NULL, *rv = c->outputs[4] ? c->outputs[4]->data : NULL;
  /* per channel: oneDNN's variance and shift (float), our mean and var (double) */
  float *fvar = malloc((size_t)C * 2 * sizeof *fvar);
  double *mean = malloc((size_t)C * 2 * sizeof *mean);
  if (!fvar || !mean) {
    free(fvar);
    free(mean);
    return onednn_host->error(NNRT_ERR_OUT_OF_MEMORY, "%s: onednn: out of memory", c->op_name);
  }
  float *shift = fvar + C;
  double *var = mean + C;
  if (p->training) {
    channel_stats(c->inputs[0]->data, N, C, S, mean, var);
  } else {
    for (int64_t i = 0; i < C; i++) mean[i] = rm[i], var[i] = rv[i];
  }
  for (int64_t i = 0; i < C; i++) {
    double invstd = 1.0 / sqrt(var[i] + p->eps);
    sm[i] = (float)mean[i];
    si[i] = (float)invstd;
    fvar[i] = (float)var[i];
    /* oneDNN computes (x - sm) * w * invstd + shift: the shift takes back
     * what rounding the mean to float moved (exact in eval: sm = rm) */
    shift[i] = (float)((b ? (double)b[i] : 0.0) - (mean[i] - (double)sm[i]) * invstd * (w ? (double)w[i] : 1.0));
  }
  void *ptrs[6];
  int n = 0;
  ptrs[n++] = c->inputs[0]->data;
  if (w) ptrs[n++] = (void *)w;
  ptrs[n++] = shift;
  ptrs[n++] = sm;
  ptrs[n++] = fvar;
  ptrs[n++] = c->outputs[0]->data;
  nnrt_status st = onednn_execute(c->op_name, &k, build, ptrs);
  if (!st && p->training)
    for (int64_t i = 0; i < C; i++) {
      if (rm) rm[i] = (float)(p->momentum * mean[i] + (1 - p->momentum) * (double)rm[i]);
      if (rv) rv[i] = (float)(p->momentum * (var[i] * M / (M - 1)) + (1 - p->momentum) * (double)rv[i]);
    }
  free(fvar);
  free(mean);
  return st;
}

/* ---- backward: (grad_output, input, weight?, save_mean, save_invstd) -> (grad_input?, grad_weight?, grad_bias?) ---- */
static bool bwd_key(const nnrt_call *c, onednn_key *k) {
  if (!onednn_call_f32_nonempty(c)) return false;
  const nnrt_batch_norm_backward_params *p = c->params;
  const nnrt_tensor *x = c->inputs[1];
  bool w = c->inputs[2] != NULL, gw = c->outputs[1] != NULL, gb = c->outputs[2] != NULL;
  if (!c->outputs[0] || (gw && !w)) return false;
  unsigned flags = (w ? dnnl_use_scale : 0u) | (gb ? dnnl_use_shift : 0u) | (p->training ? 0u : dnnl_use_global_stats);
  int64_t d[3];
  nchs(x, d);
  *k = (onednn_key){.kind = ONEDNN_K_BN_BWD,
                    .alg = (int32_t)(flags | (gw || gb ? BWD_FULL : 0)),
                    .f = {0, 0}, /* epsilon 0: the variance passed is 1/save_invstd^2 */
                    .d = {d[0], d[1], d[2], 0},
                    .serial = x->numel < ONEDNN_SERIAL_ELEMENTS};
  return true;
}

static bool batch_norm_backward_s(const nnrt_call *c) {
  if (!c->outputs[0] && !c->outputs[1] && !c->outputs[2]) return true; /* nothing to compute */
  onednn_key k;
  return bwd_key(c, &k) && onednn_available(c->op_name, &k, build);
}

static nnrt_status batch_norm_backward_k(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  if (!c->outputs[0] && !c->outputs[1] && !c->outputs[2]) return NNRT_OK;
  onednn_key k;
  if (!bwd_key(c, &k)) return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  int64_t C = k.d[1];
  float *tmp = calloc((size_t)C * 4, sizeof *tmp);
  if (!tmp) return onednn_host->error(NNRT_ERR_OUT_OF_MEMORY, "%s: onednn: out of memory", c->op_name);
  float *var = tmp, *dscale = tmp + C, *dshift = tmp + 2 * C, *zeros = tmp + 3 * C;
  const float *si = c->inputs[4]->data;
  for (int64_t i = 0; i < C; i++) var[i] = (float)(1.0 / ((double)si[i] * si[i]));
  float *gw = c->outputs[1] ? c->outputs[1]->data : NULL, *gb = c->outputs[2] ? c->outputs[2]->data : NULL;
  void *ptrs[9];
  int n = 0;
  ptrs[n++] = c->inputs[1]->data;
  ptrs[n++] = c->inputs[3]->data;
  ptrs[n++] = var;
  ptrs[n++] = c->inputs[0]->data;
  if (c->inputs[2]) ptrs[n++] = c->inputs[2]->data;
  if (gb) ptrs[n++] = zeros;
  ptrs[n++] = c->outputs[0]->data;
  if ((k.alg & BWD_FULL) && c->inputs[2]) ptrs[n++] = dscale;
  if ((k.alg & BWD_FULL) && gb) ptrs[n++] = dshift;
  nnrt_status st = onednn_execute(c->op_name, &k, build, ptrs);
  if (!st)
    for (int64_t i = 0; i < C; i++) {
      if (gw) gw[i] += dscale[i];
      if (gb) gb[i] += dshift[i];
    }
  free(tmp);
  return st;
}

bool onednn_batch_norm_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports_fn) {
  if (!strcmp(op, "batch_norm")) {
    *kernel = batch_norm_k;
    *supports_fn = batch_norm_s;
    return true;
  }
  if (!strcmp(op, "batch_norm_backward")) {
    *kernel = batch_norm_backward_k;
    *supports_fn = batch_norm_backward_s;
    return true;
  }
  return false;
}
