/* backends/ref/batch_norm.c - batch normalisation, forward and backward,
 * as PyTorch 1.13's native_batch_norm computes it, for input (N, C, *),
 * S = the product of the dims after C (1 for (N, C)).
 *
 * Statistics: each channel's values in blocks small enough for L1: each
 * block's mean and sum of squared deviations are computed around the
 * block's own origin and merged in double (Chan et al.), so inputs with a
 * large mean (1e4, std 1) lose nothing to cancellation.  float64 does this
 * in double throughout, one channel at a time; float32 sums each block in
 * float, vectorised, as a corrected two-pass over the L1-resident block
 * (see blk_stats_f32), and writes y = ((x - mean_hi) - mean_lo) * a + b
 * with the mean split in two floats, so x - mean_hi is exact near the mean.
 * float32 walks the data in one of two layouts:
 *  - S >= 256 (convolution maps): per channel, its runs of S values
 *    contiguous.  Training loops are over channels (the channel's rows stay
 *    in L2 for the output pass), eval over the N*C planes.
 *  - S < 256, (N, C) included: as rows of C*S values (several side by side
 *    when C*S is small), vectorised across the columns, per-column sums in
 *    tiles of 32 rows then merged per channel (see "rows" below); threads
 *    split the rows in fixed chunks.
 * Parallel with OpenMP.  A channel's values are always visited and merged in
 * the same order, so results do not depend on the thread count (they may
 * differ in the last bits between CPUs, which run different vector widths;
 * see BN_CLONES).  float32 outputs of 32 MiB or more are written with
 * streaming stores.
 *
 * Backward (training): gx = w * invstd * (g - mean(g) - xhat * mean(g xhat)),
 * gw += sum(g xhat), gb += sum(g).  The batch mean is re-derived exactly
 * from the input (save_mean, rounded to the input's dtype, only seeds it).
 * Backward (eval): gx = g * w * invstd with the saved (running) statistics.
 * float32 sums x - save_mean, g and g (x - save_mean) in float blocks
 * merged in double, then runs one fused vectorised elementwise pass, in
 * the same two layouts.  The row layout allocates its scratch (per-chunk
 * column sums, per-column coefficients) first: if that fails the kernel
 * returns NNRT_ERR_OUT_OF_MEMORY having written nothing; where that
 * scratch would exceed the input (and 64 MiB), the per-channel loops run
 * instead. */
#include <math.h>

#include "ref.h"

typedef struct bn_dims {
  int64_t N, C, S; /* batch, channels, spatial size (1 for (N, C)) */
} bn_dims;

static bn_dims dims_of(const nnrt_tensor *x) {
  bn_dims d = {x->shape[0], x->shape[1], 1};
  for (int i = 2; i < x->ndim; i++) d.S *= x->shape[i];
  return d;
}

/* Chan et al.: merges n values of mean bmu[j] and sum of squared
 * deviations bm2[j] into cnt values of mean mu[j] and sum s2[j], j < w */
static inline void chan_merge(double *mu, double *s2, const double *bmu, const double *bm2, int64_t w, double cnt,
                              double n) {
  double tot = cnt + n, f = n / tot, h = cnt * n / tot;
  for (int64_t j = 0; j < w; j++) {
    double delta = bmu[j] - mu[j];
    mu[j] += delta * f;
    s2[j] += bm2[j] + delta * delta * h;
  }
}

#define BN_BLOCK 512

