/* backends/opencl/pixel_shuffle.c - pixel_shuffle, pixel_unshuffle and
 * their backward ops (kernels/pixel_shuffle.cl): each backward is the other
 * op's movement applied to grad_output. */
#include <string.h>

#include "kernels/pixel_shuffle.cl.h"
#include "ocl.h"

enum { K_TO_WIDE, K_TO_DEEP };
static const char *const names[] = {"to_wide", "to_deep"};
static const ocl_family fam = {
    .id = OCL_FAM_PIXEL_SHUFFLE,
    .name = "pixel_shuffle",
    .source = ocl_src_pixel_shuffle,
    .kernel_names = names,
    .n_kernels = 2,
};

/* deep: the (*, C r^2, H, W) side of the move, to_wide its direction */
static nnrt_status move(nnrt_device *dev, const nnrt_call *call, const nnrt_tensor *deep, bool to_wide) {
  ocl_dev *d = ocl_dev_of(dev);
  /* both params structs hold the factor first */
  size_t r = (size_t)((const nnrt_pixel_shuffle_params *)call->params)->upscale_factor;
  const nnrt_tensor *src = call->inputs[0];
  size_t n = (size_t)src->numel, H = (size_t)deep->shape[deep->ndim - 2], W = (size_t)deep->shape[deep->ndim - 1];
  if (!n || !W) return NNRT_OK;
  int which = to_wide ? K_TO_WIDE : K_TO_DEEP;
  /* the destination's rows and columns */
  size_t cols = to_wide ? W * r : W, rows = n / cols;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, src->dtype, which, &k, &wg);
  if (!s) {
    size_t global[2], local[2];
    ocl_range_rows(d, wg, cols, rows, global, local);
    s = OCL_RUN(d, k, call->op_name, names[which], 2, global, local, OCL_A_MEM(ocl_mem(src)),
                OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(H), OCL_A_U64(W), OCL_A_U64(r), OCL_A_U64(rows));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_ps(nnrt_device *d, const nnrt_call *c) { return move(d, c, c->inputs[0], true); }
static nnrt_status k_ps_bwd(nnrt_device *d, const nnrt_call *c) { return move(d, c, c->outputs[0], false); }
static nnrt_status k_pu(nnrt_device *d, const nnrt_call *c) { return move(d, c, c->outputs[0], false); }
static nnrt_status k_pu_bwd(nnrt_device *d, const nnrt_call *c) { return move(d, c, c->inputs[0], true); }

nnrt_kernel_fn ocl_pixel_shuffle_lookup(const char *op) {
  if (!strcmp(op, "pixel_shuffle")) return k_ps;
  if (!strcmp(op, "pixel_shuffle_backward")) return k_ps_bwd;
  if (!strcmp(op, "pixel_unshuffle")) return k_pu;
  if (!strcmp(op, "pixel_unshuffle_backward")) return k_pu_bwd;
  return NULL;
}
