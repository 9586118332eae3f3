/* backends/ref/softmax.c - softmax, softmin and log_softmax along any dim,
 * forward and backward.  The input is seen as (outer, D, inner); each of
 * the outer*inner lines is reduced with its maximum subtracted first, so
 * no exp overflows.  float64 takes plain loops with every sum in double
 * (the precision reference).  float32 takes one of these vectorized
 * paths, compiled per ISA (REF_CLONES, ref_vecmath.h), by layout:
 *   long rows (inner = 1; D > 64 forward, D > 15 backward): a row at a
 *     time, each pass a contiguous `omp simd` loop;
 *   inner > 1: the inner elements of one d are contiguous, so chunks of
 *     up to 64 lines ("lanes") advance together over d, a vector a step;
 *     where that gives too few chunks to share among threads and D is
 *     long, D is split into ranges whose partial maxima and sums combine;
 *   short rows (inner = 1, D <= 64 forward): blocks of 64 rows transposed
 *     into an L1 tile and run as lanes (per-row passes with masked tails
 *     cost more than the transposes); backward (D <= 15) sums each row in
 *     a short loop and computes the block's contiguous elements at once.
 * Lines of finite values take the inline polynomial exp ref_expf_nonpos
 * (along long rows with AVX-512, the same polynomial in intrinsics with
 * vscalefps); a line with an inf or NaN (across lanes: a chunk with one)
 * takes libm's expf (libmvec) with sums in double, whose special cases
 * give torch's results: a line with a NaN or a +inf (softmin: -inf) all
 * NaN, a line of -inf only NaN, e^-inf = 0, log_softmax -inf.  The exp
 * argument x - max is a float (exact when x is within a factor of 2 of
 * max; elsewhere its rounding only touches terms below e^-1 of the
 * largest); sums go in float lanes of at most 64 terms (16 or 8 vector
 * lanes over blocks of 512 along a row; 32 steps of d per lane), merged
 * in double; the final scaling by 1/sum is in float; log(sum) is in
 * double along rows, ref_log1pf(sum - 1) across lanes (3 ulp,
 * vectorized); log_softmax is (x - max) - log(sum), never x - (max +
 * log(sum)), which loses log(sum) next to a huge max.  Backward sums
 * likewise (short rows: one float sum of at most 15 terms); the final
 * y (g - s) or g - e^y s is in double along long rows, in float elsewhere
 * (as PyTorch's float kernels); e^y by ref_expf.  Every path's choices
 * depend on the shape only, never on the thread count, nor do results.
 * tests/test_softmax.c checks each path against float64.
 * Limits: a long row never spans threads (fewer rows than threads leave
 * some idle); a lanes chunk of fewer than 16 lines leaves vector lanes
 * idle; every path makes three passes (max, exp and sum, scale), over
 * L1/L2-resident blocks except for long rows and split ranges. */
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
      if (m == LOG_SOFTMAX) { /* not x - (mx + l): l is lost next to a huge mx */ \
        double l = log(sum);                                                     \
        for (int64_t d = 0; d < D; d++) y[d * inner] = (T)(x[d * inner] - mx - l); \
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
                                                                     float mx, bool args, bool next) {
  const __m512 vs = _mm512_set1_ps(sign), vm = _mm512_set1_ps(mx), l2e = _mm512_set1_ps(1.44269504088896341f),
               sh = _mm512_set1_ps(12582912.0f), c1 = _mm512_set1_ps(-0.693359375f),
               c2 = _mm512_set1_ps(2.12194440e-4f), one = _mm512_set1_ps(1.0f);
  double sum = 0;
  for (int64_t b = 0; b < D; b += 512) {
    int64_t n = D - b > 512 ? 512 : D - b;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t d = 0; d < n; d += 16) {
      __mmask16 k = n - d >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - d)) - 1);
      if (next) {
        __builtin_prefetch(x + D + b + d, 0, 3);
        __builtin_prefetch(y + D + b + d, 1, 3);
      }
      __m512 v = _mm512_fmsub_ps(vs, _mm512_maskz_loadu_ps(k, x + b + d), vm);
      /* e^v for v below -110 is 0 either way; clamped, n stays small enough
       * for the reduction to leave |r| <= ln2/2 (a masked -1e30 would
       * give a huge r, and the polynomial inf or NaN) */
      __m512 vc = _mm512_max_ps(v, _mm512_set1_ps(-110.0f));
      __m512 t = _mm512_fmadd_ps(vc, l2e, sh), nn = _mm512_sub_ps(t, sh);
      __m512 r = _mm512_fmadd_ps(nn, c2, _mm512_fmadd_ps(nn, c1, vc));
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

