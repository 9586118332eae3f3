/* backends/opencl/softmax.c - softmax, softmin, log_softmax and their
 * backwards (kernels/softmax.cl): one work-group per line along dim. */
#include <string.h>

#include "kernels/softmax.cl.h"
#include "ocl.h"

static const char *const names[] = {"softmax_fwd", "softmax_bwd"};
static const ocl_family fam = {
    .id = OCL_FAM_SOFTMAX,
    .name = "softmax",
    .source = ocl_src_softmax,
    .kernel_names = names,
    .n_kernels = 2,
};

static nnrt_status run(nnrt_device *dev, const nnrt_call *call, int mode, bool bwd) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[bwd ? 1 : 0];
  int64_t dim = ((const nnrt_softmax_params *)call->params)->dim;
  int nd = x->ndim;
  int dm = (int)(dim < 0 ? dim + (nd ? nd : 1) : dim);
  size_t outer = 1, D = nd ? (size_t)x->shape[dm] : 1, inner = 1;
  for (int i = 0; i < dm; i++) outer *= (size_t)x->shape[i];
  for (int i = dm + 1; i < nd; i++) inner *= (size_t)x->shape[i];
  if (!outer || !D || !inner) return NNRT_OK;
  nnrt_dtype dt = x->dtype;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, bwd, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_reduce(D, wg, 16), global = outer * inner * local;
    if (!bwd)
      s = OCL_RUN(d, k, call->op_name, names[0], 1, &global, &local, OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(call->outputs[0])),
                  OCL_A_U64(D), OCL_A_U64(inner), OCL_A_INT(mode), OCL_A_LOCAL(local * ocl_asize(d, dt)));
    else
      s = OCL_RUN(d, k, call->op_name, names[1], 1, &global, &local, OCL_A_MEM(ocl_mem(call->inputs[0])), OCL_A_MEM(ocl_mem(x)),
                  OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(D), OCL_A_U64(inner), OCL_A_INT(mode),
                  OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_softmax(nnrt_device *d, const nnrt_call *c) { return run(d, c, 0, false); }
static nnrt_status k_softmin(nnrt_device *d, const nnrt_call *c) { return run(d, c, 1, false); }
static nnrt_status k_log_softmax(nnrt_device *d, const nnrt_call *c) { return run(d, c, 2, false); }
static nnrt_status k_softmax_backward(nnrt_device *d, const nnrt_call *c) { return run(d, c, 0, true); }
static nnrt_status k_softmin_backward(nnrt_device *d, const nnrt_call *c) { return run(d, c, 1, true); }
static nnrt_status k_log_softmax_backward(nnrt_device *d, const nnrt_call *c) { return run(d, c, 2, true); }

nnrt_kernel_fn ocl_softmax_lookup(const char *op) {
  static const struct {
    const char *name;
    nnrt_kernel_fn fn;
  } t[] = {
      {"softmax", k_softmax}, {"softmin", k_softmin}, {"log_softmax", k_log_softmax},
      {"softmax_backward", k_softmax_backward}, {"softmin_backward", k_softmin_backward},
      {"log_softmax_backward", k_log_softmax_backward},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(t[i].name, op)) return t[i].fn;
  return NULL;
}
