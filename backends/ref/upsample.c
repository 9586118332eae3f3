/* backends/ref/upsample.c - upsample_nearest2d and upsample_bilinear2d,
 * forward and backward, for (N, C, H, W), with the index arithmetic of
 * PyTorch 1.13's generic CPU kernel (the one NCHW tensors with C > 1 take):
 *   nearest   src = min(floor(float(dst * scale)), in - 1), the product in
 *             the element type; scale = 1/scale_factor when given, else
 *             in/out.
 *   bilinear  align_corners: scale = (in - 1)/(out - 1) (0 if out == 1),
 *             src = dst * scale; else scale as nearest and
 *             src = max((dst + 0.5) * scale - 0.5, 0); i0 = (int)src,
 *             i1 = i0 + (i0 < in - 1), l1 = src - i0; out == in copies.
 *             Coordinates and weights in the element type, as PyTorch.
 * Known difference: PyTorch 1.13's nearest backward, and its channels-last
 * forward (which also serves C == 1 tensors), map out == in and
 * out == 2 in by identity and dst >> 1, so with a scale_factor s != 1, 2
 * giving such sizes (4 * 2.1 -> 8) its backward is not the gradient of its
 * forward.  Here both directions use the forward's mapping above.
 * Backward scatters each plane's output gradient into a double
 * accumulator, serially within the plane and in parallel over the N*C
 * planes: deterministic whatever the thread count. */
#include <math.h>

#include "ref.h"

#include "ref_omp.h"

/* Both upsample ops' params start with size[2], scale_factor[2]. */
static const double *scales_of(const nnrt_call *call) {
  return ((const nnrt_upsample_nearest2d_params *)call->params)->scale_factor;
}

/* Source index of each output index along one dim, for nearest. */
#define NEAREST_TABLE(T, SFX)                                                    \
  static void nearest_table_##SFX(int64_t *idx, int64_t in, int64_t out, double scale_factor) { \
    T scale = scale_factor > 0 ? (T)(1.0 / scale_factor) : (T)in / (T)out;      \
    for (int64_t o = 0; o < out; o++) {                                          \
      int64_t s = (int64_t)floorf((float)(scale * (T)o));                        \
      idx[o] = s < in - 1 ? s : in - 1;                                          \
    }                                                                            \
  }
NEAREST_TABLE(float, f32)
NEAREST_TABLE(double, f64)

/* Bilinear taps along one dim: i0, i1 and weights l0, l1 per output index. */
typedef struct lin_tap {
  int64_t i0, i1;
  double l0, l1; /* rounded through the element type */
} lin_tap;

#define LIN_TABLE(T, SFX)                                                        \
  static void lin_table_##SFX(lin_tap *tap, int64_t in, int64_t out, double scale_factor, bool align) { \
    T scale;                                                                     \
    if (align) scale = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;              \
    else scale = scale_factor > 0 ? (T)(1.0 / scale_factor) : (T)in / (T)out;    \
    for (int64_t o = 0; o < out; o++) {                                          \
      if (out == in) {                                                           \
        tap[o] = (lin_tap){o, o, 1.0, 0.0};                                      \
        continue;                                                                \
      }                                                                          \
      T src = align ? scale * (T)o : scale * ((T)o + (T)0.5) - (T)0.5;          \
      if (src < 0) src = 0;                                                      \
      int64_t i0 = (int64_t)src;                                                 \
      T l1 = src - (T)i0;                                                        \
      if (l1 > 1) l1 = 1;                                                        \
      tap[o] = (lin_tap){i0, i0 + (i0 < in - 1 ? 1 : 0), (double)((T)1 - l1), (double)l1}; \
    }                                                                            \
  }
LIN_TABLE(float, f32)
LIN_TABLE(double, f64)

typedef struct up_geom {
  int64_t planes, H, W, OH, OW;
} up_geom;

static up_geom geom_of(const nnrt_tensor *x, const nnrt_tensor *y) {
  return (up_geom){x->shape[0] * x->shape[1], x->shape[2], x->shape[3], y->shape[2], y->shape[3]};
}