static inline __attribute__((always_inline)) double sum_exp_store_f32(const float *x, float *y, int64_t D, float sign,
                                                                     float mx, bool args, bool next) {
#ifdef SM_AVX512
  if (ref_have_avx512()) return sum_exp_store_avx512(x, y, D, sign, mx, args, next);
#endif
  double sum = 0;
  for (int64_t b = 0; b < D; b += 512) {
    int64_t n = D - b > 512 ? 512 : D - b;
    const float *xb = x + b;
    float *yb = y + b, s = 0;
    for (int64_t d = 0; next && d < n; d += 16) {
      __builtin_prefetch(xb + D + d, 0, 3);
      __builtin_prefetch(yb + D + d, 1, 3);
    }
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
 * torch's NaNs and zeros.  next: the thread's next line follows at x + D,
 * y + D; the exp pass prefetches it, input to read and output to write,
 * so that its memory traffic overlaps this line's arithmetic (4096x1000:
 * softmax 0.80 -> 0.75 ms, log_softmax 0.85 -> 0.76 ms on 2 threads). */
REF_CLONES static void line_fwd_f32(const float *x, float *y, int64_t D, mode_t_ m, bool next) {
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
      float l = (float)log(sum_exp_store_f32(x, y, D, 1.0f, mx, true, next));
#pragma omp simd
      for (int64_t d = 0; d < D; d++) y[d] -= l;
      return;
    }
#pragma omp simd reduction(+ : sum)
    for (int64_t d = 0; d < D; d++) sum += expf(x[d] - mx);
    double l = log(sum);
#pragma omp simd
    for (int64_t d = 0; d < D; d++) y[d] = (float)((x[d] - (double)mx) - l); /* not x - (mx + l): mx may be huge */
    return;
  }
  if (finite) {
    sum = sum_exp_store_f32(x, y, D, sign, mx, false, next);
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

/* float32 log_softmax backward of one contiguous line: g - exp(y) sum(g),
 * exp by the inline ref_expf (2.5 ulp; a libmvec call per vector cost a
 * third more time at D = 16..64). */
REF_CLONES static void line_log_bwd_f32(const float *g, const float *y, float *gx, int64_t D) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < D; d++) s += g[d];
#pragma omp simd
  for (int64_t d = 0; d < D; d++) gx[d] = (float)(g[d] - ref_expf(y[d]) * s);
}

/* float32 softmax or softmin backward of one contiguous line: s = sum g y
 * in float lanes over blocks of 512 merged in double, then y (g - s) in
 * double as the generic loop (softmin: y (s - g)). */
REF_CLONES static void line_bwd_f32(const float *g, const float *y, float *gx, int64_t D, mode_t_ m) {
  double s = 0;
  for (int64_t b = 0; b < D; b += 512) {
    int64_t n = D - b > 512 ? 512 : D - b;
    const float *gb = g + b, *yb = y + b;
    float a = 0;
#pragma omp simd reduction(+ : a)
    for (int64_t d = 0; d < n; d++) a += gb[d] * yb[d];
    s += a;
  }
  if (m == SOFTMIN) {
#pragma omp simd
    for (int64_t d = 0; d < D; d++) gx[d] = (float)(y[d] * (s - g[d]));
  } else {
#pragma omp simd
    for (int64_t d = 0; d < D; d++) gx[d] = (float)(y[d] * (g[d] - s));
  }
}

/* ---- float32 across lanes ------------------------------------------------
 * n <= SM_W lines side by side ("lanes"): element d of lane i at
 * x[d * stride + i], so that each step over d is a contiguous vector of
 * lanes.  This is the layout of a dim with inner > 1 (the lanes are the
 * inner elements), and of a block of short rows transposed into a tile.
 * Lane values live in small arrays of the stack (L1).  Each kernel is an
 * always_inline body instantiated per mode and for n = SM_W (fixed-length
 * loops, no tails) by LANES_CALL inside a REF_CLONES wrapper. */
#define SM_W 64
/* Lane sums: float over SM_BLK steps of d, then merged in double; 32 terms
 * per float, as the contiguous path's 16 lanes over 512. */
#define SM_BLK 32

#define LANES_CALL(fn, n, m, ...)                                                \
  do {                                                                           \
    if ((n) == SM_W) {                                                           \
      if ((m) == SOFTMAX) fn(__VA_ARGS__, SM_W, SOFTMAX);                        \
      else if ((m) == SOFTMIN) fn(__VA_ARGS__, SM_W, SOFTMIN);                   \
      else fn(__VA_ARGS__, SM_W, LOG_SOFTMAX);                                   \
    } else {                                                                     \
      if ((m) == SOFTMAX) fn(__VA_ARGS__, n, SOFTMAX);                           \
      else if ((m) == SOFTMIN) fn(__VA_ARGS__, n, SOFTMIN);                      \
      else fn(__VA_ARGS__, n, LOG_SOFTMAX);                                      \
    }                                                                            \
  } while (0)

