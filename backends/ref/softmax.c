/* backends/ref/softmax.c - softmax, softmin and log_softmax along any dim,
 * forward and backward.  The input is seen as (outer, D, inner); each of
 * the outer*inner lines is reduced with its maximum subtracted first, so
 * no exp overflows; sums accumulate in double.
 *
 * float32 lines along the last dim (inner = 1, the common case) take a
 * vectorized path compiled per ISA (ref_vecmath.h): an inline polynomial
 * exp in `omp simd` loops for rows of finite values (with AVX-512, the
 * same polynomial in intrinsics with vscalefps), libmvec's expf for
 * the others, the exp argument x - max in float (exact when x is
 * within a factor of 2 of max; elsewhere its rounding only touches terms
 * below e^-1 of the largest), sums in float lanes over blocks of 512
 * merged in double, the final scaling by 1/sum in float. */
#include <stdbool.h>

#include "ref_vecmath.h"

#include "ref.h"
#include "ref_stream.h"

typedef enum { SOFTMAX, SOFTMIN, LOG_SOFTMAX } mode_t_;

#define SOFTMAX_LOOPS(T, SFX)                                                    \
  static void fwd_##SFX(const T *X, T *Y, int64_t outer, int64_t D, int64_t inner, mode_t_ m) { \
    double sign = m == SOFTMIN ? -1.0 : 1.0;                                     \
    _Pragma("omp parallel for schedule(static) if (outer * D * inner > REF_OMP_MIN)") \
    for (int64_t line = 0; line < outer * inner; line++) {                       \
      const T *x = X + (line / inner) * D * inner + line % inner;                \
      T *y = Y + (line / inner) * D * inner + line % inner;                      \
      double mx = -INFINITY;                                                     \
      for (int64_t d = 0; d < D; d++) mx = fmax(mx, sign * x[d * inner]);        \
      if (mx == -INFINITY) mx = 0; /* all -inf: 0/0 = NaN as torch; +inf: NaN too */ \
      double sum = 0;                                                            \
      for (int64_t d = 0; d < D; d++) {                                          \
        double e = exp(sign * x[d * inner] - mx);                                \
        sum += e;                                                                \
        if (m != LOG_SOFTMAX) y[d * inner] = (T)e;                               \
      }                                                                          \
      if (m == LOG_SOFTMAX) {                                                    \
        double lse = mx + log(sum);                                              \
        for (int64_t d = 0; d < D; d++) y[d * inner] = (T)(x[d * inner] - lse);  \
      } else {                                                                   \
        double r = 1.0 / sum;                                                    \
        for (int64_t d = 0; d < D; d++) y[d * inner] = (T)(y[d * inner] * r);    \
      }                                                                          \
    }                                                                            \
  }                                                                              \
  static void bwd_##SFX(const T *G, const T *Y, T *GX, int64_t outer, int64_t D, int64_t inner, mode_t_ m) { \
    _Pragma("omp parallel for schedule(static) if (outer * D * inner > REF_OMP_MIN)") \
    for (int64_t line = 0; line < outer * inner; line++) {                       \
      int64_t base = (line / inner) * D * inner + line % inner;                  \
      const T *g = G + base, *y = Y + base;                                      \
      T *gx = GX + base;                                                         \
      double s = 0;                                                              \
      if (m == LOG_SOFTMAX) {                                                    \
        for (int64_t d = 0; d < D; d++) s += g[d * inner];                       \
        for (int64_t d = 0; d < D; d++) gx[d * inner] = (T)(g[d * inner] - exp((double)y[d * inner]) * s); \
      } else {                                                                   \
        for (int64_t d = 0; d < D; d++) s += (double)g[d * inner] * y[d * inner]; \
        double sign = m == SOFTMIN ? -1.0 : 1.0;                                 \
        for (int64_t d = 0; d < D; d++) gx[d * inner] = (T)(sign * y[d * inner] * (g[d * inner] - s)); \
      }                                                                          \
    }                                                                            \
  }
SOFTMAX_LOOPS(float, f32)
SOFTMAX_LOOPS(double, f64)

/* Sum of e^(sign x - mx) over a row screened finite, storing in y the
 * terms, or with `args` the arguments sign x - mx (log_softmax's store
 * then overlaps the exp, and its last pass stays in L1): floats summed in
 * 16-ish lanes over blocks of 512 (relative error a few 1e-7 at most),
 * the blocks added in double. */
