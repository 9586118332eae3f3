/* backends/ref/batch_norm.c - batch normalisation, forward and backward,
 * as PyTorch 1.13's native_batch_norm computes it, for input (N, C, *).
 *
 * Statistics: one pass over each channel, in blocks small enough for L1:
 * each block's mean and sum of squared deviations are computed around the
 * block's own origin and merged in double (Chan et al.), so inputs with a
 * large mean (1e4, std 1) lose nothing to cancellation.  float64 does this
 * in double throughout; float32 sums each block in float, vectorised, as a
 * corrected two-pass over the L1-resident block (see blk_stats_f32), and
 * writes y = ((x - mean_hi) - mean_lo) * a + b with the mean split in two
 * floats, so x - mean_hi is exact near the mean.  Training loops are over
 * channels (the channel's rows stay in L2 for the output pass), eval over
 * the N*C planes; parallel with OpenMP.  A channel's values are always
 * visited in the same order, so results do not depend on the thread count
 * (they may differ in the last bits between CPUs, which run different
 * vector widths; see BN_CLONES).  float32 outputs of 32 MiB or more are
 * written with streaming stores.
 *
 * Backward (training): gx = w * invstd * (g - mean(g) - xhat * mean(g xhat)),
 * gw += sum(g xhat), gb += sum(g).  The batch mean is re-derived exactly
 * from the input (save_mean, rounded to the input's dtype, only seeds it).
 * Backward (eval): gx = g * w * invstd with the saved (running) statistics.
 * float32 sums x - save_mean, g and g (x - save_mean) in float blocks
 * merged in double, then runs one fused vectorised elementwise pass. */
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
        double tot = cnt + (double)len, delta = bmu - mu;                        \
        mu += delta * ((double)len / tot);                                       \
        s2 += bm2 + delta * delta * (cnt * (double)len / tot);                   \
        cnt = tot;                                                               \
      }                                                                          \
    }                                                                            \
    *mean = mu;                                                                  \
    *m2 = s2;                                                                    \
  }                                                                              \
  static void fwd_##SFX(const T *X, const T *W, const T *B, T *Y, T *SM, T *SI, T *RM, T *RV, bn_dims d, \
                        bool training, double momentum, double eps) {            \
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
  }                                                                              \
  static void bwd_##SFX(const T *G, const T *X, const T *W, const T *SM, const T *SI, T *GX, T *GW, T *GB, \
                        bn_dims d, bool training) {                              \
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
      double tot = cnt + (double)len, delta = bmu - mu;
      mu += delta * ((double)len / tot);
      s2 += bm2 + delta * delta * (cnt * (double)len / tot);
      cnt = tot;
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

/* Outputs of BN_STREAM_MIN bytes or more are written with streaming
 * (non-temporal) stores, as unary.c does: an ordinary store first reads
 * the line it writes, and an output that large would not stay in cache for
 * its reader anyway.  The arithmetic is affine_f32's, one vector at a time;
 * y's unaligned head and the tail are stored normally. */
#define BN_STREAM_MIN ((int64_t)32 << 20)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define BN_STREAM_LOOP(W, ALIGN, SET1, LOAD, SUB, MUL, ADD, STREAM)                 \
  int64_t i = 0;                                                                  \
  for (; i < n && ((uintptr_t)(y + i) & (ALIGN - 1)); i++) y[i] = ((x[i] - mh) - ml) * a + b; \
  W vh = SET1(mh), vl = SET1(ml), va = SET1(a), vb = SET1(b);                      \
  for (; i + (int64_t)(ALIGN / 4) <= n; i += ALIGN / 4)                            \
    STREAM(y + i, ADD(MUL(SUB(SUB(LOAD(x + i), vh), vl), va), vb));                \
  for (; i < n; i++) y[i] = ((x[i] - mh) - ml) * a + b;                            \
  _mm_sfence(); /* visible before the threads' barrier */
__attribute__((target("avx512f"))) static void affine_stream_avx512(const float *x, float *y, int64_t n, float mh,
                                                                  float ml, float a, float b) {
  BN_STREAM_LOOP(__m512, 64, _mm512_set1_ps, _mm512_loadu_ps, _mm512_sub_ps, _mm512_mul_ps, _mm512_add_ps,
                 _mm512_stream_ps)
}
__attribute__((target("avx"))) static void affine_stream_avx(const float *x, float *y, int64_t n, float mh, float ml,
                                                           float a, float b) {
  BN_STREAM_LOOP(__m256, 32, _mm256_set1_ps, _mm256_loadu_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_add_ps,
                 _mm256_stream_ps)
}
static void affine_stream_sse(const float *x, float *y, int64_t n, float mh, float ml, float a, float b) {
  BN_STREAM_LOOP(__m128, 16, _mm_set1_ps, _mm_loadu_ps, _mm_sub_ps, _mm_mul_ps, _mm_add_ps, _mm_stream_ps)
}
static void affine_out_f32(const float *x, float *y, int64_t n, float mh, float ml, float a, float b, bool stream) {
  if (!stream) {
    affine_f32(x, y, n, mh, ml, a, b);
    return;
  }
  __builtin_cpu_init(); /* idempotent; needed before the first query */
  if (__builtin_cpu_supports("avx512f")) affine_stream_avx512(x, y, n, mh, ml, a, b);
  else if (__builtin_cpu_supports("avx")) affine_stream_avx(x, y, n, mh, ml, a, b);
  else affine_stream_sse(x, y, n, mh, ml, a, b);
}
#else
static void affine_out_f32(const float *x, float *y, int64_t n, float mh, float ml, float a, float b, bool stream) {
  (void)stream;
  affine_f32(x, y, n, mh, ml, a, b);
}
#endif

/* channel c's scale a = invstd * w (in double, then rounded), shift b and
 * the mean split into mh + ml */
static void fwd_coef(double mean, double invstd, const float *W, const float *B, int64_t c, float *mh, float *ml,
                     float *a, float *b) {
  *mh = (float)mean;
  *ml = (float)(mean - (double)*mh);
  *a = (float)(invstd * (W ? (double)W[c] : 1.0));
  *b = B ? B[c] : 0.0f;
}

static void fwd_f32(const float *X, const float *W, const float *B, float *Y, float *SM, float *SI, float *RM,
                    float *RV, bn_dims d, bool training, double momentum, double eps) {
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
      float mh, ml, a, b;
      fwd_coef(RM[c], 1.0 / sqrt((double)RV[c] + eps), W, B, c, &mh, &ml, &a, &b);
      affine_out_f32(X + p * d.S, Y + p * d.S, d.S, mh, ml, a, b, stream);
    }
    return;
  }
  /* per channel: its rows are still in L2 for the output pass */
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > REF_OMP_MIN)
  for (int64_t c = 0; c < d.C; c++) {
    double mean, m2;
    stats_f32(X, d, c, &mean, &m2);
    double invstd = 1.0 / sqrt(m2 / M + eps);
    if (RM) RM[c] = (float)(momentum * mean + (1 - momentum) * (double)RM[c]);
    if (RV) RV[c] = (float)(momentum * (m2 / (M - 1)) + (1 - momentum) * (double)RV[c]);
    SM[c] = (float)mean;
    SI[c] = (float)invstd;
    float mh, ml, a, b;
    fwd_coef(mean, invstd, W, B, c, &mh, &ml, &a, &b);
    for (int64_t n = 0; n < d.N; n++) {
      int64_t off = (n * d.C + c) * d.S;
      affine_out_f32(X + off, Y + off, d.S, mh, ml, a, b, stream);
    }
  }
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

