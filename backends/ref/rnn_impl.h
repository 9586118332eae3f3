/* backends/ref/rnn_impl.h - the type-generic code of the recurrent kernels
 * (cells in rnn_cell.c, layers in rnn.c): GEMM wrappers, the fused gate math
 * of one time step for a block of rows, and the cell and layer drivers.
 *
 * The gate math runs vectorized in float32: per row of a step, one `omp
 * simd` loop over the contiguous hidden units (the RF(*_row_*) functions,
 * forward and backward) with sigmoid and tanh inlined from ref_vecmath.h
 * (ref_sigmoidf, ref_tanhf: a few ulp from libm), compiled for AVX-512,
 * AVX2 and baseline x86-64 (REF_CLONES).  The including files are built
 * with -fno-math-errno and -fno-trapping-math (CMakeLists.txt).  float64
 * keeps scalar libm and gives the same results as before, bit for bit.
 * The bias gradients sum columns in double, row by row, in blocks of
 * columns (contiguous reads, the same order of additions).
 *
 * Included once per element type, THNN style, with
 *   RT     the element type (float or double)
 *   RSFX   the name suffix (f32 or f64)
 *   RGEMM  cblas_sgemm or cblas_dgemm
 *   RVEC   1 for float (the vector functions), 0 for double
 * defined; the drivers are static inline so a file that uses only some of
 * them gets no unused-function warnings (the row functions, which
 * target_clones cannot inline, are used by both files).  Needs
 * "ref_vecmath.h", <cblas.h>, <tgmath.h>, "ref.h" and "rnn_ref.h" first.
 *
 * Matrices are row-major with explicit row strides (ld, in elements), so
 * time-major, batch-first and packed rows are all read in place: the rows
 * of time step t are base(t) + b*S for b < n(t) (see rnn_ref.h). */

#define RCAT2_(a, b) a##_##b
#define RCAT_(a, b) RCAT2_(a, b)
#define RF(name) RCAT_(name, RSFX)

/* RVEC 1 (float): the gate math calls the inline functions of
 * ref_vecmath.h and its row functions are compiled per ISA; 0 (double,
 * the precision reference of the gradient checks): scalar libm. */
#if RVEC
#define RSIGM_(x) ref_sigmoidf(x)
#define RTANH_(x) ref_tanhf(x)
#define RCLONES_ REF_CLONES
#else
#define RSIGM_(x) ((RT)1 / ((RT)1 + exp(-(x))))
#define RTANH_(x) tanh(x)
#define RCLONES_
#endif

/* C (M x N, ldc) = alpha * op(A) op(B) + beta * C; nothing when empty. */
static inline void RF(gemm)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const RT *A, int64_t lda,
                            const RT *B, int64_t ldb, RT beta, RT *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
    return;
  }
  RGEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1,
        A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* The gate math, per row: RF(*_row_*) are `omp simd` loops over the H
 * units of one row, contiguous and branch-free; RCLONES_ compiles them per
 * ISA for float (ref_vecmath.h).  Optional inputs arrive as a row of zeros
 * (the step functions' `zeros`, at least 4H long, read with stride 0):
 * adding a loaded +0 or multiplying by it is what the formulas did with a
 * literal 0, so results are unchanged.  A missing lstm cprev is the one
 * exception (f * 0 is NaN for a NaN f where the formula has 0): its row
 * loop is compiled twice. */

/* rnn: p = act(p + bi + bh) */
RCLONES_ static void RF(rnn_row_fwd)(int64_t H, bool relu, RT *p, const RT *bi, const RT *bh) {
  if (relu) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
      RT v = p[j] + bi[j] + bh[j];
      p[j] = v > 0 ? v : 0;
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) p[j] = RTANH_(p[j] + bi[j] + bh[j]);
  }
}

