/* backends/opencl/kernels/linear.cl - linear layers: tiled GEMM with local
 * memory, and column sums for grad_bias.
 *
 * C[Mc, Nc] (=, or += with beta) sum over p < Pc of A(i, p) B(p, j)
 * (+ bias[j]), in three layouts, each matrix at an offset with a row
 * stride (so the recurrent kernels address blocks of larger buffers):
 *   gemm_nt  A(i, p) = A[i lda + p], B(p, j) = B[j ldb + p]   y = x W^T + b
 *   gemm_nn  A(i, p) = A[i lda + p], B(p, j) = B[p ldb + j]   gx = gy W
 *   gemm_tn  A(i, p) = A[p lda + i], B(p, j) = B[p ldb + j]   gW += gy^T x
 * A work-group of TS x TS work-items computes a BS x BS block of C
 * (BS = TS * WPT, each work-item WPT x WPT outputs spaced TS apart, so
 * stores and local reads are contiguous across the group), stepping
 * through Pc in tiles of KT staged in local memory.  Tile loads follow the
 * operand's contiguous index, so global reads coalesce.  TS comes from the
 * host (-DTS=16 where the device allows 256 work-items). */
#ifndef TS
#define TS 16
#endif
#define WPT 4
#define BS (TS * WPT)
#define KT 16

#define GEMM_KERNEL(name, A_AT, A_PFAST, B_AT, B_JFAST)                          \
  __kernel __attribute__((reqd_work_group_size(TS, TS, 1))) void name(          \
      __global const T *A, ulong aoff, int lda, __global const T *B, ulong boff, int ldb, __global T *C, \
      ulong coff, int ldc, __global const T *bias, ulong bias_off, int has_bias, int beta, int Mc, int Nc, \
      int Pc) {                                                                  \
    A += aoff;                                                                   \
    B += boff;                                                                   \
    C += coff;                                                                   \
    bias += bias_off;                                                            \
    __local T As[KT][BS + 1];                                                    \
    __local T Bs[KT][BS + 1];                                                    \
    int tx = get_local_id(0), ty = get_local_id(1), lid = ty * TS + tx;          \
    int i0 = get_group_id(1) * BS, j0 = get_group_id(0) * BS;                    \
    T acc[WPT][WPT]; /* T, not ACC: a GEMM stays in the element type */       \
    for (int r = 0; r < WPT; r++)                                                \
      for (int c = 0; c < WPT; c++) acc[r][c] = 0;                               \
    for (int p0 = 0; p0 < Pc; p0 += KT) {                                        \
      for (int e = lid; e < BS * KT; e += TS * TS) {                             \
        int ii = A_PFAST ? e / KT : e % BS, pp = A_PFAST ? e % KT : e / BS;      \
        int gi = i0 + ii, gp = p0 + pp;                                          \
        As[pp][ii] = gi < Mc && gp < Pc ? A_AT(gi, gp) : K(0);                   \
        int jj = B_JFAST ? e % BS : e / KT, qq = B_JFAST ? e / BS : e % KT;      \
        int gj = j0 + jj, gq = p0 + qq;                                          \
        Bs[qq][jj] = gj < Nc && gq < Pc ? B_AT(gq, gj) : K(0);                   \
      }                                                                          \
      barrier(CLK_LOCAL_MEM_FENCE);                                              \
      for (int p = 0; p < KT; p++) {                                             \
        T a[WPT], b[WPT];                                                        \
        for (int r = 0; r < WPT; r++) a[r] = As[p][ty + TS * r];                 \
        for (int c = 0; c < WPT; c++) b[c] = Bs[p][tx + TS * c];                 \
        for (int r = 0; r < WPT; r++)                                            \
          for (int c = 0; c < WPT; c++) acc[r][c] += a[r] * b[c];               \
      }                                                                          \
      barrier(CLK_LOCAL_MEM_FENCE);                                              \
    }                                                                            \
    for (int r = 0; r < WPT; r++)                                                \
      for (int c = 0; c < WPT; c++) {                                            \
        int i = i0 + ty + TS * r, j = j0 + tx + TS * c;                          \
        if (i < Mc && j < Nc) {                                                  \
          size_t o = (size_t)i * ldc + j;                                        \
          C[o] = (beta ? C[o] : K(0)) + acc[r][c] + (has_bias ? bias[j] : K(0)); \
        }                                                                        \
      }                                                                          \
  }

#define NT_A(i, p) A[(size_t)(i) * lda + (p)]
#define NT_B(p, j) B[(size_t)(j) * ldb + (p)]
#define NN_A(i, p) A[(size_t)(i) * lda + (p)]
#define NN_B(p, j) B[(size_t)(p) * ldb + (j)]
#define TN_A(i, p) A[(size_t)(p) * lda + (i)]
#define TN_B(p, j) B[(size_t)(p) * ldb + (j)]

GEMM_KERNEL(gemm_nt, NT_A, 1, NT_B, 0)
GEMM_KERNEL(gemm_nn, NN_A, 1, NN_B, 1)
GEMM_KERNEL(gemm_tn, TN_A, 0, TN_B, 1)

/* grad_bias: group (cb, rb) sums rows rb, rb + R, ... of the TS columns of
 * block cb of GY (+ goff, row stride ld) into P[rb][j]; colsum_add then
 * adds the R partials into GB + gboff. */
__kernel __attribute__((reqd_work_group_size(TS, TS, 1))) void colsum_part(
    __global const T *GY, ulong goff, int ld, __global ACC *P, int M, int N) {
  __local ACC s[TS][TS + 1];
  GY += goff;
  int tx = get_local_id(0), ty = get_local_id(1);
  int j = get_group_id(0) * TS + tx, rb = get_group_id(1), R = get_num_groups(1);
  ACC acc = 0;
  if (j < N)
    for (int m = rb * TS + ty; m < M; m += R * TS) acc += GY[(size_t)m * ld + j];
  s[ty][tx] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int h = TS / 2; h > 0; h >>= 1) {
    if (ty < h) s[ty][tx] += s[ty + h][tx];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (ty == 0 && j < N) P[(size_t)rb * N + j] = s[0][tx];
}

__kernel void colsum_add(__global const ACC *P, __global T *GB, ulong gboff, int N, int R) {
  int j = get_global_id(0);
  if (j >= N) return;
  GB += gboff;
  ACC acc = 0;
  for (int r = 0; r < R; r++) acc += P[(size_t)r * N + j];
  GB[j] += acc;
}
