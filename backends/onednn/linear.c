/* backends/onednn/linear.c - linear forward and backward on oneDNN matmul.
 *
 * M = rows of the input (every dim but the last), K = in_features,
 * N = out_features.  Row-major views, no copies:
 *   forward      y (M,N)  = x (M,K) . W^T (K,N: W read with strides 1,K) + b (1,N)
 *   grad_input   gx (M,K) = gy (M,N) . W (N,K)                  overwritten
 *   grad_weight  gW (N,K) += gy^T (N,M: strides 1,N) . x (M,K)   sum post-op
 *   grad_bias    gb (1,N) += ones (1,M) . gy (M,N)              sum post-op
 * Parameter gradients ACCUMULATE, as nnrt.h promises: the sum post-op
 * adds the product to what the tensor holds.  The ones vector is built
 * with the primitive and cached with it.  Sums accumulate in float, as
 * ref's sgemm does (ref sums the bias gradient in double).
 * Empty shapes (M, N or K of 0) are left to ref.
 */
#include <stdlib.h>
#include <string.h>

#include "onednn.h"

static dnnl_status_t md_plain(dnnl_memory_desc_t *md, int64_t r, int64_t c) {
  dnnl_dims_t dims = {r, c};
  return dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, dnnl_ab);
}

/* An (r, c) view of a row-major (c, r) matrix. */
static dnnl_status_t md_transposed(dnnl_memory_desc_t *md, int64_t r, int64_t c) {
  dnnl_dims_t dims = {r, c}, strides = {1, r};
  return dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_f32, strides);
}

static dnnl_status_t build(const onednn_key *k, onednn_prim *p) {
  int64_t M = k->d[0], K = k->d[1], N = k->d[2];
  dnnl_memory_desc_t src, wei, bias, dst;
  dnnl_status_t st = dnnl_success;
  bool has_bias = false, accumulate = false;
  switch (k->kind) {
  case ONEDNN_K_LINEAR_FWD:
    has_bias = k->alg != 0;
    st = md_plain(&src, M, K);
    if (!st) st = md_transposed(&wei, K, N);
    if (!st && has_bias) st = md_plain(&bias, 1, N);
    if (!st) st = md_plain(&dst, M, N);
    break;
  case ONEDNN_K_LINEAR_BWD_DATA:
    st = md_plain(&src, M, N);
    if (!st) st = md_plain(&wei, N, K);
    if (!st) st = md_plain(&dst, M, K);
    break;
  case ONEDNN_K_LINEAR_BWD_WEIGHTS:
    accumulate = true;
    st = md_transposed(&src, N, M);
    if (!st) st = md_plain(&wei, M, K);
    if (!st) st = md_plain(&dst, N, K);
    break;
  case ONEDNN_K_LINEAR_BWD_BIAS:
    accumulate = true;
    st = md_plain(&src, 1, M);
    if (!st) st = md_plain(&wei, M, N);
    if (!st) st = md_plain(&dst, 1, N);
    break;
  default:
    return dnnl_invalid_arguments;
  }
  if (st) return st;
  dnnl_matmul_desc_t d;
  st = dnnl_matmul_desc_init(&d, &src, &wei, has_bias ? &bias : NULL, &dst);
  if (st) return st;
  dnnl_primitive_attr_t attr = onednn_attr(accumulate);
  if (!attr) return dnnl_out_of_memory;
  dnnl_primitive_desc_t pd = NULL;
  st = dnnl_primitive_desc_create(&pd, &d, attr, onednn_engine(), NULL);
  dnnl_primitive_attr_destroy(attr);
  if (st) return st;
  if (k->kind == ONEDNN_K_LINEAR_BWD_BIAS) {
    size_t n = ((size_t)M * sizeof(float) + 63) / 64 * 64;
    float *ones = aligned_alloc(64, n);
    if (!ones) {
      dnnl_primitive_desc_destroy(pd);
      return dnnl_out_of_memory;
    }
    for (int64_t i = 0; i < M; i++) ones[i] = 1.0f;
    p->constant = ones;
  }
  onednn_prim_arg(p, DNNL_ARG_SRC, &src);
  onednn_prim_arg(p, DNNL_ARG_WEIGHTS, &wei);
  if (has_bias) onednn_prim_arg(p, DNNL_ARG_BIAS, &bias);
  onednn_prim_arg(p, DNNL_ARG_DST, &dst);
  return onednn_prim_from_pd(p, pd);
}

