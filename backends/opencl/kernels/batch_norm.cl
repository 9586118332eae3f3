/* backends/opencl/kernels/batch_norm.cl - batch normalisation for input
 * (N, C, S) (S the spatial size), as backends/ref/batch_norm.c computes it.
 * Per-channel statistics in two stages: groups (part, c) each reduce a
 * slice of channel c to (count, mean, M2) - Welford per work-item, merged
 * up the tree with Chan's formula, so a large mean costs no precision -
 * and bn_stats_finish merges a channel's parts, updates the running
 * statistics and writes save_mean / save_invstd.  The backward sums g,
 * g (x - mean) and x - mean the same way and derives per-channel
 * coefficients (COEF + coff: mean, a, k, gm) for the elementwise gradient. */

/* element j of channel c, j < N*S */
#define BN_AT(X, c, j, C, S) (X)[(udiv(j, S) * (C) + (c)) * (S) + umod(j, S)]

void chan_merge(ACC *n, ACC *mean, ACC *m2, ACC nb, ACC mb, ACC m2b) {
  ACC tot = *n + nb;
  if (tot == 0) return;
  ACC delta = mb - *mean;
  *mean += delta * (nb / tot);
  *m2 += m2b + delta * delta * (*n * nb / tot);
  *n = tot;
}

__kernel void bn_stats_part(__global const T *X, ulong C, ulong S, ulong M, __global ACC *P, __local ACC *sn,
                            __local ACC *sm, __local ACC *s2) {
  size_t part = get_group_id(0), parts = get_num_groups(0), c = get_group_id(1);
  size_t l = get_local_id(0), lsz = get_local_size(0);
  ACC n = 0, mean = 0, m2 = 0;
  for (size_t j = part * lsz + l; j < M; j += parts * lsz) {
    ACC x = BN_AT(X, c, j, C, S);
    n += 1;
    ACC d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  sn[l] = n;
  sm[l] = mean;
  s2[l] = m2;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (size_t h = lsz / 2; h > 0; h >>= 1) {
    if (l < h) {
      ACC a = sn[l], b = sm[l], e = s2[l];
      chan_merge(&a, &b, &e, sn[l + h], sm[l + h], s2[l + h]);
      sn[l] = a;
      sm[l] = b;
      s2[l] = e;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0) {
    size_t o = (c * parts + part) * 3;
    P[o] = sn[0];
    P[o + 1] = sm[0];
    P[o + 2] = s2[0];
  }
}

/* one work-item per channel; training: from the parts, else the running
 * stats.  COEF + coff gets (mean, invstd w, b) in ACC for bn_normalize:
 * the rounded save_mean would cost a large-mean input its precision. */
__kernel void bn_stats_finish(__global const ACC *P, ulong parts, ulong C, ulong M, int training, T momentum, T eps,
                              __global T *SM, __global T *SI, __global T *RM, int has_rm, __global T *RV,
                              int has_rv, __global const T *W, int has_w, __global const T *B, int has_b,
                              __global ACC *COEF, ulong coff) {
  size_t c = get_global_id(0);
  if (c >= C) return;
  COEF += coff;
  ACC mean, invstd;
  if (training) {
    ACC n = 0, m2 = 0;
    mean = 0;
    for (size_t p = 0; p < parts; p++) {
      size_t o = (c * parts + p) * 3;
      chan_merge(&n, &mean, &m2, P[o], P[o + 1], P[o + 2]);
    }
    invstd = K(1) / sqrt(m2 / (ACC)M + eps);
    if (has_rm) RM[c] = momentum * mean + (1 - momentum) * RM[c];
    if (has_rv) RV[c] = momentum * (m2 / ((ACC)M - 1)) + (1 - momentum) * RV[c];
  } else {
    mean = RM[c];
    invstd = K(1) / sqrt(RV[c] + eps);
  }
  SM[c] = mean;
  SI[c] = invstd;
  COEF[3 * c] = mean;
  COEF[3 * c + 1] = invstd * (has_w ? W[c] : K(1));
  COEF[3 * c + 2] = has_b ? B[c] : K(0);
}

/* 2-D range: columns the S spatial positions, rows the N C planes */
__kernel void bn_normalize(__global const T *X, __global const ACC *COEF, ulong coff, __global T *Y, ulong C, ulong S,
                           ulong rows) {
  COLS_GUARD(s, S)
  COEF += coff;
  FOR_ROWS(r, rows) {
    size_t c = umod(r, C), i = r * S + s;
    Y[i] = ((ACC)X[i] - COEF[3 * c]) * COEF[3 * c + 1] + COEF[3 * c + 2];
  }
}

/* groups (part, c): partial sums of g, g (x - mean), x - mean */
__kernel void bn_grad_part(__global const T *G, __global const T *X, __global const T *SM, ulong C, ulong S, ulong M,
                           __global ACC *P, __local ACC *s) {
  size_t part = get_group_id(0), parts = get_num_groups(0), c = get_group_id(1);
  size_t l = get_local_id(0), lsz = get_local_size(0);
  ACC mean = SM[c], sg = 0, sgx = 0, sx = 0;
  for (size_t j = part * lsz + l; j < M; j += parts * lsz) {
    ACC g = BN_AT(G, c, j, C, S), xc = BN_AT(X, c, j, C, S) - mean;
    sg += g;
    sgx += g * xc;
    sx += xc;
  }
  sg = wg_sum(s, sg);
  sgx = wg_sum(s, sgx);
  sx = wg_sum(s, sx);
  if (l == 0) {
    size_t o = (c * parts + part) * 3;
    P[o] = sg;
    P[o + 1] = sgx;
    P[o + 2] = sx;
  }
}

/* one work-item per channel: grad_weight, grad_bias (accumulate) and COEF */
__kernel void bn_grad_finish(__global const ACC *P, ulong parts, ulong C, ulong M, int training, __global const T *W,
                             int has_w, __global const T *SM, __global const T *SI, __global T *GW, int has_gw,
                             __global T *GB, int has_gb, __global ACC *COEF, ulong coff) {
  size_t c = get_global_id(0);
  if (c >= C) return;
  COEF += coff;
  ACC sg = 0, sgx = 0, sx = 0, mean = SM[c], invstd = SI[c];
  for (size_t p = 0; p < parts; p++) {
    size_t o = (c * parts + p) * 3;
    sg += P[o];
    sgx += P[o + 1];
    sx += P[o + 2];
  }
  bool batch = training && M > 0;
  if (batch) {
    /* the exact batch mean differs from the rounded save_mean by sx/M */
    ACC dm = sx / (ACC)M;
    mean += dm;
    sgx -= dm * sg;
  }
  if (has_gw) GW[c] += sgx * invstd;
  if (has_gb) GB[c] += sg;
  COEF[4 * c] = mean;
  COEF[4 * c + 1] = invstd * (has_w ? W[c] : K(1));
  COEF[4 * c + 2] = batch ? sgx * invstd * invstd / (ACC)M : 0;
  COEF[4 * c + 3] = batch ? sg / (ACC)M : 0;
}

__kernel void bn_grad_input(__global const T *G, __global const T *X, __global const ACC *COEF, ulong coff,
                            __global T *GX, ulong C, ulong S, ulong rows) {
  COLS_GUARD(s, S)
  COEF += coff;
  FOR_ROWS(r, rows) {
    size_t c = umod(r, C), i = r * S + s;
    GX[i] = (G[i] - COEF[4 * c + 3] - (X[i] - COEF[4 * c]) * COEF[4 * c + 2]) * COEF[4 * c + 1];
  }
}
