/* backends/opencl/prelu.c - PReLU forward and backward (kernels/prelu.cl). */
#include <string.h>

#include "kernels/prelu.cl.h"
#include "ocl.h"

enum { K_FWD, K_GX, K_GW_PART, K_GW_ADD };
static const char *const names[] = {"prelu_fwd", "prelu_gx", "prelu_gw_part", "prelu_gw_add"};
static const ocl_family fam = {
    .id = OCL_FAM_PRELU,
    .name = "prelu",
    .source = ocl_src_prelu,
    .kernel_names = names,
    .n_kernels = 4,
};

/* (outer, C, inner) as backends/ref/prelu.c splits it */
static void dims(const nnrt_tensor *x, const nnrt_tensor *w, size_t *outer, size_t *C, size_t *inner) {
  *outer = 1, *C = 1, *inner = (size_t)x->numel;
  if (x->ndim >= 2 && w->numel > 1) {
    *C = (size_t)x->shape[1];
    *outer = (size_t)x->shape[0];
    *inner = 1;
    for (int i = 2; i < x->ndim; i++) *inner *= (size_t)x->shape[i];
  }
}

static nnrt_status k_prelu(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[0], *w = call->inputs[1];
  size_t outer, C, inner, n = (size_t)x->numel;
  dims(x, w, &outer, &C, &inner);
  if (!n) return NNRT_OK;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, x->dtype, K_FWD, &k, &wg);
  if (!s) {
    size_t global[2], local[2];
    ocl_range_rows(d, wg, inner, outer * C, global, local);
    s = OCL_RUN(d, k, call->op_name, names[K_FWD], 2, global, local, OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(w)),
                OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(outer * C), OCL_A_U64(C), OCL_A_U64(inner));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_prelu_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *g = call->inputs[0], *x = call->inputs[1], *w = call->inputs[2];
  nnrt_tensor *gx = call->outputs[0], *gw = call->outputs[1];
  size_t outer, C, inner, n = (size_t)x->numel;
  dims(x, w, &outer, &C, &inner);
  if (!n) return NNRT_OK; /* grad_weight += 0 */
  nnrt_dtype dt = x->dtype;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = NNRT_OK;
  if (gx && !(s = ocl_kernel(d, &fam, dt, K_GX, &k, &wg))) {
    size_t global[2], local[2];
    ocl_range_rows(d, wg, inner, outer * C, global, local);
    s = OCL_RUN(d, k, call->op_name, names[K_GX], 2, global, local, OCL_A_MEM(ocl_mem(g)), OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(ocl_mem(w)), OCL_A_MEM(ocl_mem(gx)), OCL_A_U64(outer * C), OCL_A_U64(C), OCL_A_U64(inner));
  }
  if (!s && gw && !(s = ocl_kernel(d, &fam, dt, K_GW_PART, &k, &wg))) {
    size_t per = outer * inner, local = ocl_wg_reduce(per, wg, 16);
    /* enough groups to fill the device, each with a few hundred elements at least */
    size_t parts = (per + local * 8 - 1) / (local * 8);
    size_t want = 4 * (size_t)d->compute_units / C + 1;
    if (parts > want) parts = want;
    if (parts > 256) parts = 256;
    if (!parts) parts = 1;
    cl_mem part;
    s = ocl_scratch(d, C * parts * ocl_asize(d, dt), &part);
    size_t global[2] = {parts * local, C}, lsz[2] = {local, 1};
    if (!s)
      s = OCL_RUN(d, k, call->op_name, names[K_GW_PART], 2, global, lsz, OCL_A_MEM(ocl_mem(g)), OCL_A_MEM(ocl_mem(x)),
                  OCL_A_MEM(part), OCL_A_U64(outer), OCL_A_U64(C), OCL_A_U64(inner), OCL_A_LOCAL(local * ocl_asize(d, dt)));
    if (!s && !(s = ocl_kernel(d, &fam, dt, K_GW_ADD, &k, &wg))) {
      size_t l2 = wg < 64 ? wg : 64, g2 = ocl_round_up(C, l2);
      s = OCL_RUN(d, k, call->op_name, names[K_GW_ADD], 1, &g2, &l2, OCL_A_MEM(part), OCL_A_MEM(ocl_mem(gw)), OCL_A_U64(C),
                  OCL_A_U64(parts));
    }
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_prelu_lookup(const char *op) {
  if (!strcmp(op, "prelu")) return k_prelu;
  if (!strcmp(op, "prelu_backward")) return k_prelu_backward;
  return NULL;
}
