/* backends/ref/mul_scalar.c - output = alpha * input, in place when asked
 * (the scaling step of clip_grad_norm). */
#include "ref.h"

nnrt_status ref_mul_scalar(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *x = call->inputs[0];
  double a = NNRT_PARAMS(call, mul_scalar)->alpha;
  int64_t n = x->numel;
  if (x->dtype == NNRT_F64) {
    const double *s = x->data;
    double *d = call->outputs[0]->data;
#pragma omp parallel for simd schedule(static) if (n > REF_OMP_MIN)
    for (int64_t i = 0; i < n; i++) d[i] = a * s[i];
  } else {
    const float *s = x->data;
    float *d = call->outputs[0]->data, af = (float)a;
#pragma omp parallel for simd schedule(static) if (n > REF_OMP_MIN)
    for (int64_t i = 0; i < n; i++) d[i] = af * s[i];
  }
  return NNRT_OK;
}