static inline __attribute__((always_inline)) void RF(lstm_row_fwd_)(int64_t H, RT *r, const RT *bi, const RT *bh,
                                                                   const RT *cp, bool has_cp, RT *h) {
#pragma omp simd
  for (int64_t j = 0; j < H; j++) {
    RT i = RSIGM_(r[j] + bi[j] + bh[j]);
    RT f = RSIGM_(r[H + j] + bi[H + j] + bh[H + j]);
    RT gg = RTANH_(r[2 * H + j] + bi[2 * H + j] + bh[2 * H + j]);
    RT o = RSIGM_(r[3 * H + j] + bi[3 * H + j] + bh[3 * H + j]);
    RT c = (has_cp ? f * cp[j] : 0) + i * gg;
    r[j] = i, r[H + j] = f, r[2 * H + j] = gg, r[3 * H + j] = o, r[4 * H + j] = c;
    h[j] = o * RTANH_(c);
  }
}

/* lstm: r (5H) in, pre-activations i,f,g,o; out, activated and c */
RCLONES_ static void RF(lstm_row_fwd)(int64_t H, RT *r, const RT *bi, const RT *bh, const RT *cp, RT *h) {
  if (cp) RF(lstm_row_fwd_)(H, r, bi, bh, cp, true, h);
  else RF(lstm_row_fwd_)(H, r, bi, bh, cp, false, h);
}

/* gru: r (4H) as gru_step_fwd's g; q (3H) h W_hh^T; hp h before */
RCLONES_ static void RF(gru_row_fwd)(int64_t H, RT *r, const RT *q, const RT *bi, const RT *bh, const RT *hp,
                                     RT *h) {
#pragma omp simd
  for (int64_t j = 0; j < H; j++) {
    RT rr = RSIGM_(r[j] + bi[j] + q[j] + bh[j]);
    RT z = RSIGM_(r[H + j] + bi[H + j] + q[H + j] + bh[H + j]);
    RT hn = q[2 * H + j] + bh[2 * H + j];
    RT nn = RTANH_(r[2 * H + j] + bi[2 * H + j] + rr * hn);
    r[j] = rr, r[H + j] = z, r[2 * H + j] = nn, r[3 * H + j] = hn;
    h[j] = (1 - z) * nn + z * hp[j];
  }
}

RCLONES_ static void RF(rnn_row_bwd)(int64_t H, bool relu, const RT *h, const RT *dh, const RT *dy, RT *dG) {
  if (relu) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
      RT g = dh[j] + dy[j], v = h[j];
      dG[j] = v > 0 ? g : 0;
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
      RT g = dh[j] + dy[j], v = h[j];
      dG[j] = g * (1 - v * v);
    }
  }
}

RCLONES_ static void RF(lstm_row_bwd)(int64_t H, const RT *r, const RT *cp, const RT *dh, const RT *dy, RT *dc,
                                      RT *q) {
#pragma omp simd
  for (int64_t j = 0; j < H; j++) {
    RT i = r[j], f = r[H + j], gg = r[2 * H + j], o = r[3 * H + j], c = r[4 * H + j];
    RT gh = dh[j] + dy[j];
    RT tc = RTANH_(c);
    RT dcv = dc[j] + gh * o * (1 - tc * tc);
    q[j] = dcv * gg * i * (1 - i);
    q[H + j] = dcv * cp[j] * f * (1 - f);
    q[2 * H + j] = dcv * i * (1 - gg * gg);
    q[3 * H + j] = gh * tc * o * (1 - o);
    dc[j] = dcv * f;
  }
}

RCLONES_ static void RF(gru_row_bwd)(int64_t H, const RT *r, const RT *hp, RT *dh, const RT *dy, RT *dgi, RT *dgh) {
#pragma omp simd
  for (int64_t j = 0; j < H; j++) {
    RT rr = r[j], z = r[H + j], nn = r[2 * H + j], hn = r[3 * H + j];
    RT gh = dh[j] + dy[j];
    RT dnp = gh * (1 - z) * (1 - nn * nn);
    RT dzp = gh * (hp[j] - nn) * z * (1 - z);
    RT drp = dnp * hn * rr * (1 - rr);
    dgi[j] = drp, dgi[H + j] = dzp, dgi[2 * H + j] = dnp;
    dgh[j] = drp, dgh[H + j] = dzp, dgh[2 * H + j] = dnp * rr;
    dh[j] = gh * z;
  }
}

