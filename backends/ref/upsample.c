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
 * planes: deterministic whatever the thread count.  Bilinear does it in
 * two separable steps (each gradient row reduced along W, then added to
 * its two source rows), so float64 results differ from a direct 2-D
 * scatter in the last bits (relative 1e-13 typical); float32 ones, rounded
 * from double, matched the direct scatter bit for bit in every case tried.
 * Nearest with integer factors on both dims sums each input element's
 * block directly, in the scatter's order: the same bits.
 * Forward works row by row over the N*C*OH output rows, split into one
 * contiguous range per thread: an output row is built once in a per-thread
 * buffer (nearest: a gather through the column table, or for an integer
 * factor f an f-fold duplication of each element; bilinear: the vertical
 * blend of two horizontally interpolated source rows, which are kept while
 * consecutive output rows share them) and then copied out, with streaming
 * stores for float32 outputs of REF_STREAM_MIN bytes or more.  Output
 * rows that map to the same source row as the previous one reuse the
 * buffer.  With AVX-512 (float32, streamed outputs) a factor-2 nearest row
 * and the bilinear blend go straight to the output, and the bilinear
 * column pass picks its taps by permutes from a 32-wide window instead of
 * gathers.  Bilinear computes h0 * (w0 a + w1 b) + h1 * (w0 c + w1 d) in
 * that order without FMA, as the per-pixel loop did: same bits. */
#include <math.h>
#include <string.h>

#include "ref.h"

#include "ref_omp.h"

/* GCC only: the AVX-512 functions rely on its optimize("fp-contract=off"). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define REF_UP_STREAM 1
#endif

#include "ref_stream.h"

/* Whether this file's own AVX-512 kernels run (GCC only, see above). */
static bool up_have_avx512(void) {
#ifdef REF_UP_STREAM
  return ref_have_avx512();
#else
  return false;
#endif
}

/* Row store of either element type: streamed only for float32. */
static void up_store_f32(float *dst, const float *src, int64_t n, int mode) {
  if (mode) ref_stream_store(dst, src, n);
  else memcpy(dst, src, sizeof(float) * (size_t)n);
}
static void up_store_f64(double *dst, const double *src, int64_t n, int mode) {
  (void)mode;
  memcpy(dst, src, sizeof(double) * (size_t)n);
}

/* The integer factor f when idx[o] == o / f for every o (out == f * in),
 * else 0. */
static int64_t int_factor(const int64_t *idx, int64_t in, int64_t out) {
  if (in <= 0 || out % in) return 0;
  int64_t f = out / in;
  for (int64_t o = 0; o < out; o++)
    if (idx[o] != o / f) return 0;
  return f;
}

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

/* The column pass of a bilinear backward as a gather: for input column j,
 * entries start[j] .. start[j + 1] of (ow, l), the output columns adding
 * to it and their weights, in the order a scatter over the output columns
 * adds them (columns ascending, tap 0 before tap 1).  Each column's sum
 * is then the scatter's bit for bit, without the scatter's chain of
 * dependent read-modify-writes through memory. */
#define LIN_GATHER_MAX_W 32
typedef struct lin_gather {
  int64_t *start, *ow;
  double *l;
} lin_gather;

static void lin_gather_free(lin_gather *c) {
  free(c->start);
  free(c->ow);
  free(c->l);
}

static bool lin_gather_make(lin_gather *c, const lin_tap *tw, int64_t W, int64_t OW) {
  c->start = calloc((size_t)W + 2, sizeof *c->start);
  c->ow = malloc(sizeof *c->ow * (size_t)(2 * OW) + 1);
  c->l = malloc(sizeof *c->l * (size_t)(2 * OW) + 1);
  if (!c->start || !c->ow || !c->l) {
    lin_gather_free(c);
    return false;
  }
  /* counts at start[j + 2], prefix sums, then start[j + 1] is column j's
   * fill position and ends as its end */
  for (int64_t o = 0; o < OW; o++) c->start[tw[o].i0 + 2]++, c->start[tw[o].i1 + 2]++;
  for (int64_t j = 2; j <= W + 1; j++) c->start[j] += c->start[j - 1];
  for (int64_t o = 0; o < OW; o++) {
    int64_t e0 = c->start[tw[o].i0 + 1]++;
    c->ow[e0] = o, c->l[e0] = tw[o].l0;
    int64_t e1 = c->start[tw[o].i1 + 1]++;
    c->ow[e1] = o, c->l[e1] = tw[o].l1;
  }
  return true;
}

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

