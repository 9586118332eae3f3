/* backends/ref/linear.c - y = x W^T + b on OpenBLAS; backward gives
 * gx = gy W, and accumulates gW += gy^T x, gb += sum of gy's rows. */
#include <cblas.h>

#include "ref.h"

/* rows: product of all but the last dim */
static int64_t rows_of(const nnrt_tensor *x) { return x->numel / (x->shape[x->ndim - 1] ? x->shape[x->ndim - 1] : 1) ; }

#define LINEAR_FNS(T, SFX, GEMM)                                                 \
  static void fwd_##SFX(const T *X, const T *W, const T *B, T *Y, int64_t M, int64_t N, int64_t K) { \
    for (int64_t m = 0; m < M; m++)                                              \
      for (int64_t n = 0; n < N; n++) Y[m * N + n] = B ? B[n] : 0;               \
    if (M && N && K)                                                             \
      GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1, X, (int)K, W, (int)K, 1, Y, (int)N); \
  }                                                                              \
  static void bwd_##SFX(const T *GY, const T *X, const T *W, T *GX, T *GW, T *GB, int64_t M, int64_t N, int64_t K) { \
    if (GX) {                                                                    \
      if (M && N && K)                                                           \
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1, GY, (int)N, W, (int)K, 0, GX, (int)K); \
      else                                                                       \
        memset(GX, 0, sizeof(T) * (size_t)(M * K));                              \
    }                                                                            \
    if (GW && M && N && K)                                                       \
      GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1, GY, (int)N, X, (int)K, 1, GW, (int)K); \
    if (GB)                                                                      \
      for (int64_t n = 0; n < N; n++) {                                          \
        double s = 0;                                                            \
        for (int64_t m = 0; m < M; m++) s += GY[m * N + n];                      \
        GB[n] += (T)s;                                                           \
      }                                                                          \
  }
LINEAR_FNS(float, f32, cblas_sgemm)
LINEAR_FNS(double, f64, cblas_dgemm)

nnrt_status ref_linear(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[0], *w = call->inputs[1];
  REF_DISPATCH(call, fwd, x->data, w->data, REF_IN_OPT(call, 2, void), call->outputs[0]->data, rows_of(x),
               w->shape[0], w->shape[1]);
  return NNRT_OK;
}

nnrt_status ref_linear_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[1], *w = call->inputs[2];
  REF_DISPATCH(call, bwd, call->inputs[0]->data, x->data, w->data, REF_OUT_OPT(call, 0, void),
               REF_OUT_OPT(call, 1, void), REF_OUT_OPT(call, 2, void), rows_of(x), w->shape[0], w->shape[1]);
  return NNRT_OK;
}
