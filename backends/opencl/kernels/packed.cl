/* backends/opencl/kernels/packed.cl - row moves for packed sequences
 * (backends/ref/packed.c): the host works out which padded row each packed
 * row is (MAP: pairs src row, dst row); copy_rows moves F elements per
 * pair, one work-item per element; fill sets a whole tensor first (zeros
 * for a scatter, padding_value for pad_packed_sequence). */

__kernel void fill(__global T *Y, ulong n, T v) {
  size_t i = get_global_id(0);
  if (i < n) Y[i] = v;
}

__kernel void copy_rows(__global const T *S, __global T *D, __global const long *MAP, ulong rows, ulong F) {
  size_t e = get_global_id(0);
  if (e >= rows * F) return;
  size_t k = udiv(e, F), f = umod(e, F);
  D[MAP[2 * k + 1] * F + f] = S[MAP[2 * k] * F + f];
}