/* Column taps of a float32 forward in the layout of a vector loop: int32
 * indices and float weights, all four arrays in one block at i0. */
typedef struct lin_cols {
  int32_t *i0, *i1;
  float *w0, *w1;
  /* Per full block of 16 columns: the first source column of a window of
   * 32 that holds all its taps (i0, i1 then relative to it), or -1 when
   * the taps spread wider (absolute i0, i1, gathered). */
  int64_t *base;
  int64_t W;
} lin_cols;

/* Fills c from tw when the AVX-512 loop can use it; false (nothing to
 * free) when the CPU lacks AVX-512, W overflows int32 or memory is short. */
static bool lin_cols_make(lin_cols *c, const lin_tap *tw, int64_t W, int64_t OW) {
  if (!up_have_avx512() || W > INT32_MAX) return false;
  char *m = malloc(16 * (size_t)OW + sizeof(int64_t) * (size_t)(OW / 16) + 1);
  if (!m) return false;
  c->i0 = (int32_t *)m;
  c->i1 = c->i0 + OW;
  c->w0 = (float *)(c->i1 + OW);
  c->w1 = c->w0 + OW;
  c->base = (int64_t *)(c->w1 + OW); /* 16 * OW bytes in: aligned */
  c->W = W;
  for (int64_t o = 0; o < OW; o++) {
    c->i0[o] = (int32_t)tw[o].i0;
    c->i1[o] = (int32_t)tw[o].i1;
    c->w0[o] = (float)tw[o].l0;
    c->w1[o] = (float)tw[o].l1;
  }
  for (int64_t b = 0; b < OW / 16; b++) {
    int64_t lo = INT64_MAX, hi = -1;
    for (int64_t o = 16 * b; o < 16 * b + 16; o++) {
      lo = tw[o].i0 < lo ? tw[o].i0 : lo;
      hi = tw[o].i1 > hi ? tw[o].i1 : hi;
    }
    c->base[b] = hi - lo < 32 ? lo : -1;
    if (c->base[b] < 0) continue;
    for (int64_t o = 16 * b; o < 16 * b + 16; o++) {
      c->i0[o] -= (int32_t)lo;
      c->i1[o] -= (int32_t)lo;
    }
  }
  return true;
}

/* r[o] = w0[o] x[i0[o]] + w1[o] x[i1[o]], 16 columns a step: the taps
 * picked by permutes from a 32-column window (masked loads, so never read
 * past the row's end), or where they spread wider, by gathers.
 * Contraction to FMA is off so the result matches the portable loop's
 * separately rounded product and sum. */
#ifdef REF_UP_STREAM
__attribute__((target("avx512f"), optimize("fp-contract=off"))) static void lin_cols_row(float *r, const float *x,
                                                                                        int64_t OW,
                                                                                        const lin_cols *c) {
  int64_t o = 0;
  for (; o + 16 <= OW; o += 16) {
    int64_t base = c->base[o / 16];
    __m512i j0 = _mm512_loadu_si512(c->i0 + o), j1 = _mm512_loadu_si512(c->i1 + o);
    __m512 a, b;
    if (base >= 0) {
      int64_t left = c->W - base; /* >= 1 */
      __mmask16 m0 = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
      __mmask16 m1 = left >= 32 ? (__mmask16)0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
      __m512 v0 = _mm512_maskz_loadu_ps(m0, x + base);
      __m512 v1 = _mm512_maskz_loadu_ps(m1, x + base + 16);
      a = _mm512_permutex2var_ps(v0, j0, v1);
      b = _mm512_permutex2var_ps(v0, j1, v1);
    } else {
      a = _mm512_i32gather_ps(j0, x, 4);
      b = _mm512_i32gather_ps(j1, x, 4);
    }
    __m512 p = _mm512_mul_ps(_mm512_loadu_ps(c->w0 + o), a);
    __m512 q = _mm512_mul_ps(_mm512_loadu_ps(c->w1 + o), b);
    _mm512_storeu_ps(r + o, _mm512_add_ps(p, q));
  }
  for (; o < OW; o++) r[o] = c->w0[o] * x[c->i0[o]] + c->w1[o] * x[c->i1[o]];
}
/* y[o] = h0 r0[o] + h1 r1[o] with streaming stores where y is aligned. */
__attribute__((target("avx512f"), optimize("fp-contract=off"))) static void blend_stream_avx512(
    float *y, const float *r0, const float *r1, float h0, float h1, int64_t n) {
  int64_t o = 0;
  for (; o < n && ((uintptr_t)(y + o) & 63); o++) y[o] = h0 * r0[o] + h1 * r1[o];
  __m512 a = _mm512_set1_ps(h0), b = _mm512_set1_ps(h1);
  for (; o + 16 <= n; o += 16)
    _mm512_stream_ps(y + o, _mm512_add_ps(_mm512_mul_ps(a, _mm512_loadu_ps(r0 + o)),
                                          _mm512_mul_ps(b, _mm512_loadu_ps(r1 + o))));
  for (; o < n; o++) y[o] = h0 * r0[o] + h1 * r1[o];
}
/* y[2i] = y[2i + 1] = x[i] for i < n, streamed; y is 64-byte aligned. */
__attribute__((target("avx512f"))) static void dup2_stream_avx512(float *y, const float *x, int64_t n) {
  const __m512i lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i hi = _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    _mm512_stream_ps(y + 2 * i, _mm512_permutexvar_ps(lo, v));
    _mm512_stream_ps(y + 2 * i + 16, _mm512_permutexvar_ps(hi, v));
  }
  for (; i < n; i++) y[2 * i] = y[2 * i + 1] = x[i];
}
/* gx[j] = (float)(0 + g0[2j] + g0[2j+1] + g1[2j] + g1[2j+1]) in double,
 * added in that order (nearest backward, factor 2 on both dims). */
