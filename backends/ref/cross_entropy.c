/* backends/ref/cross_entropy.c - log_softmax + nll in one op, with class
 * weights, ignore_index and label smoothing, for (C), (N, C) and
 * (N, C, d1..dk) inputs, as PyTorch 1.13 computes it:
 *   loss_i = (1-ls) * w[t_i] * -logp_i[t_i] + ls/C * -sum_c w_c logp_i[c]
 * with ignored positions contributing 0.  `mean` divides both terms by the
 * sum of w[t_i] over the positions not ignored (their count without
 * weights).
 *
 * log p is (x - max) - log(sum exp(x - max)), as PyTorch's log_softmax:
 * not x - (max + log(sum)), which loses the log next to a max of 1e16 or
 * more.  float32 with classes contiguous ((N, C) input, the common case)
 * takes `omp simd` loops compiled per ISA (ref_vecmath.h): the row's sum
 * of exps with an inline polynomial exp (rows with an inf or NaN: libmvec's
 * expf), and without label smoothing the gradient in float with the inline
 * exp, as PyTorch's float log_softmax backward (with smoothing: libmvec's
 * expf, arithmetic in double).  Two more float32 layouts reduce many rows
 * at once, one per vector lane: short rows (C <= CE_SHORT) and classes
 * along a non-last dim (inner > 1); see those sections. */
#include <stdbool.h>

#define REF_VECMATH_F64
#include "ref_vecmath.h"

#include "ref.h"
#include "ref_omp.h"

typedef struct {
  int64_t N, C, inner; /* positions = N * inner */
  const int64_t *t;
  int64_t ignore;
  double ls;
  int reduction;
  const float *smx;  /* short rows (float32, C <= CE_SHORT): each row's max */
  const double *sls; /* and log-sum-exp past it, from short_lse_f32; else NULL */
} ce_dims;

static ce_dims dims_of(const nnrt_call *call, const nnrt_tensor *x, const nnrt_tensor *t) {
  const nnrt_cross_entropy_params *p = call->params;
  ce_dims d = {1, x->shape[x->ndim == 1 ? 0 : 1], 1, t->data, p->ignore_index, p->label_smoothing, p->reduction, NULL, NULL};
  if (x->ndim >= 2) {
    d.N = x->shape[0];
    for (int i = 2; i < x->ndim; i++) d.inner *= x->shape[i];
  }
  return d;
}

/* log(sum_c exp(x[c] - *mx)) of one row of contiguous floats, *mx its
 * max (0 for a row of -inf only, whose log-sum is then -inf and every
 * log p NaN, as torch).  Rows of finite
 * values (a plain sum beside the max checks) use the inline exp of
 * ref_vecmath.h, summed in float lanes over blocks of 512 and the blocks
 * in double; a row with an inf or NaN takes libm's expf, whose special
 * cases give torch's NaNs and infs.  next_x, next_gx (or NULL): the row
 * after this one and its gradient (the thread's next row, except at the
 * end of its share), prefetched during the exp pass as softmax.c does, so
 * that their memory traffic overlaps this row's arithmetic. */
REF_CLONES static double row_lse_f32(const float *x, int64_t C, const float *next_x, float *next_gx, double *mxp) {
  float mx = -INFINITY, all = 0;
#pragma omp simd reduction(max : mx) reduction(+ : all)
  for (int64_t c = 0; c < C; c++) {
    mx = x[c] > mx ? x[c] : mx; /* NaN skipped, as fmax */
    all += x[c]; /* inf or NaN if any x is, or on overflow (then slow but right) */
  }
  if (mx == -INFINITY) mx = 0; /* all -inf: 0/0; +inf: inf - inf = NaN, as torch */
  double s = 0;
  if (all - all == 0) {
    for (int64_t b = 0; b < C; b += 512) {
      int64_t n = C - b > 512 ? 512 : C - b;
      const float *xb = x + b;
      float sb = 0;
      for (int64_t c = 0; next_x && c < n; c += 16) __builtin_prefetch(next_x + b + c, 0, 3);
      for (int64_t c = 0; next_gx && c < n; c += 16) __builtin_prefetch(next_gx + b + c, 1, 3);
#pragma omp simd reduction(+ : sb)
      for (int64_t c = 0; c < n; c++) sb += ref_expf_nonpos(xb[c] - mx);
      s += sb;
    }
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; c++) s += expf(x[c] - mx);
  }
  *mxp = mx;
  return log(s);
}

