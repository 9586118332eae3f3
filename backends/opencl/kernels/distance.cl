/* backends/opencl/kernels/distance.cl - pairwise_distance and
 * cosine_similarity, forward and backward, as backends/ref/distance.c.
 * pairwise_distance: rows of the last dim, d = (x1 - x2) + eps in T, the
 * p-norm of d (mode 0: p = 0, 1: p = 1, 2: p = 2, 3: inf, 4: other p),
 * backward PyTorch's norm_backward.  cosine_similarity: positions
 * (outer, inner) reduce n elements at stride inner; each norm is clamped
 * to eps on its own.  One work-group per row or position, tree sums. */

T sgn_(T v) { return (T)((v > 0) - (v < 0)); }

/* the p-norm of row `base` of d = x1 - x2 + eps, rounded to T as stored */
T row_norm(__global const T *X1, __global const T *X2, size_t base, ulong D, T eps, int mode, T p, __local ACC *s) {
  ACC acc = 0;
  for (size_t k = get_local_id(0); k < D; k += get_local_size(0)) {
    T dk = (X1[base + k] - X2[base + k]) + eps;
    ACC a = fabs(dk);
    acc = mode == 0 ? acc + (dk != 0) : mode == 1 ? acc + a : mode == 2 ? acc + a * a : mode == 3 ? nan_max(acc, a)
                                                                                               : acc + pow(a, (ACC)p);
  }
  acc = mode == 3 ? wg_nan_max(s, acc) : wg_sum(s, acc);
  return mode == 2 ? sqrt(acc) : mode == 4 ? pow(acc, (ACC)1 / p) : acc;
}

__kernel void pd_fwd(__global const T *X1, __global const T *X2, __global T *Y, ulong D, T eps, int mode, T p,
                     __local ACC *s) {
  size_t r = get_group_id(0);
  T nrm = row_norm(X1, X2, r * D, D, eps, mode, p, s);
  if (get_local_id(0) == 0) Y[r] = nrm;
}

__kernel void pd_bwd(__global const T *G, __global const T *X1, __global const T *X2, __global T *G1, int has1,
                     __global T *G2, int has2, ulong D, T eps, int mode, T p, __local ACC *s) {
  size_t r = get_group_id(0), base = r * D;
  T nrm = row_norm(X1, X2, base, D, eps, mode, p, s);
  ACC g = G[r], ties = 0;
  if (mode == 3) { /* the gradient is shared among the entries that reach the max */
    for (size_t k = get_local_id(0); k < D; k += get_local_size(0)) {
      T dk = (X1[base + k] - X2[base + k]) + eps;
      ties += fabs(dk) == nrm || isnan(dk);
    }
    ties = wg_sum(s, ties);
  }
  for (size_t k = get_local_id(0); k < D; k += get_local_size(0)) {
    T dk = (X1[base + k] - X2[base + k]) + eps;
    ACC v;
    if (mode == 0) v = 0;
    else if (mode == 1) v = sgn_(dk) * g;
    else if (mode == 2) v = nrm == 0 ? 0 : g * dk / nrm;
    else if (mode == 3) v = (fabs(dk) == nrm || isnan(dk)) ? sgn_(dk) * g / ties : 0;
    else if (p < 1) v = dk == 0 ? 0 : sgn_(dk) * pow(fabs(dk), p - 1) * g * pow(nrm, 1 - p);
    else v = sgn_(dk) * pow(fabs(dk), p - 1) * (nrm == 0 ? 0 : g / pow(nrm, p - 1));
    if (has1) G1[base + k] = v;
    if (has2) G2[base + k] = -v;
  }
}

void cos_sums(__global const T *X1, __global const T *X2, size_t base, ulong n, ulong inner, T eps, __local ACC *s,
              ACC *n1c, ACC *n2c, ACC *cs) {
  ACC s1 = 0, s2 = 0, s12 = 0;
  for (size_t k = get_local_id(0); k < n; k += get_local_size(0)) {
    ACC u = X1[base + k * inner], v = X2[base + k * inner];
    s1 += u * u;
    s2 += v * v;
    s12 += u * v;
  }
  s1 = wg_sum(s, s1);
  s2 = wg_sum(s, s2);
  s12 = wg_sum(s, s12);
  *n1c = fmax(sqrt(s1), (ACC)eps);
  *n2c = fmax(sqrt(s2), (ACC)eps);
  *cs = s12 / (*n1c * *n2c);
}

__kernel void cs_fwd(__global const T *X1, __global const T *X2, __global T *Y, ulong n, ulong inner, T eps,
                     __local ACC *s) {
  size_t pos = get_group_id(0), base = (pos / inner) * n * inner + pos % inner;
  ACC n1c, n2c, cs;
  cos_sums(X1, X2, base, n, inner, eps, s, &n1c, &n2c, &cs);
  if (get_local_id(0) == 0) Y[pos] = cs;
}

__kernel void cs_bwd(__global const T *G, __global const T *X1, __global const T *X2, __global T *G1, int has1,
                     __global T *G2, int has2, ulong n, ulong inner, T eps, __local ACC *s) {
  size_t pos = get_group_id(0), base = (pos / inner) * n * inner + pos % inner;
  ACC n1c, n2c, cs, g = G[pos];
  cos_sums(X1, X2, base, n, inner, eps, s, &n1c, &n2c, &cs);
  for (size_t k = get_local_id(0); k < n; k += get_local_size(0)) {
    size_t at = base + k * inner;
    ACC u = X1[at], v = X2[at];
    if (has1) G1[at] = g * (v / (n1c * n2c) - cs * u / (n1c * n1c));
    if (has2) G2[at] = g * (u / (n1c * n2c) - cs * v / (n2c * n2c));
  }
}