static onednn_key key(int kind, int alg, int64_t M, int64_t K, int64_t N) {
  /* M*K*N multiply-adds (M*N for the bias), in double: no overflow */
  double macs = (double)M * (double)N * (kind == ONEDNN_K_LINEAR_BWD_BIAS ? 1.0 : (double)K);
  return (onednn_key){.kind = kind, .alg = alg, .d = {M, K, N, 0}, .serial = macs < ONEDNN_SERIAL_MACS};
}

/* M, K, N of a call whose input (*, K) is inputs[x_at] and weight (N, K)
 * is inputs[w_at]. */
static void sizes(const nnrt_call *c, int x_at, int w_at, int64_t *M, int64_t *K, int64_t *N) {
  const nnrt_tensor *x = c->inputs[x_at], *w = c->inputs[w_at];
  *N = w->shape[0];
  *K = w->shape[1];
  *M = *K ? x->numel / *K : 0;
}

/* ---- forward: (input, weight, bias?) -> (output) ---- */
static bool linear_s(const nnrt_call *c) {
  if (!onednn_call_f32_nonempty(c)) return false;
  int64_t M, K, N;
  sizes(c, 0, 1, &M, &K, &N);
  onednn_key k = key(ONEDNN_K_LINEAR_FWD, c->inputs[2] != NULL, M, K, N);
  return onednn_available(c->op_name, &k, build);
}

static nnrt_status linear_k(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  int64_t M, K, N;
  sizes(c, 0, 1, &M, &K, &N);
  const nnrt_tensor *b = c->inputs[2];
  onednn_key k = key(ONEDNN_K_LINEAR_FWD, b != NULL, M, K, N);
  void *with_bias[] = {c->inputs[0]->data, c->inputs[1]->data, b ? b->data : NULL, c->outputs[0]->data};
  void *no_bias[] = {c->inputs[0]->data, c->inputs[1]->data, c->outputs[0]->data};
  return onednn_execute(c->op_name, &k, build, b ? with_bias : no_bias);
}

/* ---- backward: (grad_output, input, weight) -> (grad_input?, grad_weight?, grad_bias?) ---- */
static bool linear_backward_s(const nnrt_call *c) {
  if (!onednn_call_f32_nonempty(c)) return false;
  int64_t M, K, N;
  sizes(c, 1, 2, &M, &K, &N);
  onednn_key kd = key(ONEDNN_K_LINEAR_BWD_DATA, 0, M, K, N), kw = key(ONEDNN_K_LINEAR_BWD_WEIGHTS, 0, M, K, N),
             kb = key(ONEDNN_K_LINEAR_BWD_BIAS, 0, M, K, N);
  return (!c->outputs[0] || onednn_available(c->op_name, &kd, build)) &&
         (!c->outputs[1] || onednn_available(c->op_name, &kw, build)) &&
         (!c->outputs[2] || onednn_available(c->op_name, &kb, build));
}

static nnrt_status linear_backward_k(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  int64_t M, K, N;
  sizes(c, 1, 2, &M, &K, &N);
  void *gy = c->inputs[0]->data, *x = c->inputs[1]->data, *w = c->inputs[2]->data;
  nnrt_status st = NNRT_OK;
  if (c->outputs[0]) {
    onednn_key k = key(ONEDNN_K_LINEAR_BWD_DATA, 0, M, K, N);
    void *ptrs[] = {gy, w, c->outputs[0]->data};
    st = onednn_execute(c->op_name, &k, build, ptrs);
  }
  if (!st && c->outputs[1]) {
    onednn_key k = key(ONEDNN_K_LINEAR_BWD_WEIGHTS, 0, M, K, N);
    void *ptrs[] = {gy, x, c->outputs[1]->data};
    st = onednn_execute(c->op_name, &k, build, ptrs);
  }
  if (!st && c->outputs[2]) {
    onednn_key k = key(ONEDNN_K_LINEAR_BWD_BIAS, 0, M, K, N);
    void *ptrs[] = {NULL /* the cached ones */, gy, c->outputs[2]->data};
    st = onednn_execute(c->op_name, &k, build, ptrs);
  }
  return st;
}

bool onednn_linear_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports_fn) {
  if (!strcmp(op, "linear")) {
    *kernel = linear_k;
    *supports_fn = linear_s;
    return true;
  }
  if (!strcmp(op, "linear_backward")) {
    *kernel = linear_backward_k;
    *supports_fn = linear_backward_s;
    return true;
  }
  return false;
}
