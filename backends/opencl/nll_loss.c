/* backends/opencl/nll_loss.c - nll_loss forward and backward
 * (kernels/nll_loss.cl); input (C), (N, C) or (N, C, d1..dk). */
#include <string.h>

#include "kernels/nll_loss.cl.h"
#include "ocl.h"

enum { K_FWD, K_WSUM, K_BWD };
static const char *const names[] = {"nll_fwd", "nll_wsum", "nll_bwd"};
static const ocl_family fam = {
    .id = OCL_FAM_NLL,
    .name = "nll_loss",
    .source = ocl_src_nll_loss,
    .kernel_names = names,
    .n_kernels = 3,
};

/* (C, inner, P) of an input as ref's nll_dims_of */
static void dims(const nnrt_tensor *x, size_t *C, size_t *inner, size_t *P) {
  *C = (size_t)x->shape[x->ndim == 1 ? 0 : 1];
  *inner = 1;
  *P = 1;
  if (x->ndim >= 2) {
    for (int i = 2; i < x->ndim; i++) *inner *= (size_t)x->shape[i];
    *P = (size_t)x->shape[0] * *inner;
  }
}

static nnrt_status k_nll_loss(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_nll_loss_params *p = call->params;
  const nnrt_tensor *x = call->inputs[0], *t = call->inputs[1], *w = call->inputs[2];
  size_t C, inner, P;
  dims(x, &C, &inner, &P);
  nnrt_dtype dt = x->dtype;
  size_t ts = ocl_asize(d, dt);
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg, parts = 1;
  cl_mem part = d->dummy;
  nnrt_status s = ocl_kernel(d, &fam, dt, K_FWD, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_reduce(P, wg, 16);
    parts = p->reduction == 0 ? (P + local - 1) / local : ocl_reduce_groups(d, P, local);
    size_t global = parts * local;
    if (p->reduction != 0) s = ocl_scratch(d, 2 * parts * ts, &part);
    if (!s)
      s = OCL_RUN(d, k, call->op_name, names[K_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x)),
                  OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(w ? ocl_mem(w) : d->dummy), OCL_A_INT(w != NULL), OCL_A_U64(C),
                  OCL_A_U64(inner), OCL_A_U64(P), OCL_A_I64(p->ignore_index), OCL_A_INT(p->reduction),
                  OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_MEM(part), OCL_A_LOCAL(local * ts));
  }
  /* with no position the one group writes zero partials: sum 0, mean 0/0 */
  if (!s && p->reduction != 0)
    s = ocl_finish_sum(d, call, dt, part, parts, p->reduction == 1, 1.0, ocl_mem(call->outputs[0]));
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_nll_loss_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_nll_loss_backward_params *p = call->params;
  const nnrt_tensor *gy = call->inputs[0], *x = call->inputs[1], *t = call->inputs[2], *w = call->inputs[3];
  size_t C, inner, P, n = (size_t)x->numel;
  dims(x, &C, &inner, &P);
  if (!n) return NNRT_OK;
  nnrt_dtype dt = x->dtype;
  size_t ts = ocl_asize(d, dt);
  cl_mem wm = w ? ocl_mem(w) : d->dummy;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  cl_mem wsum = d->dummy;
  nnrt_status s = NNRT_OK;
  if (p->reduction == 1 && !(s = ocl_scratch(d, ts, &wsum)) && !(s = ocl_kernel(d, &fam, dt, K_WSUM, &k, &wg))) {
    size_t local = ocl_wg_reduce(P, wg, 1);
    s = OCL_RUN(d, k, call->op_name, names[K_WSUM], 1, &local, &local, OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(wm),
                OCL_A_INT(w != NULL), OCL_A_U64(P), OCL_A_I64(p->ignore_index), OCL_A_MEM(wsum),
                OCL_A_LOCAL(local * ts));
  }
  if (!s && !(s = ocl_kernel(d, &fam, dt, K_BWD, &k, &wg))) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[K_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(gy)), OCL_A_MEM(ocl_mem(t)),
                OCL_A_MEM(wm), OCL_A_INT(w != NULL), OCL_A_U64(C), OCL_A_U64(inner), OCL_A_U64(n),
                OCL_A_I64(p->ignore_index), OCL_A_INT(p->reduction), OCL_A_MEM(wsum),
                OCL_A_MEM(ocl_mem(call->outputs[0])));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_nll_loss_lookup(const char *op) {
  if (!strcmp(op, "nll_loss")) return k_nll_loss;
  if (!strcmp(op, "nll_loss_backward")) return k_nll_loss_backward;
  return NULL;
}