/* One row's gradient, classes contiguous: a (p - [c == t]) plus, with
 * label smoothing, b (p wall - w_c), p = exp((x - mx) - ls).  Without
 * smoothing in float with the inline exp ((x - mx) - ls <= 0; NaN and
 * -inf give NaN and 0 as expf). */
REF_CLONES static void row_bwd_f32(const float *x, float *gx, int64_t C, int64_t t, double mx, double ls, double a,
                                   bool smooth, double b, double wall, const float *W) {
  if (!smooth) {
    float mf = (float)mx, lf = (float)ls, af = (float)a;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) gx[c] = af * (ref_expf_nonpos((x[c] - mf) - lf) - (c == t ? 1.0f : 0.0f));
  } else if (!W) {
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      double p = expf((float)((x[c] - mx) - ls));
      gx[c] = (float)(a * (p - (c == t)) + b * (p * wall - 1.0));
    }
  } else {
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      double p = expf((float)((x[c] - mx) - ls));
      gx[c] = (float)(a * (p - (c == t)) + b * (p * wall - W[c]));
    }
  }
}

/* log(sum exp(x - *mx)) of the row at x, its classes `stride` apart, in
 * float64: the general path, and the rows the lane kernels below leave. */
#define STRIDED_LSE_FN(T, SFX)                                                   \
  static double strided_lse_##SFX(const T *x, int64_t C, int64_t stride, double *mx) { \
    double m = -INFINITY, s = 0;                                                 \
    for (int64_t c = 0; c < C; c++) m = fmax(m, x[c * stride]);                  \
    if (m == -INFINITY) m = 0; /* all -inf: 0/0; +inf: NaN, as torch */          \
    for (int64_t c = 0; c < C; c++) s += exp(x[c * stride] - m);                 \
    *mx = m;                                                                     \
    return log(s);                                                               \
  }
STRIDED_LSE_FN(float, f32)
STRIDED_LSE_FN(double, f64)

/* ---- many rows at once ----
 * Two float32 layouts reduce nb <= CE_LANES rows at a time, one row per
 * vector lane (max, sum of exps, libmvec's double log); a row with an inf
 * or NaN (a plain sum) is redone by the one-row path it would have taken.
 * The fwd and bwd loops then read each row's max and log-sum from
 * ce_dims.smx / sls.
 *  - short rows (inner == 1, C <= CE_SHORT): a row fits in a vector or
 *    two, and row_lse_f32's two passes, horizontal sums and scalar log
 *    cost more than its arithmetic; 16 rows a block.  (104858, 10):
 *    forward 3.5 -> 0.66 ms, backward 5.2 -> 1.2 (PyTorch 3.3 and 3.1).
 *  - classes along a non-last dim ((N, C, d1..dk), inner > 1): a row
 *    reads its classes inner apart, but CE_LANES neighbouring positions
 *    are contiguous for every class; the gradient goes the same way
 *    (lanes_bwd_f32).  (16, 21, 128, 128): forward 18.5 -> 1.5 ms,
 *    backward 35.7 -> 3.0 (PyTorch 5.4 and 13.2). */
#define CE_SHORT 32
#define CE_LANES 64

/* Row k's class c at x[k * rs + c * cs]; inlined into each caller with
 * its strides, one of them the constant 1. */
static inline __attribute__((always_inline)) void lanes_lse_(const float *x, int64_t C, int64_t rs, int64_t cs,
                                                             int nb, float *mxo, double *lso) {
  float m[CE_LANES], s[CE_LANES], all[CE_LANES];
  double l[CE_LANES];
  for (int k = 0; k < CE_LANES; k++) m[k] = -INFINITY, s[k] = 0, all[k] = 0;
  for (int64_t c = 0; c < C; c++) {
#pragma omp simd
    for (int k = 0; k < nb; k++) {
      float v = x[k * rs + c * cs];
      m[k] = v > m[k] ? v : m[k];
      all[k] += v;
    }
  }
  for (int64_t c = 0; c < C; c++) {
#pragma omp simd
    for (int k = 0; k < nb; k++) s[k] += ref_expf_nonpos(x[k * rs + c * cs] - m[k]);
  }
#pragma omp simd
  for (int k = 0; k < nb; k++) l[k] = log((double)s[k]);
  for (int k = 0; k < nb; k++) {
    double mx = m[k];
    if (!(all[k] - all[k] == 0))
      l[k] = cs == 1 ? row_lse_f32(x + k * rs, C, NULL, NULL, &mx) : strided_lse_f32(x + k * rs, C, cs, &mx);
    lso[k] = l[k];
    mxo[k] = (float)mx;
  }
}

