/* core/rules_vision.c - shape and param rules of pixel_shuffle,
 * pixel_unshuffle and the 2-d upsamplings (nearest, bilinear).
 *
 * pixel_(un)shuffle take any rank >= 3 (leading dims are batch dims, as
 * PyTorch); the upsamplings take (N, C, H, W) only.  An upsampling's output
 * size comes from exactly one of `size` or `scale_factor` (floor(in * s)
 * in double, as PyTorch 1.13 when recompute_scale_factor is not set). */
#include <math.h>

#include "core.h"

/* ---- pixel_shuffle / pixel_unshuffle ---- */

/* The shape after shuffling x by r (up: (*, C r^2, H, W) -> (*, C, H r, W r))
 * or unshuffling it (the reverse); `what` names the tensor in errors. */
static nnrt_status shuffle_shape(const nnrt_call *c, const char *what, const char *pname, const nnrt_tensor *x,
                                 int64_t r, bool up, nnrt_shape *out) {
  char a[NNRT_SHAPE_STR_LEN];
  if (r < 1 || r > (1 << 20))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s=%lld must be in [1, 2^20]", c->op_name, pname, (long long)r);
  if (x->ndim < 3)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s must have at least 3 dims (*, C, H, W), got %s", c->op_name,
                      what, nnrt_shape_str(x->ndim, x->shape, a, sizeof a));
  int nd = x->ndim;
  int64_t C = x->shape[nd - 3], H = x->shape[nd - 2], W = x->shape[nd - 1];
  nnrt_shape_of(x, out);
  if (up) {
    if (C % (r * r))
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                        "%s: %s's channel dim (%lld, dim %d of %s) is not divisible by %s^2=%lld", c->op_name, what,
                        (long long)C, nd - 3, nnrt_shape_str(nd, x->shape, a, sizeof a), pname, (long long)(r * r));
    if (H > INT64_MAX / r || W > INT64_MAX / r)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s %s times %s=%lld overflows", c->op_name, what,
                        nnrt_shape_str(nd, x->shape, a, sizeof a), pname, (long long)r);
    out->dims[nd - 3] = C / (r * r);
    out->dims[nd - 2] = H * r;
    out->dims[nd - 1] = W * r;
  } else {
    if (H % r || W % r)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s's height %lld and width %lld (of %s) must be divisible by %s=%lld",
                        c->op_name, what, (long long)H, (long long)W, nnrt_shape_str(nd, x->shape, a, sizeof a),
                        pname, (long long)r);
    if (C > INT64_MAX / (r * r))
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s's channels times %s^2 overflow", c->op_name, what, pname);
    out->dims[nd - 3] = C * r * r;
    out->dims[nd - 2] = H / r;
    out->dims[nd - 1] = W / r;
  }
  return NNRT_OK;
}

static bool is_unshuffle(const nnrt_call *c) {
  return c->op == NNRT_OP_pixel_unshuffle || c->op == NNRT_OP_pixel_unshuffle_backward;
}

/* pixel_shuffle and pixel_unshuffle share the layout of their one param */
static int64_t shuffle_factor(const nnrt_call *c) { return ((const nnrt_pixel_shuffle_params *)c->params)->upscale_factor; }

nnrt_status nnrt_rule_pixel_shuffle(const nnrt_call *c, nnrt_shape *outs) {
  bool un = is_unshuffle(c);
  return shuffle_shape(c, "input", un ? "downscale_factor" : "upscale_factor", c->inputs[0], shuffle_factor(c), !un,
                       &outs[0]);
}

/* The input gradient of a shuffle is the unshuffled grad_output, and back. */
nnrt_status nnrt_rule_pixel_shuffle_backward(const nnrt_call *c, nnrt_shape *outs) {
  bool un = is_unshuffle(c);
  return shuffle_shape(c, "grad_output", un ? "downscale_factor" : "upscale_factor", c->inputs[0], shuffle_factor(c),
                       un, &outs[0]);
}

/* ---- upsample_nearest2d / upsample_bilinear2d ---- */

/* Both ops' params start with size[2], scale_factor[2]. */
static nnrt_status upsample_out_size(const nnrt_call *c, const nnrt_tensor *x, int64_t out_hw[2]) {
  const nnrt_upsample_nearest2d_params *p = c->params;
  char a[NNRT_SHAPE_STR_LEN];
  if (x->ndim != 4)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input must be 4-d (N, C, H, W), got %s", c->op_name,
                      nnrt_shape_str(x->ndim, x->shape, a, sizeof a));
  bool has_size = p->size[0] || p->size[1];
  bool has_scale = p->scale_factor[0] != 0 || p->scale_factor[1] != 0;
  if (has_size == has_scale)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: give exactly one of size or scale_factor (got %s)", c->op_name,
                      has_size ? "both" : "neither");
  for (int i = 0; i < 2; i++) {
    int64_t in = x->shape[2 + i];
    if (in < 1)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input %s has an empty spatial dim", c->op_name,
                        nnrt_shape_str(x->ndim, x->shape, a, sizeof a));
    if (has_size) {
      if (p->size[i] < 1)
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: size=[%lld,%lld] must be positive", c->op_name,
                          (long long)p->size[0], (long long)p->size[1]);
      out_hw[i] = p->size[i];
    } else {
      double s = p->scale_factor[i], o = (double)in * s;
      if (!(s > 0) || !isfinite(s) || o >= 9.2e18)
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: scale_factor=[%g,%g] must be positive and finite", c->op_name,
                          p->scale_factor[0], p->scale_factor[1]);
      out_hw[i] = (int64_t)o;
      if (out_hw[i] < 1)
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                          "%s: scale_factor=[%g,%g] gives an empty output for input %s (output %s %lld)", c->op_name,
                          p->scale_factor[0], p->scale_factor[1], nnrt_shape_str(x->ndim, x->shape, a, sizeof a),
                          i ? "width" : "height", (long long)out_hw[i]);
    }
  }
  return NNRT_OK;
}

nnrt_status nnrt_rule_upsample(const nnrt_call *c, nnrt_shape *outs) {
  int64_t hw[2];
  nnrt_status st = upsample_out_size(c, c->inputs[0], hw);
  if (st) return st;
  nnrt_shape_of(c->inputs[0], &outs[0]);
  outs[0].dims[2] = hw[0];
  outs[0].dims[3] = hw[1];
  return NNRT_OK;
}

nnrt_status nnrt_rule_upsample_backward(const nnrt_call *c, nnrt_shape *outs) {
  const nnrt_tensor *gy = c->inputs[0], *x = c->inputs[1];
  int64_t hw[2];
  nnrt_status st = upsample_out_size(c, x, hw);
  if (st) return st;
  bool ok = gy->ndim == 4 && gy->shape[0] == x->shape[0] && gy->shape[1] == x->shape[1] && gy->shape[2] == hw[0] &&
            gy->shape[3] == hw[1];
  if (!ok) {
    char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
    int64_t want[4] = {x->shape[0], x->shape[1], hw[0], hw[1]};
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: grad_output has shape %s, the forward's output has %s", c->op_name,
                      nnrt_shape_str(gy->ndim, gy->shape, a, sizeof a), nnrt_shape_str(4, want, b, sizeof b));
  }
  nnrt_shape_of(x, &outs[0]);
  return NNRT_OK;
}
