/* backends/onednn/eltwise.c - elementwise activations on oneDNN's eltwise
 * primitive, forward and backward (from src: backward takes the input x).
 *
 * Only ops and directions whose results equal PyTorch's (and ref's) are
 * named here; each mapping was checked against nnrt/scalar.h on a dense
 * grid of x in [-100, 100], at every kink, and at tiny and huge |x|, and
 * against the PyTorch golden fixtures with NaN and +-inf inputs and
 * gradients.  What is left out and why (see README.md):
 *   relu, leaky_relu, threshold, relu6, hardtanh, elu, celu
 *                       memory-bound: ref's vectorized loop is as fast or
 *                       faster (README.md has the timings), and exact
 *                       with NaN, where oneDNN's relu and clip_v2 give 0
 *                       or a bound for x = NaN, their backward multiplies
 *                       g by 0 (NaN for an infinite g) where PyTorch
 *                       selects 0, and leaky_relu' and elu' at x = NaN
 *                       give g where PyTorch gives slope * g and NaN
 *   hardswish backward  oneDNN gives 0 at x=-3 and g at x=3; PyTorch -g/2, 3g/2
 *   mish backward       oneDNN overflows to inf for x >~ 1e14 (PyTorch: g)
 *   softplus, logsigmoid forward  soft_relu is off by ~2e-6 in the far
 *                       tail with the wrong sign (softplus < 0)
 *   softplus beta != 1  soft_relu has no beta in 2.6; threshold < 15 differs
 *   the rest            no oneDNN algorithm (softshrink, softsign, ...)
 * Non-finite params are declined.  A whole tensor is one 1-d primitive:
 * the ops are elementwise and tensors are contiguous.
 */
#include <math.h>
#include <string.h>

#include "onednn.h"

/* How an op maps: algorithm and its alpha, beta; false if it does not. */
typedef struct elt_map {
  dnnl_alg_kind_t alg;
  float alpha, beta;
} elt_map;
typedef bool (*elt_mapper)(const nnrt_call *c, bool bwd, elt_map *m);