#define UP_FNS(T, SFX)                                                           \
  static void nearest_fwd_##SFX(const T *X, T *Y, up_geom g, const int64_t *ih, const int64_t *iw) { \
    _Pragma("omp parallel for schedule(static) if (g.planes * g.OH * g.OW > REF_OMP_MIN)") \
    for (int64_t pl = 0; pl < g.planes; pl++)                                    \
      for (int64_t oh = 0; oh < g.OH; oh++) {                                    \
        const T *xr = X + (pl * g.H + ih[oh]) * g.W;                             \
        T *yr = Y + (pl * g.OH + oh) * g.OW;                                     \
        for (int64_t ow = 0; ow < g.OW; ow++) yr[ow] = xr[iw[ow]];               \
      }                                                                          \
  }                                                                              \
  static void nearest_bwd_##SFX(const T *G, T *GX, up_geom g, const int64_t *ih, const int64_t *iw, double *acc_all) { \
    _Pragma("omp parallel if (g.planes * g.OH * g.OW > REF_OMP_MIN)")            \
    {                                                                            \
      double *acc = acc_all + (size_t)ref_thread_num() * (size_t)(g.H * g.W);   \
      _Pragma("omp for schedule(static)")                                        \
      for (int64_t pl = 0; pl < g.planes; pl++) {                                \
        memset(acc, 0, sizeof(double) * (size_t)(g.H * g.W));                    \
        for (int64_t oh = 0; oh < g.OH; oh++) {                                  \
          const T *gr = G + (pl * g.OH + oh) * g.OW;                             \
          double *ar = acc + ih[oh] * g.W;                                       \
          for (int64_t ow = 0; ow < g.OW; ow++) ar[iw[ow]] += gr[ow];            \
        }                                                                        \
        T *gx = GX + pl * g.H * g.W;                                             \
        for (int64_t i = 0; i < g.H * g.W; i++) gx[i] = (T)acc[i];               \
      }                                                                          \
    }                                                                            \
  }                                                                              \
  static void bilinear_fwd_##SFX(const T *X, T *Y, up_geom g, const lin_tap *th, const lin_tap *tw) { \
    _Pragma("omp parallel for schedule(static) if (g.planes * g.OH * g.OW > REF_OMP_MIN)") \
    for (int64_t pl = 0; pl < g.planes; pl++)                                    \
      for (int64_t oh = 0; oh < g.OH; oh++) {                                    \
        const T *x0 = X + (pl * g.H + th[oh].i0) * g.W;                          \
        const T *x1 = X + (pl * g.H + th[oh].i1) * g.W;                          \
        T h0 = (T)th[oh].l0, h1 = (T)th[oh].l1;                                  \
        T *yr = Y + (pl * g.OH + oh) * g.OW;                                     \
        for (int64_t ow = 0; ow < g.OW; ow++) {                                  \
          const lin_tap *t = &tw[ow];                                            \
          T w0 = (T)t->l0, w1 = (T)t->l1;                                        \
          yr[ow] = h0 * (w0 * x0[t->i0] + w1 * x0[t->i1]) + h1 * (w0 * x1[t->i0] + w1 * x1[t->i1]); \
        }                                                                        \
      }                                                                          \
  }                                                                              \
  static void bilinear_bwd_##SFX(const T *G, T *GX, up_geom g, const lin_tap *th, const lin_tap *tw, double *acc_all) { \
    _Pragma("omp parallel if (g.planes * g.OH * g.OW > REF_OMP_MIN)")            \
    {                                                                            \
      double *acc = acc_all + (size_t)ref_thread_num() * (size_t)(g.H * g.W);   \
      _Pragma("omp for schedule(static)")                                        \
      for (int64_t pl = 0; pl < g.planes; pl++) {                                \
        memset(acc, 0, sizeof(double) * (size_t)(g.H * g.W));                    \
        for (int64_t oh = 0; oh < g.OH; oh++) {                                  \
          const T *gr = G + (pl * g.OH + oh) * g.OW;                             \
          double *a0 = acc + th[oh].i0 * g.W, *a1 = acc + th[oh].i1 * g.W;       \
          double h0 = th[oh].l0, h1 = th[oh].l1;                                 \
          for (int64_t ow = 0; ow < g.OW; ow++) {                                \
            const lin_tap *t = &tw[ow];                                          \
            double v = gr[ow];                                                   \
            a0[t->i0] += h0 * t->l0 * v;                                         \
            a0[t->i1] += h0 * t->l1 * v;                                         \
            a1[t->i0] += h1 * t->l0 * v;                                         \
            a1[t->i1] += h1 * t->l1 * v;                                         \
          }                                                                      \
        }                                                                        \
        T *gx = GX + pl * g.H * g.W;                                             \
        for (int64_t i = 0; i < g.H * g.W; i++) gx[i] = (T)acc[i];               \
      }                                                                          \
    }                                                                            \
  }

