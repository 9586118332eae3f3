/* backends/onednn/upsample.c - upsample_nearest2d and upsample_bilinear2d,
 * forward and backward, on oneDNN's resampling primitive (plain NCHW,
 * float32), exactly where oneDNN's index and weight rule gives PyTorch
 * 1.13's (ref's, backends/ref/upsample.c); every other call is declined
 * and runs on ref in place.
 *
 * oneDNN 2.6 maps output index o of a dim of sizes in -> out to the source
 * coordinate s = (o + 0.5f) * in / out - 0.5f (float), from the two sizes
 * alone: the factors argument only sizes a missing destination, so
 * PyTorch's scale_factor never reaches it.  nearest takes roundf(s);
 * linear takes taps trunc(s) clamped to 0 and ceil(s) clamped to in - 1,
 * weight s - tap0.  PyTorch's rules and when they agree, per dim:
 *   nearest   PyTorch: floor(float(o * scale)), scale = 1/scale_factor or
 *             in/out.  Equal where out = f in for an integer f >= 1 (f = 1
 *             included) and PyTorch's table is o / f: oneDNN's s is then
 *             o/f + (r + 0.5)/f - 0.5 with r = o mod f, at least 0.5/f
 *             from a rounding boundary, and its float arithmetic is exact
 *             while in * out < 2^23 (its backward's ranges [x f, x f + f)
 *             come from the same exact arithmetic).  Downscaling
 *             (roundf(2o + 0.5) = 2o + 1 against PyTorch's 2o) and
 *             non-integer factors (2 -> 3: 0, 1, 1 against 0, 0, 1) differ.
 *             Copies and sums of the same elements: NaN and infinities
 *             come out as PyTorch's.
 *   bilinear  align_corners=false: PyTorch src = max((o + 0.5) scale - 0.5,
 *             0), taps i0 = trunc(src) and i0 + (i0 < in - 1), weight
 *             src - i0.  Equal coordinates, bit for bit, where PyTorch's
 *             scale (1/scale_factor in double, then float) is exactly
 *             in/out and (2 out + 1) in < 2^24: in/out is then a dyadic
 *             fraction and every coordinate is exact in both; so are the
 *             weights.  Elsewhere (x3, 3 -> 7, or a scale_factor other
 *             than out/in such as 4 * 2.1 -> 8) the coordinates differ
 *             in the last bits (~1e-5 of the neighbours' difference at
 *             128 -> 384) or by far: declined.  align_corners=true has no
 *             oneDNN 2.6 algorithm (linear_no_shift came in 3.x): ref.
 *             Finite data: only the rounding of the products and sums
 *             differs.  NaN and infinities, where PyTorch multiplies a
 *             value by a zero weight and oneDNN does not read it:
 *             - an exact integer s (downscaling by an odd integer, 9 -> 3):
 *               PyTorch reads x[s + 1] with weight 0, oneDNN x[s] twice
 *               (and inf * 0 = NaN): declined;
 *             - s < 0 (the first outputs when upscaling): PyTorch clamps
 *               to 0 and reads x[0] with weight 1 and x[min(1, in - 1)]
 *               with weight 0; oneDNN reads x[0] alone, with weights that
 *               add to 1.  A NaN or an infinity at x[1] (x[0] when in = 1:
 *               inf * 1 + inf * 0) is NaN in PyTorch's output and not in
 *               oneDNN's; likewise in grad_input for a non-finite
 *               grad_output at those outputs.  Such calls are declined
 *               after a scan of the input's row and column 1 (forward) or
 *               of grad_output's leading rows and columns (backward): a
 *               column touches 1/8 to 1/16 of a plane's cache lines, less
 *               than 3% of the memory traffic of a 2x call.
 *             Identity dims (in == out) agree, NaN included: both take
 *             x[o] twice with weights 1 and 0.
 * The backward would sum in float in oneDNN's order (ref: double), within
 * float rounding of ref, but oneDNN 2.6 offers it only as simple:any, a
 * generic loop 4-27x slower than ref: declined (see build), so today the
 * backward always runs on ref.  The forward runs jit:<isa>, slower than
 * ref at most sizes (README.md, "Upsampling"), kept by the plugin's rule
 * that an op exact on oneDNN goes to oneDNN.
 * The key: dims {N, C, IH << 32 | IW, OH << 32 | OW}; sizes fit 31 bits
 * by the conditions above.
 */
#include <math.h>
#include <string.h>

#include "onednn.h"

