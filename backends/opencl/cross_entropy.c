/* backends/opencl/cross_entropy.c - cross_entropy forward and backward
 * (kernels/cross_entropy.cl).  Input (C), (N, C) or (N, C, d1..dk); the
 * targets stay on the device (core has checked them).  Reductions over
 * positions use the device's scratch buffer: 3 P values forward, 2 backward. */
#include <string.h>

#include "kernels/cross_entropy.cl.h"
#include "ocl.h"

enum { K_FWD, K_FWD_REDUCE, K_BWD_SUMS, K_BWD };
static const char *const names[] = {"ce_fwd", "ce_fwd_reduce", "ce_bwd_sums", "ce_bwd"};
static const ocl_family fam = {
    .id = OCL_FAM_CROSS_ENTROPY,
    .name = "cross_entropy",
    .source = ocl_src_cross_entropy,
    .kernel_names = names,
    .n_kernels = 4,
};

typedef struct {
  size_t N, C, inner, P;
} ce_dims;

static ce_dims dims_of(const nnrt_tensor *x) {
  ce_dims d = {1, (size_t)x->shape[x->ndim == 1 ? 0 : 1], 1, 0};
  if (x->ndim >= 2) {
    d.N = (size_t)x->shape[0];
    for (int i = 2; i < x->ndim; i++) d.inner *= (size_t)x->shape[i];
  }
  d.P = d.N * d.inner;
  return d;
}

static nnrt_status k_cross_entropy(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_cross_entropy_params *p = call->params;
  const nnrt_tensor *x = call->inputs[0], *t = call->inputs[1], *w = call->inputs[2];
  nnrt_tensor *y = call->outputs[0];
  ce_dims cd = dims_of(x);
  nnrt_dtype dt = x->dtype;
  size_t ts = ocl_asize(d, dt);
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  cl_mem part = d->dummy;
  nnrt_status s = NNRT_OK;
  if (cd.P && cd.C) {
    if (p->reduction != 0) s = ocl_scratch(d, 3 * cd.P * ts, &part);
    if (!s) s = ocl_kernel(d, &fam, dt, K_FWD, &k, &wg);
    if (!s) {
      size_t local = ocl_wg_reduce(cd.C, wg, 16), global = cd.P * local;
      s = OCL_RUN(d, k, call->op_name, names[K_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(t)),
                  OCL_A_MEM(w ? ocl_mem(w) : d->dummy), OCL_A_INT(w != NULL), OCL_A_U64(cd.C), OCL_A_U64(cd.inner),
                  OCL_A_U64(cd.P), OCL_A_I64(p->ignore_index), OCL_A_REAL(dt, p->label_smoothing),
                  OCL_A_INT(p->reduction), OCL_A_MEM(ocl_mem(y)), OCL_A_MEM(part), OCL_A_LOCAL(local * ts));
    }
  }
  /* mean or sum; with no position the sums are 0 (mean: 0/0, nan, as torch) */
  if (!s && p->reduction != 0 && !(s = ocl_kernel(d, &fam, dt, K_FWD_REDUCE, &k, &wg))) {
    size_t local = ocl_wg_reduce(cd.P, wg, 1);
    s = OCL_RUN(d, k, call->op_name, names[K_FWD_REDUCE], 1, &local, &local, OCL_A_MEM(part), OCL_A_U64(cd.C ? cd.P : 0),
                OCL_A_U64(cd.C), OCL_A_REAL(dt, p->label_smoothing), OCL_A_INT(p->reduction), OCL_A_MEM(ocl_mem(y)),
                OCL_A_LOCAL(local * ts));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_cross_entropy_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_cross_entropy_backward_params *p = call->params;
  const nnrt_tensor *gy = call->inputs[0], *x = call->inputs[1], *t = call->inputs[2], *w = call->inputs[3];
  ce_dims cd = dims_of(x);
  if (!cd.P || !cd.C) return NNRT_OK;
  nnrt_dtype dt = x->dtype;
  size_t ts = ocl_asize(d, dt);
  cl_mem wm = w ? ocl_mem(w) : d->dummy;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  cl_mem sums;
  nnrt_status s = ocl_scratch(d, 2 * ts, &sums);
  if (!s && !(s = ocl_kernel(d, &fam, dt, K_BWD_SUMS, &k, &wg))) {
    size_t local = ocl_wg_reduce(cd.P > cd.C ? cd.P : cd.C, wg, 1);
    s = OCL_RUN(d, k, call->op_name, names[K_BWD_SUMS], 1, &local, &local, OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(wm),
                OCL_A_INT(w != NULL), OCL_A_U64(cd.C), OCL_A_U64(cd.P), OCL_A_I64(p->ignore_index), OCL_A_MEM(sums),
                OCL_A_LOCAL(local * ts));
  }
  if (!s && !(s = ocl_kernel(d, &fam, dt, K_BWD, &k, &wg))) {
    size_t local = ocl_wg_reduce(cd.C, wg, 16), global = cd.P * local;
    s = OCL_RUN(d, k, call->op_name, names[K_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(gy)), OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(wm), OCL_A_INT(w != NULL), OCL_A_U64(cd.C), OCL_A_U64(cd.inner),
                OCL_A_U64(cd.P), OCL_A_I64(p->ignore_index), OCL_A_REAL(dt, p->label_smoothing),
                OCL_A_INT(p->reduction), OCL_A_MEM(sums), OCL_A_MEM(ocl_mem(call->outputs[0])),
                OCL_A_LOCAL(local * ts));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_cross_entropy_lookup(const char *op) {
  if (!strcmp(op, "cross_entropy")) return k_cross_entropy;
  if (!strcmp(op, "cross_entropy_backward")) return k_cross_entropy_backward;
  return NULL;
}
