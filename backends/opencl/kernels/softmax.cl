/* backends/opencl/kernels/softmax.cl - softmax, softmin and log_softmax
 * along any dim, forward and backward.  The tensor is seen as
 * (outer, D, inner); one work-group takes one line of D elements (stride
 * inner) and reduces it with tree reductions in local memory: the maximum
 * first, so no exp overflows, then the sum.  mode: 0 softmax, 1 softmin,
 * 2 log_softmax.  Semantics as backends/ref/softmax.c. */

__kernel void softmax_fwd(__global const T *X, __global T *Y, ulong D, ulong inner, int mode,
                          __local ACC *s) {
  size_t line = get_group_id(0), l = get_local_id(0), n = get_local_size(0);
  size_t base = (line / inner) * D * inner + line % inner;
  __global const T *x = X + base;
  __global T *y = Y + base;
  T sign = mode == 1 ? K(-1) : K(1);
  ACC m = -INFINITY;
  for (size_t d = l; d < D; d += n) m = fmax(m, (ACC)(sign * x[d * inner]));
  m = wg_max(s, m);
  if (m == -INFINITY) m = 0; /* all -inf: 0/0 = NaN, as torch; a +inf max gives NaN too */
  ACC sum = 0;
  for (size_t d = l; d < D; d += n) sum += exp(sign * x[d * inner] - m);
  sum = wg_sum(s, sum);
  if (mode == 2) {
    /* (x - max) - log(sum): x - (max + log(sum)) would lose x's low bits */
    ACC ls = log(sum);
    for (size_t d = l; d < D; d += n) y[d * inner] = (x[d * inner] - m) - ls;
  } else {
    ACC r = K(1) / sum;
    for (size_t d = l; d < D; d += n) y[d * inner] = exp(sign * x[d * inner] - m) * r;
  }
}

/* softmax: gx = y (g - sum g y); softmin: the same negated;
 * log_softmax: gx = g - exp(y) sum g. */
__kernel void softmax_bwd(__global const T *G, __global const T *Y, __global T *GX, ulong D, ulong inner,
                          int mode, __local ACC *s) {
  size_t line = get_group_id(0), l = get_local_id(0), n = get_local_size(0);
  size_t base = (line / inner) * D * inner + line % inner;
  __global const T *g = G + base, *y = Y + base;
  __global T *gx = GX + base;
  ACC acc = 0;
  if (mode == 2)
    for (size_t d = l; d < D; d += n) acc += g[d * inner];
  else
    for (size_t d = l; d < D; d += n) acc += g[d * inner] * y[d * inner];
  acc = wg_sum(s, acc);
  if (mode == 2) {
    for (size_t d = l; d < D; d += n) gx[d * inner] = g[d * inner] - exp(y[d * inner]) * acc;
  } else {
    T sign = mode == 1 ? K(-1) : K(1);
    for (size_t d = l; d < D; d += n) gx[d * inner] = sign * y[d * inner] * (g[d * inner] - acc);
  }
}