/* Whether upsample_nearest2d's index rule along a dim of sizes in -> out,
 * PyTorch's with scale_factor sf (0: from the sizes), equals oneDNN's. */
static bool nearest_dim_ok(int64_t in, int64_t out, double sf) {
  if (out % in || (double)in * (double)out >= 8388608.0) return false; /* 2^23 */
  int64_t f = out / in;
  /* PyTorch's (and ref's) table, in float as they compute it */
  float scale = sf > 0 ? (float)(1.0 / sf) : (float)in / (float)out;
  for (int64_t o = 0; o < out; o++) {
    int64_t s = (int64_t)floorf((float)(scale * (float)o));
    if ((s < in - 1 ? s : in - 1) != o / f) return false;
  }
  return true;
}

/* The same for upsample_bilinear2d with align_corners=false. */
static bool linear_dim_ok(int64_t in, int64_t out, double sf) {
  double r = sf > 0 ? 1.0 / sf : (double)in / (double)out;
  float rf = (float)r;
  /* rf * out is exact in double (24 + 31 bits): equality means PyTorch's
   * scale, double and float, is exactly in/out */
  if ((double)rf != r || (double)rf * (double)out != (double)in) return false;
  if ((2.0 * (double)out + 1.0) * (double)in >= 16777216.0) return false; /* 2^24 */
  /* in/out a whole odd number > 1: every s is an exact integer */
  if (in > out && in % out == 0 && (in / out) % 2 == 1) return false;
  return true;
}

/* Both ops' params (and their backward's) start with size[2],
 * scale_factor[2]; bilinear's then has align_corners. */
static const double *scales_of(const nnrt_call *c) {
  return ((const nnrt_upsample_nearest2d_params *)c->params)->scale_factor;
}

static bool is_linear(const nnrt_call *c) { return strstr(c->op_name, "bilinear") != NULL; }
static bool is_backward(const nnrt_call *c) { return strstr(c->op_name, "_backward") != NULL; }

/* x: the low-resolution tensor (input / the forward's input for the
 * backward), y: the high-resolution one (output / grad_output). */
static void tensors_of(const nnrt_call *c, const nnrt_tensor **x, const nnrt_tensor **y) {
  bool bwd = is_backward(c);
  *x = bwd ? c->inputs[1] : c->inputs[0];
  *y = bwd ? c->inputs[0] : c->outputs[0];
}

/* The key of a call, if oneDNN's rule equals PyTorch's for it (the
 * non-finite check of bilinear aside: see finite_ok). */
static bool make_key(const nnrt_call *c, onednn_key *k) {
  if (!onednn_call_f32_nonempty(c)) return false;
  bool linear = is_linear(c), bwd = is_backward(c);
  if (linear && ((const nnrt_upsample_bilinear2d_params *)c->params)->align_corners) return false;
  const nnrt_tensor *x, *y;
  tensors_of(c, &x, &y);
  const double *sf = scales_of(c);
  for (int i = 0; i < 2; i++) {
    int64_t in = x->shape[2 + i], out = y->shape[2 + i];
    if (!(linear ? linear_dim_ok(in, out, sf[i]) : nearest_dim_ok(in, out, sf[i]))) return false;
  }
  *k = (onednn_key){.kind = bwd ? ONEDNN_K_RESAMPLING_BWD : ONEDNN_K_RESAMPLING_FWD,
                    .alg = (int32_t)(linear ? dnnl_resampling_linear : dnnl_resampling_nearest),
                    .d = {x->shape[0], x->shape[1], x->shape[2] << 32 | x->shape[3], y->shape[2] << 32 | y->shape[3]},
                    .serial = y->numel < ONEDNN_SERIAL_ELEMENTS};
  return true;
}

/* Whether any of n floats at p, stride apart, is a NaN or an infinity. */
static bool strided_nonfinite(const float *p, int64_t n, int64_t stride) {
  unsigned found = 0;
  for (int64_t i = 0; i < n; i++) found |= !(fabsf(p[i * stride]) <= 3.40282347e38f);
  return found != 0;
}

/* Outputs of a dim in -> out whose coordinate s is negative when
 * upscaling: (2o + 1) in < out.  PyTorch clamps them to 0 and reads source
 * index min(1, in - 1) with weight 0; oneDNN reads index 0 alone. */
static int64_t leading(int64_t in, int64_t out) {
  if (in >= out) return 0;
  return (out + in - 1) / (2 * in); /* ceil((out - in) / (2 in)) */
}