#define BN_FNS(T, SFX)                                                           \
  /* mean and sum of squared deviations of channel c */                          \
  static void stats_##SFX(const T *X, bn_dims d, int64_t c, double *mean, double *m2) { \
    double mu = 0, s2 = 0, cnt = 0;                                              \
    for (int64_t n = 0; n < d.N; n++) {                                          \
      const T *row = X + (n * d.C + c) * d.S;                                    \
      for (int64_t b0 = 0; b0 < d.S; b0 += BN_BLOCK) {                           \
        int64_t len = d.S - b0 < BN_BLOCK ? d.S - b0 : BN_BLOCK;                 \
        double bs = 0, bm2 = 0;                                                  \
        for (int64_t i = 0; i < len; i++) bs += row[b0 + i];                     \
        double bmu = bs / (double)len;                                           \
        for (int64_t i = 0; i < len; i++) {                                      \
          double e = row[b0 + i] - bmu;                                          \
          bm2 += e * e;                                                          \
        }                                                                        \
        chan_merge(&mu, &s2, &bmu, &bm2, 1, cnt, (double)len);                  \
        cnt += (double)len;                                                      \
      }                                                                          \
    }                                                                            \
    *mean = mu;                                                                  \
    *m2 = s2;                                                                    \
  }                                                                              \
  static nnrt_status fwd_##SFX(const T *X, const T *W, const T *B, T *Y, T *SM, T *SI, T *RM, T *RV, bn_dims d, \
                               bool training, double momentum, double eps) {     \
    double M = (double)(d.N * d.S);                                              \
    _Pragma("omp parallel for schedule(static) if (d.N * d.C * d.S > REF_OMP_MIN)") \
    for (int64_t c = 0; c < d.C; c++) {                                          \
      double mean, invstd;                                                       \
      if (training) {                                                            \
        double m2;                                                               \
        stats_##SFX(X, d, c, &mean, &m2);                                        \
        invstd = 1.0 / sqrt(m2 / M + eps);                                       \
        if (RM) RM[c] = (T)(momentum * mean + (1 - momentum) * (double)RM[c]);   \
        if (RV) RV[c] = (T)(momentum * (m2 / (M - 1)) + (1 - momentum) * (double)RV[c]); \
      } else {                                                                   \
        mean = RM[c];                                                            \
        invstd = 1.0 / sqrt((double)RV[c] + eps);                                \
      }                                                                          \
      SM[c] = (T)mean;                                                           \
      SI[c] = (T)invstd;                                                         \
      double a = invstd * (W ? (double)W[c] : 1.0), b = B ? (double)B[c] : 0.0;  \
      for (int64_t n = 0; n < d.N; n++) {                                        \
        const T *x = X + (n * d.C + c) * d.S;                                    \
        T *y = Y + (n * d.C + c) * d.S;                                          \
        for (int64_t i = 0; i < d.S; i++) y[i] = (T)(((double)x[i] - mean) * a + b); \
      }                                                                          \
    }                                                                            \
    return NNRT_OK;                                                              \
  }                                                                              \
  static nnrt_status bwd_##SFX(const T *G, const T *X, const T *W, const T *SM, const T *SI, T *GX, T *GW, T *GB, \
                               bn_dims d, bool training) {                       \
    double M = (double)(d.N * d.S);                                              \
    _Pragma("omp parallel for schedule(static) if (d.N * d.C * d.S > REF_OMP_MIN)") \
    for (int64_t c = 0; c < d.C; c++) {                                          \
      double mean = SM[c], invstd = SI[c];                                       \
      double sg = 0, sgx = 0, sx = 0; /* sums of g, g (x - mean), x - mean */    \
      for (int64_t n = 0; n < d.N; n++) {                                        \
        const T *x = X + (n * d.C + c) * d.S, *g = G + (n * d.C + c) * d.S;      \
        for (int64_t i = 0; i < d.S; i++) {                                      \
          double xc = (double)x[i] - mean;                                       \
          sg += g[i];                                                            \
          sgx += g[i] * xc;                                                      \
          sx += xc;                                                              \
        }                                                                        \
      }                                                                          \
      if (training && M > 0) {                                                   \
        /* the exact batch mean differs from the rounded save_mean by sx/M */    \
        double dm = sx / M;                                                      \
        mean += dm;                                                              \
        sgx -= dm * sg;                                                          \
      }                                                                          \
      if (GW) GW[c] = (T)((double)GW[c] + sgx * invstd);                         \
      if (GB) GB[c] = (T)((double)GB[c] + sg);                                   \
      if (!GX) continue;                                                         \
      double a = invstd * (W ? (double)W[c] : 1.0);                              \
      double k = training && M > 0 ? sgx * invstd * invstd / M : 0.0;            \
      double gm = training && M > 0 ? sg / M : 0.0;                              \
      for (int64_t n = 0; n < d.N; n++) {                                        \
        const T *x = X + (n * d.C + c) * d.S, *g = G + (n * d.C + c) * d.S;      \
        T *gx = GX + (n * d.C + c) * d.S;                                        \
        for (int64_t i = 0; i < d.S; i++)                                        \
          gx[i] = (T)(((double)g[i] - gm - ((double)x[i] - mean) * k) * a);      \
      }                                                                          \
    }                                                                            \
    return NNRT_OK;                                                              \
  }
BN_FNS(double, f64)

/* ---- float32: vectorised in float, merged in double ----
 * Sums run over blocks of at most BN_FBLOCK values in BN_LANES independent
 * float accumulators (a fixed-size inner loop GCC turns into vector adds),
 * each block reduced to double and merged there.  Every float sum is of
 * values centred on a nearby origin, so its terms are of the size of the
 * spread, not of the mean, and each lane adds at most BN_FBLOCK / BN_LANES
 * = 32 terms, so float rounding stays within a few ulp of the result.
 * BN_CLONES compiles a loop for AVX-512, AVX2 and baseline x86-64, picked
 * when the library loads (as REF_CLONES in ref_vecmath.h). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BN_CLONES
#endif
#define BN_LANES 32
#define BN_FBLOCK 1024

/* Mean and sum of squared deviations of x[0, len): corrected two-pass in
 * float, the block being L1-resident after the first pass.  Pass one sums
 * x - x[0] (exact for values within a factor 2 of x[0]); pass two sums
 * e = x - m and e^2 around that estimate m, and the sum of e corrects both
 * the mean and the squares for whatever m missed. */
BN_CLONES static void blk_stats_f32(const float *x, int64_t len, double *bmean, double *bm2) {
  float x0 = x[0], acc[BN_LANES] = {0};
  int64_t i = 0;
  for (; i + BN_LANES <= len; i += BN_LANES)
    for (int j = 0; j < BN_LANES; j++) acc[j] += x[i + j] - x0;
  double s = 0;
  for (int j = 0; j < BN_LANES; j++) s += acc[j];
  for (; i < len; i++) s += x[i] - x0;
  float m = x0 + (float)(s / (double)len);
  float a1[BN_LANES] = {0}, a2[BN_LANES] = {0};
  for (i = 0; i + BN_LANES <= len; i += BN_LANES)
    for (int j = 0; j < BN_LANES; j++) {
      float e = x[i + j] - m;
      a1[j] += e;
      a2[j] += e * e;
    }
  double se = 0, se2 = 0;
  for (int j = 0; j < BN_LANES; j++) {
    se += a1[j];
    se2 += a2[j];
  }
  for (; i < len; i++) {
    double e = (double)x[i] - m;
    se += e;
    se2 += e * e;
  }
  *bmean = m + se / (double)len;
  *bm2 = fmax(se2 - se * se / (double)len, 0.0);
}

