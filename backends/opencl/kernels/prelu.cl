/* backends/opencl/kernels/prelu.cl - PReLU.  The input is seen as
 * (outer, C, inner) with one weight per channel, or C = 1 for a single
 * weight.  grad_weight is a sum over outer and inner per channel: each
 * channel is cut into `parts` slices reduced by one work-group each
 * (prelu_gw_part), whose partial sums prelu_gw_add adds into grad_weight,
 * which accumulates.  Semantics as backends/ref/prelu.c. */

/* 2-D ranges: columns the inner positions, rows the (outer, channel) pairs */
__kernel void prelu_fwd(__global const T *X, __global const T *W, __global T *Y, ulong rows, ulong C, ulong inner) {
  COLS_GUARD(k, inner)
  FOR_ROWS(r, rows) {
    size_t i = r * inner + k;
    T x = X[i], w = W[umod(r, C)];
    Y[i] = x > 0 ? x : w * x;
  }
}

__kernel void prelu_gx(__global const T *G, __global const T *X, __global const T *W, __global T *GX, ulong rows,
                       ulong C, ulong inner) {
  COLS_GUARD(k, inner)
  FOR_ROWS(r, rows) {
    size_t i = r * inner + k;
    T g = G[i], w = W[umod(r, C)];
    GX[i] = X[i] > 0 ? g : w * g;
  }
}

/* group (part, ch): partial sum of g*x where x is not > 0 over slice `part` of channel ch */
__kernel void prelu_gw_part(__global const T *G, __global const T *X, __global ACC *P, ulong outer, ulong C,
                            ulong inner, __local ACC *s) {
  size_t part = get_group_id(0), parts = get_num_groups(0), ch = get_group_id(1);
  size_t l = get_local_id(0), n = get_local_size(0);
  size_t m = outer * inner;
  ACC acc = 0;
  for (size_t j = part * n + l; j < m; j += parts * n) {
    size_t i = (udiv(j, inner) * C + ch) * inner + umod(j, inner);
    T x = X[i];
    if (!(x > 0)) acc += G[i] * x; /* a NaN x counts, as torch */
  }
  acc = wg_sum(s, acc);
  if (l == 0) P[ch * parts + part] = acc;
}

__kernel void prelu_gw_add(__global const ACC *P, __global T *GW, ulong C, ulong parts) {
  size_t ch = get_global_id(0);
  if (ch >= C) return;
  ACC acc = 0;
  for (size_t p = 0; p < parts; p++) acc += P[ch * parts + p];
  GW[ch] += acc;
}