/* Bilinear: no NaN or infinity where PyTorch multiplies it by a zero
 * weight and oneDNN does not.  Forward: source row and column min(1,
 * size - 1) of each input plane, for a dim with leading outputs; backward:
 * the leading rows and columns of each grad_output plane. */
static bool finite_ok(const nnrt_call *c) {
  if (!is_linear(c)) return true;
  bool bwd = is_backward(c);
  const nnrt_tensor *x, *y;
  tensors_of(c, &x, &y);
  int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  int64_t lh = leading(H, OH), lw = leading(W, OW);
  if (!lh && !lw) return true;
  const float *t = bwd ? c->inputs[0]->data : x->data;
  int64_t R = bwd ? OH : H, C = bwd ? OW : W;
  /* rows [r0, r0 + rn) and columns [c0, c0 + cn) of each plane */
  int64_t r0 = bwd ? 0 : (H > 1), rn = bwd ? lh : lh > 0, c0 = bwd ? 0 : (W > 1), cn = bwd ? lw : lw > 0;
  unsigned found = 0;
#pragma omp parallel for schedule(static) reduction(| : found) if (planes * (rn * C + cn * R) >= ONEDNN_SERIAL_ELEMENTS)
  for (int64_t p = 0; p < planes; p++) {
    const float *plane = t + p * R * C;
    for (int64_t r = r0; r < r0 + rn; r++) found |= strided_nonfinite(plane + r * C, C, 1);
    for (int64_t j = c0; j < c0 + cn; j++) found |= strided_nonfinite(plane + j, R, C);
  }
  return !found;
}

/* ---- the primitive ---- */
static dnnl_status_t build(const onednn_key *k, onednn_prim *p) {
  dnnl_memory_desc_t src, dst;
  dnnl_dims_t sd = {k->d[0], k->d[1], k->d[2] >> 32, k->d[2] & 0xffffffff};
  dnnl_dims_t dd = {k->d[0], k->d[1], k->d[3] >> 32, k->d[3] & 0xffffffff};
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_abcd);
  if (!st) st = dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_abcd);
  if (st) return st;
  bool bwd = k->kind == ONEDNN_K_RESAMPLING_BWD;
  dnnl_resampling_desc_t fd, bd;
  dnnl_primitive_desc_t pd = NULL;
  /* no factors: oneDNN would use them only to size a missing destination */
  st = dnnl_resampling_forward_desc_init(&fd, bwd ? dnnl_forward_training : dnnl_forward_inference,
                                         (dnnl_alg_kind_t)k->alg, NULL, &src, &dst);
  if (!st && bwd) st = dnnl_resampling_backward_desc_init(&bd, (dnnl_alg_kind_t)k->alg, NULL, &src, &dst);
  if (!st) st = onednn_pd_create(&fd, bwd ? &bd : NULL, &pd);
  if (st) return st;
  /* oneDNN 2.6's resampling backward is simple:any on every ISA, a
   * generic loop 4-27x slower than ref: declined like oneDNN's reference
   * implementations (cache.c), so ref runs it in place */
  const char *impl = NULL;
  if (bwd && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
      strstr(impl, "simple")) {
    dnnl_primitive_desc_destroy(pd);
    return dnnl_unimplemented;
  }
  if (!bwd) {
    onednn_prim_arg(p, DNNL_ARG_SRC, &src);
    onednn_prim_arg(p, DNNL_ARG_DST, &dst);
  } else {
    onednn_prim_arg(p, DNNL_ARG_DIFF_DST, &dst);
    onednn_prim_arg(p, DNNL_ARG_DIFF_SRC, &src);
  }
  return onednn_prim_from_pd(p, pd);
}

static bool upsample_s(const nnrt_call *c) {
  onednn_key k;
  return make_key(c, &k) && onednn_available(c->op_name, &k, build) && finite_ok(c);
}

/* forward: (input) -> (output); backward: (grad_output, input) ->
 * (grad_input).  The non-finite check is supports()'s, which the host asks
 * before every call. */
static nnrt_status upsample_k(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  onednn_key k;
  if (!make_key(c, &k)) return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  void *ptrs[] = {c->inputs[0]->data, c->outputs[0]->data};
  return onednn_execute(c->op_name, &k, build, ptrs);
}

bool onednn_upsample_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports_fn) {
  static const char *const names[] = {"upsample_nearest2d", "upsample_nearest2d_backward", "upsample_bilinear2d",
                                      "upsample_bilinear2d_backward"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(names[i], op)) {
      *kernel = upsample_k;
      *supports_fn = upsample_s;
      return true;
    }
  return false;
}
