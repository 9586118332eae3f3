/* core/module_vision.c - PixelShuffle, PixelUnshuffle, UpsamplingNearest2d
 * and UpsamplingBilinear2d: parameter-free modules over one op whose
 * <op>_backward takes the same params and (grad_output[, input]). */
#include <string.h>

#include "module.h"

static nnrt_status vis_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  nnrt_tensor *ins[] = {input};
  return nnrt_module_run_forward(m, ins, output);
}

static nnrt_status vis_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  char name[96];
  snprintf(name, sizeof name, "%s_backward", nnrt_op_name(m->op));
  nnrt_op bop = nnrt_op_from_name(name);
  nnrt_shape sh;
  nnrt_shape_of(m->input, &sh);
  nnrt_status st = nnrt_module_ensure(m, &m->grad_input, &sh);
  if (st) return st;
  nnrt_tensor *ins[] = {grad_output, m->input};
  nnrt_tensor *outs[] = {m->grad_input};
  /* forward and backward params have the same members */
  if ((st = nnrt_op_run(bop, m->op_params, ins, outs))) return st;
  *grad_input = m->grad_input;
  return NNRT_OK;
}

static const nnrt_module_vtbl pixel_shuffle_vt = {"PixelShuffle", vis_forward, vis_backward, NULL, NULL};
static const nnrt_module_vtbl pixel_unshuffle_vt = {"PixelUnshuffle", vis_forward, vis_backward, NULL, NULL};
static const nnrt_module_vtbl nearest_vt = {"UpsamplingNearest2d", vis_forward, vis_backward, NULL, NULL};
static const nnrt_module_vtbl bilinear_vt = {"UpsamplingBilinear2d", vis_forward, vis_backward, NULL, NULL};

static nnrt_status make(nnrt_device *dev, const nnrt_module_vtbl *vt, nnrt_op op, const void *params, size_t size,
                        nnrt_module **out) {
  nnrt_status st = nnrt_module_alloc(dev, vt, out);
  if (st) return st;
  (*out)->op = op;
  memcpy((*out)->op_params, params, size);
  return NNRT_OK;
}

static nnrt_status shuffle(nnrt_device *dev, const nnrt_module_vtbl *vt, nnrt_op op, const char *pname, int64_t r,
                           nnrt_module **out) {
  if (r < 1) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s=%lld must be >= 1", vt->kind, pname, (long long)r);
  nnrt_pixel_shuffle_params p;
  nnrt_params_init(NNRT_OP_pixel_shuffle, &p);
  p.upscale_factor = r; /* pixel_unshuffle's params have the same layout */
  return make(dev, vt, op, &p, sizeof p, out);
}

nnrt_status nnrt_module_pixel_shuffle(nnrt_device *dev, int64_t upscale_factor, nnrt_module **out) {
  return shuffle(dev, &pixel_shuffle_vt, NNRT_OP_pixel_shuffle, "upscale_factor", upscale_factor, out);
}

nnrt_status nnrt_module_pixel_unshuffle(nnrt_device *dev, int64_t downscale_factor, nnrt_module **out) {
  return shuffle(dev, &pixel_unshuffle_vt, NNRT_OP_pixel_unshuffle, "downscale_factor", downscale_factor, out);
}

static nnrt_status upsampling(nnrt_device *dev, const nnrt_module_vtbl *vt, nnrt_op op, const int64_t *size,
                              const double *scale_factor, nnrt_module **out) {
  if (!size == !scale_factor)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: give exactly one of size or scale_factor (got %s)", vt->kind,
                      size ? "both" : "neither");
  if (size && (size[0] < 1 || size[1] < 1))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: size=[%lld,%lld] must be positive", vt->kind, (long long)size[0],
                      (long long)size[1]);
  if (scale_factor && !(scale_factor[0] > 0 && scale_factor[1] > 0 && scale_factor[0] < 1e18 && scale_factor[1] < 1e18))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: scale_factor=[%g,%g] must be positive and finite", vt->kind,
                      scale_factor[0], scale_factor[1]);
  nnrt_upsample_bilinear2d_params p; /* the nearest params are its prefix */
  nnrt_params_init(NNRT_OP_upsample_bilinear2d, &p);
  for (int i = 0; i < 2; i++) {
    if (size) p.size[i] = size[i];
    if (scale_factor) p.scale_factor[i] = scale_factor[i];
  }
  p.align_corners = true;
  return make(dev, vt, op, &p, nnrt_op_signature_of(op)->params_size, out);
}

nnrt_status nnrt_module_upsampling_nearest2d(nnrt_device *dev, const int64_t *size, const double *scale_factor,
                                             nnrt_module **out) {
  return upsampling(dev, &nearest_vt, NNRT_OP_upsample_nearest2d, size, scale_factor, out);
}

nnrt_status nnrt_module_upsampling_bilinear2d(nnrt_device *dev, const int64_t *size, const double *scale_factor,
                                              nnrt_module **out) {
  return upsampling(dev, &bilinear_vt, NNRT_OP_upsample_bilinear2d, size, scale_factor, out);
}