/* Forward passes 1 and 2 over d in [0, D): each lane's maximum of sign x
 * into mx (-inf for a lane of -inf only, taken as 0 below: 0/0 = NaN as
 * torch; +inf: NaN too) and its sum of e^(sign x - max) into sum (double);
 * y gets the terms, or for log_softmax on the fast path the arguments.
 * *slow says which path ran.  All lanes finite (the first pass checks,
 * through a plain sum): the inline exp, as line_fwd_f32.  An inf or NaN in
 * any lane: libm's expf (libmvec), the sums straight in double, lane by
 * lane the arithmetic of line_fwd_f32's slow path, and a log_softmax
 * stores nothing.  For n <= SM_W / 2 the passes take four steps of d at a
 * time, so that the lane arrays round-trip through memory once per four
 * (wider chunks have enough vectors per step, and would run out of
 * registers); the max of four is a tree, which may or may not skip a NaN
 * (a lane with a NaN comes out all NaN either way, and mx never becomes
 * NaN). */
static inline __attribute__((always_inline)) void lanes_fwd_sum_(const float *x, float *y, int64_t stride, int64_t D,
                                                                 float *mx, double *sum, bool *slow, int n,
                                                                 mode_t_ m) {
  const float sign = m == SOFTMIN ? -1.0f : 1.0f;
  const bool unroll = n <= SM_W / 2;
  float all[SM_W], lm[SM_W], s[SM_W];
  for (int i = 0; i < n; i++) mx[i] = -INFINITY, all[i] = 0, sum[i] = 0;
  int64_t d = 0;
  for (; unroll && d + 4 <= D; d += 4) {
    const float *x0 = x + d * stride, *x1 = x0 + stride, *x2 = x1 + stride, *x3 = x2 + stride;
#pragma omp simd
    for (int i = 0; i < n; i++) {
      float v0 = sign * x0[i], v1 = sign * x1[i], v2 = sign * x2[i], v3 = sign * x3[i];
      float m01 = v0 > v1 ? v0 : v1, m23 = v2 > v3 ? v2 : v3, v = m01 > m23 ? m01 : m23;
      mx[i] = v > mx[i] ? v : mx[i];
      all[i] += (x0[i] + x1[i]) + (x2[i] + x3[i]);
    }
  }
  for (; d < D; d++) {
    const float *xd = x + d * stride;
#pragma omp simd
    for (int i = 0; i < n; i++) {
      float v = sign * xd[i];
      mx[i] = v > mx[i] ? v : mx[i];
      all[i] += xd[i];
    }
  }
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (int i = 0; i < n; i++) {
    bad |= !(all[i] - all[i] == 0); /* inf or NaN if any x is, or on overflow (then slow but right) */
    lm[i] = mx[i] == -INFINITY ? 0 : mx[i];
  }
  *slow = bad;
  if (!bad) {
    for (int64_t b = 0; b < D; b += SM_BLK) {
      int64_t e_ = D - b > SM_BLK ? b + SM_BLK : D;
      for (int i = 0; i < n; i++) s[i] = 0;
      for (d = b; unroll && d + 4 <= e_; d += 4) {
        const float *x0 = x + d * stride, *x1 = x0 + stride, *x2 = x1 + stride, *x3 = x2 + stride;
        float *y0 = y + d * stride, *y1 = y0 + stride, *y2 = y1 + stride, *y3 = y2 + stride;
#pragma omp simd
        for (int i = 0; i < n; i++) {
          float v0 = sign * x0[i] - lm[i], v1 = sign * x1[i] - lm[i], v2 = sign * x2[i] - lm[i],
                v3 = sign * x3[i] - lm[i];
          float e0 = ref_expf_nonpos(v0), e1 = ref_expf_nonpos(v1), e2 = ref_expf_nonpos(v2), e3 = ref_expf_nonpos(v3);
          y0[i] = m == LOG_SOFTMAX ? v0 : e0;
          y1[i] = m == LOG_SOFTMAX ? v1 : e1;
          y2[i] = m == LOG_SOFTMAX ? v2 : e2;
          y3[i] = m == LOG_SOFTMAX ? v3 : e3;
          s[i] += (e0 + e1) + (e2 + e3);
        }
      }
      for (; d < e_; d++) {
        const float *xd = x + d * stride;
        float *yd = y + d * stride;
#pragma omp simd
        for (int i = 0; i < n; i++) {
          float v = sign * xd[i] - lm[i], e = ref_expf_nonpos(v);
          yd[i] = m == LOG_SOFTMAX ? v : e;
          s[i] += e;
        }
      }
      for (int i = 0; i < n; i++) sum[i] += s[i];
    }
  } else {
    for (d = 0; d < D; d++) {
      const float *xd = x + d * stride;
      float *yd = y + d * stride;
#pragma omp simd
      for (int i = 0; i < n; i++) {
        float e = expf(sign * xd[i] - lm[i]);
        if (m != LOG_SOFTMAX) yd[i] = e;
        sum[i] += e;
      }
    }
  }
}

