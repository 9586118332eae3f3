/* backends/opencl/kernels/reduce.cl - the second stage of whole-tensor
 * reductions.  A first-stage kernel (a loss, norm_p) leaves one partial
 * per work-group in scratch; these combine them in one work-group.
 *   finish_sum: Y[0] = sum(part[0, parts)) / (use_b ? sum(part[parts, 2 parts)) : div)
 *   norm_part / norm_finish: the p-norm of X (mode 0 max |x| with NaN
 *   winning, 1 sum |x|, 2 sqrt(sum x^2), 3 (sum |x|^p)^(1/p)). */

__kernel void finish_sum(__global const ACC *part, ulong parts, int use_b, T div, __global T *Y,
                         __local ACC *s) {
  size_t l = get_local_id(0), n = get_local_size(0);
  ACC a = 0, b = 0;
  for (size_t i = l; i < parts; i += n) {
    a += part[i];
    if (use_b) b += part[parts + i];
  }
  a = wg_sum(s, a);
  if (use_b) b = wg_sum(s, b);
  if (l == 0) Y[0] = a / (use_b ? b : div);
}


__kernel void norm_part(__global const T *X, ulong n, int mode, T p, __global ACC *part, __local ACC *s) {
  ACC acc = 0;
  for (size_t i = get_global_id(0); i < n; i += get_global_size(0)) {
    ACC a = fabs(X[i]);
    acc = mode == 0 ? nan_max(acc, a) : mode == 1 ? acc + a : mode == 2 ? acc + a * a : acc + pow(a, (ACC)p);
  }
  acc = mode == 0 ? wg_nan_max(s, acc) : wg_sum(s, acc);
  if (get_local_id(0) == 0) part[get_group_id(0)] = acc;
}

__kernel void norm_finish(__global const ACC *part, ulong parts, int mode, T p, __global T *Y, __local ACC *s) {
  ACC acc = 0;
  for (size_t i = get_local_id(0); i < parts; i += get_local_size(0))
    acc = mode == 0 ? nan_max(acc, part[i]) : acc + part[i];
  acc = mode == 0 ? wg_nan_max(s, acc) : wg_sum(s, acc);
  if (get_local_id(0) == 0) Y[0] = mode == 2 ? sqrt(acc) : mode == 3 ? pow(acc, (ACC)1 / p) : acc;
}
