/* backends/opencl/kernels/loss_rowwise.cl - the losses computed per row of
 * C contiguous elements (the last dim), as backends/ref/loss_rowwise.c
 * (which states the formulas): multilabel_soft_margin, cosine_embedding,
 * multi_margin, multilabel_margin.  One work-group per row, tree
 * reductions over C.  Forward kernels write each row's loss to Y (reduction
 * none) or, as ACC, to PART in scratch for finish_sum (red set).  Backward
 * kernels take g = grad_output[row] (none) or grad_output[0] / div. */

T softplus_(T v) { return fmax(v, K(0)) + log1p(exp(-fabs(v))); }
T sigmoid_(T v) { return K(1) / (K(1) + exp(-v)); }

#define ROW_OUT(row, v)                                                          \
  do {                                                                           \
    if (red) PART[row] = (v);                                                    \
    else Y[row] = (v);                                                           \
  } while (0)
#define ROW_G(GY, reduction, row, div) ((reduction) == 0 ? (GY)[row] : (GY)[0] / (div))

/* ---- multilabel_soft_margin ---- */
__kernel void mlsm_fwd(__global const T *X, __global const T *TG, __global const T *W, ulong wn, ulong C,
                       __global T *Y, __global ACC *PART, int red, __local ACC *s) {
  size_t row = get_group_id(0), base = row * C;
  ACC acc = 0;
  for (size_t c = get_local_id(0); c < C; c += get_local_size(0)) {
    T x = X[base + c], t = TG[base + c];
    acc += (wn ? W[umod(base + c, wn)] : K(1)) * (t * softplus_(-x) + (1 - t) * softplus_(x));
  }
  acc = wg_sum(s, acc);
  if (get_local_id(0) == 0) ROW_OUT(row, acc / C);
}

/* one work-item per element */
__kernel void mlsm_bwd(__global const T *GY, __global const T *X, __global const T *TG, __global const T *W,
                       ulong wn, ulong C, ulong n, int reduction, T div, __global T *GX) {
  size_t i = get_global_id(0);
  if (i >= n) return;
  T g = ROW_G(GY, reduction, udiv(i, C), div);
  GX[i] = g * (wn ? W[umod(i, wn)] : K(1)) * (sigmoid_(X[i]) - TG[i]) / C;
}

/* ---- cosine_embedding: cos = x1.x2 / sqrt((|x1|^2 + eps)(|x2|^2 + eps)) ---- */
#define COS_EPS 1e-12

void cos_row(__global const T *X1, __global const T *X2, size_t base, ulong C, __local ACC *s, ACC *cs, ACC *m1,
             ACC *m2) {
  ACC dot = 0, a = 0, b = 0;
  for (size_t c = get_local_id(0); c < C; c += get_local_size(0)) {
    ACC u = X1[base + c], v = X2[base + c];
    dot += u * v;
    a += u * u;
    b += v * v;
  }
  dot = wg_sum(s, dot);
  *m1 = wg_sum(s, a) + (ACC)COS_EPS;
  *m2 = wg_sum(s, b) + (ACC)COS_EPS;
  *cs = dot / sqrt(*m1 * *m2);
}

__kernel void cos_fwd(__global const T *X1, __global const T *X2, __global const T *TG, ulong C, T margin,
                      __global T *Y, __global ACC *PART, int red, __local ACC *s) {
  size_t row = get_group_id(0);
  ACC cs, m1, m2;
  cos_row(X1, X2, row * C, C, s, &cs, &m1, &m2);
  T t = TG[row];
  if (get_local_id(0) == 0) ROW_OUT(row, t == 1 ? 1 - cs : t == -1 ? fmax(cs - (ACC)margin, (ACC)0) : (ACC)0);
}

__kernel void cos_bwd(__global const T *GY, __global const T *X1, __global const T *X2, __global const T *TG,
                      ulong C, T margin, int reduction, T div, __global T *GX1, int has1, __global T *GX2, int has2,
                      __local ACC *s) {
  size_t row = get_group_id(0), base = row * C;
  ACC cs, m1, m2;
  cos_row(X1, X2, base, C, s, &cs, &m1, &m2);
  T t = TG[row];
  ACC g = ROW_G(GY, reduction, row, div);
  /* d loss / d cos; the clamp's kink counts as active, as in PyTorch */
  ACC k = t == 1 ? -1 : t == -1 && cs - margin >= 0 ? 1 : 0;
  ACC sc = g * k / sqrt(m1 * m2);
  for (size_t c = get_local_id(0); c < C; c += get_local_size(0)) {
    ACC u = X1[base + c], v = X2[base + c];
    if (has1) GX1[base + c] = sc * v - g * k * cs * u / m1;
    if (has2) GX2[base + c] = sc * u - g * k * cs * v / m2;
  }
}