/* mean and sum of squared deviations of channel c (Chan merge of blocks) */
static void stats_f32(const float *X, bn_dims d, int64_t c, double *mean, double *m2) {
  double mu = 0, s2 = 0, cnt = 0;
  for (int64_t n = 0; n < d.N; n++) {
    const float *row = X + (n * d.C + c) * d.S;
    for (int64_t b0 = 0; b0 < d.S; b0 += BN_FBLOCK) {
      int64_t len = d.S - b0 < BN_FBLOCK ? d.S - b0 : BN_FBLOCK;
      double bmu, bm2;
      blk_stats_f32(row + b0, len, &bmu, &bm2);
      chan_merge(&mu, &s2, &bmu, &bm2, 1, cnt, (double)len);
      cnt += (double)len;
    }
  }
  *mean = mu;
  *m2 = s2;
}

/* y = ((x - mh) - ml) * a + b: the mean split in two floats (mh + ml) so
 * that x - mh is exact near the mean and the result keeps float precision
 * relative to the spread even for a mean of 1e4 and a std of 1. */
BN_CLONES static void affine_f32(const float *x, float *y, int64_t n, float mh, float ml, float a, float b) {
  /* omp simd: -O2's cost model would not version the loop for y == x */
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = ((x[i] - mh) - ml) * a + b;
}

/* the same over rows [0, n) (row stride ld) of w columns, column j with
 * its own coefficients mh[j], ml[j], a[j], b[j] (the row layout below) */
BN_CLONES static void tile_affine_f32(const float *x, float *y, int64_t ld, int64_t n, int64_t w, const float *mh,
                                      const float *ml, const float *a, const float *b) {
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * ld;
    float *yr = y + i * ld;
#pragma omp simd
    for (int64_t j = 0; j < w; j++) yr[j] = ((xr[j] - mh[j]) - ml[j]) * a[j] + b[j];
  }
}

/* Outputs of BN_STREAM_MIN bytes or more are written with streaming
 * (non-temporal) stores, as unary.c does: an ordinary store first reads
 * the line it writes, and an output that large would not stay in cache for
 * its reader anyway.  The arithmetic is affine_f32's (K = 1: a channel's
 * scalar coefficients) or tile_affine_f32's (K = COL: the columns'), one
 * vector at a time; y's unaligned head and the tail are stored normally. */
#define BN_STREAM_MIN ((int64_t)32 << 20)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define BN_S1(c, i) (c)
#define BN_SCOL(c, i) (c)[i]
#define BN_V1(P, c, i) P##_set1_ps(c)
#define BN_VCOL(P, c, i) P##_loadu_ps((c) + (i))
#define BN_STREAM_ONE(K, i) y[i] = ((x[i] - BN_S##K(mh, i)) - BN_S##K(ml, i)) * BN_S##K(a, i) + BN_S##K(b, i)
#define BN_STREAM_LOOP(P, ALIGN, K)                                                                  \
  int64_t i = 0;                                                                                     \
  for (; i < n && ((uintptr_t)(y + i) & (ALIGN - 1)); i++) BN_STREAM_ONE(K, i);                      \
  for (; i + (int64_t)(ALIGN / 4) <= n; i += ALIGN / 4)                                              \
    P##_stream_ps(y + i, P##_add_ps(P##_mul_ps(P##_sub_ps(P##_sub_ps(P##_loadu_ps(x + i), BN_V##K(P, mh, i)), \
                                                          BN_V##K(P, ml, i)),                        \
                                               BN_V##K(P, a, i)),                                    \
                                    BN_V##K(P, b, i)));                                              \
  for (; i < n; i++) BN_STREAM_ONE(K, i);
/* affine_stream_<isa> and tile_stream_<isa> for one instruction set */
#define BN_STREAM_FNS(ISA, TARGET, P, ALIGN)                                                         \
  TARGET static void affine_stream_##ISA(const float *x, float *y, int64_t n, float mh, float ml, float a, \
                                         float b) {                                                  \
    BN_STREAM_LOOP(P, ALIGN, 1)                                                                      \
    _mm_sfence(); /* visible before the threads' barrier */                                          \
  }                                                                                                  \
  TARGET static void tile_stream_##ISA(const float *x0, float *y0, int64_t ld, int64_t rows, int64_t n, \
                                       const float *mh, const float *ml, const float *a, const float *b) { \
    for (int64_t r = 0; r < rows; r++) {                                                             \
      const float *x = x0 + r * ld;                                                                  \
      float *y = y0 + r * ld;                                                                        \
      BN_STREAM_LOOP(P, ALIGN, COL)                                                                  \
    }                                                                                                \
    _mm_sfence();                                                                                    \
  }
BN_STREAM_FNS(avx512, __attribute__((target("avx512f"))), _mm512, 64)
BN_STREAM_FNS(avx, __attribute__((target("avx"))), _mm256, 32)
BN_STREAM_FNS(sse, , _mm, 16)