/* A param from the forward or the backward params struct of op. */
#define PARAM(c, bwd, op, field)                                                  \
  ((bwd) ? ((const nnrt_##op##_backward_params *)(c)->params)->field              \
         : ((const nnrt_##op##_params *)(c)->params)->field)

static bool set(elt_map *m, dnnl_alg_kind_t alg, double alpha, double beta) {
  /* oneDNN takes float params, as ref's f32 kernels use them */
  if (!isfinite(alpha) || !isfinite(beta) || fabs(alpha) > 3.4e38 || fabs(beta) > 3.4e38) return false;
  *m = (elt_map){alg, (float)alpha, (float)beta};
  return true;
}

static bool map_sigmoid(const nnrt_call *c, bool bwd, elt_map *m) {
  (void)c, (void)bwd;
  return set(m, dnnl_eltwise_logistic, 0, 0);
}
static bool map_tanh(const nnrt_call *c, bool bwd, elt_map *m) {
  (void)c, (void)bwd;
  return set(m, dnnl_eltwise_tanh, 0, 0);
}
static bool map_gelu(const nnrt_call *c, bool bwd, elt_map *m) {
  int approx = PARAM(c, bwd, gelu, approximate);
  return set(m, approx ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf, 0, 0);
}
static bool map_silu(const nnrt_call *c, bool bwd, elt_map *m) {
  (void)c, (void)bwd;
  return set(m, dnnl_eltwise_swish, 1, 0); /* x * sigmoid(1 * x) */
}
static bool map_hardswish(const nnrt_call *c, bool bwd, elt_map *m) {
  (void)c;
  return !bwd && set(m, dnnl_eltwise_hardswish, 0, 0);
}
static bool map_mish(const nnrt_call *c, bool bwd, elt_map *m) {
  (void)c;
  return !bwd && set(m, dnnl_eltwise_mish, 0, 0);
}
static bool map_softplus(const nnrt_call *c, bool bwd, elt_map *m) {
  /* backward g * sigmoid(x) equals PyTorch's thresholded g where
   * 1 - sigmoid(threshold) < 3e-7, i.e. threshold >= 15 */
  if (!bwd || PARAM(c, bwd, softplus, beta) != 1 || !(PARAM(c, bwd, softplus, threshold) >= 15)) return false;
  return set(m, dnnl_eltwise_soft_relu, 0, 0);
}
static bool map_logsigmoid(const nnrt_call *c, bool bwd, elt_map *m) {
  (void)c;
  return bwd && set(m, dnnl_eltwise_logsigmoid, 0, 0); /* g * sigmoid(-x) */
}

/* ---- the primitive ---- */
static dnnl_status_t build(const onednn_key *k, onednn_prim *p) {
  dnnl_memory_desc_t md;
  dnnl_dims_t dims = {k->d[0]};
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
  if (st) return st;
  bool bwd = k->kind == ONEDNN_K_ELTWISE_BWD;
  dnnl_eltwise_desc_t fd, bd;
  dnnl_primitive_desc_t pd = NULL;
  st = dnnl_eltwise_forward_desc_init(&fd, bwd ? dnnl_forward_training : dnnl_forward_inference,
                                      (dnnl_alg_kind_t)k->alg, &md, k->f[0], k->f[1]);
  if (!st && bwd) st = dnnl_eltwise_backward_desc_init(&bd, (dnnl_alg_kind_t)k->alg, &md, &md, k->f[0], k->f[1]);
  if (!st) st = onednn_pd_create(&fd, bwd ? &bd : NULL, &pd);
  if (st) return st;
  if (k->kind == ONEDNN_K_ELTWISE_FWD) {
    onednn_prim_arg(p, DNNL_ARG_SRC, &md);
    onednn_prim_arg(p, DNNL_ARG_DST, &md);
  } else {
    onednn_prim_arg(p, DNNL_ARG_SRC, &md);
    onednn_prim_arg(p, DNNL_ARG_DIFF_DST, &md);
    onednn_prim_arg(p, DNNL_ARG_DIFF_SRC, &md);
  }
  return onednn_prim_from_pd(p, pd);
}

static bool make_key(const nnrt_call *c, elt_mapper map, bool bwd, onednn_key *k) {
  elt_map m;
  if (!onednn_call_f32_nonempty(c) || !map(c, bwd, &m)) return false;
  *k = (onednn_key){.kind = bwd ? ONEDNN_K_ELTWISE_BWD : ONEDNN_K_ELTWISE_FWD,
                    .alg = (int32_t)m.alg,
                    .f = {m.alpha, m.beta},
                    .d = {c->inputs[0]->numel, 0, 0, 0},
                    .serial = c->inputs[0]->numel < ONEDNN_SERIAL_ELEMENTS};
  return true;
}

static bool supports(const nnrt_call *c, elt_mapper map, bool bwd) {
  onednn_key k;
  return make_key(c, map, bwd, &k) && onednn_available(c->op_name, &k, build);
}

/* forward: (input) -> (output), output may be the input (inplace) */
static nnrt_status forward(const nnrt_call *c, elt_mapper map) {
  onednn_key k;
  if (!make_key(c, map, false, &k))
    return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  void *ptrs[] = {c->inputs[0]->data, c->outputs[0]->data};
  return onednn_execute(c->op_name, &k, build, ptrs);
}

/* backward: (grad_output, input) -> (grad_input) */
static nnrt_status backward(const nnrt_call *c, elt_mapper map) {
  onednn_key k;
  if (!make_key(c, map, true, &k))
    return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  void *ptrs[] = {c->inputs[1]->data, c->inputs[0]->data, c->outputs[0]->data};
  return onednn_execute(c->op_name, &k, build, ptrs);
}

/* Kernels and checks per op and direction. */
#define FWD(name)                                                                  \
  static nnrt_status name##_k(nnrt_device *d, const nnrt_call *c) { (void)d; return forward(c, map_##name); } \
  static bool name##_s(const nnrt_call *c) { return supports(c, map_##name, false); }
#define BWD(name)                                                                  \
  static nnrt_status name##_backward_k(nnrt_device *d, const nnrt_call *c) { (void)d; return backward(c, map_##name); } \
  static bool name##_backward_s(const nnrt_call *c) { return supports(c, map_##name, true); }
#define BOTH(name) FWD(name) BWD(name)

BOTH(sigmoid)
BOTH(tanh)
BOTH(gelu)
BOTH(silu)
FWD(hardswish)
FWD(mish)
BWD(softplus)
BWD(logsigmoid)

static const struct {
  const char *name;
  nnrt_kernel_fn kernel;
  onednn_supports_fn supports;
} table[] = {
#define E(name) {#name, name##_k, name##_s},
#define EB(name) {#name "_backward", name##_backward_k, name##_backward_s},
    E(sigmoid) EB(sigmoid) E(tanh) EB(tanh) E(gelu) EB(gelu) E(silu) EB(silu) E(hardswish) E(mish)
    EB(softplus) EB(logsigmoid)
#undef E
#undef EB
};

bool onednn_eltwise_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports_fn) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(table[i].name, op)) {
      *kernel = table[i].kernel;
      *supports_fn = table[i].supports;
      return true;
    }
  return false;
}