/* ---- multi_margin: sum_{j != y} w[y] max(0, margin - x[y] + x[j])^p / C ---- */
__kernel void mm_fwd(__global const T *X, __global const long *TG, __global const T *W, int weighted, ulong C,
                     int p, T margin, __global T *Y, __global ACC *PART, int red, __local ACC *s) {
  size_t row = get_group_id(0), base = row * C;
  long y = TG[row];
  T xy = X[base + y];
  ACC acc = 0;
  for (size_t j = get_local_id(0); j < C; j += get_local_size(0)) {
    T z = margin - xy + X[base + j];
    if ((long)j != y && z > 0) acc += p == 1 ? z : z * z;
  }
  acc = wg_sum(s, acc);
  if (get_local_id(0) == 0) ROW_OUT(row, acc * (weighted ? W[y] : K(1)) / C);
}

__kernel void mm_bwd(__global const T *GY, __global const T *X, __global const long *TG, __global const T *W,
                     int weighted, ulong C, int p, T margin, int reduction, T div, __global T *GX, __local ACC *s) {
  size_t row = get_group_id(0), base = row * C;
  long y = TG[row];
  T xy = X[base + y];
  ACC sc = ROW_G(GY, reduction, row, div) * (weighted ? W[y] : K(1)) / C, acc = 0;
  for (size_t j = get_local_id(0); j < C; j += get_local_size(0)) {
    if ((long)j == y) continue;
    T z = margin - xy + X[base + j];
    ACC dj = z > 0 ? sc * (p == 1 ? 1 : 2 * z) : 0;
    acc += dj;
    GX[base + j] = dj;
  }
  acc = wg_sum(s, acc);
  if (get_local_id(0) == 0) GX[base + y] = -acc;
}

/* ---- multilabel_margin: targets are row entries up to the first -1 ----
 * F (scratch): per row, C ints "is a target", then C ints of counts. */
size_t mlm_prepare(__global const long *TG, size_t base, ulong C, __global int *F, __local int *si) {
  size_t l = get_local_id(0), n = get_local_size(0);
  int first = (int)C;
  for (size_t c = l; c < C; c += n) {
    F[base + c] = 0;
    if (TG[base + c] < 0 && (int)c < first) first = (int)c;
  }
  si[l] = first;
  barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
  for (size_t h = n / 2; h > 0; h >>= 1) {
    if (l < h) si[l] = min(si[l], si[l + h]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  size_t k = (size_t)si[0];
  for (size_t a = l; a < k; a += n) F[base + TG[base + a]] = 1; /* repeats write the same 1 */
  barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
  return k;
}

/* F + foff: the flags (after the row losses, which may share the buffer) */
__kernel void mlm_fwd(__global const T *X, __global const long *TG, ulong C, __global int *F, ulong foff,
                      __global T *Y, __global ACC *PART, int red, __local ACC *s, __local int *si) {
  size_t row = get_group_id(0), base = row * C;
  F += foff;
  size_t k = mlm_prepare(TG, base, C, F, si);
  ACC acc = 0;
  for (size_t i = get_local_id(0); i < C; i += get_local_size(0)) {
    if (F[base + i]) continue;
    T xi = X[base + i];
    for (size_t a = 0; a < k; a++) {
      T z = 1 - X[base + TG[base + a]] + xi;
      if (z > 0) acc += z;
    }
  }
  acc = wg_sum(s, acc);
  if (get_local_id(0) == 0) ROW_OUT(row, acc / C);
}

__kernel void mlm_bwd(__global const T *GY, __global const T *X, __global const long *TG, ulong C, int reduction,
                      T div, __global int *F, __global T *GX, __local int *si) {
  size_t row = get_group_id(0), base = row * C, l = get_local_id(0), n = get_local_size(0);
  size_t k = mlm_prepare(TG, base, C, F, si);
  __global int *cnt = F + get_num_groups(0) * C; /* per listed target: active non-targets */
  ACC sc = ROW_G(GY, reduction, row, div) / C;
  for (size_t a = l; a < k; a += n) {
    T xj = X[base + TG[base + a]];
    int c = 0;
    for (size_t i = 0; i < C; i++)
      if (!F[base + i] && 1 - xj + X[base + i] > 0) c++;
    cnt[base + a] = c;
  }
  barrier(CLK_GLOBAL_MEM_FENCE);
  for (size_t i = l; i < C; i += n) {
    ACC v = 0;
    if (F[base + i]) {
      for (size_t a = 0; a < k; a++)
        if ((size_t)TG[base + a] == i) v -= sc * cnt[base + a];
    } else {
      T xi = X[base + i];
      for (size_t a = 0; a < k; a++)
        if (1 - X[base + TG[base + a]] + xi > 0) v += sc;
    }
    GX[base + i] = v;
  }
}