/* 2: AVX-512, 1: AVX, 0: SSE */
static int stream_isa(void) {
  __builtin_cpu_init(); /* idempotent; needed before the first query */
  return __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx") ? 1 : 0;
}
static void affine_out_f32(const float *x, float *y, int64_t n, float mh, float ml, float a, float b, bool stream) {
  switch (stream ? stream_isa() : -1) {
  case 2: affine_stream_avx512(x, y, n, mh, ml, a, b); break;
  case 1: affine_stream_avx(x, y, n, mh, ml, a, b); break;
  case 0: affine_stream_sse(x, y, n, mh, ml, a, b); break;
  default: affine_f32(x, y, n, mh, ml, a, b);
  }
}
static void tile_affine_out_f32(const float *x, float *y, int64_t ld, int64_t n, int64_t w, const float *mh,
                                const float *ml, const float *a, const float *b, bool stream) {
  switch (stream ? stream_isa() : -1) {
  case 2: tile_stream_avx512(x, y, ld, n, w, mh, ml, a, b); break;
  case 1: tile_stream_avx(x, y, ld, n, w, mh, ml, a, b); break;
  case 0: tile_stream_sse(x, y, ld, n, w, mh, ml, a, b); break;
  default: tile_affine_f32(x, y, ld, n, w, mh, ml, a, b);
  }
}
#else
static void affine_out_f32(const float *x, float *y, int64_t n, float mh, float ml, float a, float b, bool stream) {
  (void)stream;
  affine_f32(x, y, n, mh, ml, a, b);
}
static void tile_affine_out_f32(const float *x, float *y, int64_t ld, int64_t n, int64_t w, const float *mh,
                                const float *ml, const float *a, const float *b, bool stream) {
  (void)stream;
  tile_affine_f32(x, y, ld, n, w, mh, ml, a, b);
}
#endif

/* y = ((x - mh) - ml) * a + b for one channel */
typedef struct bn_coef {
  float mh, ml, a, b;
} bn_coef;

/* channel c's scale a = invstd * w (in double, then rounded), shift b and
 * the mean split into mh + ml */
static bn_coef fwd_coef(double mean, double invstd, const float *W, const float *B, int64_t c) {
  float mh = (float)mean;
  return (bn_coef){mh, (float)(mean - (double)mh), (float)(invstd * (W ? (double)W[c] : 1.0)), B ? B[c] : 0.0f};
}

/* training: channel c's invstd from its batch mean and sum of squared
 * deviations m2 over M values; save_mean, save_invstd and the running
 * statistics written */
static double fwd_batch_channel(int64_t c, double mean, double m2, double M, double momentum, double eps, float *SM,
                                float *SI, float *RM, float *RV) {
  double invstd = 1.0 / sqrt(m2 / M + eps);
  if (RM) RM[c] = (float)(momentum * mean + (1 - momentum) * (double)RM[c]);
  if (RV) RV[c] = (float)(momentum * (m2 / (M - 1)) + (1 - momentum) * (double)RV[c]);
  SM[c] = (float)mean;
  SI[c] = (float)invstd;
  return invstd;
}

/* gx = ((g - gm) - ((x - m) - dm) * k) * a for one channel, m its save_mean */
typedef struct bn_bcoef {
  float dm, gm, k, a;
} bn_bcoef;

/* channel c's grad_weight and grad_bias (accumulated) and grad_input
 * coefficients from its sums of g, g (x - m) and x - m over M values */
static bn_bcoef bwd_channel(int64_t c, double sg, double sgx, double sx, double M, bool training, const float *W,
                            const float *SI, float *GW, float *GB) {
  double invstd = SI[c], dm = 0;
  if (training && M > 0) {
    /* the exact batch mean differs from the rounded save_mean by sx/M */
    dm = sx / M;
    sgx -= dm * sg;
  }
  if (GW) GW[c] = (float)((double)GW[c] + sgx * invstd);
  if (GB) GB[c] = (float)((double)GB[c] + sg);
  double a = invstd * (W ? (double)W[c] : 1.0);
  double k = training && M > 0 ? sgx * invstd * invstd / M : 0.0;
  double gm = training && M > 0 ? sg / M : 0.0;
  return (bn_bcoef){(float)dm, (float)gm, (float)k, (float)a};
}

/* ---- float32, small spatial size: rows ----
 * For S < BN_ROW_S a channel's values come in runs of S, C*S apart: too
 * short for the per-channel loops above (for (N, C) every value is its own
 * run, and with C*S large every run is on a new page); those only win from
 * S of about 512 (measured, about even at 256).  The input is then read as
 * rows of `width` values, a multiple of R = C*S (R itself, or k rows of the
 * input side by side when R is small, so that the vector loops run over at
 * least BN_ROW_MIN columns); column j holds channel (j / S) % C, and the
 * values after the last full row (fewer than width, a multiple of R) are
 * the tail.  Every pass walks the rows contiguously, vectorised across
 * columns, in tiles of at most BN_SUB rows by BN_TILE columns (32 KiB,
 * L1-resident): statistics are blk_stats_f32's corrected two-pass per
 * column of a tile, so each float accumulator again adds at most 32 terms,
 * merged in double.  Full rows are split in fixed chunks of BN_RCHUNK rows
 * (chunk x column tile: the parallel tasks); each chunk's per-column
 * results are kept and merged in chunk order, then a channel's columns in
 * column order, then its tail values one by one, all in double, so the
 * thread count changes no bit here either.  The elementwise passes take
 * the per-channel coefficients spread over the columns. */
#define BN_ROW_S 256
#define BN_ROW_MIN 64
#define BN_SUB 32
#define BN_TILE 256
#define BN_RCHUNK 128

