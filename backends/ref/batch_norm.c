/* backends/ref/batch_norm.c - batch normalisation, forward and backward,
 * as PyTorch 1.13's native_batch_norm computes it, for input (N, C, *).
 *
 * Statistics: one pass over each channel, in blocks small enough for L1:
 * each block's mean and sum of squared deviations are computed in double
 * and merged (Chan et al.), so inputs with a large mean (1e4, std 1) lose
 * nothing to cancellation.  The output is computed in double from x - mean
 * for the same reason.  Every loop is over channels, parallel with OpenMP,
 * and a channel's values are always visited in the same order, so results
 * do not depend on the thread count.
 *
 * Backward (training): gx = w * invstd * (g - mean(g) - xhat * mean(g xhat)),
 * gw += sum(g xhat), gb += sum(g).  The batch mean is re-derived exactly
 * from the input (save_mean, rounded to the input's dtype, only seeds it).
 * Backward (eval): gx = g * w * invstd with the saved (running) statistics. */
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
BN_FNS(float, f32)
BN_FNS(double, f64)

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
