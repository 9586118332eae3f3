/* backends/ref/slice_copy.c - dst[dst_offset + k] (+)= src[src_offset + k]
 * over flat elements: how the recurrent modules pack their named
 * parameters into the flat weights tensor and add the flat gradient back. */
#include "ref.h"

nnrt_status ref_slice_copy(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_slice_copy_params *p = NNRT_PARAMS(call, slice_copy);
  const nnrt_tensor *src = call->inputs[0], *dst = call->outputs[0];
  int64_t n = p->count == -1 ? src->numel - p->src_offset : p->count;
  if (src->dtype == NNRT_F64) {
    const double *s = (const double *)src->data + p->src_offset;
    double *d = (double *)dst->data + p->dst_offset;
    if (p->accumulate)
      for (int64_t i = 0; i < n; i++) d[i] += s[i];
    else
      memcpy(d, s, sizeof *d * (size_t)n);
  } else {
    const float *s = (const float *)src->data + p->src_offset;
    float *d = (float *)dst->data + p->dst_offset;
    if (p->accumulate)
      for (int64_t i = 0; i < n; i++) d[i] += s[i];
    else
      memcpy(d, s, sizeof *d * (size_t)n);
  }
  return NNRT_OK;
}
