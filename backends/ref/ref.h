/* backends/ref/ref.h - the reference backend's kernels: one per op of
 * ops.def, named ref_<op>.  Portable C with OpenMP; float32 and float64,
 * accumulating in double.  Built into libnnrt. */
#ifndef NNRT_REF_H
#define NNRT_REF_H

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "nnrt/plugin.h"

#define NNRT_STRINGIFY2_(x) #x
#define NNRT_STRINGIFY_(x) NNRT_STRINGIFY2_(x)

#define NNRT_OP(name, rule, params, inputs, outputs) \
  nnrt_status ref_##name(nnrt_device *dev, const nnrt_call *call);
#include "nnrt/ops.def"
#undef NNRT_OP

/* Data pointers of a call's tensors (host memory on ref). */
#define REF_IN(call, i, T) ((const T *)(call)->inputs[i]->data)
#define REF_OUT(call, i, T) ((T *)(call)->outputs[i]->data)
#define REF_IN_OPT(call, i, T) ((call)->inputs[i] ? (const T *)(call)->inputs[i]->data : NULL)
#define REF_OUT_OPT(call, i, T) ((call)->outputs[i] ? (T *)(call)->outputs[i]->data : NULL)

/* Runs FN##_f32 or FN##_f64 by the dtype of the call's first input. */
#define REF_DISPATCH(call, FN, ...)                                              \
  ((call)->inputs[0]->dtype == NNRT_F64 ? FN##_f64(__VA_ARGS__) : FN##_f32(__VA_ARGS__))

/* Splits shape at dim into outer x size x inner. */
static inline void ref_split(const nnrt_tensor *t, int dim, int64_t *outer, int64_t *size, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  *size = t->ndim ? t->shape[dim] : 1;
  for (int i = 0; i < dim; i++) *outer *= t->shape[i];
  for (int i = dim + 1; i < t->ndim; i++) *inner *= t->shape[i];
}

/* Loops smaller than this stay on one thread. */
#define REF_OMP_MIN 32768

#endif
