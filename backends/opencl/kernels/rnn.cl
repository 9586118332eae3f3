/* backends/opencl/kernels/rnn.cl - the gate math of the recurrent cells and
 * layers (rnn.c drives them around the GEMMs of linear.cl), as
 * backends/ref/rnn_impl.h computes it, plus the small moves of the layer
 * drivers.  Every matrix argument is (buffer, offset, row stride) so rows
 * of time-major, batch-first and packed layouts are addressed in place:
 * M(P, b, j) = P[P_off + b P_ld + j].  2-D ranges: unit j along dim 0,
 * rows b along dim 1 (ROW_UNIT).
 * Optional arguments come with a flag (dummy buffer when absent).
 * The source is preceded by NNRT_RNG_BITS (see dropout.c). */

#define MAT(P) __global T *P, ulong P##_off, ulong P##_ld
#define CMAT(P) __global const T *P, ulong P##_off, ulong P##_ld
#define VEC(P) __global const T *P, ulong P##_off
#define M(P, b, j) P[P##_off + (b) * P##_ld + (j)]
#define V(P, j) P[P##_off + (j)]
/* unit j of row b: a 2-D range, columns the H units, rows the n rows */
#define ROW_UNIT                                                                 \
  COLS_GUARD(j, H)                                                               \
  FOR_ROWS(b, n)

T sigm_(T x) { return K(1) / (K(1) + exp(-x)); }

/* rnn: h = act(pre + b_ih + b_hh) into P (and H2) */
__kernel void rnn_step_fwd(ulong n, ulong H, int relu, MAT(P), VEC(BI), VEC(BH), int has_b, MAT(H2), int has_h2) {
  ROW_UNIT {
    T v = M(P, b, j) + (has_b ? V(BI, j) + V(BH, j) : K(0));
    v = relu ? (v > 0 ? v : K(0)) : tanh(v);
    M(P, b, j) = v;
    if (has_h2) M(H2, b, j) = v;
  }
}

/* lstm: G holds pre-activations i,f,g,o in columns [0, 4H); leaves them
 * activated, and c in [4H, 5H) */
__kernel void lstm_step_fwd(ulong n, ulong H, MAT(G), VEC(BI), VEC(BH), int has_b, CMAT(CP), int has_cp, MAT(H1),
                            MAT(H2), int has_h2, MAT(C2), int has_c2) {
  ROW_UNIT {
#define PRE_(q) (M(G, b, (q) * H + j) + (has_b ? V(BI, (q) * H + j) + V(BH, (q) * H + j) : K(0)))
    T i = sigm_(PRE_(0)), f = sigm_(PRE_(1)), g = tanh(PRE_(2)), o = sigm_(PRE_(3));
#undef PRE_
    T c = (has_cp ? f * M(CP, b, j) : K(0)) + i * g;
    T h = o * tanh(c);
    M(G, b, j) = i;
    M(G, b, H + j) = f;
    M(G, b, 2 * H + j) = g;
    M(G, b, 3 * H + j) = o;
    M(G, b, 4 * H + j) = c;
    M(H1, b, j) = h;
    if (has_h2) M(H2, b, j) = h;
    if (has_c2) M(C2, b, j) = c;
  }
}

/* gru: G holds x W_ih^T for r,z,n; GH = h W_hh^T (absent: zero state);
 * leaves r,z,n activated and hn = W_hn h + b_hn in [3H, 4H) */
__kernel void gru_step_fwd(ulong n, ulong H, MAT(G), CMAT(GH), int has_gh, VEC(BI), VEC(BH), int has_b, CMAT(HP),
                           int has_hp, MAT(H1), MAT(H2), int has_h2) {
  ROW_UNIT {
#define BI_(q) (has_b ? V(BI, (q) * H + j) : K(0))
#define BH_(q) (has_b ? V(BH, (q) * H + j) : K(0))
#define GH_(q) (has_gh ? M(GH, b, (q) * H + j) : K(0))
    T r = sigm_(M(G, b, j) + BI_(0) + GH_(0) + BH_(0));
    T z = sigm_(M(G, b, H + j) + BI_(1) + GH_(1) + BH_(1));
    T hn = GH_(2) + BH_(2);
    T nn = tanh(M(G, b, 2 * H + j) + BI_(2) + r * hn);
#undef BI_
#undef BH_
#undef GH_
    T hp = has_hp ? M(HP, b, j) : K(0);
    T h = (1 - z) * nn + z * hp;
    M(G, b, j) = r;
    M(G, b, H + j) = z;
    M(G, b, 2 * H + j) = nn;
    M(G, b, 3 * H + j) = hn;
    M(H1, b, j) = h;
    if (has_h2) M(H2, b, j) = h;
  }
}

/* dG = d pre-activation from dh (+ dy) and the output h */
__kernel void rnn_step_bwd(ulong n, ulong H, int relu, CMAT(Hh), CMAT(DH), CMAT(DY), int has_dy, MAT(DG)) {
  ROW_UNIT {
    T g = M(DH, b, j) + (has_dy ? M(DY, b, j) : K(0)), v = M(Hh, b, j);
    M(DG, b, j) = relu ? (v > 0 ? g : K(0)) : g * (1 - v * v);
  }
}