static void bwd_f32(const float *G, const float *X, const float *W, const float *SM, const float *SI, float *GX,
                    float *GW, float *GB, bn_dims d, bool training) {
  double M = (double)(d.N * d.S);
#pragma omp parallel for schedule(static) if (d.N * d.C * d.S > REF_OMP_MIN)
  for (int64_t c = 0; c < d.C; c++) {
    float m = SM[c];
    double invstd = SI[c], sg = 0, sgx = 0, sx = 0, dm = 0;
    if (training || GW || GB)
      for (int64_t n = 0; n < d.N; n++) {
        int64_t off = (n * d.C + c) * d.S;
        bwd_sums_f32(G + off, X + off, d.S, m, &sg, &sgx, &sx);
      }
    if (training && M > 0) {
      /* the exact batch mean differs from the rounded save_mean by sx/M */
      dm = sx / M;
      sgx -= dm * sg;
    }
    if (GW) GW[c] = (float)((double)GW[c] + sgx * invstd);
    if (GB) GB[c] = (float)((double)GB[c] + sg);
    if (!GX) continue;
    double a = invstd * (W ? (double)W[c] : 1.0);
    double k = training && M > 0 ? sgx * invstd * invstd / M : 0.0;
    double gm = training && M > 0 ? sg / M : 0.0;
    for (int64_t n = 0; n < d.N; n++) {
      int64_t off = (n * d.C + c) * d.S;
      bwd_apply_f32(G + off, X + off, GX + off, d.S, m, (float)dm, (float)gm, (float)k, (float)a);
    }
  }
}

nnrt_status ref_batch_norm(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_batch_norm_params *p = call->params;
  const nnrt_tensor *x = call->inputs[0];
  REF_DISPATCH(call, fwd, x->data, REF_IN_OPT(call, 1, void), REF_IN_OPT(call, 2, void), REF_OUT(call, 0, void),
               REF_OUT(call, 1, void), REF_OUT(call, 2, void), REF_OUT_OPT(call, 3, void), REF_OUT_OPT(call, 4, void),
               dims_of(x), p->training, p->momentum, p->eps);
  return NNRT_OK;
}

nnrt_status ref_batch_norm_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_batch_norm_backward_params *p = call->params;
  const nnrt_tensor *x = call->inputs[1];
  REF_DISPATCH(call, bwd, call->inputs[0]->data, x->data, REF_IN_OPT(call, 2, void), REF_IN(call, 3, void),
               REF_IN(call, 4, void), REF_OUT_OPT(call, 0, void), REF_OUT_OPT(call, 1, void),
               REF_OUT_OPT(call, 2, void), dims_of(x), p->training);
  return NNRT_OK;
}
