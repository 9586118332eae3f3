/* backends/onednn/softmax.c - softmax forward and backward, log_softmax
 * backward, on oneDNN's softmax_v2 (accurate: the maximum is subtracted
 * first, as PyTorch does; log: backward of x - max - log(sum exp)).
 *
 * The tensor is seen as (outer, D, inner) with the softmax axis in the
 * middle, (outer, D) when inner is 1.  Backward takes the forward's output,
 * as PyTorch and ref do.  Sums accumulate in float (ref: double), so
 * results agree to float tolerance, not bit for bit.
 * softmin is left to ref: softmax(-x) needs a negation pass oneDNN 2.6
 * cannot fuse (no source scale), and its backward a negated result.
 * log_softmax forward is left to ref too: oneDNN's vectorised log is off
 * by up to 1.4e-6 near 1, so a row's largest log-probability comes out as
 * +1.4e-6 instead of <= 0 (one-element rows always do), and exp() of it
 * exceeds 1; PyTorch's (and ref's) never does.  Its backward,
 * g - exp(y) * sum(g), is accurate and runs here.
 * Along a dim with inner > 1 oneDNN 2.6 offers only its reference
 * implementation (15-100x slower than ref): declined.  So does it for
 * every backward below AVX-512 (its vectorised backward is AVX-512 only):
 * on AVX2 and older machines softmax and log_softmax backward run on ref.
 *
 * Non-finite values: oneDNN's max skips a NaN and its exp clamps its
 * argument, so a softmax row holding a NaN or +inf comes out as numbers
 * where PyTorch's is NaN throughout, and log_softmax's backward takes
 * exp(NaN) as +inf.  Both are repaired after the primitive: large calls
 * run in pieces of whole rows (onednn_execute_cut), and one vectorized
 * read of a piece's x (or y), still in L2, finds whether there is anything
 * to repair; only then are the rows (elements) PyTorch makes NaN set to
 * NaN.  README.md has what it costs.  softmax's backward needs nothing: it
 * multiplies and adds, and NaN and inf propagate as PyTorch's do.
 */
#include <math.h>
#include <string.h>

#include "onednn.h"

static dnnl_status_t build(const onednn_key *k, onednn_prim *p) {
  dnnl_memory_desc_t md;
  int nd = k->d[2] == 1 ? 2 : 3;
  dnnl_dims_t dims = {k->d[0], k->d[1], k->d[2]};
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(&md, nd, dims, dnnl_f32, nd == 2 ? dnnl_ab : dnnl_abc);
  if (st) return st;
  bool bwd = k->kind == ONEDNN_K_SOFTMAX_BWD;
  dnnl_softmax_v2_desc_t fd, bd;
  dnnl_primitive_desc_t pd = NULL;
  st = dnnl_softmax_v2_forward_desc_init(&fd, bwd ? dnnl_forward_training : dnnl_forward_inference,
                                         (dnnl_alg_kind_t)k->alg, &md, &md, 1);
  if (!st && bwd) st = dnnl_softmax_v2_backward_desc_init(&bd, (dnnl_alg_kind_t)k->alg, &md, &md, &md, 1);
  if (!st) st = onednn_pd_create(&fd, bwd ? &bd : NULL, &pd);
  if (st) return st;
  if (bwd) {
    onednn_prim_arg(p, DNNL_ARG_DST, &md);
    onednn_prim_arg(p, DNNL_ARG_DIFF_DST, &md);
    onednn_prim_arg(p, DNNL_ARG_DIFF_SRC, &md);
  } else {
    onednn_prim_arg(p, DNNL_ARG_SRC, &md);
    onednn_prim_arg(p, DNNL_ARG_DST, &md);
  }
  return onednn_prim_from_pd(p, pd);
}

/* Splits t at the (possibly negative) dim into outer x D x inner. */
static void split(const nnrt_tensor *t, int64_t dim, int64_t d[3]) {
  int ndim = t->ndim;
  int ax = (int)(dim < 0 ? dim + (ndim ? ndim : 1) : dim);
  d[0] = d[2] = 1;
  d[1] = ndim ? t->shape[ax] : 1;
  for (int i = 0; i < ax; i++) d[0] *= t->shape[i];
  for (int i = ax + 1; i < ndim; i++) d[2] *= t->shape[i];
}

static bool make_key(const nnrt_call *c, bool log, bool bwd, onednn_key *k) {
  if (!onednn_call_f32_nonempty(c)) return false;
  int64_t d[3];
  /* the dim param leads the params struct of every softmax-family op */
  split(c->inputs[bwd ? 1 : 0], ((const nnrt_softmax_params *)c->params)->dim, d);
  if (d[2] != 1) return false; /* only oneDNN's reference implementation; the repairs assume rows */
  *k = (onednn_key){.kind = bwd ? ONEDNN_K_SOFTMAX_BWD : ONEDNN_K_SOFTMAX_FWD,
                    .alg = (int32_t)(log ? dnnl_softmax_log : dnnl_softmax_accurate),
                    .d = {d[0], d[1], d[2], 0},
                    .serial = d[0] * d[1] * d[2] < ONEDNN_SERIAL_ELEMENTS};
  return true;
}