/* Forward pass 3 over d in [0, D): softmax, softmin: y *= c; log_softmax:
 * y += c on the fast path (y holds x - max, c = -log(sum): two terms <= 0,
 * no cancellation), y = (x - cd) - c in double on the slow path (cd = max,
 * c = log(sum), as line_fwd_f32). */
static inline __attribute__((always_inline)) void lanes_fwd_out_(const float *x, float *y, int64_t stride, int64_t D,
                                                                 bool slow, const float *c, const double *cd, int n,
                                                                 mode_t_ m) {
  for (int64_t d = 0; d < D; d++) {
    const float *xd = x + d * stride;
    float *yd = y + d * stride;
    if (m != LOG_SOFTMAX) {
#pragma omp simd
      for (int i = 0; i < n; i++) yd[i] *= c[i];
    } else if (!slow) {
#pragma omp simd
      for (int i = 0; i < n; i++) yd[i] += c[i];
    } else {
#pragma omp simd
      for (int i = 0; i < n; i++) yd[i] = (float)((xd[i] - cd[i]) - c[i]);
    }
  }
}

/* The whole forward of n lanes, in place allowed (y == x). */
static inline __attribute__((always_inline)) void lanes_fwd_(const float *x, float *y, int64_t stride, int64_t D,
                                                             int n, mode_t_ m) {
  float mx[SM_W], c[SM_W];
  double sum[SM_W], cd[SM_W];
  bool slow;
  lanes_fwd_sum_(x, y, stride, D, mx, sum, &slow, n, m);
  if (m == LOG_SOFTMAX && slow) {
    for (int i = 0; i < n; i++) cd[i] = mx[i] == -INFINITY ? 0 : mx[i], c[i] = (float)log(sum[i]);
  } else if (m == LOG_SOFTMAX) {
    /* log(sum) as log1p(sum - 1), vectorized: sum >= 1 (the max's term is
     * e^0 = 1) and sum - 1 exact in double, so accurate near sum = 1 */
#pragma omp simd
    for (int i = 0; i < n; i++) c[i] = -ref_log1pf((float)(sum[i] - 1.0));
  } else {
#pragma omp simd
    for (int i = 0; i < n; i++) c[i] = (float)(1.0 / sum[i]);
  }
  lanes_fwd_out_(x, y, stride, D, slow, c, cd, n, m);
}

REF_CLONES static void lanes_fwd_f32(const float *x, float *y, int64_t stride, int64_t D, int n, mode_t_ m) {
  LANES_CALL(lanes_fwd_, n, m, x, y, stride, D);
}
REF_CLONES static void lanes_fwd_sum_f32(const float *x, float *y, int64_t stride, int64_t D, float *mx, double *sum,
                                         bool *slow, int n, mode_t_ m) {
  LANES_CALL(lanes_fwd_sum_, n, m, x, y, stride, D, mx, sum, slow);
}
REF_CLONES static void lanes_fwd_out_f32(const float *x, float *y, int64_t stride, int64_t D, bool slow,
                                         const float *c, const double *cd, int n, mode_t_ m) {
  LANES_CALL(lanes_fwd_out_, n, m, x, y, stride, D, slow, c, cd);
}

/* Backward sums over d in [0, D): s = sum g y (softmax, softmin) or sum g
 * (log_softmax), in float lanes over blocks of SM_BLK (four steps of d at
 * a time for narrow chunks, as above), merged in double. */
static inline __attribute__((always_inline)) void lanes_bwd_sum_(const float *g, const float *y, int64_t stride,
                                                                 int64_t D, double *sum, int n, mode_t_ m) {
  const bool unroll = n <= SM_W / 2;
  float a[SM_W];
  for (int i = 0; i < n; i++) sum[i] = 0;
  for (int64_t b = 0; b < D; b += SM_BLK) {
    int64_t e_ = D - b > SM_BLK ? b + SM_BLK : D, d = b;
    for (int i = 0; i < n; i++) a[i] = 0;
    for (; unroll && d + 4 <= e_; d += 4) {
      const float *g0 = g + d * stride, *g1 = g0 + stride, *g2 = g1 + stride, *g3 = g2 + stride;
      const float *y0 = y + d * stride, *y1 = y0 + stride, *y2 = y1 + stride, *y3 = y2 + stride;
#pragma omp simd
      for (int i = 0; i < n; i++) {
        if (m == LOG_SOFTMAX) a[i] += (g0[i] + g1[i]) + (g2[i] + g3[i]);
        else a[i] += (g0[i] * y0[i] + g1[i] * y1[i]) + (g2[i] * y2[i] + g3[i] * y3[i]);
      }
    }
    for (; d < e_; d++) {
      const float *gd = g + d * stride, *yd = y + d * stride;
#pragma omp simd
      for (int i = 0; i < n; i++) a[i] += m == LOG_SOFTMAX ? gd[i] : gd[i] * yd[i];
    }
    for (int i = 0; i < n; i++) sum[i] += a[i];
  }
}

