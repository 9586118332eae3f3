/* backends/opencl/linear.c - linear forward and backward on the tiled GEMM
 * of kernels/linear.cl.  input (*, in) is taken as M = numel / in rows;
 * grad_weight and grad_bias accumulate, grad_input is overwritten.
 * Dimensions beyond 2^31 - 1 are declined by ocl_linear_supports. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kernels/linear.cl.h"
#include "ocl.h"

enum { K_NT, K_NN, K_TN, K_COLSUM_PART, K_COLSUM_ADD };
static const char *const names[] = {"gemm_nt", "gemm_nn", "gemm_tn", "colsum_part", "colsum_add"};

/* work-group side: 16 x 16 where the device allows it */
static size_t tile_side(const ocl_dev *d) { return d->max_wg >= 256 ? 16 : d->max_wg >= 64 ? 8 : 4; }

static void options(const ocl_dev *d, char *buf, size_t len) { snprintf(buf, len, "-DTS=%zu", tile_side(d)); }

static const ocl_family fam = {
    .id = OCL_FAM_LINEAR,
    .name = "linear",
    .source = ocl_src_linear,
    .kernel_names = names,
    .n_kernels = 5,
    .options = options,
};

nnrt_status ocl_gemm(ocl_dev *d, const nnrt_call *call, nnrt_dtype dt, bool ta, bool tb, size_t M, size_t N,
                     size_t K, ocl_mat A, ocl_mat B, bool accumulate, ocl_mat C, const ocl_mat *bias) {
  if (!M || !N) return NNRT_OK;
  size_t lim = INT_MAX - 256;
  if (M > lim || N > lim || K > lim || A.ld > lim || B.ld > lim || C.ld > lim)
    return ocl_host->error(NNRT_ERR_UNIMPLEMENTED, "opencl: %s: a %zu x %zu x %zu GEMM exceeds the kernel's int indexing",
                           call->op_name, M, N, K);
  int which = ta ? K_TN : tb ? K_NT : K_NN;
  if (ta && tb) return ocl_host->error(NNRT_ERR_UNIMPLEMENTED, "opencl: %s: no gemm for A^T B^T", call->op_name);
  cl_kernel k;
  nnrt_status s = ocl_kernel(d, &fam, dt, which, &k, NULL);
  if (s) return s;
  size_t ts = tile_side(d), bs = ts * 4;
  size_t local[2] = {ts, ts}, global[2] = {(N + bs - 1) / bs * ts, (M + bs - 1) / bs * ts};
  return OCL_RUN(d, k, call->op_name, names[which], 2, global, local, OCL_A_MEM(A.mem), OCL_A_U64(A.off),
                 OCL_A_INT(A.ld), OCL_A_MEM(B.mem), OCL_A_U64(B.off), OCL_A_INT(B.ld), OCL_A_MEM(C.mem),
                 OCL_A_U64(C.off), OCL_A_INT(C.ld), OCL_A_MEM(bias ? bias->mem : d->dummy),
                 OCL_A_U64(bias ? bias->off : 0), OCL_A_INT(bias != NULL), OCL_A_INT(accumulate), OCL_A_INT(M),
                 OCL_A_INT(N), OCL_A_INT(K));
}