__attribute__((target("avx512f"))) static void sum2x2_avx512(float *gx, const float *g0, const float *g1, int64_t W) {
  const __m512i ev = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), od = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
  int64_t j = 0;
  for (; j + 8 <= W; j += 8) {
    __m256 a0 = _mm256_loadu_ps(g0 + 2 * j), a1 = _mm256_loadu_ps(g0 + 2 * j + 8);
    __m256 b0 = _mm256_loadu_ps(g1 + 2 * j), b1 = _mm256_loadu_ps(g1 + 2 * j + 8);
    __m512d p0 = _mm512_cvtps_pd(a0), p1 = _mm512_cvtps_pd(a1);
    __m512d q0 = _mm512_cvtps_pd(b0), q1 = _mm512_cvtps_pd(b1);
    __m512d s = _mm512_add_pd(_mm512_setzero_pd(), _mm512_permutex2var_pd(p0, ev, p1));
    s = _mm512_add_pd(s, _mm512_permutex2var_pd(p0, od, p1));
    s = _mm512_add_pd(s, _mm512_permutex2var_pd(q0, ev, q1));
    s = _mm512_add_pd(s, _mm512_permutex2var_pd(q0, od, q1));
    _mm256_storeu_ps(gx + j, _mm512_cvtpd_ps(s));
  }
  for (; j < W; j++) {
    double a = 0;
    a += (double)g0[2 * j];
    a += (double)g0[2 * j + 1];
    a += (double)g1[2 * j];
    a += (double)g1[2 * j + 1];
    gx[j] = (float)a;
  }
}
#else
static void lin_cols_row(float *r, const float *x, int64_t OW, const lin_cols *c) {
  for (int64_t o = 0; o < OW; o++) r[o] = c->w0[o] * x[c->i0[o]] + c->w1[o] * x[c->i1[o]];
}
#endif

#ifdef REF_UP_STREAM
#define BLEND_STREAM_f32 1
static void blend_stream(float *y, const float *r0, const float *r1, float h0, float h1, int64_t n) {
  blend_stream_avx512(y, r0, r1, h0, h1, n);
}
#else
#define BLEND_STREAM_f32 0
static void blend_stream(float *y, const float *r0, const float *r1, float h0, float h1, int64_t n) {
  for (int64_t o = 0; o < n; o++) y[o] = h0 * r0[o] + h1 * r1[o];
}
#endif
#define BLEND_STREAM_f64 0

/* The AVX-512 2x2 block sum of a float32 nearest backward: true when done. */
static bool sum2x2_row(float *gx, const float *g0, const float *g1, int64_t W, bool avx512) {
#ifdef REF_UP_STREAM
  if (!avx512) return false;
  sum2x2_avx512(gx, g0, g1, W);
  return true;
#else
  (void)gx, (void)g0, (void)g1, (void)W, (void)avx512;
  return false;
#endif
}