/* rows [r0, r1) of C contiguous floats, 16 a block */
REF_CLONES static void short_lse_f32(const float *x, int64_t C, int64_t r0, int64_t r1, float *mxo, double *lso) {
  for (int64_t b = r0; b < r1; b += 16)
    lanes_lse_(x + b * C, C, C, 1, r1 - b < 16 ? (int)(r1 - b) : 16, mxo + b, lso + b);
}

/* positions [i0, i0 + nb) of one (C, inner) slab at x */
REF_CLONES static void lanes_lse_f32(const float *x, int64_t C, int64_t inner, int64_t i0, int nb, float *mxo,
                                     double *lso) {
  lanes_lse_(x + i0, C, 1, inner, nb, mxo, lso);
}

/* The gradient of positions [0, nb) of a block (x, gx at its first
 * position): a (p - [c == t]) plus, with smoothing, b (p wall - w_c), p =
 * exp((x - mx) - ls); 0 at ignored positions. */
REF_CLONES static void lanes_bwd_f32(const float *x, float *gx, int64_t C, int64_t inner, int nb, const float *a,
                                     const float *b, const int64_t *tk, const unsigned char *ign, const float *mf,
                                     const float *lf, const float *W, double wall, bool smooth) {
  for (int64_t c = 0; c < C; c++) {
    const float *xc = x + c * inner;
    float *gc = gx + c * inner;
    double wc = W ? W[c] : 1.0;
    if (!smooth) {
#pragma omp simd
      for (int k = 0; k < nb; k++) {
        float v = a[k] * (ref_expf_nonpos((xc[k] - mf[k]) - lf[k]) - (tk[k] == c ? 1.0f : 0.0f));
        gc[k] = ign[k] ? 0.0f : v;
      }
    } else {
#pragma omp simd
      for (int k = 0; k < nb; k++) {
        double p = ref_expf_nonpos((xc[k] - mf[k]) - lf[k]);
        double v = a[k] * (p - (tk[k] == c)) + b[k] * (p * wall - wc);
        gc[k] = ign[k] ? 0.0f : (float)v;
      }
    }
  }
}

/* The float32 backward with inner > 1, block by block of CE_LANES
 * positions (statistics from ce_dims). */
static void bwd_lanes(const float *GY, const float *X, const float *W, float *GX, ce_dims d, double wsum, double wall) {
  int64_t nblk = (d.inner + CE_LANES - 1) / CE_LANES, tasks = d.N * nblk;
#pragma omp parallel for schedule(static) if (d.N * d.C * d.inner > REF_OMP_MIN)
  for (int64_t task = 0; task < tasks; task++) {
    int64_t n = task / nblk, i0 = task % nblk * CE_LANES, base = n * d.C * d.inner + i0;
    int nb = (int)(d.inner - i0 < CE_LANES ? d.inner - i0 : CE_LANES);
    float a[CE_LANES], b[CE_LANES], mf[CE_LANES], lf[CE_LANES];
    int64_t tk[CE_LANES];
    unsigned char ign[CE_LANES];
    for (int k = 0; k < nb; k++) {
      int64_t pos = n * d.inner + i0 + k, t = d.t[pos];
      double g = d.reduction == 0 ? GY[pos] : GY[0], s = d.reduction == 1 ? g / wsum : g;
      ign[k] = t == d.ignore;
      tk[k] = ign[k] ? -1 : t;
      a[k] = ign[k] ? 0.0f : (float)((1 - d.ls) * s * (W ? W[t] : 1.0));
      b[k] = ign[k] ? 0.0f : (float)(d.ls / d.C * s);
      mf[k] = d.smx[pos], lf[k] = (float)d.sls[pos];
    }
    lanes_bwd_f32(X + base, GX + base, d.C, d.inner, nb, a, b, tk, ign, mf, lf, W, wall, d.ls > 0);
  }
}

