/* backends/opencl/kernels/dropout.cl - dropout, dropout2d, dropout3d and
 * their backward ops, as backends/ref/dropout.c: y = x * (keep ? scale : 0)
 * with keep decided per plane of `plane` elements (1 for dropout) by the
 * counter-based hash of nnrt/scalar.h, NNRT_RNG_BITS, whose expansion
 * dropout.c puts before this file (the key is formed on the host).
 * keep iff (bits >> NNRT_DROPOUT_SHIFT) >= threshold. */

__kernel void dropout_apply(__global const T *X, __global T *Y, ulong n, ulong plane, ulong key, ulong threshold,
                            T scale) {
  size_t i = get_global_id(0);
  if (i >= n) return;
  ulong q = udiv(i, plane), r;
  NNRT_RNG_BITS(r, key, q);
  Y[i] = X[i] * ((r >> NNRT_DROPOUT_SHIFT) >= threshold ? scale : K(0));
}
