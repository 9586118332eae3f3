/* backends/opencl/adam.c - adam_step (kernels/adam.cl). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/adam.cl.h"
#include "ocl.h"

static const char *const names[] = {"adam_step"};

static void options(const ocl_dev *d, char *buf, size_t len) { snprintf(buf, len, "%s", d->fp64 ? "-DADAM_F64" : ""); }

static const ocl_family fam = {
    .id = OCL_FAM_ADAM,
    .name = "adam",
    .source = ocl_src_adam,
    .kernel_names = names,
    .n_kernels = 1,
    .options = options,
};

static nnrt_status k_adam_step(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_adam_step_params *p = call->params;
  const nnrt_tensor *g = call->inputs[0];
  nnrt_tensor *vm = call->outputs[3];
  size_t n = (size_t)g->numel;
  if (!n) return NNRT_OK;
  nnrt_dtype dt = g->dtype, at = d->fp64 ? NNRT_F64 : dt; /* the kernel's arithmetic type */
  double t = (double)p->step;
  double step_size = p->lr / (1 - pow(p->beta1, t)), bc2 = sqrt(1 - pow(p->beta2, t));
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, 0, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[0], 1, &global, &local, OCL_A_MEM(ocl_mem(g)),
                OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_MEM(ocl_mem(call->outputs[1])),
                OCL_A_MEM(ocl_mem(call->outputs[2])), OCL_A_MEM(vm ? ocl_mem(vm) : d->dummy), OCL_A_U64(n),
                OCL_A_REAL(at, p->maximize ? -1.0 : 1.0), OCL_A_REAL(at, p->weight_decay), OCL_A_REAL(at, p->beta1),
                OCL_A_REAL(at, p->beta2), OCL_A_REAL(at, step_size), OCL_A_REAL(at, bc2), OCL_A_REAL(at, p->eps),
                OCL_A_INT(p->amsgrad && vm));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_adam_lookup(const char *op) { return !strcmp(op, "adam_step") ? k_adam_step : NULL; }