/* Fills d->smx, d->sls (*mem: their memory, to free) for float32 short
 * rows (inner == 1, C <= CE_SHORT) and for classes along a non-last dim;
 * anything else leaves them NULL. */
static nnrt_status ce_stats(ce_dims *d, const nnrt_tensor *x, void **mem) {
  *mem = NULL;
  bool rows = d->inner == 1 && d->C <= CE_SHORT, lanes = d->inner > 1;
  if (x->dtype != NNRT_F32 || !(rows || lanes) || d->N * d->C * d->inner == 0) return NNRT_OK;
  int64_t P = d->N * d->inner, N = d->N, C = d->C, inner = d->inner;
  double *ls = malloc((sizeof(double) + sizeof(float)) * (size_t)P);
  if (!ls) return NNRT_ERR_OUT_OF_MEMORY;
  float *mx = (float *)(ls + P);
  const float *X = x->data;
  if (rows) {
#pragma omp parallel if (N * C > REF_OMP_MIN)
    {
      int64_t lo, hi;
      ref_span(N, 16, &lo, &hi);
      short_lse_f32(X, C, lo, hi, mx, ls);
    }
  } else {
    int64_t nblk = (inner + CE_LANES - 1) / CE_LANES;
#pragma omp parallel for schedule(static) if (N * C * inner > REF_OMP_MIN)
    for (int64_t task = 0; task < N * nblk; task++) {
      int64_t n = task / nblk, i0 = task % nblk * CE_LANES;
      int nb = (int)(inner - i0 < CE_LANES ? inner - i0 : CE_LANES);
      lanes_lse_f32(X + n * C * inner, C, inner, i0, nb, mx + n * inner + i0, ls + n * inner + i0);
    }
  }
  d->smx = mx, d->sls = ls, *mem = ls;
  return NNRT_OK;
}

#define LSE_FN(T, SFX)                                                           \
  static double lse_##SFX(const T *x, int64_t C, int64_t inner, const T *nx, T *ngx, double *mx, const ce_dims *d, \
                          int64_t pos) {                                         \
    if (d->sls) {                                                                \
      *mx = d->smx[pos];                                                         \
      return d->sls[pos];                                                        \
    }                                                                            \
    if (sizeof(T) == sizeof(float) && inner == 1)                                \
      return row_lse_f32((const float *)(const void *)x, C, (const float *)(const void *)nx, (float *)(void *)ngx, \
                         mx);                                                    \
    return strided_lse_##SFX(x, C, inner, mx);                                   \
  }
LSE_FN(float, f32)
LSE_FN(double, f64)