/* DC: in, the gradient reaching c from later steps; out, that of cprev */
__kernel void lstm_step_bwd(ulong n, ulong H, CMAT(G), CMAT(CP), int has_cp, CMAT(DH), CMAT(DY), int has_dy, MAT(DC),
                            int has_dc, MAT(DG)) {
  ROW_UNIT {
    T i = M(G, b, j), f = M(G, b, H + j), g = M(G, b, 2 * H + j), o = M(G, b, 3 * H + j), c = M(G, b, 4 * H + j);
    T gh = M(DH, b, j) + (has_dy ? M(DY, b, j) : K(0));
    T tc = tanh(c);
    T dcv = (has_dc ? M(DC, b, j) : K(0)) + gh * o * (1 - tc * tc);
    T cp = has_cp ? M(CP, b, j) : K(0);
    M(DG, b, j) = dcv * g * i * (1 - i);
    M(DG, b, H + j) = dcv * cp * f * (1 - f);
    M(DG, b, 2 * H + j) = dcv * i * (1 - g * g);
    M(DG, b, 3 * H + j) = gh * tc * o * (1 - o);
    if (has_dc) M(DC, b, j) = dcv * f;
  }
}

/* DH: in, as above; out, the direct part dh z of the gradient of hprev */
__kernel void gru_step_bwd(ulong n, ulong H, CMAT(G), CMAT(HP), int has_hp, MAT(DH), CMAT(DY), int has_dy, MAT(DGI),
                           MAT(DGH)) {
  ROW_UNIT {
    T r = M(G, b, j), z = M(G, b, H + j), nn = M(G, b, 2 * H + j), hn = M(G, b, 3 * H + j);
    T gh = M(DH, b, j) + (has_dy ? M(DY, b, j) : K(0));
    T hp = has_hp ? M(HP, b, j) : K(0);
    T dnp = gh * (1 - z) * (1 - nn * nn);
    T dzp = gh * (hp - nn) * z * (1 - z);
    T drp = dnp * hn * r * (1 - r);
    M(DGI, b, j) = drp;
    M(DGI, b, H + j) = dzp;
    M(DGI, b, 2 * H + j) = dnp;
    M(DGH, b, j) = drp;
    M(DGH, b, H + j) = dzp;
    M(DGH, b, 2 * H + j) = dnp * r;
    M(DH, b, j) = gh * z;
  }
}

/* ---- layer moves ---- */
__kernel void rnn_fill(__global T *Y, ulong off, ulong count, T v) {
  size_t i = get_global_id(0);
  if (i < count) Y[off + i] = v;
}

/* DST (N, H) = rows s0 + perm(b) of SRC (zeros without SRC) */
__kernel void rnn_state_in(ulong n, ulong H, MAT(DST), VEC(SRC), int has_src, __global const long *PERM, int has_perm,
                           ulong s0) {
  ROW_UNIT {
    size_t row = s0 + (has_perm ? (size_t)PERM[b] : b);
    M(DST, b, j) = has_src ? V(SRC, row * H + j) : K(0);
  }
}

/* rows s0 + perm(b) of DST = SRC (N, H) */
__kernel void rnn_state_out(ulong n, ulong H, CMAT(SRC), __global T *DST, ulong DST_off, __global const long *PERM,
                            int has_perm, ulong s0) {
  ROW_UNIT {
    size_t row = s0 + (has_perm ? (size_t)PERM[b] : b);
    DST[DST_off + row * H + j] = M(SRC, b, j);
  }
}

/* backward: h (and c) before step t for its n rows: the previous step's
 * (rows b < np, from Y and, for lstm, GC = the saved c), else h0 / c0 */
__kernel void rnn_prev(ulong n, ulong H, ulong np, MAT(HP), CMAT(Y), VEC(H0), int has_h0, __global const long *PERM,
                       int has_perm, ulong s0, int lstm, MAT(CP), CMAT(GC), VEC(C0), int has_c0) {
  ROW_UNIT {
    size_t row = s0 + (has_perm ? (size_t)PERM[b] : b);
    if (b < np) {
      M(HP, b, j) = M(Y, b, j);
      if (lstm) M(CP, b, j) = M(GC, b, j);
    } else {
      M(HP, b, j) = has_h0 ? V(H0, row * H + j) : K(0);
      if (lstm) M(CP, b, j) = has_c0 ? V(C0, row * H + j) : K(0);
    }
  }
}

/* D = S * mask / (1 - p) over count elements; element k draws bits for base + k */
__kernel void rnn_dropout(__global const T *S, ulong soff, __global T *D, ulong doff, ulong count, ulong base,
                          ulong key, ulong threshold, T scale) {
  size_t k = get_global_id(0);
  if (k >= count) return;
  ulong r;
  NNRT_RNG_BITS(r, key, base + k);
  D[doff + k] = (r >> NNRT_DROPOUT_SHIFT) >= threshold ? S[soff + k] * scale : K(0);
}
