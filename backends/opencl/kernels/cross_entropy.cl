/* backends/opencl/kernels/cross_entropy.cl - log_softmax + nll in one op,
 * with class weights, ignore_index and label smoothing, exactly as
 * backends/ref/cross_entropy.c (which states the formulas):
 *   loss_p = (1-ls) w[t] (-logp[t]) + ls/C sum_c w_c (-logp[c]).
 * The input is (N, C, inner) with positions p = (n, k); one work-group per
 * position reduces over the C classes (stride inner) with tree reductions.
 * reduction: 0 none, 1 mean (both terms divided by the sum of w[t] over
 * the positions not ignored), 2 sum.  For mean and sum ce_fwd writes
 * per-position terms (nll, smoothing, weight) that ce_fwd_reduce sums in
 * one work-group; ce_bwd_sums gives the divisors backward needs. */

/* the maximum of x[c * inner], c < C, over the work-group (0 if infinite)
 * and the log of sum exp(x - max); log-probabilities are then formed as
 * (x - max) - logsum, which keeps x's low bits where x is large */
void line_lse(__global const T *x, ulong C, ulong inner, __local ACC *s, ACC *m, ACC *logsum) {
  size_t l = get_local_id(0), n = get_local_size(0);
  ACC mx = -INFINITY;
  for (size_t c = l; c < C; c += n) mx = fmax(mx, (ACC)x[c * inner]);
  mx = wg_max(s, mx);
  if (mx == -INFINITY) mx = 0; /* all -inf: 0/0; a +inf max: inf - inf = NaN, as torch */
  ACC sum = 0;
  for (size_t c = l; c < C; c += n) sum += exp(x[c * inner] - mx);
  *m = mx;
  *logsum = log(wg_sum(s, sum));
}

__kernel void ce_fwd(__global const T *X, __global const long *TG, __global const T *W, int weighted, ulong C,
                     ulong inner, ulong P, long ignore, T ls, int reduction, __global T *Y, __global ACC *part,
                     __local ACC *s) {
  size_t pos = get_group_id(0), l = get_local_id(0), n = get_local_size(0);
  __global const T *x = X + (pos / inner) * C * inner + pos % inner;
  long t = TG[pos];
  ACC nll = 0, sm = 0, wt = 0;
  if (t != ignore) { /* the same for the whole group, so barriers stay uniform */
    ACC m, lz;
    line_lse(x, C, inner, s, &m, &lz);
    wt = weighted ? W[t] : K(1);
    nll = -wt * ((x[t * inner] - m) - lz);
    if (ls > 0) {
      for (size_t c = l; c < C; c += n) sm -= (weighted ? W[c] : K(1)) * ((x[c * inner] - m) - lz);
      sm = wg_sum(s, sm);
    }
  }
  if (l == 0) {
    if (reduction == 0) {
      Y[pos] = (1 - ls) * nll + ls / C * sm;
    } else {
      part[pos] = nll;
      part[P + pos] = sm;
      part[2 * P + pos] = wt;
    }
  }
}

__kernel void ce_fwd_reduce(__global const ACC *part, ulong P, ulong C, T ls, int reduction, __global T *Y,
                            __local ACC *s) {
  size_t l = get_local_id(0), n = get_local_size(0);
  ACC a = 0, b = 0, w = 0;
  for (size_t p = l; p < P; p += n) {
    a += part[p];
    b += part[P + p];
    w += part[2 * P + p];
  }
  a = wg_sum(s, a);
  b = wg_sum(s, b);
  w = wg_sum(s, w);
  if (l == 0) {
    if (reduction == 2)
      Y[0] = (1 - ls) * a + ls / C * b;
    else
      Y[0] = (1 - ls) * a / w + (ls > 0 ? ls / C * b / w : 0);
  }
}

/* sums[0] = sum of w[t] over counted positions, sums[1] = sum of all w */
__kernel void ce_bwd_sums(__global const long *TG, __global const T *W, int weighted, ulong C, ulong P, long ignore,
                          __global ACC *sums, __local ACC *s) {
  size_t l = get_local_id(0), n = get_local_size(0);
  ACC a = 0, b = 0;
  for (size_t p = l; p < P; p += n) {
    long t = TG[p];
    if (t != ignore) a += weighted ? W[t] : K(1);
  }
  for (size_t c = l; c < C; c += n) b += weighted ? W[c] : K(1);
  a = wg_sum(s, a);
  b = wg_sum(s, b);
  if (l == 0) {
    sums[0] = a;
    sums[1] = b;
  }
}

__kernel void ce_bwd(__global const T *GY, __global const T *X, __global const long *TG, __global const T *W,
                     int weighted, ulong C, ulong inner, ulong P, long ignore, T ls, int reduction,
                     __global const ACC *sums, __global T *GX, __local ACC *s) {
  size_t pos = get_group_id(0), l = get_local_id(0), n = get_local_size(0);
  size_t base = (pos / inner) * C * inner + pos % inner;
  __global const T *x = X + base;
  __global T *gx = GX + base;
  long t = TG[pos];
  if (t == ignore) {
    for (size_t c = l; c < C; c += n) gx[c * inner] = 0;
    return;
  }
  ACC wsum = sums[0], wall = sums[1];
  ACC g = reduction == 0 ? GY[pos] : GY[0];
  ACC sc = reduction == 1 ? g / wsum : g;
  ACC wt = weighted ? W[t] : K(1);
  ACC m, lz;
  line_lse(x, C, inner, s, &m, &lz);
  for (size_t c = l; c < C; c += n) {
    ACC p = exp((x[c * inner] - m) - lz);
    ACC v = (1 - ls) * sc * wt * (p - (c == (size_t)t ? 1 : 0));
    if (ls > 0) v += ls / C * sc * (p * wall - (weighted ? W[c] : K(1)));
    gx[c * inner] = v;
  }
}