#define CE_FNS(T, SFX)                                                           \
  static void fwd_##SFX(const T *X, const T *W, T *Y, ce_dims d) {               \
    int64_t P = d.N * d.inner;                                                   \
    double nll_sum = 0, sm_sum = 0, wsum = 0;                                    \
    _Pragma("omp parallel for reduction(+ : nll_sum, sm_sum, wsum) schedule(static) if (P * d.C > REF_OMP_MIN)") \
    for (int64_t pos = 0; pos < P; pos++) {                                      \
      const T *x = X + (pos / d.inner) * d.C * d.inner + pos % d.inner;          \
      int64_t t = d.t[pos];                                                      \
      double nll = 0, sm = 0;                                                    \
      if (t != d.ignore) {                                                       \
        double mx, ls = lse_##SFX(x, d.C, d.inner, pos + 1 < P ? x + d.C : NULL, NULL, &mx, &d, pos); \
        double wt = W ? W[t] : 1.0;                                              \
        nll = -wt * ((x[t * d.inner] - mx) - ls);                                \
        if (d.ls > 0)                                                            \
          for (int64_t c = 0; c < d.C; c++) sm -= (W ? W[c] : 1.0) * ((x[c * d.inner] - mx) - ls); \
        wsum += wt;                                                              \
      }                                                                          \
      if (d.reduction == 0) Y[pos] = (T)((1 - d.ls) * nll + d.ls / d.C * sm);    \
      nll_sum += nll;                                                            \
      sm_sum += sm;                                                              \
    }                                                                            \
    if (d.reduction == 2) Y[0] = (T)((1 - d.ls) * nll_sum + d.ls / d.C * sm_sum); \
    if (d.reduction == 1)                                                        \
      Y[0] = (T)((1 - d.ls) * nll_sum / wsum +                                   \
                 (d.ls > 0 ? d.ls / d.C * sm_sum / wsum : 0)); \
  }                                                                              \
  static void bwd_##SFX(const T *GY, const T *X, const T *W, T *GX, ce_dims d) { \
    int64_t P = d.N * d.inner;                                                   \
    double wsum = 0, wall = 0;                                                   \
    for (int64_t pos = 0; pos < P; pos++)                                        \
      if (d.t[pos] != d.ignore) wsum += W ? W[d.t[pos]] : 1.0;                   \
    for (int64_t c = 0; c < d.C; c++) wall += W ? W[c] : 1.0;                    \
    if (sizeof(T) == sizeof(float) && d.inner > 1 && d.sls) {                    \
      bwd_lanes((const float *)(const void *)GY, (const float *)(const void *)X, (const float *)(const void *)W, \
                (float *)(void *)GX, d, wsum, wall);                             \
      return;                                                                    \
    }                                                                            \
    _Pragma("omp parallel for schedule(static) if (P * d.C > REF_OMP_MIN)")      \
    for (int64_t pos = 0; pos < P; pos++) {                                      \
      int64_t base = (pos / d.inner) * d.C * d.inner + pos % d.inner;            \
      const T *x = X + base;                                                     \
      T *gx = GX + base;                                                         \
      int64_t t = d.t[pos];                                                      \
      if (t == d.ignore) {                                                       \
        for (int64_t c = 0; c < d.C; c++) gx[c * d.inner] = 0;                   \
        continue;                                                                \
      }                                                                          \
      double g = d.reduction == 0 ? GY[pos] : GY[0];                             \
      double s = d.reduction == 1 ? g / wsum : g;                                \
      double wt = W ? W[t] : 1.0;                                                \
      double mx, ls = lse_##SFX(x, d.C, d.inner, pos + 1 < P ? x + d.C : NULL, pos + 1 < P ? gx + d.C : NULL, &mx, \
                                &d, pos);                                        \
      if (sizeof(T) == sizeof(float) && d.inner == 1) {                          \
        row_bwd_f32((const float *)(const void *)x, (float *)(void *)gx, d.C, t, mx, ls, (1 - d.ls) * s * wt, \
                    d.ls > 0, d.ls / d.C * s, wall, (const float *)(const void *)W);     \
        continue;                                                                \
      }                                                                          \
      for (int64_t c = 0; c < d.C; c++) {                                        \
        double p = exp((x[c * d.inner] - mx) - ls);                              \
        double v = (1 - d.ls) * s * wt * (p - (c == t));                     \
        if (d.ls > 0) v += d.ls / d.C * s * (p * wall - (W ? W[c] : 1.0));    \
        gx[c * d.inner] = (T)v;                                                  \
      }                                                                          \
    }                                                                            \
  }
CE_FNS(float, f32)
CE_FNS(double, f64)

nnrt_status ref_cross_entropy(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[0];
  ce_dims d = dims_of(call, x, call->inputs[1]);
  void *mem;
  if (ce_stats(&d, x, &mem)) return NNRT_ERR_OUT_OF_MEMORY;
  REF_DISPATCH(call, fwd, x->data, REF_IN_OPT(call, 2, void), call->outputs[0]->data, d);
  free(mem);
  return NNRT_OK;
}

nnrt_status ref_cross_entropy_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[1];
  ce_dims d = dims_of(call, x, call->inputs[2]);
  void *mem;
  if (ce_stats(&d, x, &mem)) return NNRT_ERR_OUT_OF_MEMORY;
  REF_DISPATCH(call, bwd, call->inputs[0]->data, x->data, REF_IN_OPT(call, 3, void), call->outputs[0]->data, d);
  free(mem);
  return NNRT_OK;
}