UP_FNS(float, f32)
UP_FNS(double, f64)

/* Index tables for both dims, and for backward one accumulator plane per
 * thread; NULL on out of memory. */
typedef struct up_work {
  void *th, *tw;
  double *acc;
} up_work;

static nnrt_status work_alloc(up_work *w, up_geom g, size_t tap_size, bool backward) {
  w->th = malloc(tap_size * (size_t)g.OH + 1);
  w->tw = malloc(tap_size * (size_t)g.OW + 1);
  w->acc = backward ? malloc(sizeof(double) * (size_t)(g.H * g.W) * (size_t)ref_max_threads() + 1) : NULL;
  if (!w->th || !w->tw || (backward && !w->acc)) {
    free(w->th);
    free(w->tw);
    free(w->acc);
    return NNRT_ERR_OUT_OF_MEMORY;
  }
  return NNRT_OK;
}

static void work_free(up_work *w) {
  free(w->th);
  free(w->tw);
  free(w->acc);
}

/* x: the low-resolution tensor (input / grad_input), y: the high one. */
static nnrt_status nearest(const nnrt_call *call, const nnrt_tensor *x, const nnrt_tensor *y, const void *src, void *dst,
                           bool backward) {
  up_geom g = geom_of(x, y);
  up_work w;
  if (work_alloc(&w, g, sizeof(int64_t), backward)) return NNRT_ERR_OUT_OF_MEMORY;
  const double *s = scales_of(call);
  if (x->dtype == NNRT_F64) {
    nearest_table_f64(w.th, g.H, g.OH, s[0]);
    nearest_table_f64(w.tw, g.W, g.OW, s[1]);
  } else {
    nearest_table_f32(w.th, g.H, g.OH, s[0]);
    nearest_table_f32(w.tw, g.W, g.OW, s[1]);
  }
  if (!backward) REF_DISPATCH(call, nearest_fwd, src, dst, g, w.th, w.tw);
  else REF_DISPATCH(call, nearest_bwd, src, dst, g, w.th, w.tw, w.acc);
  work_free(&w);
  return NNRT_OK;
}

static nnrt_status bilinear(const nnrt_call *call, const nnrt_tensor *x, const nnrt_tensor *y, const void *src,
                            void *dst, bool backward) {
  const nnrt_upsample_bilinear2d_params *p = call->params;
  up_geom g = geom_of(x, y);
  up_work w;
  if (work_alloc(&w, g, sizeof(lin_tap), backward)) return NNRT_ERR_OUT_OF_MEMORY;
  if (x->dtype == NNRT_F64) {
    lin_table_f64(w.th, g.H, g.OH, p->scale_factor[0], p->align_corners);
    lin_table_f64(w.tw, g.W, g.OW, p->scale_factor[1], p->align_corners);
  } else {
    lin_table_f32(w.th, g.H, g.OH, p->scale_factor[0], p->align_corners);
    lin_table_f32(w.tw, g.W, g.OW, p->scale_factor[1], p->align_corners);
  }
  if (!backward) REF_DISPATCH(call, bilinear_fwd, src, dst, g, w.th, w.tw);
  else REF_DISPATCH(call, bilinear_bwd, src, dst, g, w.th, w.tw, w.acc);
  work_free(&w);
  return NNRT_OK;
}

nnrt_status ref_upsample_nearest2d(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return nearest(call, call->inputs[0], call->outputs[0], call->inputs[0]->data, call->outputs[0]->data, false);
}

nnrt_status ref_upsample_nearest2d_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return nearest(call, call->inputs[1], call->inputs[0], call->inputs[0]->data, call->outputs[0]->data, true);
}

nnrt_status ref_upsample_bilinear2d(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return bilinear(call, call->inputs[0], call->outputs[0], call->inputs[0]->data, call->outputs[0]->data, false);
}

nnrt_status ref_upsample_bilinear2d_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return bilinear(call, call->inputs[1], call->inputs[0], call->inputs[0]->data, call->outputs[0]->data, true);
}