typedef struct bn_rows {
  int64_t width;  /* values per row, a multiple of C*S */
  int64_t rows;   /* full rows */
  int64_t tail;   /* values after them: fewer than width, a multiple of C*S */
  int64_t chunks; /* of BN_RCHUNK rows */
  int64_t tiles;  /* of BN_TILE columns */
} bn_rows;

/* for N*C*S > 0 */
static bn_rows rows_of(bn_dims d) {
  int64_t R = d.C * d.S, w = R;
  if (R < BN_ROW_MIN) {
    int64_t g = 16; /* gcd(R, 16): rows of lcm(R, 16) values are whole vectors */
    while (R % g) g /= 2;
    w = R * (16 / g);
    while (w < BN_ROW_MIN) w *= 2;
  }
  bn_rows r = {w, d.N * R / w, d.N * R % w, 0, (w + BN_TILE - 1) / BN_TILE};
  r.chunks = (r.rows + BN_RCHUNK - 1) / BN_RCHUNK;
  return r;
}

/* task t's chunk of full rows [*r0, *r1) and columns [*j0, *j0 + *tw) */
static void rows_task(const bn_rows *r, int64_t t, int64_t *r0, int64_t *r1, int64_t *j0, int64_t *tw) {
  *r0 = t / r->tiles * BN_RCHUNK;
  *r1 = *r0 + BN_RCHUNK < r->rows ? *r0 + BN_RCHUNK : r->rows;
  *j0 = t % r->tiles * BN_TILE;
  *tw = r->width - *j0 < BN_TILE ? r->width - *j0 : BN_TILE;
}

/* per-column mean and sum of squared deviations of rows x[0, n) (n <=
 * BN_SUB, row stride ld), columns [0, w): blk_stats_f32's two passes, each
 * column summed around its first value, then around that estimate */
BN_CLONES static void tile_stats_f32(const float *x, int64_t ld, int64_t n, int64_t w, double *bmu, double *bm2) {
  float x0[BN_TILE], s[BN_TILE] = {0}, m[BN_TILE], a1[BN_TILE] = {0}, a2[BN_TILE] = {0};
  memcpy(x0, x, sizeof(float) * (size_t)w);
  for (int64_t i = 1; i < n; i++) {
    const float *xr = x + i * ld;
#pragma omp simd
    for (int64_t j = 0; j < w; j++) s[j] += xr[j] - x0[j];
  }
  float fn = (float)n;
#pragma omp simd
  for (int64_t j = 0; j < w; j++) m[j] = x0[j] + s[j] / fn;
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * ld;
#pragma omp simd
    for (int64_t j = 0; j < w; j++) {
      float e = xr[j] - m[j];
      a1[j] += e;
      a2[j] += e * e;
    }
  }
  double dn = (double)n;
#pragma omp simd
  for (int64_t j = 0; j < w; j++) {
    bmu[j] = (double)m[j] + (double)a1[j] / dn;
    bm2[j] = fmax((double)a2[j] - (double)a1[j] * (double)a1[j] / dn, 0.0);
  }
}

/* per-column sums of g, g (x - m) and x - m over rows [0, n) (n <= BN_SUB,
 * stride ld) of w columns, in float, added to sg, sgx, sx in double */
BN_CLONES static void tile_bwd_sums_f32(const float *g, const float *x, int64_t ld, int64_t n, int64_t w,
                                        const float *m, double *sg, double *sgx, double *sx) {
  float ag[BN_TILE] = {0}, agx[BN_TILE] = {0}, ax[BN_TILE] = {0};
  for (int64_t i = 0; i < n; i++) {
    const float *gr = g + i * ld, *xr = x + i * ld;
#pragma omp simd
    for (int64_t j = 0; j < w; j++) {
      float xc = xr[j] - m[j];
      ag[j] += gr[j];
      agx[j] += gr[j] * xc;
      ax[j] += xc;
    }
  }
#pragma omp simd
  for (int64_t j = 0; j < w; j++) {
    sg[j] += ag[j];
    sgx[j] += agx[j];
    sx[j] += ax[j];
  }
}

/* gx = ((g - gm) - ((x - m) - dm) * k) * a over rows [0, n) (stride ld) of w columns */
BN_CLONES static void tile_bwd_apply_f32(const float *g, const float *x, float *gx, int64_t ld, int64_t n, int64_t w,
                                         const float *m, const float *dm, const float *gm, const float *k,
                                         const float *a) {
  for (int64_t i = 0; i < n; i++) {
    const float *gr = g + i * ld, *xr = x + i * ld;
    float *o = gx + i * ld;
#pragma omp simd
    for (int64_t j = 0; j < w; j++) o[j] = ((gr[j] - gm[j]) - ((xr[j] - m[j]) - dm[j]) * k[j]) * a[j];
  }
}

/* every channel's mean and sum of squared deviations, in the row layout;
 * work holds 2 (chunks + 1) width doubles */