/* Rows of a float32 nearest forward duplicated straight into the output
 * (factor 2 along W, AVX-512, streaming): true when done. */
static bool dup2_row(float *y, const float *x, int64_t W, int fw, int mode) {
#ifdef REF_UP_STREAM
  if (fw != 2 || mode != 2 || ((uintptr_t)y & 63)) return false;
  dup2_stream_avx512(y, x, W);
  return true;
#else
  (void)y, (void)x, (void)W, (void)fw, (void)mode;
  return false;
#endif
}

#define UP_FNS(T, SFX)                                                           \
  /* buf: OW elements per thread; fw: the column factor or 0; mode: 0     \
   * ordinary stores, 1 streaming, 2 streaming with AVX-512. */               \
  static void nearest_row_##SFX(T *b, const T *xr, int64_t W, int64_t OW, const int64_t *iw, int64_t fw) { \
    if (fw == 1) memcpy(b, xr, sizeof(T) * (size_t)W);                           \
    else if (fw == 2) {                                                          \
      _Pragma("omp simd")                                                        \
      for (int64_t i = 0; i < W; i++) {                                          \
        b[2 * i] = xr[i];                                                        \
        b[2 * i + 1] = xr[i];                                                    \
      }                                                                          \
    } else if (fw > 2) {                                                         \
      for (int64_t i = 0; i < W; i++)                                            \
        for (int64_t k = 0; k < fw; k++) b[i * fw + k] = xr[i];                 \
    } else                                                                       \
      for (int64_t ow = 0; ow < OW; ow++) b[ow] = xr[iw[ow]];                    \
  }                                                                              \
  static void nearest_fwd_##SFX(const T *X, T *Y, up_geom g, const int64_t *ih, const int64_t *iw, T *buf_all, \
                                int64_t fw, int mode) {                          \
    _Pragma("omp parallel if (g.planes * g.OH * g.OW > REF_OMP_MIN)")            \
    {                                                                            \
      T *b = buf_all + (size_t)ref_thread_num() * (size_t)g.OW;                  \
      int64_t lo, hi, have = -1; /* source row (plane * H + ih) in b */         \
      ref_span(g.planes * g.OH, 1, &lo, &hi);                                    \
      int64_t pl = lo / g.OH, oh = lo % g.OH; /* of row r, stepped below */      \
      for (int64_t r = lo; r < hi; r++, oh = oh + 1 == g.OH ? (pl++, 0) : oh + 1) { \
        int64_t src = pl * g.H + ih[oh];                                         \
        T *yr = Y + r * g.OW;                                                    \
        /* Only float32 has mode 2 (out_mode). */                                \
        if (mode == 2 && dup2_row((float *)yr, (const float *)(X + src * g.W), g.W, (int)fw, mode)) \
          continue;                                                              \
        if (mode == 0) { /* ordinary stores: build the row in place, or copy */  \
          if (src == have) /* the row this thread wrote last, r - 1 */           \
            for (int64_t k = 0; k < g.OW; k++) yr[k] = yr[k - g.OW];             \
          else                                                                   \
            nearest_row_##SFX(yr, X + src * g.W, g.W, g.OW, iw, fw);             \
          have = src;                                                            \
          continue;                                                              \
        }                                                                        \
        if (src != have) {                                                       \
          nearest_row_##SFX(b, X + src * g.W, g.W, g.OW, iw, fw);                \
          have = src;                                                            \
        }                                                                        \
        up_store_##SFX(yr, b, g.OW, mode);                                       \
      }                                                                          \
      if (mode) ref_stream_fence();                                              \
    }                                                                            \
  }                                                                              \
  /* Integer factors fh, fw on both dims: each input element's gradient is  \
   * the sum of its fh x fw block, added in the scatter's order (rows, then  \
   * columns) in double, so the result is the scatter's bit for bit; no     \
   * accumulator, parallel over the N*C*H input rows. */                     \
  static void nearest_bwd_int_##SFX(const T *G, T *GX, up_geom g, int64_t fh, int64_t fw) { \
    int64_t rows = g.planes * g.H;                                               \
    bool avx512 = sizeof(T) == sizeof(float) && up_have_avx512();                \
    _Pragma("omp parallel for schedule(static) if (g.planes * g.OH * g.OW > REF_OMP_MIN)") \
    for (int64_t r = 0; r < rows; r++) {                                         \
      const T *gr = G + r * fh * g.OW; /* (pl * OH + i * fh) * OW */            \
      T *gx = GX + r * g.W;                                                      \
      if (fh == 2 && fw == 2) {                                                  \
        const T *g1 = gr + g.OW;                                                 \
        /* Only float32 has avx512 set. */                                       \
        if (avx512 && sum2x2_row((float *)gx, (const float *)gr, (const float *)g1, g.W, avx512)) continue; \
        for (int64_t j = 0; j < g.W; j++) {                                      \
          double a = 0; /* as the scatter: -0 sums to +0 */                    \
          a += (double)gr[2 * j];                                                \
          a += (double)gr[2 * j + 1];                                            \
          a += (double)g1[2 * j];                                                \
          a += (double)g1[2 * j + 1];                                            \
          gx[j] = (T)a;                                                          \
        }                                                                        \
        continue;                                                                \
      }                                                                          \
      for (int64_t j = 0; j < g.W; j++) {                                        \
        double a = 0;                                                            \
        for (int64_t kh = 0; kh < fh; kh++)                                      \
          for (int64_t kw = 0; kw < fw; kw++) a += (double)gr[kh * g.OW + j * fw + kw]; \
        gx[j] = (T)a;                                                            \
      }                                                                          \
    }                                                                            \
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
  /* One source row interpolated along W: r[ow] = w0 x[i0] + w1 x[i1]. */     \
  static void lin_row_##SFX(T *r, const T *x, int64_t OW, const lin_tap *tw, const lin_cols *cols) { \
    /* cols is only ever set for float32 (see lin_cols_make). */                 \
    if (cols) {                                                                  \
      lin_cols_row((float *)r, (const float *)x, OW, cols);                      \
      return;                                                                    \
    }                                                                            \
    for (int64_t ow = 0; ow < OW; ow++) {                                        \
      const lin_tap *t = &tw[ow];                                                \
      r[ow] = (T)t->l0 * x[t->i0] + (T)t->l1 * x[t->i1];                         \
    }                                                                            \
  }                                                                              \
  /* buf: 3 * OW elements per thread: two interpolated source rows and the  \
   * output row. */                                                          \
  static void bilinear_fwd_##SFX(const T *X, T *Y, up_geom g, const lin_tap *th, const lin_tap *tw, T *buf_all, \
                                 int mode, const lin_cols *cols) {                                     \
    _Pragma("omp parallel if (g.planes * g.OH * g.OW > REF_OMP_MIN)")            \
    {                                                                            \
      T *rows[2], *o = buf_all + (size_t)ref_thread_num() * 3 * (size_t)g.OW;    \
      int64_t have[2] = {-1, -1}; /* source row (plane * H + i) in rows[k] */   \
      rows[0] = o + g.OW;                                                        \
      rows[1] = o + 2 * g.OW;                                                    \
      int64_t lo, hi;                                                            \
      ref_span(g.planes * g.OH, 1, &lo, &hi);                                    \
      for (int64_t r = lo; r < hi; r++) {                                        \
        int64_t pl = r / g.OH, oh = r % g.OH;                                    \
        int64_t s0 = pl * g.H + th[oh].i0, s1 = pl * g.H + th[oh].i1;            \
        const T *r0 = NULL, *r1 = NULL;                                          \
        /* Find or compute both rows, never evicting the other one needed. */    \
        for (int k = 0; k < 2; k++) {                                            \
          if (have[k] == s0) r0 = rows[k];                                       \
          if (have[k] == s1) r1 = rows[k];                                       \
        }                                                                        \
        if (!r0) {                                                               \
          int k = (r1 == rows[0]) ? 1 : 0;                                       \
          lin_row_##SFX(rows[k], X + s0 * g.W, g.OW, tw, cols);                        \
          have[k] = s0;                                                          \
          r0 = rows[k];                                                          \
          if (s1 == s0) r1 = r0;                                                 \
        }                                                                        \
        if (!r1) {                                                               \
          int k = (r0 == rows[0]) ? 1 : 0;                                       \
          lin_row_##SFX(rows[k], X + s1 * g.W, g.OW, tw, cols);                        \
          have[k] = s1;                                                          \
          r1 = rows[k];                                                          \
        }                                                                        \
        T h0 = (T)th[oh].l0, h1 = (T)th[oh].l1;                                  \
        if (BLEND_STREAM_##SFX && mode == 2) {                                   \
          /* Only float32 has mode 2 (out_mode). */                              \
          blend_stream((float *)(Y + r * g.OW), (const float *)r0, (const float *)r1, (float)h0, (float)h1, g.OW); \
          continue;                                                              \
        }                                                                        \
        T *yr = mode ? o : Y + r * g.OW;                                         \
        _Pragma("omp simd")                                                      \
        for (int64_t ow = 0; ow < g.OW; ow++) yr[ow] = h0 * r0[ow] + h1 * r1[ow]; \
        if (mode) up_store_##SFX(Y + r * g.OW, o, g.OW, mode);                   \
      }                                                                          \
      if (mode) ref_stream_fence();                                              \
    }                                                                            \
  }                                                                              \
  /* Separable: each output-gradient row is first reduced along W into a   \
   * double row (tmp), which is then added to its two source rows with the \
   * row weights; acc_all holds H * W + W doubles per thread. */            \
  static void bilinear_bwd_##SFX(const T *G, T *GX, up_geom g, const lin_tap *th, const lin_tap *tw, \
                                 const lin_gather *cg, double *acc_all) {        \
    _Pragma("omp parallel if (g.planes * g.OH * g.OW > REF_OMP_MIN)")            \
    {                                                                            \
      double *acc = acc_all + (size_t)ref_thread_num() * (size_t)(g.H * g.W + g.W); \
      double *tmp = acc + g.H * g.W;                                             \
      _Pragma("omp for schedule(static)")                                        \
      for (int64_t pl = 0; pl < g.planes; pl++) {                                \
        for (int64_t i = 0; i < g.H * g.W; i++) acc[i] = 0;                      \
        for (int64_t oh = 0; oh < g.OH; oh++) {                                  \
          const T *gr = G + (pl * g.OH + oh) * g.OW;                             \
          double *a0 = acc + th[oh].i0 * g.W, *a1 = acc + th[oh].i1 * g.W;       \
          double h0 = th[oh].l0, h1 = th[oh].l1;                                 \
          if (cg) {                                                              \
            for (int64_t j = 0; j < g.W; j++) {                                  \
              double v = 0;                                                      \
              for (int64_t e = cg->start[j]; e < cg->start[j + 1]; e++) v += cg->l[e] * (double)gr[cg->ow[e]]; \
              tmp[j] = v;                                                        \
            }                                                                    \
          } else {                                                               \
            for (int64_t j = 0; j < g.W; j++) tmp[j] = 0;                        \
            for (int64_t ow = 0; ow < g.OW; ow++) {                              \
              const lin_tap *t = &tw[ow];                                        \
              double v = gr[ow];                                                 \
              tmp[t->i0] += t->l0 * v;                                           \
              tmp[t->i1] += t->l1 * v;                                           \
            }                                                                    \
          }                                                                      \
          for (int64_t j = 0; j < g.W; j++) a0[j] += h0 * tmp[j];                \
          for (int64_t j = 0; j < g.W; j++) a1[j] += h1 * tmp[j];                \
        }                                                                        \
        T *gx = GX + pl * g.H * g.W;                                             \
        for (int64_t i = 0; i < g.H * g.W; i++) gx[i] = (T)acc[i];               \
      }                                                                          \
    }                                                                            \
  }

