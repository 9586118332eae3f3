/* backends/opencl/misc.c - mul_scalar and slice_copy (kernels/misc.cl). */
#include <string.h>

#include "kernels/misc.cl.h"
#include "ocl.h"

enum { K_MUL, K_SLICE_ADD };
static const char *const names[] = {"mul_scalar", "slice_add"};
static const ocl_family fam = {
    .id = OCL_FAM_MISC,
    .name = "misc",
    .source = ocl_src_misc,
    .kernel_names = names,
    .n_kernels = 2,
};

static nnrt_status k_mul_scalar(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[0];
  size_t n = (size_t)x->numel;
  if (!n) return NNRT_OK;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, x->dtype, K_MUL, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[K_MUL], 1, &global, &local, OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(n),
                OCL_A_REAL(x->dtype, NNRT_PARAMS(call, mul_scalar)->alpha));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_slice_copy(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_slice_copy_params *p = NNRT_PARAMS(call, slice_copy);
  const nnrt_tensor *src = call->inputs[0];
  nnrt_tensor *dst = call->outputs[0];
  size_t n = (size_t)(p->count == -1 ? src->numel - p->src_offset : p->count), es = ocl_tsize(src->dtype);
  if (!n) return NNRT_OK;
  if (!p->accumulate) {
    cl_int err = ocl.clEnqueueCopyBuffer(d->queue, ocl_mem(src), ocl_mem(dst), (size_t)p->src_offset * es,
                                         (size_t)p->dst_offset * es, n * es, 0, NULL, NULL);
    /* src and dst are distinct tensors (core refuses aliasing), so no overlap */
    return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueCopyBuffer", "slice_copy", err);
  }
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, src->dtype, K_SLICE_ADD, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[K_SLICE_ADD], 1, &global, &local, OCL_A_MEM(ocl_mem(src)),
                OCL_A_U64(p->src_offset), OCL_A_MEM(ocl_mem(dst)), OCL_A_U64(p->dst_offset), OCL_A_U64(n));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_misc_lookup(const char *op) {
  if (!strcmp(op, "mul_scalar")) return k_mul_scalar;
  if (!strcmp(op, "slice_copy")) return k_slice_copy;
  return NULL;
}