static void rows_stats_f32(const float *X, bn_dims d, const bn_rows *r, double *work, double *mean, double *m2,
                           bool par) {
  int64_t wd = r->width, tasks = r->chunks * r->tiles;
  double *cmu = work + 2 * r->chunks * wd, *cm2 = cmu + wd; /* per column, after the chunks' */
#pragma omp parallel if (par)
  {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
      int64_t r0, r1, j0, tw;
      rows_task(r, t, &r0, &r1, &j0, &tw);
      double mu[BN_TILE] = {0}, s2[BN_TILE] = {0}, bmu[BN_TILE], bm2[BN_TILE];
      for (int64_t i0 = r0; i0 < r1; i0 += BN_SUB) {
        int64_t n = r1 - i0 < BN_SUB ? r1 - i0 : BN_SUB;
        tile_stats_f32(X + i0 * wd + j0, wd, n, tw, bmu, bm2);
        chan_merge(mu, s2, bmu, bm2, tw, (double)(i0 - r0), (double)n);
      }
      double *out = work + 2 * (t / r->tiles) * wd + j0;
      memcpy(out, mu, sizeof(double) * (size_t)tw);
      memcpy(out + wd, s2, sizeof(double) * (size_t)tw);
    }
    /* the chunks in order, per column tile */
#pragma omp for schedule(static)
    for (int64_t t = 0; t < r->tiles; t++) {
      int64_t j0 = t * BN_TILE, tw = wd - j0 < BN_TILE ? wd - j0 : BN_TILE;
      memset(cmu + j0, 0, sizeof(double) * (size_t)tw);
      memset(cm2 + j0, 0, sizeof(double) * (size_t)tw);
      for (int64_t ch = 0; ch < r->chunks; ch++) {
        double n = (double)((ch + 1) * BN_RCHUNK < r->rows ? BN_RCHUNK : r->rows - ch * BN_RCHUNK);
        const double *in = work + 2 * ch * wd + j0;
        chan_merge(cmu + j0, cm2 + j0, in, in + wd, tw, (double)(ch * BN_RCHUNK), n);
      }
    }
  }
  /* a channel's columns in order, then its tail values (Welford) */
  int64_t R = d.C * d.S, per = wd / d.C; /* columns per channel */
  for (int64_t c = 0; c < d.C; c++) mean[c] = m2[c] = 0;
  if (r->rows > 0)
    for (int64_t j = 0; j < wd; j++) {
      int64_t c = j / d.S % d.C, q = j / R * d.S + j % d.S; /* q: columns of c before j */
      chan_merge(&mean[c], &m2[c], &cmu[j], &cm2[j], 1, (double)(q * r->rows), (double)r->rows);
    }
  const float *tx = X + r->rows * wd;
  for (int64_t i = 0; i < r->tail; i++) {
    int64_t c = i / d.S % d.C;
    double cnt = (double)(r->rows * per + i / R * d.S + i % d.S + 1), delta = tx[i] - mean[c];
    mean[c] += delta / cnt;
    m2[c] += delta * (tx[i] - mean[c]);
  }
}

static nnrt_status fwd_rows_f32(const float *X, const float *W, const float *B, float *Y, float *SM, float *SI,
                                float *RM, float *RV, bn_dims d, bool training, double momentum, double eps) {
  bn_rows r = rows_of(d);
  int64_t wd = r.width, nd = training ? 2 * (r.chunks + 1) * wd + 2 * d.C : 0;
  /* doubles: the statistics' work and per-channel mean, m2; floats: the
   * coefficients per column, then per channel */
  double *work =
      malloc(sizeof(double) * (size_t)nd + sizeof(float) * (size_t)(4 * wd) + sizeof(bn_coef) * (size_t)d.C);
  if (!work) return NNRT_ERR_OUT_OF_MEMORY;
  float *mh = (float *)(work + nd), *ml = mh + wd, *a = ml + wd, *b = a + wd;
  bn_coef *cf = (bn_coef *)(b + wd);
  bool par = d.N * d.C * d.S > REF_OMP_MIN;
  bool stream = d.N * d.C * d.S * (int64_t)sizeof(float) >= BN_STREAM_MIN;
  if (training) {
    double *mean = work + nd - 2 * d.C, *m2 = mean + d.C;
    rows_stats_f32(X, d, &r, work, mean, m2, par);
    for (int64_t c = 0; c < d.C; c++) {
      double invstd = fwd_batch_channel(c, mean[c], m2[c], (double)(d.N * d.S), momentum, eps, SM, SI, RM, RV);
      cf[c] = fwd_coef(mean[c], invstd, W, B, c);
    }
  } else {
    for (int64_t c = 0; c < d.C; c++) {
      double invstd = 1.0 / sqrt((double)RV[c] + eps);
      SM[c] = RM[c];
      SI[c] = (float)invstd;
      cf[c] = fwd_coef(RM[c], invstd, W, B, c);
    }
  }
  for (int64_t j = 0; j < wd; j++) {
    bn_coef k = cf[j / d.S % d.C];
    mh[j] = k.mh;
    ml[j] = k.ml;
    a[j] = k.a;
    b[j] = k.b;
  }
#pragma omp parallel for schedule(static) if (par)
  for (int64_t t = 0; t < r.chunks * r.tiles; t++) {
    int64_t r0, r1, j0, tw;
    rows_task(&r, t, &r0, &r1, &j0, &tw);
    int64_t off = r0 * wd + j0;
    tile_affine_out_f32(X + off, Y + off, wd, r1 - r0, tw, mh + j0, ml + j0, a + j0, b + j0, stream);
  }
  tile_affine_f32(X + r.rows * wd, Y + r.rows * wd, wd, 1, r.tail, mh, ml, a, b);
  free(work);
  return NNRT_OK;
}

