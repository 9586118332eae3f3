/* backends/opencl/sgd.c - sgd_step (kernels/sgd.cl). */
#include <string.h>

#include "kernels/sgd.cl.h"
#include "ocl.h"

static const char *const names[] = {"sgd_step"};
static const ocl_family fam = {
    .id = OCL_FAM_SGD,
    .name = "sgd",
    .source = ocl_src_sgd,
    .kernel_names = names,
    .n_kernels = 1,
};

static nnrt_status k_sgd_step(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_sgd_step_params *p = call->params;
  const nnrt_tensor *g = call->inputs[0];
  nnrt_tensor *param = call->outputs[0], *buf = call->outputs[1];
  size_t n = (size_t)g->numel;
  if (!n) return NNRT_OK;
  nnrt_dtype dt = g->dtype;
  /* core insists on a buffer when momentum > 0; without one the kernel never reads it */
  double mom = buf ? p->momentum : 0;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, 0, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[0], 1, &global, &local, OCL_A_MEM(ocl_mem(g)), OCL_A_MEM(ocl_mem(param)),
                OCL_A_MEM(buf ? ocl_mem(buf) : d->dummy), OCL_A_U64(n), OCL_A_REAL(dt, p->lr), OCL_A_REAL(dt, mom),
                OCL_A_REAL(dt, p->dampening), OCL_A_REAL(dt, p->weight_decay), OCL_A_INT(p->nesterov),
                OCL_A_INT(p->first_step));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_sgd_lookup(const char *op) { return !strcmp(op, "sgd_step") ? k_sgd_step : NULL; }