/* Backward output over d in [0, D), gx == g allowed: softmax y (g - s),
 * softmin y (s - g), log_softmax g - e^y s, in float (as PyTorch's). */
static inline __attribute__((always_inline)) void lanes_bwd_out_(const float *g, const float *y, float *gx,
                                                                 int64_t stride, int64_t D, const float *s, int n,
                                                                 mode_t_ m) {
  for (int64_t d = 0; d < D; d++) {
    const float *gd = g + d * stride, *yd = y + d * stride;
    float *gxd = gx + d * stride;
#pragma omp simd
    for (int i = 0; i < n; i++) {
      if (m == LOG_SOFTMAX) gxd[i] = gd[i] - ref_expf(yd[i]) * s[i];
      else if (m == SOFTMIN) gxd[i] = yd[i] * (s[i] - gd[i]);
      else gxd[i] = yd[i] * (gd[i] - s[i]);
    }
  }
}

static inline __attribute__((always_inline)) void lanes_bwd_(const float *g, const float *y, float *gx, int64_t stride,
                                                             int64_t D, int n, mode_t_ m) {
  double sum[SM_W];
  float s[SM_W];
  lanes_bwd_sum_(g, y, stride, D, sum, n, m);
  for (int i = 0; i < n; i++) s[i] = (float)sum[i];
  lanes_bwd_out_(g, y, gx, stride, D, s, n, m);
}

REF_CLONES static void lanes_bwd_f32(const float *g, const float *y, float *gx, int64_t stride, int64_t D, int n,
                                     mode_t_ m) {
  LANES_CALL(lanes_bwd_, n, m, g, y, gx, stride, D);
}
REF_CLONES static void lanes_bwd_sum_f32(const float *g, const float *y, int64_t stride, int64_t D, double *sum, int n,
                                         mode_t_ m) {
  LANES_CALL(lanes_bwd_sum_, n, m, g, y, stride, D, sum);
}
REF_CLONES static void lanes_bwd_out_f32(const float *g, const float *y, float *gx, int64_t stride, int64_t D,
                                         const float *s, int n, mode_t_ m) {
  LANES_CALL(lanes_bwd_out_, n, m, g, y, gx, stride, D, s);
}

/* inner > 1.  Chunks of SM_W lanes, one thread each, narrowed (to 16 at
 * least) while there would be fewer than 16 chunks to share.  With fewer
 * than that even at 16 and a long D (one outer, inner of a few vectors),
 * each chunk's D is split instead into ranges of SM_SPLIT_MIN steps or
 * more, SM_SPLIT ranges at most over all chunks, shared among the
 * threads: partial maxima and sums per range, combined in a fixed order,
 * then each range's output scaled by its own factor e^(max_r - max) / sum,
 * or for log_softmax shifted by max_r - max - log(sum).  Which path and
 * which ranges depend on the shape alone, so the result does not depend
 * on the thread count. */
#define SM_SPLIT 64
#define SM_SPLIT_MIN 1024

static int64_t lane_width(int64_t outer, int64_t inner) {
  int64_t w = SM_W;
  while (w > 16 && outer * ((inner + w - 1) / w) < 16) w /= 2;
  return w;
}

static bool split_d(int64_t outer, int64_t D, int64_t inner) {
  return outer * ((inner + 15) / 16) < 16 && D >= 2 * SM_SPLIT_MIN && outer * D * inner > REF_OMP_MIN;
}

/* Slot k of items (chunks of SM_W inner elements of each outer index)
 * times nr ranges of D: its chunk (item), its range of d [*d0, *d1), its
 * lanes *n, and the offset of its first element. */
static int64_t split_slot(int64_t k, int64_t items, int64_t nr, int64_t D, int64_t inner, int64_t *item,
                          int64_t *d0, int64_t *d1, int *n) {
  int64_t nc = (inner + SM_W - 1) / SM_W, r = k / items, i0;
  *item = k % items;
  i0 = *item % nc * SM_W;
  *d0 = D * r / nr;
  *d1 = D * (r + 1) / nr;
  *n = (int)(inner - i0 < SM_W ? inner - i0 : SM_W);
  return *item / nc * D * inner + i0 + *d0 * inner;
}

