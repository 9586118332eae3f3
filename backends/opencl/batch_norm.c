/* backends/opencl/batch_norm.c - batch_norm forward and backward
 * (kernels/batch_norm.cl), input (N, C, *).  Scratch holds the per-part
 * partials (3 values per part and channel) and, backward, 4 coefficients
 * per channel. */
#include <string.h>

#include "kernels/batch_norm.cl.h"
#include "ocl.h"

enum { K_STATS_PART, K_STATS_FINISH, K_NORMALIZE, K_GRAD_PART, K_GRAD_FINISH, K_GRAD_INPUT };
static const char *const names[] = {"bn_stats_part", "bn_stats_finish", "bn_normalize",
                                    "bn_grad_part",  "bn_grad_finish",  "bn_grad_input"};
static const ocl_family fam = {
    .id = OCL_FAM_BATCH_NORM,
    .name = "batch_norm",
    .source = ocl_src_batch_norm,
    .kernel_names = names,
    .n_kernels = 6,
};

typedef struct {
  size_t N, C, S, M, n;
} bn_dims;

static bn_dims dims_of(const nnrt_tensor *x) {
  bn_dims b = {(size_t)x->shape[0], (size_t)x->shape[1], 1, 0, (size_t)x->numel};
  for (int i = 2; i < x->ndim; i++) b.S *= (size_t)x->shape[i];
  b.M = b.N * b.S;
  return b;
}

/* groups per channel for the partial sums */
static size_t parts_of(const ocl_dev *d, bn_dims b, size_t local) {
  size_t parts = (b.M + local * 8 - 1) / (local * 8);
  size_t want = 4 * (size_t)d->compute_units / (b.C ? b.C : 1) + 1;
  if (parts > want) parts = want;
  if (parts > 64) parts = 64;
  return parts ? parts : 1;
}

#define OPT(t) OCL_A_MEM((t) ? ocl_mem(t) : d->dummy), OCL_A_INT((t) != NULL)