#if defined(__x86_64__) && defined(__GNUC__)
#define SM_AVX512 1
#include <immintrin.h>
/* The same with AVX-512 intrinsics: vscalefps applies 2^n (denormal
 * results rounded once, underflow to 0 included) where the portable
 * loop adds to exponent bits, scales and selects, a quarter of the
 * instructions of the pass; the polynomial and reduction are the same. */
__attribute__((target("avx512f"))) static double sum_exp_store_avx512(const float *x, float *y, int64_t D, float sign,
                                                                     float mx, bool args) {
  const __m512 vs = _mm512_set1_ps(sign), vm = _mm512_set1_ps(mx), l2e = _mm512_set1_ps(1.44269504088896341f),
               sh = _mm512_set1_ps(12582912.0f), c1 = _mm512_set1_ps(-0.693359375f),
               c2 = _mm512_set1_ps(2.12194440e-4f), one = _mm512_set1_ps(1.0f);
  double sum = 0;
  for (int64_t b = 0; b < D; b += 512) {
    int64_t n = D - b > 512 ? 512 : D - b;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t d = 0; d < n; d += 16) {
      __mmask16 k = n - d >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - d)) - 1);
      __m512 v = _mm512_fmsub_ps(vs, _mm512_maskz_loadu_ps(k, x + b + d), vm);
      __m512 t = _mm512_fmadd_ps(v, l2e, sh), nn = _mm512_sub_ps(t, sh);
      __m512 r = _mm512_fmadd_ps(nn, c2, _mm512_fmadd_ps(nn, c1, v));
      __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0.00831204958f), r, _mm512_set1_ps(0.0418944996f));
      p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166671332f));
      p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.499992018f));
      p = _mm512_fmadd_ps(p, r, one);
      p = _mm512_fmadd_ps(p, r, one);
      __m512 e = _mm512_scalef_ps(p, nn);
      _mm512_mask_storeu_ps(y + b + d, k, args ? v : e);
      acc = _mm512_mask_add_ps(acc, k, acc, e);
    }
    sum += _mm512_reduce_add_ps(acc);
  }
  return sum;
}
#endif

static inline __attribute__((always_inline)) double sum_exp_store_f32(const float *x, float *y, int64_t D, float sign, float mx, bool args) {
#ifdef SM_AVX512
  if (ref_have_avx512()) return sum_exp_store_avx512(x, y, D, sign, mx, args);
#endif
  double sum = 0;
  for (int64_t b = 0; b < D; b += 512) {
    int64_t n = D - b > 512 ? 512 : D - b;
    const float *xb = x + b;
    float *yb = y + b, s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t d = 0; d < n; d++) {
      float v = sign * xb[d] - mx, e = ref_expf_nonpos(v);
      yb[d] = args ? v : e;
      s += e;
    }
    sum += s;
  }
  return sum;
}

/* float32, one contiguous line of D.  Rows of finite values (the first
 * pass checks, through a plain sum) use the inline exp of ref_vecmath.h;
 * a row with an inf or NaN takes libm's expf, whose special cases give
 * torch's NaNs and zeros. */
REF_CLONES static void line_fwd_f32(const float *x, float *y, int64_t D, mode_t_ m) {
  float sign = m == SOFTMIN ? -1.0f : 1.0f, mx = -INFINITY, all = 0;
#pragma omp simd reduction(max : mx) reduction(+ : all)
  for (int64_t d = 0; d < D; d++) {
    float v = sign * x[d];
    mx = v > mx ? v : mx; /* a NaN is skipped, as fmax does */
    all += x[d]; /* inf or NaN if any x is, or on overflow (then slow but right) */
  }
  bool finite = all - all == 0;
  if (mx == -INFINITY) mx = 0; /* all -inf: 0/0 = NaN as torch; +inf: NaN too */
  double sum = 0;
  if (m == LOG_SOFTMAX) {
    if (finite) {
      /* (x - mx) - log(sum): two terms <= 0, so no cancellation. */
      float l = (float)log(sum_exp_store_f32(x, y, D, 1.0f, mx, true));
#pragma omp simd
      for (int64_t d = 0; d < D; d++) y[d] -= l;
      return;
    }
#pragma omp simd reduction(+ : sum)
    for (int64_t d = 0; d < D; d++) sum += expf(x[d] - mx);
    double lse = mx + log(sum);
#pragma omp simd
    for (int64_t d = 0; d < D; d++) y[d] = (float)(x[d] - lse);
    return;
  }
  if (finite) {
    sum = sum_exp_store_f32(x, y, D, sign, mx, false);
  } else {
#pragma omp simd reduction(+ : sum)
    for (int64_t d = 0; d < D; d++) {
      float e = expf(sign * x[d] - mx);
      y[d] = e;
      sum += e;
    }
  }
  float r = (float)(1.0 / sum); /* a float multiply: one rounding more, 13% faster */
#pragma omp simd
  for (int64_t d = 0; d < D; d++) y[d] *= r;
}

