/* backends/ref/pixel_shuffle.c - pixel_shuffle and pixel_unshuffle and
 * their backward ops: pure data movement between the "deep" layout
 * (B, C r^2, H, W) and the "wide" one (B, C, H r, W r), any leading batch
 * dims folded into B:
 *   wide[b, c, h r + i, w r + j] = deep[b, c r^2 + i r + j, h, w].
 * The backward of one is the other applied to grad_output.  Elements are
 * moved as 4- or 8-byte words, so the dtype does not matter. */
#include "ref.h"

/* Geometry in terms of the deep tensor: B, C (wide channels), H, W, r. */
typedef struct shuffle_geom {
  int64_t B, C, H, W, r;
} shuffle_geom;

static shuffle_geom geom_of_deep(const nnrt_tensor *deep, int64_t r) {
  int nd = deep->ndim;
  shuffle_geom g = {1, deep->shape[nd - 3] / (r * r), deep->shape[nd - 2], deep->shape[nd - 1], r};
  for (int i = 0; i < nd - 3; i++) g.B *= deep->shape[i];
  return g;
}

/* to_wide: deep -> wide (pixel_shuffle), else wide -> deep (unshuffle). */
#define SHUFFLE_FN(T, SFX)                                                       \
  static void move_##SFX(const T *src, T *dst, shuffle_geom g, bool to_wide) {   \
    int64_t r = g.r, planes = g.B * g.C;                                         \
    _Pragma("omp parallel for schedule(static) if (planes * g.H * g.W * r * r > REF_OMP_MIN)") \
    for (int64_t bc = 0; bc < planes; bc++)                                      \
      for (int64_t i = 0; i < r; i++)                                            \
        for (int64_t j = 0; j < r; j++) {                                        \
          int64_t deep0 = (bc * r * r + i * r + j) * g.H * g.W;                  \
          for (int64_t h = 0; h < g.H; h++) {                                    \
            int64_t wide0 = ((bc * g.H + h) * r + i) * g.W * r + j;              \
            for (int64_t w = 0; w < g.W; w++) {                                  \
              if (to_wide) dst[wide0 + w * r] = src[deep0 + h * g.W + w];        \
              else dst[deep0 + h * g.W + w] = src[wide0 + w * r];                \
            }                                                                    \
          }                                                                      \
        }                                                                        \
  }
SHUFFLE_FN(uint32_t, u32)
SHUFFLE_FN(uint64_t, u64)

static void run_move(const nnrt_tensor *src, nnrt_tensor *dst, shuffle_geom g, bool to_wide) {
  if (src->dtype == NNRT_F32) move_u32(src->data, dst->data, g, to_wide);
  else move_u64(src->data, dst->data, g, to_wide);
}

static int64_t factor(const nnrt_call *call) {
  return ((const nnrt_pixel_shuffle_params *)call->params)->upscale_factor;
}

nnrt_status ref_pixel_shuffle(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  run_move(call->inputs[0], call->outputs[0], geom_of_deep(call->inputs[0], factor(call)), true);
  return NNRT_OK;
}

nnrt_status ref_pixel_shuffle_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  run_move(call->inputs[0], call->outputs[0], geom_of_deep(call->outputs[0], factor(call)), false);
  return NNRT_OK;
}

nnrt_status ref_pixel_unshuffle(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  run_move(call->inputs[0], call->outputs[0], geom_of_deep(call->outputs[0], factor(call)), false);
  return NNRT_OK;
}

nnrt_status ref_pixel_unshuffle_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  run_move(call->inputs[0], call->outputs[0], geom_of_deep(call->inputs[0], factor(call)), true);
  return NNRT_OK;
}