/* optional row b of a matrix: its address, or the zero row */
#define RROW_(p, ld, b, zeros) ((p) ? (p) + (b) * (ld) : (zeros))

/* Rows run on threads only for steps of more than REF_OMP_MIN units: a
 * parallel region between two threaded GEMMs leaves OpenMP's threads
 * spinning beside OpenBLAS's, and counting the gates too (n*H*G) made
 * lstm and gru at N=64, H=512 two to four times slower on 2 cores. */
#define RSTEP_PAR_(n, H) ((n) * (H) > REF_OMP_MIN)

/* ---- one step, forward ----
 * pre: (n, G*H) pre-activations without biases (x W_ih^T [+ h W_hh^T]).
 * Each writes its result rows to one or two destinations (the second,
 * optional, is the layer's running state).  zeros: 4H zeros. */

/* rnn: h = act(pre + b_ih + b_hh), pre is overwritten by h */
static inline void RF(rnn_step_fwd)(int64_t n, int64_t H, bool relu, RT *pre, int64_t ldp, const RT *bih,
                                    const RT *bhh, RT *h2, int64_t ld2, const RT *zeros) {
  const RT *bi = bih ? bih : zeros, *bh = bhh ? bhh : zeros;
#pragma omp parallel for schedule(static) if (RSTEP_PAR_(n, H))
  for (int64_t b = 0; b < n; b++) {
    RF(rnn_row_fwd)(H, relu, pre + b * ldp, bi, bh);
    if (h2) memcpy(h2 + b * ld2, pre + b * ldp, sizeof(RT) * (size_t)H);
  }
}

/* lstm: g (n, 5H): in, pre-activations i,f,g,o; out, activated i,f,g,o and
 * c in columns 4H..5H.  cprev NULL means zeros. */
static inline void RF(lstm_step_fwd)(int64_t n, int64_t H, RT *g, int64_t ldg, const RT *bih, const RT *bhh,
                                     const RT *cprev, int64_t ldcp, RT *h1, int64_t ld1, RT *h2, int64_t ld2,
                                     RT *c2, int64_t ldc2, const RT *zeros) {
  const RT *bi = bih ? bih : zeros, *bh = bhh ? bhh : zeros;
#pragma omp parallel for schedule(static) if (RSTEP_PAR_(n, H))
  for (int64_t b = 0; b < n; b++) {
    RT *r = g + b * ldg;
    RF(lstm_row_fwd)(H, r, bi, bh, cprev ? cprev + b * ldcp : NULL, h1 + b * ld1);
    if (h2) memcpy(h2 + b * ld2, h1 + b * ld1, sizeof(RT) * (size_t)H);
    if (c2) memcpy(c2 + b * ldc2, r + 4 * H, sizeof(RT) * (size_t)H);
  }
}

/* gru: g (n, 4H): in, x W_ih^T for r,z,n; out, activated r,z,n and
 * hn = W_hn h + b_hn in columns 3H..4H.  gh (n, 3H) = h W_hh^T, NULL (with
 * hprev NULL) for a zero state. */
static inline void RF(gru_step_fwd)(int64_t n, int64_t H, RT *g, int64_t ldg, const RT *gh, int64_t ldgh,
                                    const RT *bih, const RT *bhh, const RT *hprev, int64_t ldhp, RT *h1,
                                    int64_t ld1, RT *h2, int64_t ld2, const RT *zeros) {
  const RT *bi = bih ? bih : zeros, *bh = bhh ? bhh : zeros;
#pragma omp parallel for schedule(static) if (RSTEP_PAR_(n, H))
  for (int64_t b = 0; b < n; b++) {
    RF(gru_row_fwd)(H, g + b * ldg, RROW_(gh, ldgh, b, zeros), bi, bh, RROW_(hprev, ldhp, b, zeros), h1 + b * ld1);
    if (h2) memcpy(h2 + b * ld2, h1 + b * ld1, sizeof(RT) * (size_t)H);
  }
}