UP_FNS(float, f32)
UP_FNS(double, f64)

/* Index tables for both dims; for backward one accumulator plane and
 * one row per thread, for forward `rows` row buffers of OW doubles (room for either
 * element type) per thread. */
typedef struct up_work {
  void *th, *tw;
  double *acc;
  void *buf; /* 64-byte aligned */
} up_work;

static nnrt_status work_alloc(up_work *w, up_geom g, size_t tap_size, bool backward, int rows) {
  size_t nt = (size_t)ref_max_threads();
  w->th = malloc(tap_size * (size_t)g.OH + 1);
  w->tw = malloc(tap_size * (size_t)g.OW + 1);
  w->acc = backward ? malloc(sizeof(double) * (size_t)(g.H * g.W + g.W) * nt + 1) : NULL;
  w->buf = backward ? NULL : aligned_alloc(64, (sizeof(double) * (size_t)g.OW * (size_t)rows * nt + 64) / 64 * 64);
  if (!w->th || !w->tw || (backward ? !w->acc : !w->buf)) {
    free(w->th);
    free(w->tw);
    free(w->acc);
    free(w->buf);
    return NNRT_ERR_OUT_OF_MEMORY;
  }
  return NNRT_OK;
}

static void work_free(up_work *w) {
  free(w->th);
  free(w->tw);
  free(w->acc);
  free(w->buf);
}