static nnrt_status bwd_rows_f32(const float *G, const float *X, const float *W, const float *SM, const float *SI,
                                float *GX, float *GW, float *GB, bn_dims d, bool training) {
  bn_rows r = rows_of(d);
  bool sums = training || GW || GB, par = d.N * d.C * d.S > REF_OMP_MIN;
  int64_t wd = r.width, tasks = r.chunks * r.tiles;
  /* doubles: sums of g, g (x - m), x - m per chunk, then per column, then
   * per channel; floats: m and the coefficients per column, then per channel */
  int64_t nd = 3 * ((sums ? r.chunks + 1 : 0) * wd + d.C);
  double *work =
      malloc(sizeof(double) * (size_t)nd + sizeof(float) * (size_t)(5 * wd) + sizeof(bn_bcoef) * (size_t)d.C);
  if (!work) return NNRT_ERR_OUT_OF_MEMORY;
  double *ch = work + nd - 3 * d.C;
  float *m = (float *)(work + nd), *dm = m + wd, *gm = dm + wd, *k = gm + wd, *a = k + wd;
  bn_bcoef *cf = (bn_bcoef *)(a + wd);
  for (int64_t j = 0; j < wd; j++) m[j] = SM[j / d.S % d.C];
  memset(ch, 0, sizeof(double) * (size_t)(3 * d.C));
  if (sums) {
    double *col = work + 3 * r.chunks * wd;
#pragma omp parallel if (par)
    {
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; t++) {
        int64_t r0, r1, j0, tw;
        rows_task(&r, t, &r0, &r1, &j0, &tw);
        double *out = work + 3 * (t / r.tiles) * wd + j0;
        for (int v = 0; v < 3; v++) memset(out + v * wd, 0, sizeof(double) * (size_t)tw);
        for (int64_t i0 = r0; i0 < r1; i0 += BN_SUB) {
          int64_t n = r1 - i0 < BN_SUB ? r1 - i0 : BN_SUB, off = i0 * wd + j0;
          tile_bwd_sums_f32(G + off, X + off, wd, n, tw, m + j0, out, out + wd, out + 2 * wd);
        }
      }
      /* the chunks in order, per column tile */
#pragma omp for schedule(static)
      for (int64_t t = 0; t < r.tiles; t++) {
        int64_t j0 = t * BN_TILE, tw = wd - j0 < BN_TILE ? wd - j0 : BN_TILE;
        for (int v = 0; v < 3; v++) {
          double *o = col + v * wd + j0;
          memset(o, 0, sizeof(double) * (size_t)tw);
          for (int64_t c = 0; c < r.chunks; c++) {
            const double *in = work + (3 * c + v) * wd + j0;
            for (int64_t j = 0; j < tw; j++) o[j] += in[j];
          }
        }
      }
    }
    /* a channel's columns in order, then its tail values */
    if (r.rows > 0)
      for (int64_t j = 0; j < wd; j++)
        for (int v = 0; v < 3; v++) ch[3 * (j / d.S % d.C) + v] += col[v * wd + j];
    const float *tg = G + r.rows * wd, *tx = X + r.rows * wd;
    for (int64_t i = 0; i < r.tail; i++) {
      double xc = (double)tx[i] - m[i], *s = ch + 3 * (i / d.S % d.C);
      s[0] += tg[i];
      s[1] += tg[i] * xc;
      s[2] += xc;
    }
  }
  double M = (double)(d.N * d.S);
  for (int64_t c = 0; c < d.C; c++)
    cf[c] = bwd_channel(c, ch[3 * c], ch[3 * c + 1], ch[3 * c + 2], M, training, W, SI, GW, GB);
  if (GX) {
    for (int64_t j = 0; j < wd; j++) {
      bn_bcoef q = cf[j / d.S % d.C];
      dm[j] = q.dm;
      gm[j] = q.gm;
      k[j] = q.k;
      a[j] = q.a;
    }
#pragma omp parallel for schedule(static) if (par)
    for (int64_t t = 0; t < tasks; t++) {
      int64_t r0, r1, j0, tw;
      rows_task(&r, t, &r0, &r1, &j0, &tw);
      int64_t off = r0 * wd + j0;
      tile_bwd_apply_f32(G + off, X + off, GX + off, wd, r1 - r0, tw, m + j0, dm + j0, gm + j0, k + j0, a + j0);
    }
    int64_t off = r.rows * wd;
    tile_bwd_apply_f32(G + off, X + off, GX + off, wd, 1, r.tail, m, dm, gm, k, a);
  }
  free(work);
  return NNRT_OK;
}

/* Whether the row layout serves d: S < BN_ROW_S, not empty, and its
 * scratch (3 doubles per column per chunk of rows at most; see
 * bwd_rows_f32) no larger than the input or 64 MiB: for a batch of a few
 * rows of a huge C*S it would be several times the input, and the
 * per-channel loops need none. */
static bool rows_fit(bn_dims d) {
  if (d.S >= BN_ROW_S || d.N * d.C * d.S == 0) return false;
  bn_rows r = rows_of(d);
  double scratch = 8.0 * 3 * (double)((r.chunks + 1) * r.width + d.C) + 4.0 * 5 * (double)r.width;
  double input = 4.0 * (double)(d.N * d.C * d.S);
  return scratch <= (input > 64.0 * 1048576 ? input : 64.0 * 1048576);
}