/* ---- one step, backward ----
 * dh (n, H): in, the gradient reaching h from later steps (or grad of
 * the output for a cell); dy, optional, is added to it (the layer's
 * output gradient).  dG: gradient of the pre-activations.  zeros: as
 * above. */

static inline void RF(rnn_step_bwd)(int64_t n, int64_t H, bool relu, const RT *h, int64_t ldh, const RT *dh,
                                    int64_t lddh, const RT *dy, int64_t lddy, RT *dG, int64_t ldG, const RT *zeros) {
#pragma omp parallel for schedule(static) if (RSTEP_PAR_(n, H))
  for (int64_t b = 0; b < n; b++)
    RF(rnn_row_bwd)(H, relu, h + b * ldh, dh + b * lddh, RROW_(dy, lddy, b, zeros), dG + b * ldG);
}

/* dc (not NULL): in, the gradient reaching c from later steps; out, that
 * of cprev. */
static inline void RF(lstm_step_bwd)(int64_t n, int64_t H, const RT *g, int64_t ldg, const RT *cprev, int64_t ldcp,
                                     const RT *dh, int64_t lddh, const RT *dy, int64_t lddy, RT *dc, int64_t lddc,
                                     RT *dG, int64_t ldG, const RT *zeros) {
#pragma omp parallel for schedule(static) if (RSTEP_PAR_(n, H))
  for (int64_t b = 0; b < n; b++)
    RF(lstm_row_bwd)(H, g + b * ldg, RROW_(cprev, ldcp, b, zeros), dh + b * lddh, RROW_(dy, lddy, b, zeros),
                     dc + b * lddc, dG + b * ldG);
}

/* dh: in, as above; out, the direct part dh*z of the gradient of hprev
 * (the caller adds dGh W_hh).  dGi: gradient of the x W_ih^T + b_ih
 * pre-activations r,z,n; dGh: of h W_hh^T + b_hh (n part times r). */
static inline void RF(gru_step_bwd)(int64_t n, int64_t H, const RT *g, int64_t ldg, const RT *hprev, int64_t ldhp,
                                    RT *dh, int64_t lddh, const RT *dy, int64_t lddy, RT *dGi, int64_t ldGi,
                                    RT *dGh, int64_t ldGh, const RT *zeros) {
#pragma omp parallel for schedule(static) if (RSTEP_PAR_(n, H))
  for (int64_t b = 0; b < n; b++)
    RF(gru_row_bwd)(H, g + b * ldg, RROW_(hprev, ldhp, b, zeros), dh + b * lddh, RROW_(dy, lddy, b, zeros),
                    dGi + b * ldGi, dGh + b * ldGh);
}

/* gb[j] += sum over rows of dG[., j], in double and in row order; blocks
 * of columns so that each row is read contiguously. */
static inline void RF(colsum_acc)(int64_t rows, int64_t cols, const RT *dG, int64_t ld, RT *gb) {
  enum { CB = 128 };
  if (!gb) return;
#pragma omp parallel for schedule(static) if (rows * cols > REF_OMP_MIN)
  for (int64_t j0 = 0; j0 < cols; j0 += CB) {
    int64_t m = cols - j0 < CB ? cols - j0 : CB;
    double s[CB];
    for (int64_t k = 0; k < m; k++) s[k] = 0;
    for (int64_t r = 0; r < rows; r++) {
      const RT *row = dG + r * ld + j0;
#pragma omp simd
      for (int64_t k = 0; k < m; k++) s[k] += row[k];
    }
    for (int64_t k = 0; k < m; k++) gb[j0 + k] += (RT)s[k];
  }
}

