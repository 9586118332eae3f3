/* backends/opencl/kernels/common.cl - put before every program's source.
 * Built with -DNNRT_F32 or -DNNRT_F64: T is the element type, K(v) a
 * constant of type T (as in nnrt/scalar.h), ACC the accumulation type:
 * double where the host asks for precise float32 (-DNNRT_PRECISE, on
 * devices with cl_khr_fp64, as ref accumulates in double), else T.
 * Indices are size_t: tensors may exceed 2^31 elements. */
#if defined(NNRT_F64) || defined(NNRT_PRECISE)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef NNRT_F64
typedef double T;
typedef double4 T4;
#else
typedef float T;
typedef float4 T4;
#endif
#ifdef NNRT_PRECISE
typedef double ACC;
#else
typedef T ACC;
#endif
#define K(v) ((T)(v))

/* a / b and a % b for indices, in 32 bits when both fit: 64-bit integer
 * division is slow everywhere (emulated on GPUs), and element kernels do
 * it per element */
size_t udiv(size_t a, size_t b) { return ((ulong)a | (ulong)b) >> 32 ? a / b : (size_t)((uint)a / (uint)b); }
size_t umod(size_t a, size_t b) { return ((ulong)a | (ulong)b) >> 32 ? a % b : (size_t)((uint)a % (uint)b); }

/* 2-D element ranges (ocl_range_rows): dim 0 walks the columns of a row, so
 * consecutive work-items touch consecutive elements with no index division;
 * dim 1 strides over the rows, so their number may exceed the device's
 * dim-1 limit.  A kernel starts with COLS_GUARD(c, cols). */
#define COLS_GUARD(c, cols)                                                      \
  size_t c = get_global_id(0);                                                   \
  if (c >= (cols)) return;
#define FOR_ROWS(r, rows) for (size_t r = get_global_id(1); r < (rows); r += get_global_size(1))

/* Tree reductions over the work-group (a power of two in size).  Every
 * work-item must call them; s holds get_local_size(0) elements and may be
 * reused right after, since the result is read before the final barrier. */
ACC wg_sum(__local ACC *s, ACC v) {
  size_t l = get_local_id(0);
  s[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = get_local_size(0) / 2; h > 0; h >>= 1) {
    if (l < h) s[l] += s[l + h];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  ACC r = s[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

ACC wg_max(__local ACC *s, ACC v) {
  size_t l = get_local_id(0);
  s[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = get_local_size(0) / 2; h > 0; h >>= 1) {
    if (l < h) s[l] = fmax(s[l], s[l + h]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  ACC r = s[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

/* max that lets NaN through, as ref's norm_p does */
ACC nan_max(ACC a, ACC b) { return isnan(a) || a > b ? a : b; }

ACC wg_nan_max(__local ACC *s, ACC v) {
  size_t l = get_local_id(0);
  s[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = get_local_size(0) / 2; h > 0; h >>= 1) {
    if (l < h) s[l] = nan_max(s[l], s[l + h]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  ACC r = s[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}