/* Store mode for the forward output y: 0 ordinary, 1 streaming, 2
 * streaming with AVX-512 (see up_store_f32). */
static int out_mode(const nnrt_tensor *x, const nnrt_tensor *y) {
  if (x->dtype != NNRT_F32) return 0;
  int64_t n = 1;
  for (int d = 0; d < 4; d++) n *= y->shape[d];
  if (n * (int64_t)sizeof(float) < REF_STREAM_MIN) return 0;
  return up_have_avx512() ? 2 : 1;
}

/* x: the low-resolution tensor (input / grad_input), y: the high one. */
static nnrt_status nearest(const nnrt_call *call, const nnrt_tensor *x, const nnrt_tensor *y, const void *src, void *dst,
                           bool backward) {
  up_geom g = geom_of(x, y);
  up_work w;
  if (work_alloc(&w, g, sizeof(int64_t), backward, 1)) return NNRT_ERR_OUT_OF_MEMORY;
  const double *s = scales_of(call);
  if (x->dtype == NNRT_F64) {
    nearest_table_f64(w.th, g.H, g.OH, s[0]);
    nearest_table_f64(w.tw, g.W, g.OW, s[1]);
  } else {
    nearest_table_f32(w.th, g.H, g.OH, s[0]);
    nearest_table_f32(w.tw, g.W, g.OW, s[1]);
  }
  if (!backward) {
    int64_t fw = int_factor(w.tw, g.W, g.OW);
    REF_DISPATCH(call, nearest_fwd, src, dst, g, w.th, w.tw, w.buf, fw, out_mode(x, y));
  } else {
    int64_t fh = int_factor(w.th, g.H, g.OH), fw = int_factor(w.tw, g.W, g.OW);
    if (fh && fw) REF_DISPATCH(call, nearest_bwd_int, src, dst, g, fh, fw);
    else REF_DISPATCH(call, nearest_bwd, src, dst, g, w.th, w.tw, w.acc);
  }
  work_free(&w);
  return NNRT_OK;
}