/* ---- cells ----
 * Scratch g (N, 5H): gates as the step functions leave them; gh (N, 3H);
 * zeros (4H) all zero. */
static inline void RF(cell_fwd)(const rnn_cell_args *a, RT *g, RT *gh, const RT *zeros) {
  int64_t N = a->N, H = a->H, GH = a->G * H, ldg = 5 * H;
  const RT *x = a->x, *hx = a->hx;
  RF(gemm)(false, true, N, GH, a->In, x, a->In, a->wih, a->In, 0, g, ldg);
  if (a->mode == RNN_MODE_GRU) {
    if (hx) RF(gemm)(false, true, N, GH, H, hx, H, a->whh, H, 0, gh, GH);
    RF(gru_step_fwd)(N, H, g, ldg, hx ? gh : NULL, GH, a->bih, a->bhh, hx, H, a->h_out, H, NULL, 0, zeros);
    return;
  }
  if (hx) RF(gemm)(false, true, N, GH, H, hx, H, a->whh, H, 1, g, ldg);
  if (a->mode == RNN_MODE_LSTM)
    RF(lstm_step_fwd)(N, H, g, ldg, a->bih, a->bhh, a->cx, H, a->h_out, H, NULL, 0, a->c_out, H, zeros);
  else
    RF(rnn_step_fwd)(N, H, a->mode == RNN_MODE_RELU, g, ldg, a->bih, a->bhh, a->h_out, H, zeros);
}

/* Scratch: g (N, 5H), gh (N, 3H), dGi and dGh (N, 4H), dh and dc (N, H),
 * zeros (4H). */
static inline void RF(cell_bwd)(const rnn_cell_args *a, RT *g, RT *gh, RT *dGi, RT *dGh, RT *dh, RT *dc,
                                const RT *zeros) {
  int64_t N = a->N, H = a->H, In = a->In, GH = a->G * H, ldg = 5 * H;
  rnn_cell_args f = *a;
  f.h_out = dh; /* the recomputed h' is not needed; dh is overwritten below */
  f.c_out = dc;
  RF(cell_fwd)(&f, g, gh, zeros);
  const RT *gy = a->gy, *gc = a->gc;
  RT *ghx = a->ghx, *gcx = a->gcx;
  for (int64_t k = 0; k < N * H; k++) {
    dh[k] = gy ? gy[k] : 0;
    dc[k] = gc ? gc[k] : 0;
  }
  const RT *dGhh = dGi;
  switch (a->mode) {
  case RNN_MODE_TANH:
  case RNN_MODE_RELU:
    RF(rnn_step_bwd)(N, H, a->mode == RNN_MODE_RELU, g, ldg, dh, H, NULL, 0, dGi, GH, zeros);
    break;
  case RNN_MODE_LSTM: RF(lstm_step_bwd)(N, H, g, ldg, a->cx, H, dh, H, NULL, 0, dc, H, dGi, GH, zeros); break;
  default:
    RF(gru_step_bwd)(N, H, g, ldg, a->hx, H, dh, H, NULL, 0, dGi, GH, dGh, GH, zeros);
    dGhh = dGh;
    break;
  }
  /* dh now holds the direct part of grad hx (GRU) or is free */
  if (ghx) {
    bool gru = a->mode == RNN_MODE_GRU;
    if (gru)
      for (int64_t k = 0; k < N * H; k++) ghx[k] = dh[k];
    RF(gemm)(false, false, N, H, GH, dGhh, GH, a->whh, H, gru ? 1 : 0, ghx, H);
  }
  if (gcx)
    for (int64_t k = 0; k < N * H; k++) gcx[k] = dc[k];
  if (a->gx) RF(gemm)(false, false, N, In, GH, dGi, GH, a->wih, In, 0, a->gx, In);
  if (a->gwih) RF(gemm)(true, false, GH, In, N, dGi, GH, a->x, In, 1, a->gwih, In);
  if (a->gwhh && a->hx) RF(gemm)(true, false, GH, H, N, dGhh, GH, a->hx, H, 1, a->gwhh, H);
  RF(colsum_acc)(N, GH, dGi, GH, a->gbih);
  RF(colsum_acc)(N, GH, dGhh, GH, a->gbhh);
}

