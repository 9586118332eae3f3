/* backends/ref/distance.c - pairwise_distance and cosine_similarity,
 * forward and backward, as PyTorch 1.13 computes them.
 *
 * pairwise_distance: d = x1 - x2 + eps (in the element type, as PyTorch's
 * tensor arithmetic), then the p-norm of each row of the last dim in
 * double; the backward is PyTorch's norm_backward (p = 0, 1, 2, inf, < 1,
 * < 2 and the rest), with grad_x2 = -grad_x1.
 * cosine_similarity: each norm is clamped to eps on its own,
 *   cos = sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps)),
 * and the gradient is the one PyTorch's autograd gives for that graph:
 *   gx1 = g (x2 / (n1c n2c) - cos x1 / n1c^2), gx2 alike. */
#include <math.h>

#include "ref.h"

#include "ref_omp.h"

static double pnorm(const double *d, int64_t D, double p) {
  double s = 0;
  if (p == 2) {
    for (int64_t k = 0; k < D; k++) s += d[k] * d[k];
    return sqrt(s);
  }
  if (p == 1) {
    for (int64_t k = 0; k < D; k++) s += fabs(d[k]);
    return s;
  }
  if (isinf(p)) {
    for (int64_t k = 0; k < D; k++) s = isnan(d[k]) || fabs(d[k]) > s ? fabs(d[k]) : s;
    return s;
  }
  if (p == 0) {
    for (int64_t k = 0; k < D; k++) s += d[k] != 0;
    return s;
  }
  for (int64_t k = 0; k < D; k++) s += pow(fabs(d[k]), p);
  return pow(s, 1.0 / p);
}

static double sgn(double v) { return (v > 0) - (v < 0); }

/* d/d(d_k) of ||d||_p times g, into out[k]. */
static void pnorm_grad(const double *d, int64_t D, double p, double norm, double g, double *out) {
  if (p == 0) {
    for (int64_t k = 0; k < D; k++) out[k] = 0;
  } else if (p == 1) {
    for (int64_t k = 0; k < D; k++) out[k] = sgn(d[k]) * g;
  } else if (p == 2) {
    for (int64_t k = 0; k < D; k++) out[k] = norm == 0 ? 0 : g * d[k] / norm;
  } else if (isinf(p)) {
    /* the gradient is shared among the entries that reach the max */
    double ties = 0;
    for (int64_t k = 0; k < D; k++) ties += fabs(d[k]) == norm || isnan(d[k]);
    for (int64_t k = 0; k < D; k++) out[k] = (fabs(d[k]) == norm || isnan(d[k])) ? sgn(d[k]) * g / ties : 0;
  } else if (p < 1) {
    for (int64_t k = 0; k < D; k++)
      out[k] = d[k] == 0 ? 0 : sgn(d[k]) * pow(fabs(d[k]), p - 1) * g * pow(norm, 1 - p);
  } else {
    double scale = norm == 0 ? 0 : g / pow(norm, p - 1);
    for (int64_t k = 0; k < D; k++) out[k] = sgn(d[k]) * pow(fabs(d[k]), p - 1) * scale;
  }
}

