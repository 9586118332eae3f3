/* backends/opencl/reduce.c - whole-tensor reductions shared by op families
 * (kernels/reduce.cl): the finishing step of sums left as per-group
 * partials, and norm_p. */
#include <math.h>
#include <string.h>

#include "kernels/reduce.cl.h"
#include "ocl.h"

enum { K_FINISH_SUM, K_NORM_PART, K_NORM_FINISH };
static const char *const names[] = {"finish_sum", "norm_part", "norm_finish"};
static const ocl_family fam = {
    .id = OCL_FAM_REDUCE,
    .name = "reduce",
    .source = ocl_src_reduce,
    .kernel_names = names,
    .n_kernels = 3,
};

size_t ocl_reduce_groups(const ocl_dev *d, size_t n, size_t local) {
  size_t per = local * 4; /* at least 4 elements per work-item */
  size_t g = (n + per - 1) / per, cap = 4 * (size_t)d->compute_units;
  if (cap < 8) cap = 8;
  if (cap > 1024) cap = 1024;
  return g < 1 ? 1 : g > cap ? cap : g;
}

nnrt_status ocl_finish_sum(ocl_dev *d, const nnrt_call *call, nnrt_dtype dt, cl_mem part, size_t parts, bool use_b,
                           double div, cl_mem y) {
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, K_FINISH_SUM, &k, &wg);
  if (s) return s;
  size_t local = ocl_wg_reduce(parts, wg, 1);
  return OCL_RUN(d, k, call->op_name, names[K_FINISH_SUM], 1, &local, &local, OCL_A_MEM(part), OCL_A_U64(parts),
                 OCL_A_INT(use_b), OCL_A_REAL(dt, div), OCL_A_MEM(y), OCL_A_LOCAL(local * ocl_asize(d, dt)));
}

static nnrt_status k_norm_p(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[0];
  double p = NNRT_PARAMS(call, norm_p)->p;
  int mode = isinf(p) ? 0 : p == 1 ? 1 : p == 2 ? 2 : 3;
  nnrt_dtype dt = x->dtype;
  size_t n = (size_t)x->numel, ts = ocl_asize(d, dt);
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg, parts = 1;
  cl_mem part;
  nnrt_status s = ocl_kernel(d, &fam, dt, K_NORM_PART, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_reduce(n, wg, 16);
    parts = ocl_reduce_groups(d, n, local);
    size_t global = parts * local;
    if (!(s = ocl_scratch(d, parts * ts, &part)))
      s = OCL_RUN(d, k, call->op_name, names[K_NORM_PART], 1, &global, &local, OCL_A_MEM(ocl_mem(x)), OCL_A_U64(n),
                  OCL_A_INT(mode), OCL_A_REAL(dt, p), OCL_A_MEM(part), OCL_A_LOCAL(local * ts));
  }
  if (!s && !(s = ocl_kernel(d, &fam, dt, K_NORM_FINISH, &k, &wg))) {
    size_t local = ocl_wg_reduce(parts, wg, 1);
    s = OCL_RUN(d, k, call->op_name, names[K_NORM_FINISH], 1, &local, &local, OCL_A_MEM(part), OCL_A_U64(parts),
                OCL_A_INT(mode), OCL_A_REAL(dt, p), OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_LOCAL(local * ts));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_reduce_lookup(const char *op) { return !strcmp(op, "norm_p") ? k_norm_p : NULL; }