/* The weight e^(mr - mx_all) of a range's sum (and factor of its terms)
 * for range maximum mr and line maximum mx_all.  A range of -inf only
 * (or -inf and NaN) has mr = -inf and terms e^(x - 0) = 0 (or NaN): weight
 * 0, unless the whole line is so: then the line's maximum is taken as 0
 * too (as line_fwd_f32 does) and the weight is 1, giving 0/0 = NaN. */
static double split_w(double mr, double mx_all) {
  if (mx_all == -INFINITY) return 1;
  return mr == -INFINITY ? 0 : exp(mr - mx_all);
}

/* Ranges per chunk: items * nr <= SM_SPLIT slots of partial results. */
static int64_t split_ranges(int64_t items, int64_t D) {
  int64_t nr = D / SM_SPLIT_MIN, cap = SM_SPLIT / items;
  return nr < cap ? nr : cap;
}

/* Two passes over (range, chunk) slots, one barrier between: partial
 * maxima and sums; then each slot combines its chunk's slots in order (a
 * few hundred operations, repeated rather than a third pass and barrier)
 * and writes its range.  Range-major, so that a thread takes all chunks
 * of its ranges, whose lines they share. */
static void split_fwd_f32(const float *X, float *Y, int64_t outer, int64_t D, int64_t inner, mode_t_ m) {
  int64_t nc = (inner + SM_W - 1) / SM_W, items = outer * nc, nr = split_ranges(items, D);
  float mx[SM_SPLIT][SM_W];
  double sum[SM_SPLIT][SM_W];
  bool slow[SM_SPLIT];
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t k = 0; k < items * nr; k++) {
      int64_t item, d0, d1;
      int n;
      int64_t off = split_slot(k, items, nr, D, inner, &item, &d0, &d1, &n);
      lanes_fwd_sum_f32(X + off, Y + off, inner, d1 - d0, mx[k], sum[k], &slow[k], n, m);
    }
#pragma omp for schedule(static)
    for (int64_t k = 0; k < items * nr; k++) {
      int64_t item, d0, d1;
      int n;
      int64_t off = split_slot(k, items, nr, D, inner, &item, &d0, &d1, &n);
      float c[SM_W];
      double cd[SM_W];
      for (int i = 0; i < n; i++) {
        double M = -INFINITY, S = 0;
        for (int64_t r = item; r < items * nr; r += items) M = mx[r][i] > M ? mx[r][i] : M;
        for (int64_t r = item; r < items * nr; r += items) S += sum[r][i] * split_w(mx[r][i], M);
        double w = split_w(mx[k][i], M), l = log(S);
        M = M == -INFINITY ? 0 : M;
        /* log_softmax fast: (x - mx_k) + (mx_k - M - l), both <= 0; slow: (x - M) - l */
        c[i] = (float)(m != LOG_SOFTMAX ? w / S : slow[k] ? l : mx[k][i] - M - l);
        cd[i] = M;
      }
      lanes_fwd_out_f32(X + off, Y + off, inner, d1 - d0, slow[k], c, cd, n, m);
    }
  }
}

static void split_bwd_f32(const float *G, const float *Y, float *GX, int64_t outer, int64_t D, int64_t inner,
                          mode_t_ m) {
  int64_t nc = (inner + SM_W - 1) / SM_W, items = outer * nc, nr = split_ranges(items, D);
  double sum[SM_SPLIT][SM_W];
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t k = 0; k < items * nr; k++) {
      int64_t item, d0, d1;
      int n;
      int64_t off = split_slot(k, items, nr, D, inner, &item, &d0, &d1, &n);
      lanes_bwd_sum_f32(G + off, Y + off, inner, d1 - d0, sum[k], n, m);
    }
#pragma omp for schedule(static)
    for (int64_t k = 0; k < items * nr; k++) {
      int64_t item, d0, d1;
      int n;
      int64_t off = split_slot(k, items, nr, D, inner, &item, &d0, &d1, &n);
      float s[SM_W];
      for (int i = 0; i < n; i++) {
        double S = 0;
        for (int64_t r = item; r < items * nr; r += items) S += sum[r][i];
        s[i] = (float)S;
      }
      lanes_bwd_out_f32(G + off, Y + off, GX + off, inner, d1 - d0, s, n, m);
    }
  }
}

static void strided_fwd_f32(const float *X, float *Y, int64_t outer, int64_t D, int64_t inner, mode_t_ m) {
  if (split_d(outer, D, inner)) {
    split_fwd_f32(X, Y, outer, D, inner, m);
    return;
  }
  int64_t w = lane_width(outer, inner), nc = (inner + w - 1) / w;
#pragma omp parallel for schedule(static) if (outer * D * inner > REF_OMP_MIN)
  for (int64_t c = 0; c < outer * nc; c++) {
    int64_t o = c / nc, i0 = c % nc * w, off = o * D * inner + i0;
    lanes_fwd_f32(X + off, Y + off, inner, D, (int)(inner - i0 < w ? inner - i0 : w), m);
  }
}