#define DIST_FNS(T, SFX)                                                         \
  static void diff_##SFX(const T *a, const T *b, int64_t D, double eps, double *d) { \
    for (int64_t k = 0; k < D; k++) d[k] = (double)((T)(a[k] - b[k]) + (T)eps);  \
  }                                                                              \
  static void pd_fwd_##SFX(const T *X1, const T *X2, T *Y, int64_t R, int64_t D, double p, double eps, \
                           double *work_all) {                                   \
    _Pragma("omp parallel if (R * D > REF_OMP_MIN)")                             \
    {                                                                            \
      double *d = work_all + (size_t)ref_thread_num() * (size_t)(2 * D);             \
      _Pragma("omp for schedule(static)")                                        \
      for (int64_t r = 0; r < R; r++) {                                          \
        diff_##SFX(X1 + r * D, X2 + r * D, D, eps, d);                           \
        Y[r] = (T)pnorm(d, D, p);                                                \
      }                                                                          \
    }                                                                            \
  }                                                                              \
  static void pd_bwd_##SFX(const T *G, const T *X1, const T *X2, T *G1, T *G2, int64_t R, int64_t D, double p, \
                           double eps, double *work_all) {                       \
    _Pragma("omp parallel if (R * D > REF_OMP_MIN)")                             \
    {                                                                            \
      double *d = work_all + (size_t)ref_thread_num() * (size_t)(2 * D), *gd = d + D; \
      _Pragma("omp for schedule(static)")                                        \
      for (int64_t r = 0; r < R; r++) {                                          \
        diff_##SFX(X1 + r * D, X2 + r * D, D, eps, d);                           \
        /* the forward's norm as it was stored, in the element type */          \
        double norm = (T)pnorm(d, D, p);                                         \
        pnorm_grad(d, D, p, norm, G[r], gd);                                     \
        for (int64_t k = 0; k < D; k++) {                                        \
          if (G1) G1[r * D + k] = (T)gd[k];                                      \
          if (G2) G2[r * D + k] = (T)-gd[k];                                     \
        }                                                                        \
      }                                                                          \
    }                                                                            \
  }                                                                              \
  /* one (outer, inner) position: vectors of n elements at stride `inner` */     \
  static void cos_norms_##SFX(const T *a, const T *b, int64_t n, int64_t inner, double eps, double *n1c, \
                              double *n2c, double *cos) {                        \
    double s1 = 0, s2 = 0, s12 = 0;                                              \
    for (int64_t k = 0; k < n; k++) {                                            \
      double u = a[k * inner], v = b[k * inner];                                 \
      s1 += u * u;                                                               \
      s2 += v * v;                                                               \
      s12 += u * v;                                                              \
    }                                                                            \
    *n1c = fmax(sqrt(s1), eps);                                                  \
    *n2c = fmax(sqrt(s2), eps);                                                  \
    *cos = s12 / (*n1c * *n2c);                                                  \
  }                                                                              \
  static void cs_fwd_##SFX(const T *X1, const T *X2, T *Y, int64_t outer, int64_t n, int64_t inner, double eps) { \
    _Pragma("omp parallel for schedule(static) if (outer * n * inner > REF_OMP_MIN)") \
    for (int64_t o = 0; o < outer; o++)                                          \
      for (int64_t i = 0; i < inner; i++) {                                      \
        double n1c, n2c, cos;                                                    \
        int64_t base = o * n * inner + i;                                        \
        cos_norms_##SFX(X1 + base, X2 + base, n, inner, eps, &n1c, &n2c, &cos);  \
        Y[o * inner + i] = (T)cos;                                               \
      }                                                                          \
  }                                                                              \
  static void cs_bwd_##SFX(const T *G, const T *X1, const T *X2, T *G1, T *G2, int64_t outer, int64_t n, \
                           int64_t inner, double eps) {                          \
    _Pragma("omp parallel for schedule(static) if (outer * n * inner > REF_OMP_MIN)") \
    for (int64_t o = 0; o < outer; o++)                                          \
      for (int64_t i = 0; i < inner; i++) {                                      \
        double n1c, n2c, cos, g = G[o * inner + i];                              \
        int64_t base = o * n * inner + i;                                        \
        cos_norms_##SFX(X1 + base, X2 + base, n, inner, eps, &n1c, &n2c, &cos);  \
        for (int64_t k = 0; k < n; k++) {                                        \
          int64_t at = base + k * inner;                                         \
          double u = X1[at], v = X2[at];                                         \
          if (G1) G1[at] = (T)(g * (v / (n1c * n2c) - cos * u / (n1c * n1c)));   \
          if (G2) G2[at] = (T)(g * (u / (n1c * n2c) - cos * v / (n2c * n2c)));   \
        }                                                                        \
      }                                                                          \
  }
DIST_FNS(float, f32)
DIST_FNS(double, f64)

/* Rows of the last dim; each thread gets 2 D doubles of scratch. */
static nnrt_status pairwise(const nnrt_call *call, const nnrt_tensor *x1, bool backward) {
  const nnrt_pairwise_distance_params *p = call->params;
  int64_t D = x1->shape[x1->ndim - 1], R = 1;
  for (int i = 0; i + 1 < x1->ndim; i++) R *= x1->shape[i];
  double *work = malloc(sizeof(double) * (size_t)(2 * D) * (size_t)ref_max_threads() + 1);
  if (!work) return NNRT_ERR_OUT_OF_MEMORY;
  if (!backward)
    REF_DISPATCH(call, pd_fwd, x1->data, call->inputs[1]->data, call->outputs[0]->data, R, D, p->p, p->eps, work);
  else
    REF_DISPATCH(call, pd_bwd, call->inputs[0]->data, x1->data, call->inputs[2]->data, REF_OUT_OPT(call, 0, void),
                 REF_OUT_OPT(call, 1, void), R, D, p->p, p->eps, work);
  free(work);
  return NNRT_OK;
}

nnrt_status ref_pairwise_distance(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return pairwise(call, call->inputs[0], false);
}

nnrt_status ref_pairwise_distance_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return pairwise(call, call->inputs[1], true);
}

static void cos_split(const nnrt_call *call, const nnrt_tensor *x1, int64_t *outer, int64_t *n, int64_t *inner) {
  int64_t dim = ((const nnrt_cosine_similarity_params *)call->params)->dim;
  if (dim < 0) dim += x1->ndim;
  ref_split(x1, (int)dim, outer, n, inner);
}

nnrt_status ref_cosine_similarity(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x1 = call->inputs[0];
  int64_t outer, n, inner;
  cos_split(call, x1, &outer, &n, &inner);
  REF_DISPATCH(call, cs_fwd, x1->data, call->inputs[1]->data, call->outputs[0]->data, outer, n, inner,
               ((const nnrt_cosine_similarity_params *)call->params)->eps);
  return NNRT_OK;
}

nnrt_status ref_cosine_similarity_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x1 = call->inputs[1];
  int64_t outer, n, inner;
  cos_split(call, x1, &outer, &n, &inner);
  REF_DISPATCH(call, cs_bwd, call->inputs[0]->data, x1->data, call->inputs[2]->data, REF_OUT_OPT(call, 0, void),
               REF_OUT_OPT(call, 1, void), outer, n, inner,
               ((const nnrt_cosine_similarity_params *)call->params)->eps);
  return NNRT_OK;
}