/* ---- layers ---- */

/* The parameters of (layer l, direction d) in the flat weights. */
static inline void RF(layer_weights)(const rnn_geom *q, const RT *w, int64_t l, int64_t d, const RT **wih,
                                     const RT **whh, const RT **bih, const RT **bhh) {
  int64_t o = rnn_weights_offset(q, l, d), GH = q->G * q->H, in = l ? q->D * q->H : q->In;
  *wih = w + o;
  *whh = w + o + GH * in;
  *bih = q->bias ? w + o + GH * (in + q->H) : NULL;
  *bhh = q->bias ? *bih + GH : NULL;
}

/* Layer l's input with dropout: dst = Y_{l-1} * mask / (1-p). */
static inline void RF(apply_dropout)(const rnn_geom *q, int64_t l, const RT *src, RT *dst) {
  int64_t DH = q->D * q->H, n = q->R * DH;
  uint64_t base = (uint64_t)(l - 1) * (uint64_t)n;
  RT scale = q->dropout < 1 ? (RT)(1.0 / (1.0 - q->dropout)) : 0;
#pragma omp parallel for schedule(static) if (n > REF_OMP_MIN)
  for (int64_t k = 0; k < n; k++)
    dst[k] = rnn_keep(q, base + (uint64_t)k) ? src[k] * scale : 0;
}

/* Forward through every layer.  ws: the workspace (ops.def); zeros: 4H
 * zeros. */
static inline void RF(layer_fwd)(const rnn_geom *q, const RT *x, const RT *h0, const RT *c0, const RT *w, RT *y,
                                 RT *hn, RT *cn, RT *ws, RT *sh, RT *sc, RT *gh, RT *xbuf, const RT *zeros) {
  int64_t H = q->H, D = q->D, DH = D * H, GH = q->G * H, E = (q->K - 1) * H, R = q->R, N = q->N;
  for (int64_t l = 0; l < q->L; l++) {
    RT *Y = ws + rnn_ws_layer(q, l);
    const RT *X = x;
    int64_t in = q->In;
    if (l) {
      in = DH;
      X = ws + rnn_ws_layer(q, l - 1);
      if (rnn_dropout_on(q)) {
        RF(apply_dropout)(q, l, X, xbuf);
        X = xbuf;
      }
    }
    for (int64_t d = 0; d < D; d++) {
      const RT *wih, *whh, *bih, *bhh;
      RF(layer_weights)(q, w, l, d, &wih, &whh, &bih, &bhh);
      RT *Yd = Y + d * H, *Gd = Y + R * DH + d * R * E;
      /* every step's input projection in one GEMM */
      if (q->mode == RNN_MODE_TANH || q->mode == RNN_MODE_RELU) RF(gemm)(false, true, R, GH, in, X, in, wih, in, 0, Yd, DH);
      else RF(gemm)(false, true, R, GH, in, X, in, wih, in, 0, Gd, E);
      int64_t s0 = (l * D + d) * N;
      for (int64_t b = 0; b < N; b++) {
        int64_t src = s0 + rnn_perm(q, b);
        for (int64_t j = 0; j < H; j++) {
          sh[b * H + j] = h0 ? h0[src * H + j] : 0;
          if (sc) sc[b * H + j] = c0 ? c0[src * H + j] : 0;
        }
      }
      for (int64_t s = 0; s < q->T; s++) {
        int64_t t = d ? q->T - 1 - s : s, n = rnn_rows(q, t), r0 = rnn_base(q, t), S = rnn_stride(q);
        switch (q->mode) {
        case RNN_MODE_TANH:
        case RNN_MODE_RELU:
          RF(gemm)(false, true, n, H, H, sh, H, whh, H, 1, Yd + r0 * DH, S * DH);
          RF(rnn_step_fwd)(n, H, q->mode == RNN_MODE_RELU, Yd + r0 * DH, S * DH, bih, bhh, sh, H, zeros);
          break;
        case RNN_MODE_LSTM:
          RF(gemm)(false, true, n, GH, H, sh, H, whh, H, 1, Gd + r0 * E, S * E);
          RF(lstm_step_fwd)(n, H, Gd + r0 * E, S * E, bih, bhh, sc, H, Yd + r0 * DH, S * DH, sh, H, sc, H, zeros);
          break;
        default:
          RF(gemm)(false, true, n, GH, H, sh, H, whh, H, 0, gh, GH);
          RF(gru_step_fwd)(n, H, Gd + r0 * E, S * E, gh, GH, bih, bhh, sh, H, Yd + r0 * DH, S * DH, sh, H,
                           zeros);
          break;
        }
      }
      for (int64_t b = 0; b < N; b++) {
        int64_t dst = s0 + rnn_perm(q, b);
        for (int64_t j = 0; j < H; j++) {
          if (hn) hn[dst * H + j] = sh[b * H + j];
          if (cn) cn[dst * H + j] = sc[b * H + j];
        }
      }
    }
  }
  memcpy(y, ws + rnn_ws_layer(q, q->L - 1), sizeof(RT) * (size_t)(R * DH));
}