static nnrt_status bilinear(const nnrt_call *call, const nnrt_tensor *x, const nnrt_tensor *y, const void *src,
                            void *dst, bool backward) {
  const nnrt_upsample_bilinear2d_params *p = call->params;
  up_geom g = geom_of(x, y);
  up_work w;
  if (work_alloc(&w, g, sizeof(lin_tap), backward, 3)) return NNRT_ERR_OUT_OF_MEMORY;
  if (x->dtype == NNRT_F64) {
    lin_table_f64(w.th, g.H, g.OH, p->scale_factor[0], p->align_corners);
    lin_table_f64(w.tw, g.W, g.OW, p->scale_factor[1], p->align_corners);
  } else {
    lin_table_f32(w.th, g.H, g.OH, p->scale_factor[0], p->align_corners);
    lin_table_f32(w.tw, g.W, g.OW, p->scale_factor[1], p->align_corners);
  }
  if (!backward) {
    /* The AVX-512 column pass for float32 when the CPU has it; without
     * memory for its tables the portable loop does the same work. */
    lin_cols cols;
    bool fast = x->dtype == NNRT_F32 && lin_cols_make(&cols, w.tw, g.W, g.OW);
    REF_DISPATCH(call, bilinear_fwd, src, dst, g, w.th, w.tw, w.buf, out_mode(x, y), fast ? &cols : NULL);
    if (fast) free(cols.i0);
  }
  else {
    /* narrow rows: the column pass as a gather (lin_gather), 2x faster at
     * W = 5; wide ones keep the scatter, 12% faster at W = 128 */
    lin_gather cg;
    bool gather = g.W <= LIN_GATHER_MAX_W;
    if (gather && !lin_gather_make(&cg, w.tw, g.W, g.OW)) {
      work_free(&w);
      return NNRT_ERR_OUT_OF_MEMORY;
    }
    REF_DISPATCH(call, bilinear_bwd, src, dst, g, w.th, w.tw, gather ? &cg : NULL, w.acc);
    if (gather) lin_gather_free(&cg);
  }
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