static void strided_bwd_f32(const float *G, const float *Y, float *GX, int64_t outer, int64_t D, int64_t inner,
                            mode_t_ m) {
  if (split_d(outer, D, inner)) {
    split_bwd_f32(G, Y, GX, outer, D, inner, m);
    return;
  }
  int64_t w = lane_width(outer, inner), nc = (inner + w - 1) / w;
#pragma omp parallel for schedule(static) if (outer * D * inner > REF_OMP_MIN)
  for (int64_t c = 0; c < outer * nc; c++) {
    int64_t o = c / nc, i0 = c % nc * w, off = o * D * inner + i0;
    lanes_bwd_f32(G + off, Y + off, GX + off, inner, D, (int)(inner - i0 < w ? inner - i0 : w), m);
  }
}

/* Short rows (inner = 1): forward for D <= SM_SHORT_D, backward for D <=
 * SM_SHORT_BWD_D; beyond, the long-row loops are faster (measured with
 * AVX-512, 2 threads, 1 Mi elements). */
#define SM_SHORT_D 64
#define SM_SHORT_BWD_D 15

/* Forward of short rows: SM_W rows at a time transposed into an L1 tile
 * (rows become lanes), computed in place there, transposed back.  The
 * transposes are compiled apart for each D up to 16 (loops of a constant
 * length, which the compiler unrolls and vectorizes): they are most of
 * the time. */
static inline __attribute__((always_inline)) void tile_in_(const float *x, float *t, int n, int D) {
  for (int b = 0; b < n; b++)
#pragma GCC unroll 16
    for (int d = 0; d < D; d++) t[d * SM_W + b] = x[b * D + d];
}
static inline __attribute__((always_inline)) void tile_out_(const float *t, float *y, int n, int D) {
  for (int b = 0; b < n; b++)
#pragma GCC unroll 16
    for (int d = 0; d < D; d++) y[b * D + d] = t[d * SM_W + b];
}

#define TILE_BY_D(fn, D, ...)                                                    \
  switch (D) {                                                                   \
  case 1: fn(__VA_ARGS__, 1); break;                                             \
  case 2: fn(__VA_ARGS__, 2); break;                                             \
  case 3: fn(__VA_ARGS__, 3); break;                                             \
  case 4: fn(__VA_ARGS__, 4); break;                                             \
  case 5: fn(__VA_ARGS__, 5); break;                                             \
  case 6: fn(__VA_ARGS__, 6); break;                                             \
  case 7: fn(__VA_ARGS__, 7); break;                                             \
  case 8: fn(__VA_ARGS__, 8); break;                                             \
  case 9: fn(__VA_ARGS__, 9); break;                                             \
  case 10: fn(__VA_ARGS__, 10); break;                                           \
  case 11: fn(__VA_ARGS__, 11); break;                                           \
  case 12: fn(__VA_ARGS__, 12); break;                                           \
  case 13: fn(__VA_ARGS__, 13); break;                                           \
  case 14: fn(__VA_ARGS__, 14); break;                                           \
  case 15: fn(__VA_ARGS__, 15); break;                                           \
  case 16: fn(__VA_ARGS__, 16); break;                                           \
  default: fn(__VA_ARGS__, D);                                                   \
  }

REF_CLONES static void rows_fwd_block(const float *x, float *y, int64_t D, int n, mode_t_ m) {
  float t[SM_W * SM_SHORT_D];
  int Di = (int)D;
  if (n == SM_W) TILE_BY_D(tile_in_, Di, x, t, SM_W)
  else TILE_BY_D(tile_in_, Di, x, t, n)
  LANES_CALL(lanes_fwd_, n, m, t, t, SM_W, D);
  if (n == SM_W) TILE_BY_D(tile_out_, Di, t, y, SM_W)
  else TILE_BY_D(tile_out_, Di, t, y, n)
}

static void rows_fwd_f32(const float *X, float *Y, int64_t rows, int64_t D, mode_t_ m) {
  int64_t nb = (rows + SM_W - 1) / SM_W;
#pragma omp parallel for schedule(static) if (rows * D > REF_OMP_MIN)
  for (int64_t blk = 0; blk < nb; blk++) {
    int64_t r0 = blk * SM_W;
    rows_fwd_block(X + r0 * D, Y + r0 * D, D, (int)(rows - r0 < SM_W ? rows - r0 : SM_W), m);
  }
}

/* Backward of short rows, a block of n <= SM_W rows: each row's sum in a
 * scalar loop (D <= 15 terms), then the block's n * D contiguous elements
 * in one vector loop, each fetching its row's sum by index.  With two
 * inputs and an output, tile transposes would cost more than this. */