/* Backward through time and layers.  Scratch (see rnn.c): dG (R, GH),
 * dGh (R, GH) for gru, hp (R, H), cp (N, H), dh, dc (N, H), two (R, DH)
 * buffers for the gradient of a layer's output, xbuf (R, DH), zeros (4H,
 * all zero). */
typedef struct {
  RT *dG, *dGh, *hp, *cp, *dh, *dc, *dyA, *dyB, *xbuf;
  const RT *zeros;
} RF(bwd_scratch);

static inline void RF(layer_bwd)(const rnn_geom *q, const RT *gy, const RT *ghn, const RT *gcn, const RT *x,
                                 const RT *h0, const RT *c0, const RT *w, const RT *ws, RT *gx, RT *gh0, RT *gc0,
                                 RT *gw, const RF(bwd_scratch) *s) {
  int64_t H = q->H, D = q->D, DH = D * H, GH = q->G * H, E = (q->K - 1) * H, R = q->R, N = q->N, T = q->T;
  bool lstm = q->mode == RNN_MODE_LSTM, gru = q->mode == RNN_MODE_GRU;
  const RT *dY = gy; /* gradient of layer l's output, (R, DH); NULL: zeros */
  RT *bufs[2] = {s->dyA, s->dyB};
  for (int64_t l = q->L - 1; l >= 0; l--) {
    const RT *Y = ws + rnn_ws_layer(q, l);
    const RT *X = x;
    int64_t in = q->In;
    if (l) {
      in = DH;
      X = ws + rnn_ws_layer(q, l - 1);
      if (gw && rnn_dropout_on(q)) {
        RF(apply_dropout)(q, l, X, s->xbuf);
        X = s->xbuf;
      }
    }
    RT *dX = l ? bufs[l & 1] : gx; /* never the buffer dY is in */
    for (int64_t d = 0; d < D; d++) {
      const RT *wih, *whh, *bih, *bhh;
      RF(layer_weights)(q, w, l, d, &wih, &whh, &bih, &bhh);
      const RT *Yd = Y + d * H, *Gd = Y + R * DH + d * R * E;
      RT *dGi = s->dG, *dGh = gru ? s->dGh : s->dG;
      int64_t s0 = (l * D + d) * N;
      for (int64_t b = 0; b < N; b++) {
        int64_t src = s0 + rnn_perm(q, b);
        for (int64_t j = 0; j < H; j++) {
          s->dh[b * H + j] = ghn ? ghn[src * H + j] : 0;
          s->dc[b * H + j] = gcn ? gcn[src * H + j] : 0;
        }
      }
      for (int64_t st = 0; st < T; st++) {
        int64_t t = d ? st : T - 1 - st, n = rnn_rows(q, t), r0 = rnn_base(q, t), S = rnn_stride(q);
        /* h (and c) before step t, per row: the previous step's, or h0 */
        int64_t tp = d ? t + 1 : t - 1;
        int64_t np = tp >= 0 && tp < T ? rnn_rows(q, tp) : 0, rp = np ? rnn_base(q, tp) : 0;
        for (int64_t b = 0; b < n; b++) {
          int64_t h0row = s0 + rnn_perm(q, b);
          const RT *hsrc = b < np ? Yd + (rp + b * S) * DH : h0 ? h0 + h0row * H : s->zeros;
          memcpy(s->hp + (r0 + b * S) * H, hsrc, sizeof(RT) * (size_t)H);
          if (lstm) {
            const RT *csrc = b < np ? Gd + (rp + b * S) * E + 4 * H : c0 ? c0 + h0row * H : s->zeros;
            memcpy(s->cp + b * H, csrc, sizeof(RT) * (size_t)H);
          }
        }
        const RT *dy = dY ? dY + r0 * DH + d * H : NULL;
        switch (q->mode) {
        case RNN_MODE_TANH:
        case RNN_MODE_RELU:
          RF(rnn_step_bwd)(n, H, q->mode == RNN_MODE_RELU, Yd + r0 * DH, S * DH, s->dh, H, dy, S * DH,
                           dGi + r0 * GH, S * GH, s->zeros);
          break;
        case RNN_MODE_LSTM:
          RF(lstm_step_bwd)(n, H, Gd + r0 * E, S * E, s->cp, H, s->dh, H, dy, S * DH, s->dc, H, dGi + r0 * GH, S * GH,
                            s->zeros);
          break;
        default:
          RF(gru_step_bwd)(n, H, Gd + r0 * E, S * E, s->hp + r0 * H, S * H, s->dh, H, dy, S * DH, dGi + r0 * GH,
                           S * GH, dGh + r0 * GH, S * GH, s->zeros);
          break;
        }
        RF(gemm)(false, false, n, H, GH, dGh + r0 * GH, S * GH, whh, H, gru ? 1 : 0, s->dh, H);
      }
      for (int64_t b = 0; b < N; b++) {
        int64_t dst = s0 + rnn_perm(q, b);
        for (int64_t j = 0; j < H; j++) {
          if (gh0) gh0[dst * H + j] = s->dh[b * H + j];
          if (gc0) gc0[dst * H + j] = s->dc[b * H + j];
        }
      }
      if (gw) {
        int64_t o = rnn_weights_offset(q, l, d);
        RT *gwih = gw + o, *gwhh = gwih + GH * in;
        RF(gemm)(true, false, GH, in, R, dGi, GH, X, in, 1, gwih, in);
        RF(gemm)(true, false, GH, H, R, dGh, GH, s->hp, H, 1, gwhh, H);
        if (q->bias) {
          RF(colsum_acc)(R, GH, dGi, GH, gwhh + GH * H);
          RF(colsum_acc)(R, GH, dGh, GH, gwhh + GH * H + GH);
        }
      }
      if (dX) RF(gemm)(false, false, R, in, GH, dGi, GH, wih, in, d ? 1 : 0, dX, in);
    }
    if (l) {
      /* the gradient of layer l-1's output, through the dropout mask */
      if (rnn_dropout_on(q)) RF(apply_dropout)(q, l, dX, dX);
      dY = dX;
    }
  }
}

#undef RROW_
#undef RSTEP_PAR_
#undef RSIGM_
#undef RTANH_
#undef RCLONES_
#undef RF
#undef RCAT_
#undef RCAT2_
