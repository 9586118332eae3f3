/* backends/opencl/kernels/misc.cl - small utilities: mul_scalar (y = alpha x,
 * in place allowed) and the accumulating form of slice_copy (the plain form
 * is a buffer copy). */

__kernel void mul_scalar(__global const T *X, __global T *Y, ulong n, T alpha) {
  size_t i = get_global_id(0);
  if (i < n) Y[i] = alpha * X[i];
}

__kernel void slice_add(__global const T *S, ulong soff, __global T *D, ulong doff, ulong n) {
  size_t i = get_global_id(0);
  if (i < n) D[doff + i] += S[soff + i];
}