nnrt_status ocl_colsum_acc(ocl_dev *d, const nnrt_call *call, nnrt_dtype dt, size_t M, size_t N, ocl_mat G, cl_mem gb,
                           size_t gboff) {
  if (!M || !N) return NNRT_OK;
  cl_kernel k;
  size_t ts = tile_side(d), cols = (N + ts - 1) / ts;
  size_t R = (M + ts * 16 - 1) / (ts * 16); /* at least 16 rows per work-item */
  size_t fill = 4 * (size_t)d->compute_units / cols + 1;
  if (R > fill) R = fill;
  if (R > 64) R = 64;
  cl_mem part;
  nnrt_status s = ocl_kernel(d, &fam, dt, K_COLSUM_PART, &k, NULL);
  if (!s) s = ocl_scratch(d, R * N * ocl_asize(d, dt), &part);
  if (!s) {
    size_t local[2] = {ts, ts}, global[2] = {cols * ts, R * ts};
    s = OCL_RUN(d, k, call->op_name, names[K_COLSUM_PART], 2, global, local, OCL_A_MEM(G.mem), OCL_A_U64(G.off),
                OCL_A_INT(G.ld), OCL_A_MEM(part), OCL_A_INT(M), OCL_A_INT(N));
  }
  size_t wg;
  if (!s && !(s = ocl_kernel(d, &fam, dt, K_COLSUM_ADD, &k, &wg))) {
    size_t l1 = wg < 64 ? wg : 64, g1 = ocl_round_up(N, l1);
    s = OCL_RUN(d, k, call->op_name, names[K_COLSUM_ADD], 1, &g1, &l1, OCL_A_MEM(part), OCL_A_MEM(gb), OCL_A_U64(gboff),
                OCL_A_INT(N), OCL_A_INT(R));
  }
  return s;
}

static size_t rows_of(const nnrt_tensor *x) {
  int64_t in = x->shape[x->ndim - 1];
  return in ? (size_t)(x->numel / in) : 0;
}

static nnrt_status k_linear(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[0], *w = call->inputs[1], *b = call->inputs[2];
  size_t N = (size_t)w->shape[0], K = (size_t)w->shape[1];
  /* x holds M*K elements; with K = 0 the rows come from the output */
  size_t M = K ? rows_of(x) : (N ? (size_t)call->outputs[0]->numel / N : 0);
  OCL_LOCK(d);
  ocl_mat bias = {ocl_mem(b), 0, 0};
  nnrt_status s = ocl_gemm(d, call, x->dtype, false, true, M, N, K, (ocl_mat){ocl_mem(x), 0, K},
                           (ocl_mat){ocl_mem(w), 0, K}, false, (ocl_mat){ocl_mem(call->outputs[0]), 0, N},
                           b ? &bias : NULL);
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_linear_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *gy = call->inputs[0], *x = call->inputs[1], *w = call->inputs[2];
  nnrt_tensor *gx = call->outputs[0], *gw = call->outputs[1], *gb = call->outputs[2];
  size_t N = (size_t)w->shape[0], K = (size_t)w->shape[1];
  size_t M = N ? (size_t)gy->numel / N : (K ? rows_of(x) : 0);
  nnrt_dtype dt = gy->dtype;
  OCL_LOCK(d);
  nnrt_status s = NNRT_OK;
  if (gx) /* with N = 0 the product is empty: the kernel writes zeros */
    s = ocl_gemm(d, call, dt, false, false, M, K, N, (ocl_mat){ocl_mem(gy), 0, N}, (ocl_mat){ocl_mem(w), 0, K}, false,
                 (ocl_mat){ocl_mem(gx), 0, K}, NULL);
  if (!s && gw && M)
    s = ocl_gemm(d, call, dt, true, false, N, K, M, (ocl_mat){ocl_mem(gy), 0, N}, (ocl_mat){ocl_mem(x), 0, K}, true,
                 (ocl_mat){ocl_mem(gw), 0, K}, NULL);
  if (!s && gb) s = ocl_colsum_acc(d, call, dt, M, N, (ocl_mat){ocl_mem(gy), 0, N}, ocl_mem(gb), 0);
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_linear_lookup(const char *op) {
  if (!strcmp(op, "linear")) return k_linear;
  if (!strcmp(op, "linear_backward")) return k_linear_backward;
  return NULL;
}

/* The GEMM indexes rows and columns with int (offsets with size_t): decline
 * shapes whose dimensions do not fit, and let them fall back. */
bool ocl_linear_supports(const nnrt_call *call) {
  bool fwd = !strcmp(call->op_name, "linear");
  const nnrt_tensor *x = call->inputs[fwd ? 0 : 1], *w = call->inputs[fwd ? 1 : 2];
  int64_t lim = INT_MAX - 256, K = w->shape[1];
  int64_t M = K ? x->numel / K : 0;
  return M <= lim && w->shape[0] <= lim && K <= lim;
}