/* float32 log_softmax backward of one contiguous line: g - exp(y) sum(g). */
REF_CLONES static void line_log_bwd_f32(const float *g, const float *y, float *gx, int64_t D) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < D; d++) s += g[d];
#pragma omp simd
  for (int64_t d = 0; d < D; d++) gx[d] = (float)(g[d] - expf(y[d]) * s);
}

static void lines_fwd_f32(const float *X, float *Y, int64_t lines, int64_t D, mode_t_ m) {
#pragma omp parallel for schedule(static) if (lines * D > REF_OMP_MIN)
  for (int64_t l = 0; l < lines; l++) line_fwd_f32(X + l * D, Y + l * D, D, m);
}

static void lines_log_bwd_f32(const float *G, const float *Y, float *GX, int64_t lines, int64_t D) {
#pragma omp parallel for schedule(static) if (lines * D > REF_OMP_MIN)
  for (int64_t l = 0; l < lines; l++) line_log_bwd_f32(G + l * D, Y + l * D, GX + l * D, D);
}

static int norm_dim(int64_t dim, int ndim) { return (int)(dim < 0 ? dim + (ndim ? ndim : 1) : dim); }

static nnrt_status forward(const nnrt_call *call, mode_t_ m) {
  const nnrt_tensor *x = call->inputs[0];
  int64_t outer, D, inner;
  ref_split(x, norm_dim(((const nnrt_softmax_params *)call->params)->dim, x->ndim), &outer, &D, &inner);
  if (x->dtype == NNRT_F32 && inner == 1) lines_fwd_f32(x->data, call->outputs[0]->data, outer, D, m);
  else REF_DISPATCH(call, fwd, x->data, call->outputs[0]->data, outer, D, inner, m);
  return NNRT_OK;
}

static nnrt_status backward(const nnrt_call *call, mode_t_ m) {
  const nnrt_tensor *y = call->inputs[1];
  int64_t outer, D, inner;
  ref_split(y, norm_dim(((const nnrt_softmax_params *)call->params)->dim, y->ndim), &outer, &D, &inner);
  if (y->dtype == NNRT_F32 && inner == 1 && m == LOG_SOFTMAX)
    lines_log_bwd_f32(call->inputs[0]->data, y->data, call->outputs[0]->data, outer, D);
  else
    REF_DISPATCH(call, bwd, call->inputs[0]->data, y->data, call->outputs[0]->data, outer, D, inner, m);
  return NNRT_OK;
}

nnrt_status ref_softmax(nnrt_device *dev, const nnrt_call *call) { (void)dev; return forward(call, SOFTMAX); }
nnrt_status ref_softmin(nnrt_device *dev, const nnrt_call *call) { (void)dev; return forward(call, SOFTMIN); }
nnrt_status ref_log_softmax(nnrt_device *dev, const nnrt_call *call) { (void)dev; return forward(call, LOG_SOFTMAX); }
nnrt_status ref_softmax_backward(nnrt_device *dev, const nnrt_call *call) { (void)dev; return backward(call, SOFTMAX); }
nnrt_status ref_softmin_backward(nnrt_device *dev, const nnrt_call *call) { (void)dev; return backward(call, SOFTMIN); }
nnrt_status ref_log_softmax_backward(nnrt_device *dev, const nnrt_call *call) { (void)dev; return backward(call, LOG_SOFTMAX); }