static inline __attribute__((always_inline)) void rows_bwd_impl(const float *g, const float *y, float *gx, int64_t D,
                                                                int n, const int *row, mode_t_ m) {
  float s[SM_W];
  int nd = n * (int)D, Di = (int)D;
  for (int b = 0; b < n; b++) {
    float a = 0;
    for (int d = 0; d < Di; d++) a += m == LOG_SOFTMAX ? g[b * Di + d] : g[b * Di + d] * y[b * Di + d];
    s[b] = a;
  }
#pragma omp simd
  for (int i = 0; i < nd; i++) {
    float si = s[row[i]];
    if (m == LOG_SOFTMAX) gx[i] = g[i] - ref_expf(y[i]) * si;
    else if (m == SOFTMIN) gx[i] = y[i] * (si - g[i]);
    else gx[i] = y[i] * (g[i] - si);
  }
}

REF_CLONES static void rows_bwd_block(const float *g, const float *y, float *gx, int64_t D, int n, const int *row,
                                      mode_t_ m) {
  if (m == SOFTMAX) rows_bwd_impl(g, y, gx, D, n, row, SOFTMAX);
  else if (m == SOFTMIN) rows_bwd_impl(g, y, gx, D, n, row, SOFTMIN);
  else rows_bwd_impl(g, y, gx, D, n, row, LOG_SOFTMAX);
}

static void rows_bwd_f32(const float *G, const float *Y, float *GX, int64_t rows, int64_t D, mode_t_ m) {
  int row[SM_W * SM_SHORT_BWD_D]; /* element -> row within a block */
  for (int i = 0; i < SM_W * (int)D; i++) row[i] = i / (int)D;
  int64_t nb = (rows + SM_W - 1) / SM_W;
#pragma omp parallel for schedule(static) if (rows * D > REF_OMP_MIN)
  for (int64_t blk = 0; blk < nb; blk++) {
    int64_t r0 = blk * SM_W, off = r0 * D;
    rows_bwd_block(G + off, Y + off, GX + off, D, (int)(rows - r0 < SM_W ? rows - r0 : SM_W), row, m);
  }
}

static void lines_fwd_f32(const float *X, float *Y, int64_t lines, int64_t D, mode_t_ m) {
#pragma omp parallel for schedule(static) if (lines * D > REF_OMP_MIN)
  for (int64_t l = 0; l < lines; l++) line_fwd_f32(X + l * D, Y + l * D, D, m, l + 1 < lines);
}

static void lines_bwd_f32(const float *G, const float *Y, float *GX, int64_t lines, int64_t D, mode_t_ m) {
#pragma omp parallel for schedule(static) if (lines * D > REF_OMP_MIN)
  for (int64_t l = 0; l < lines; l++) {
    if (m == LOG_SOFTMAX) line_log_bwd_f32(G + l * D, Y + l * D, GX + l * D, D);
    else line_bwd_f32(G + l * D, Y + l * D, GX + l * D, D, m);
  }
}

static int norm_dim(int64_t dim, int ndim) { return (int)(dim < 0 ? dim + (ndim ? ndim : 1) : dim); }

static nnrt_status forward(const nnrt_call *call, mode_t_ m) {
  const nnrt_tensor *x = call->inputs[0];
  int64_t outer, D, inner;
  ref_split(x, norm_dim(((const nnrt_softmax_params *)call->params)->dim, x->ndim), &outer, &D, &inner);
  if (x->dtype == NNRT_F32 && inner == 1 && D <= SM_SHORT_D) rows_fwd_f32(x->data, call->outputs[0]->data, outer, D, m);
  else if (x->dtype == NNRT_F32 && inner == 1) lines_fwd_f32(x->data, call->outputs[0]->data, outer, D, m);
  else if (x->dtype == NNRT_F32) strided_fwd_f32(x->data, call->outputs[0]->data, outer, D, inner, m);
  else REF_DISPATCH(call, fwd, x->data, call->outputs[0]->data, outer, D, inner, m);
  return NNRT_OK;
}

static nnrt_status backward(const nnrt_call *call, mode_t_ m) {
  const nnrt_tensor *y = call->inputs[1];
  int64_t outer, D, inner;
  ref_split(y, norm_dim(((const nnrt_softmax_params *)call->params)->dim, y->ndim), &outer, &D, &inner);
  if (y->dtype == NNRT_F32 && inner == 1 && D <= SM_SHORT_BWD_D)
    rows_bwd_f32(call->inputs[0]->data, y->data, call->outputs[0]->data, outer, D, m);
  else if (y->dtype == NNRT_F32 && inner == 1)
    lines_bwd_f32(call->inputs[0]->data, y->data, call->outputs[0]->data, outer, D, m);
  else if (y->dtype == NNRT_F32 && inner > 1)
    strided_bwd_f32(call->inputs[0]->data, y->data, call->outputs[0]->data, outer, D, inner, m);
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
