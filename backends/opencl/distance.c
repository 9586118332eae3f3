/* backends/opencl/distance.c - pairwise_distance and cosine_similarity,
 * forward and backward (kernels/distance.cl). */
#include <math.h>
#include <string.h>

#include "kernels/distance.cl.h"
#include "ocl.h"

enum { K_PD_FWD, K_PD_BWD, K_CS_FWD, K_CS_BWD };
static const char *const names[] = {"pd_fwd", "pd_bwd", "cs_fwd", "cs_bwd"};
static const ocl_family fam = {
    .id = OCL_FAM_DISTANCE,
    .name = "distance",
    .source = ocl_src_distance,
    .kernel_names = names,
    .n_kernels = 4,
};

#define OPT(t) OCL_A_MEM((t) ? ocl_mem(t) : d->dummy), OCL_A_INT((t) != NULL)

static nnrt_status pairwise(nnrt_device *dev, const nnrt_call *call, bool bwd) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_pairwise_distance_params *p = call->params;
  const nnrt_tensor *x1 = call->inputs[bwd], *x2 = call->inputs[bwd + 1];
  size_t D = (size_t)x1->shape[x1->ndim - 1], R = 1;
  for (int i = 0; i + 1 < x1->ndim; i++) R *= (size_t)x1->shape[i];
  if (!R) return NNRT_OK;
  int mode = p->p == 0 ? 0 : p->p == 1 ? 1 : p->p == 2 ? 2 : isinf(p->p) ? 3 : 4;
  nnrt_dtype dt = x1->dtype;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, bwd ? K_PD_BWD : K_PD_FWD, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_reduce(D, wg, 16), global = R * local;
    if (!bwd)
      s = OCL_RUN(d, k, call->op_name, names[K_PD_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x1)),
                  OCL_A_MEM(ocl_mem(x2)), OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(D), OCL_A_REAL(dt, p->eps),
                  OCL_A_INT(mode), OCL_A_REAL(dt, p->p), OCL_A_LOCAL(local * ocl_asize(d, dt)));
    else
      s = OCL_RUN(d, k, call->op_name, names[K_PD_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(call->inputs[0])),
                  OCL_A_MEM(ocl_mem(x1)), OCL_A_MEM(ocl_mem(x2)), OPT(call->outputs[0]), OPT(call->outputs[1]),
                  OCL_A_U64(D), OCL_A_REAL(dt, p->eps), OCL_A_INT(mode), OCL_A_REAL(dt, p->p),
                  OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status cosine(nnrt_device *dev, const nnrt_call *call, bool bwd) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_cosine_similarity_params *p = call->params;
  const nnrt_tensor *x1 = call->inputs[bwd], *x2 = call->inputs[bwd + 1];
  int64_t dim = p->dim < 0 ? p->dim + x1->ndim : p->dim;
  size_t outer = 1, n = x1->ndim ? (size_t)x1->shape[dim] : 1, inner = 1;
  for (int i = 0; i < dim; i++) outer *= (size_t)x1->shape[i];
  for (int i = (int)dim + 1; i < x1->ndim; i++) inner *= (size_t)x1->shape[i];
  if (!outer || !inner) return NNRT_OK;
  nnrt_dtype dt = x1->dtype;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, bwd ? K_CS_BWD : K_CS_FWD, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_reduce(n, wg, 16), global = outer * inner * local;
    if (!bwd)
      s = OCL_RUN(d, k, call->op_name, names[K_CS_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x1)),
                  OCL_A_MEM(ocl_mem(x2)), OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(n), OCL_A_U64(inner),
                  OCL_A_REAL(dt, p->eps), OCL_A_LOCAL(local * ocl_asize(d, dt)));
    else
      s = OCL_RUN(d, k, call->op_name, names[K_CS_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(call->inputs[0])),
                  OCL_A_MEM(ocl_mem(x1)), OCL_A_MEM(ocl_mem(x2)), OPT(call->outputs[0]), OPT(call->outputs[1]),
                  OCL_A_U64(n), OCL_A_U64(inner), OCL_A_REAL(dt, p->eps), OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_pd(nnrt_device *d, const nnrt_call *c) { return pairwise(d, c, false); }
static nnrt_status k_pd_bwd(nnrt_device *d, const nnrt_call *c) { return pairwise(d, c, true); }
static nnrt_status k_cs(nnrt_device *d, const nnrt_call *c) { return cosine(d, c, false); }
static nnrt_status k_cs_bwd(nnrt_device *d, const nnrt_call *c) { return cosine(d, c, true); }

nnrt_kernel_fn ocl_distance_lookup(const char *op) {
  if (!strcmp(op, "pairwise_distance")) return k_pd;
  if (!strcmp(op, "pairwise_distance_backward")) return k_pd_bwd;
  if (!strcmp(op, "cosine_similarity")) return k_cs;
  if (!strcmp(op, "cosine_similarity_backward")) return k_cs_bwd;
  return NULL;
}