static bool supports(const nnrt_call *c, bool log, bool bwd) {
  onednn_key k;
  return make_key(c, log, bwd, &k) && onednn_available(c->op_name, &k, build);
}

/* ---- non-finite repairs (see the file comment) ----
 * Each sees one piece of rows (onednn_execute_cut), on one thread. */

/* softmax forward, ptrs (x, y): PyTorch's row is NaN throughout where x
 * holds a NaN or +inf (its max is NaN or +inf, and x - max is NaN
 * somewhere) or is all -inf (-inf - -inf); oneDNN gives numbers for the
 * first two. */
static void softmax_repair(void *ctx, int64_t piece, const onednn_key *k, void *const *ptrs) {
  (void)ctx, (void)piece;
  int64_t rows = k->d[0], D = k->d[1];
  const float *x = ptrs[0];
  float *y = ptrs[1];
  if (!onednn_has_nonfinite(x, rows * D)) return;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * D;
    float mx = -INFINITY;
    unsigned nan = 0;
#pragma omp simd reduction(max : mx) reduction(| : nan)
    for (int64_t d = 0; d < D; d++) {
      nan |= xr[d] != xr[d];
      mx = xr[d] > mx ? xr[d] : mx;
    }
    if (nan || isinf(mx))
      for (int64_t d = 0; d < D; d++) y[r * D + d] = NAN;
  }
}

/* log_softmax backward, ptrs (y, g, gx): g - exp(y) sum(g) is NaN wherever
 * y is NaN, in PyTorch; oneDNN's exp(NaN) is +inf.  Every other y (+-inf,
 * large) it gets right, its exp(-inf) being exactly 0. */
static void log_softmax_backward_repair(void *ctx, int64_t piece, const onednn_key *k, void *const *ptrs) {
  (void)ctx, (void)piece;
  int64_t n = k->d[0] * k->d[1];
  const float *y = ptrs[0];
  float *gx = ptrs[2];
  if (!onednn_has_nan(y, n)) return;
  for (int64_t i = 0; i < n; i++)
    if (y[i] != y[i]) gx[i] = NAN;
}

/* Runs k, whose n arguments are all (rows, D), in pieces of whole rows,
 * each repaired while in cache: rows are independent, so the pieces give
 * the same bits as one primitive. */
static nnrt_status execute_repaired(const nnrt_call *c, const onednn_key *k, void *const *ptrs, int n,
                                    onednn_piece_fn repair) {
  onednn_cut cut;
  onednn_cut_plan(k, 0, k->d[1], &cut);
  cut.n = n;
  for (int i = 0; i < n; i++) cut.unit[i] = k->d[1];
  return onednn_execute_cut(c->op_name, k, build, ptrs, &cut, repair, NULL);
}

static nnrt_status run(const nnrt_call *c, bool log, bool bwd) {
  onednn_key k;
  if (!make_key(c, log, bwd, &k))
    return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  if (bwd) { /* (grad_output, output) -> (grad_input) */
    void *ptrs[] = {c->inputs[1]->data, c->inputs[0]->data, c->outputs[0]->data};
    if (!log) return onednn_execute(c->op_name, &k, build, ptrs);
    return execute_repaired(c, &k, ptrs, 3, log_softmax_backward_repair);
  }
  void *ptrs[] = {c->inputs[0]->data, c->outputs[0]->data};
  return execute_repaired(c, &k, ptrs, 2, softmax_repair);
}

static nnrt_status softmax_k(nnrt_device *d, const nnrt_call *c) { (void)d; return run(c, false, false); }
static nnrt_status softmax_backward_k(nnrt_device *d, const nnrt_call *c) { (void)d; return run(c, false, true); }
static nnrt_status log_softmax_backward_k(nnrt_device *d, const nnrt_call *c) { (void)d; return run(c, true, true); }
static bool softmax_s(const nnrt_call *c) { return supports(c, false, false); }
static bool softmax_backward_s(const nnrt_call *c) { return supports(c, false, true); }
static bool log_softmax_backward_s(const nnrt_call *c) { return supports(c, true, true); }

bool onednn_softmax_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports_fn) {
  static const struct {
    const char *name;
    nnrt_kernel_fn kernel;
    onednn_supports_fn supports;
  } table[] = {
      {"softmax", softmax_k, softmax_s},
      {"softmax_backward", softmax_backward_k, softmax_backward_s},
      {"log_softmax_backward", log_softmax_backward_k, log_softmax_backward_s},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(table[i].name, op)) {
      *kernel = table[i].kernel;
      *supports_fn = table[i].supports;
      return true;
    }
  return false;
}