static nnrt_status k_batch_norm(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_batch_norm_params *p = call->params;
  const nnrt_tensor *x = call->inputs[0], *w = call->inputs[1], *b = call->inputs[2];
  nnrt_tensor *y = call->outputs[0], *sm = call->outputs[1], *si = call->outputs[2];
  nnrt_tensor *rm = call->outputs[3], *rv = call->outputs[4];
  bn_dims bd = dims_of(x);
  if (!bd.C) return NNRT_OK;
  nnrt_dtype dt = x->dtype;
  size_t ts = ocl_asize(d, dt), parts = 0, local = 16;
  cl_mem part = d->dummy;
  cl_kernel k;
  size_t wg;
  OCL_LOCK(d);
  nnrt_status s = NNRT_OK;
  if (p->training && !(s = ocl_kernel(d, &fam, dt, K_STATS_PART, &k, &wg))) {
    local = ocl_wg_reduce(bd.M, wg, 16);
    parts = parts_of(d, bd, local);
  }
  /* scratch: the partials (training), then 3 coefficients per channel */
  size_t coff = 3 * parts * bd.C;
  if (!s) s = ocl_scratch(d, (coff + 3 * bd.C) * ts, &part);
  if (!s && p->training) {
    size_t global[2] = {parts * local, bd.C}, lsz[2] = {local, 1};
    s = OCL_RUN(d, k, call->op_name, names[K_STATS_PART], 2, global, lsz, OCL_A_MEM(ocl_mem(x)), OCL_A_U64(bd.C),
                  OCL_A_U64(bd.S), OCL_A_U64(bd.M), OCL_A_MEM(part), OCL_A_LOCAL(local * ts),
                  OCL_A_LOCAL(local * ts), OCL_A_LOCAL(local * ts));
  }
  if (!s && !(s = ocl_kernel(d, &fam, dt, K_STATS_FINISH, &k, &wg))) {
    size_t local = wg < 64 ? wg : 64, global = ocl_round_up(bd.C, local);
    s = OCL_RUN(d, k, call->op_name, names[K_STATS_FINISH], 1, &global, &local, OCL_A_MEM(part), OCL_A_U64(parts),
                OCL_A_U64(bd.C), OCL_A_U64(bd.M), OCL_A_INT(p->training), OCL_A_REAL(dt, p->momentum),
                OCL_A_REAL(dt, p->eps), OCL_A_MEM(ocl_mem(sm)), OCL_A_MEM(ocl_mem(si)), OPT(rm), OPT(rv), OPT(w), OPT(b),
                OCL_A_MEM(part), OCL_A_U64(coff));
  }
  if (!s && bd.n && !(s = ocl_kernel(d, &fam, dt, K_NORMALIZE, &k, &wg))) {
    size_t global[2], lsz[2];
    ocl_range_rows(d, wg, bd.S, bd.N * bd.C, global, lsz);
    s = OCL_RUN(d, k, call->op_name, names[K_NORMALIZE], 2, global, lsz, OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(part),
                OCL_A_U64(coff), OCL_A_MEM(ocl_mem(y)), OCL_A_U64(bd.C), OCL_A_U64(bd.S), OCL_A_U64(bd.N * bd.C));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_batch_norm_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_batch_norm_backward_params *p = call->params;
  const nnrt_tensor *g = call->inputs[0], *x = call->inputs[1], *w = call->inputs[2];
  const nnrt_tensor *sm = call->inputs[3], *si = call->inputs[4];
  nnrt_tensor *gx = call->outputs[0], *gw = call->outputs[1], *gb = call->outputs[2];
  bn_dims bd = dims_of(x);
  if (!bd.C) return NNRT_OK;
  nnrt_dtype dt = x->dtype;
  size_t ts = ocl_asize(d, dt), parts = 1;
  cl_mem scr;
  cl_kernel k;
  size_t wg, local = 16;
  OCL_LOCK(d);
  nnrt_status s = ocl_kernel(d, &fam, dt, K_GRAD_PART, &k, &wg);
  if (!s) {
    local = ocl_wg_reduce(bd.M, wg, 16);
    parts = parts_of(d, bd, local);
    s = ocl_scratch(d, (3 * parts * bd.C + 4 * bd.C) * ts, &scr);
  }
  size_t coef_off = 3 * parts * bd.C; /* the coefficients follow the partials (elements) */
  if (!s) {
    size_t global[2] = {parts * local, bd.C}, lsz[2] = {local, 1};
    s = OCL_RUN(d, k, call->op_name, names[K_GRAD_PART], 2, global, lsz, OCL_A_MEM(ocl_mem(g)), OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(ocl_mem(sm)), OCL_A_U64(bd.C), OCL_A_U64(bd.S), OCL_A_U64(bd.M), OCL_A_MEM(scr),
                OCL_A_LOCAL(local * ts));
  }
  if (!s && !(s = ocl_kernel(d, &fam, dt, K_GRAD_FINISH, &k, &wg))) {
    size_t l1 = wg < 64 ? wg : 64, g1 = ocl_round_up(bd.C, l1);
    s = OCL_RUN(d, k, call->op_name, names[K_GRAD_FINISH], 1, &g1, &l1, OCL_A_MEM(scr), OCL_A_U64(parts),
                OCL_A_U64(bd.C), OCL_A_U64(bd.M), OCL_A_INT(p->training), OPT(w), OCL_A_MEM(ocl_mem(sm)),
                OCL_A_MEM(ocl_mem(si)), OPT(gw), OPT(gb), OCL_A_MEM(scr), OCL_A_U64(coef_off));
  }
  if (!s && gx && bd.n && !(s = ocl_kernel(d, &fam, dt, K_GRAD_INPUT, &k, &wg))) {
    size_t g2[2], l2[2];
    ocl_range_rows(d, wg, bd.S, bd.N * bd.C, g2, l2);
    s = OCL_RUN(d, k, call->op_name, names[K_GRAD_INPUT], 2, g2, l2, OCL_A_MEM(ocl_mem(g)), OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(scr), OCL_A_U64(coef_off), OCL_A_MEM(ocl_mem(gx)), OCL_A_U64(bd.C), OCL_A_U64(bd.S),
                OCL_A_U64(bd.N * bd.C));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_batch_norm_lookup(const char *op) {
  if (!strcmp(op, "batch_norm")) return k_batch_norm;
  if (!strcmp(op, "batch_norm_backward")) return k_batch_norm_backward;
  return NULL;
}
