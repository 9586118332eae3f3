/* backends/opencl/upsample.c - upsample_nearest2d and upsample_bilinear2d,
 * forward and backward (kernels/upsample.cl), for (N, C, H, W).  The scale
 * of each dim is formed here in the element type, as ref forms it. */
#include <string.h>

#include "kernels/upsample.cl.h"
#include "ocl.h"

enum { K_NEAREST_FWD, K_NEAREST_BWD, K_BILINEAR_FWD, K_BILINEAR_BWD };
static const char *const names[] = {"nearest_fwd", "nearest_bwd", "bilinear_fwd", "bilinear_bwd"};
static const ocl_family fam = {
    .id = OCL_FAM_UPSAMPLE,
    .name = "upsample",
    .source = ocl_src_upsample,
    .kernel_names = names,
    .n_kernels = 4,
};

/* the scale of one dim, rounded through the element type */
static double scale_of(nnrt_dtype dt, int64_t in, int64_t out, double sf, bool bilinear, bool align) {
  if (dt == NNRT_F32) {
    if (bilinear && align) return out > 1 ? (double)((float)(in - 1) / (float)(out - 1)) : 0.0;
    return sf > 0 ? (double)(float)(1.0 / sf) : (double)((float)in / (float)out);
  }
  if (bilinear && align) return out > 1 ? (double)(in - 1) / (double)(out - 1) : 0.0;
  return sf > 0 ? 1.0 / sf : (double)in / (double)out;
}

/* x: the low-resolution side (input / grad_input), y: the high one */
static nnrt_status run(nnrt_device *dev, const nnrt_call *call, bool bilinear, bool bwd) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = bwd ? call->inputs[1] : call->inputs[0], *y = bwd ? call->inputs[0] : call->outputs[0];
  /* both ops' params start with size[2], scale_factor[2] */
  const double *sf = ((const nnrt_upsample_nearest2d_params *)call->params)->scale_factor;
  bool align = bilinear && ((const nnrt_upsample_bilinear2d_params *)call->params)->align_corners;
  nnrt_dtype dt = x->dtype;
  int64_t H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  double sh = scale_of(dt, H, OH, sf[0], bilinear, align), sw = scale_of(dt, W, OW, sf[1], bilinear, align);
  /* rows of the tensor written: (plane, row) pairs */
  size_t cols = (size_t)(bwd ? W : OW), n = (size_t)(x->shape[0] * x->shape[1] * (bwd ? H : OH));
  if (!n || !cols) return NNRT_OK;
  int which = (bilinear ? K_BILINEAR_FWD : K_NEAREST_FWD) + bwd;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, which, &k, &wg);
  if (!s) {
    size_t global[2], local[2];
    ocl_range_rows(d, wg, cols, n, global, local);
    if (bilinear)
      s = OCL_RUN(d, k, call->op_name, names[which], 2, global, local, OCL_A_MEM(ocl_mem(call->inputs[0])),
                  OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(H), OCL_A_U64(W), OCL_A_U64(OH), OCL_A_U64(OW),
                  OCL_A_REAL(dt, sh), OCL_A_REAL(dt, sw), OCL_A_INT(align), OCL_A_U64(n));
    else
      s = OCL_RUN(d, k, call->op_name, names[which], 2, global, local, OCL_A_MEM(ocl_mem(call->inputs[0])),
                  OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(H), OCL_A_U64(W), OCL_A_U64(OH), OCL_A_U64(OW),
                  OCL_A_REAL(dt, sh), OCL_A_REAL(dt, sw), OCL_A_U64(n));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_nf(nnrt_device *d, const nnrt_call *c) { return run(d, c, false, false); }
static nnrt_status k_nb(nnrt_device *d, const nnrt_call *c) { return run(d, c, false, true); }
static nnrt_status k_bf(nnrt_device *d, const nnrt_call *c) { return run(d, c, true, false); }
static nnrt_status k_bb(nnrt_device *d, const nnrt_call *c) { return run(d, c, true, true); }

nnrt_kernel_fn ocl_upsample_lookup(const char *op) {
  if (!strcmp(op, "upsample_nearest2d")) return k_nf;
  if (!strcmp(op, "upsample_nearest2d_backward")) return k_nb;
  if (!strcmp(op, "upsample_bilinear2d")) return k_bf;
  if (!strcmp(op, "upsample_bilinear2d_backward")) return k_bb;
  return NULL;
}
