/* backends/opencl/kernels/nll_loss.cl - nll_loss, as backends/ref/loss_nll.c:
 * loss_p = -w[t_p] x[p, t_p], 0 where t_p == ignore_index; mean divides by
 * the sum of w[t_p] over counted positions.  The input is (N, C, inner),
 * position p = (n, k).  Forward: per-position losses (reduction none) or
 * per-group partial sums of loss and weight (finished by finish_sum).
 * Backward: nll_wsum gives the divisor, nll_bwd writes every element. */

__kernel void nll_fwd(__global const T *X, __global const long *TG, __global const T *W, int weighted, ulong C,
                      ulong inner, ulong P, long ignore, int reduction, __global T *Y, __global ACC *part,
                      __local ACC *s) {
  ACC a = 0, b = 0;
  for (size_t pos = get_global_id(0); pos < P; pos += get_global_size(0)) {
    long t = TG[pos];
    ACC l = 0;
    if (t != ignore) {
      ACC wt = weighted ? W[t] : K(1);
      l = -wt * X[(udiv(pos, inner) * C + t) * inner + umod(pos, inner)];
      b += wt;
    }
    if (reduction == 0) Y[pos] = l;
    a += l;
  }
  if (reduction != 0) {
    a = wg_sum(s, a);
    b = wg_sum(s, b);
    if (get_local_id(0) == 0) {
      part[get_group_id(0)] = a;
      part[get_num_groups(0) + get_group_id(0)] = b;
    }
  }
}

__kernel void nll_wsum(__global const long *TG, __global const T *W, int weighted, ulong P, long ignore,
                       __global ACC *out, __local ACC *s) {
  ACC a = 0;
  for (size_t pos = get_local_id(0); pos < P; pos += get_local_size(0)) {
    long t = TG[pos];
    if (t != ignore) a += weighted ? W[t] : K(1);
  }
  a = wg_sum(s, a);
  if (get_local_id(0) == 0) out[0] = a;
}

/* one work-item per element of grad_input */
__kernel void nll_bwd(__global const T *GY, __global const long *TG, __global const T *W, int weighted, ulong C,
                      ulong inner, ulong n, long ignore, int reduction, __global const ACC *wsum, __global T *GX) {
  size_t e = get_global_id(0);
  if (e >= n) return;
  size_t c = umod(udiv(e, inner), C), pos = udiv(e, C * inner) * inner + umod(e, inner);
  long t = TG[pos];
  T v = 0;
  if (t != ignore && (size_t)t == c) {
    ACC g = reduction == 0 ? GY[pos] : reduction == 1 ? GY[0] / wsum[0] : GY[0];
    v = -(weighted ? W[t] : K(1)) * g;
  }
  GX[e] = v;
}