static nnrt_status fwd_f32(const float *X, const float *W, const float *B, float *Y, float *SM, float *SI, float *RM,
                           float *RV, bn_dims d, bool training, double momentum, double eps) {
  if (rows_fit(d))
    return fwd_rows_f32(X, W, B, Y, SM, SI, RM, RV, d, training, momentum, eps);
  double M = (double)(d.N * d.S);
  bool stream = d.N * d.C * d.S * (int64_t)sizeof(float) >= BN_STREAM_MIN;
  if (!training) {
    /* a per-channel affine map: parallel over the N*C planes */
    int64_t planes = d.N * d.C;
    for (int64_t c = 0; c < d.C; c++) {
      SM[c] = RM[c];
      SI[c] = (float)(1.0 / sqrt((double)RV[c] + eps));
    }
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > REF_OMP_MIN)
    for (int64_t p = 0; p < planes; p++) {
      int64_t c = p % d.C;
      bn_coef k = fwd_coef(RM[c], 1.0 / sqrt((double)RV[c] + eps), W, B, c);
      affine_out_f32(X + p * d.S, Y + p * d.S, d.S, k.mh, k.ml, k.a, k.b, stream);
    }
    return NNRT_OK;
  }
  /* per channel: its rows are still in L2 for the output pass */
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > REF_OMP_MIN)
  for (int64_t c = 0; c < d.C; c++) {
    double mean, m2;
    stats_f32(X, d, c, &mean, &m2);
    bn_coef k = fwd_coef(mean, fwd_batch_channel(c, mean, m2, M, momentum, eps, SM, SI, RM, RV), W, B, c);
    for (int64_t n = 0; n < d.N; n++) {
      int64_t off = (n * d.C + c) * d.S;
      affine_out_f32(X + off, Y + off, d.S, k.mh, k.ml, k.a, k.b, stream);
    }
  }
  return NNRT_OK;
}
/* sums of g, g (x - m) and x - m over one row, in float blocks merged in
 * double; m is the saved mean, so x - m is small and exact near it */
BN_CLONES static void bwd_sums_f32(const float *g, const float *x, int64_t n, float m, double *sg, double *sgx,
                                   double *sx) {
  double tg = 0, tgx = 0, tx = 0;
  for (int64_t b0 = 0; b0 < n; b0 += BN_FBLOCK) {
    int64_t len = n - b0 < BN_FBLOCK ? n - b0 : BN_FBLOCK, i = 0;
    const float *gb = g + b0, *xb = x + b0;
    float ag[BN_LANES] = {0}, agx[BN_LANES] = {0}, ax[BN_LANES] = {0};
    for (; i + BN_LANES <= len; i += BN_LANES)
      for (int j = 0; j < BN_LANES; j++) {
        float xc = xb[i + j] - m;
        ag[j] += gb[i + j];
        agx[j] += gb[i + j] * xc;
        ax[j] += xc;
      }
    for (int j = 0; j < BN_LANES; j++) {
      tg += ag[j];
      tgx += agx[j];
      tx += ax[j];
    }
    for (; i < len; i++) {
      double xc = (double)xb[i] - m;
      tg += gb[i];
      tgx += gb[i] * xc;
      tx += xc;
    }
  }
  *sg += tg;
  *sgx += tgx;
  *sx += tx;
}

/* gx = ((g - gm) - ((x - m) - dm) * k) * a */
BN_CLONES static void bwd_apply_f32(const float *g, const float *x, float *gx, int64_t n, float m, float dm,
                                    float gm, float k, float a) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) gx[i] = ((g[i] - gm) - ((x[i] - m) - dm) * k) * a;
}

static nnrt_status bwd_f32(const float *G, const float *X, const float *W, const float *SM, const float *SI, float *GX,
                           float *GW, float *GB, bn_dims d, bool training) {
  if (rows_fit(d)) return bwd_rows_f32(G, X, W, SM, SI, GX, GW, GB, d, training);
  double M = (double)(d.N * d.S);
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > REF_OMP_MIN)
  for (int64_t c = 0; c < d.C; c++) {
    float m = SM[c];
    double sg = 0, sgx = 0, sx = 0;
    if (training || GW || GB)
      for (int64_t n = 0; n < d.N; n++) {
        int64_t off = (n * d.C + c) * d.S;
        bwd_sums_f32(G + off, X + off, d.S, m, &sg, &sgx, &sx);
      }
    bn_bcoef q = bwd_channel(c, sg, sgx, sx, M, training, W, SI, GW, GB);
    if (!GX) continue;
    for (int64_t n = 0; n < d.N; n++) {
      int64_t off = (n * d.C + c) * d.S;
      bwd_apply_f32(G + off, X + off, GX + off, d.S, m, q.dm, q.gm, q.k, q.a);
    }
  }
  return NNRT_OK;
}

nnrt_status ref_batch_norm(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_batch_norm_params *p = call->params;
  const nnrt_tensor *x = call->inputs[0];
  return REF_DISPATCH(call, fwd, x->data, REF_IN_OPT(call, 1, void), REF_IN_OPT(call, 2, void),
                      REF_OUT(call, 0, void), REF_OUT(call, 1, void), REF_OUT(call, 2, void),
                      REF_OUT_OPT(call, 3, void), REF_OUT_OPT(call, 4, void), dims_of(x), p->training, p->momentum,
                      p->eps);
}

nnrt_status ref_batch_norm_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_batch_norm_backward_params *p = call->params;
  const nnrt_tensor *x = call->inputs[1];
  return REF_DISPATCH(call, bwd, call->inputs[0]->data, x->data, REF_IN_OPT(call, 2, void), REF_IN(call, 3, void),
                      REF_IN(call, 4, void), REF_OUT_OPT(call, 0, void), REF_OUT_OPT(call, 1, void),
                      REF_OUT_OPT(call, 2, void), dims_of(x), p->training);
}
