/* backends/onednn/rnn.c - the rnn, lstm and gru layers, forward in
 * inference (no workspace asked for), on oneDNN's RNN primitives: one
 * primitive per layer, both directions in it (bidirectional_concat: the
 * output holds [forward, reverse] per step, as PyTorch's).
 *
 * Semantics, checked against ref (and so PyTorch):
 *   rnn   vanilla RNN, tanh or relu;  lstm  gates i,f,g,o in PyTorch's order
 *   gru   oneDNN's linear-before-reset GRU is PyTorch's GRU
 *         (n = tanh(W_in x + b_in + r * (W_hn h + b_hn))), with oneDNN's
 *         gate order u(=z), r, o(=n) and four biases: b_iz+b_hz, b_ir+b_hr,
 *         b_in, b_hn
 *   PyTorch's two biases enter as their sum (rnn, lstm), rounded once.
 * Weights: oneDNN reorders them per call straight from ops.def's flat
 * tensor into the format the RNN primitive chose (rnn, lstm: brgemm's
 * ldgOi32o where the ISA has brgemm, else the gemm path's plain or packed
 * ones; gru: plain ldigo, its packed ones being refused, see rnn_pd), with
 * no copy in between.  PyTorch's rows (G*H, I) per direction are oneDNN's
 * ldgoi, the reverse direction one direction's parameters further on: one
 * strided reorder per matrix for rnn and lstm.  GRU's gates are permuted
 * (PyTorch r,z,n, oneDNN u(=z), r, o(=n)), which no stride expresses: one
 * reorder per gate, from that gate's (H, I) block into a sub-memory of the
 * RNN's weights at that gate (g is never blocked).  Where such a reorder
 * cannot be built -- rnn_packed weights with two directions (oneDNN packs
 * from dense ldgoi only), or GRU's if oneDNN refused plain ones (a packed
 * matrix has no sub-memories) -- the matrix is first copied into dense
 * ldgoi, gate blocks in oneDNN's order, and reordered from there.  Both
 * ways give the same bits.  brgemm kernels: 2-5x ref's speed on one core,
 * conversion included.  The weights are user memory that training updates
 * in place, so nothing is cached across calls but the primitives (per
 * layer 2 reorders, GRU 6); the conversion is O(parameters), 1/(T*N) of
 * the work of the layer.
 * Left to ref: the backward ops, and forward calls that ask for the
 * workspace (training): ops.def fixes the workspace's layout (layer outputs
 * and activated gates) for ref's backward, and oneDNN's own workspace is
 * opaque; a oneDNN backward would have to recompute the forward, twice
 * ref's work with the same GEMMs.  Also packed sequences (oneDNN has no
 * per-sequence lengths), dropout between layers, empty tensors.
 * Temporaries come from the thread's buffer (onednn_thread_buffer).
 */
#include <string.h>

#include "onednn.h"

enum { MODE_TANH = 0, MODE_RELU = 1, MODE_LSTM = 2, MODE_GRU = 3 };
#define ALG_BIDIR 0x10
#define ALG_SRC_NTC 0x20
#define ALG_DST_NTC 0x40
/* weight reorder keys only: read the user's flat tensor in place (else the
 * plain ldgoi copy), the flat tensor has biases (their stride), and for
 * GRU which gate (oneDNN's index + 1; 0: every gate at once) */
#define ALG_DIRECT 0x80
#define ALG_BIAS 0x100
#define ALG_GATE_SHIFT 12

typedef struct geo {
  int mode;
  int64_t T, N, I, H, L, D, G, GB; /* GB: oneDNN's bias gates (GRU: 4) */
  bool bias, batch_first;
} geo;

static int64_t gates_of(int mode) { return mode == MODE_LSTM ? 4 : mode == MODE_GRU ? 3 : 1; }

/* ---- the primitives ---- */
static dnnl_status_t rnn_pd_as(const onednn_key *k, dnnl_format_tag_t weights, dnnl_primitive_desc_t *pd) {
  int mode = k->alg & 0xf;
  int64_t T = k->d[0], N = k->d[1], I = k->d[2], H = k->d[3], D = (k->alg & ALG_BIDIR) ? 2 : 1;
  int64_t G = gates_of(mode), GB = mode == MODE_GRU ? 4 : G;
  dnnl_memory_desc_t sl, it, wl, wi, b, dl;
  dnnl_dims_t dsl = {T, N, I}, dit = {1, D, N, H}, dwl = {1, D, I, G, H}, dwi = {1, D, H, G, H}, db = {1, D, GB, H},
              ddl = {T, N, D * H};
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(&sl, 3, dsl, dnnl_f32, (k->alg & ALG_SRC_NTC) ? dnnl_ntc : dnnl_tnc);
  if (!st) st = dnnl_memory_desc_init_by_tag(&it, 4, dit, dnnl_f32, dnnl_ldnc);
  if (!st) st = dnnl_memory_desc_init_by_tag(&wl, 5, dwl, dnnl_f32, weights);
  if (!st) st = dnnl_memory_desc_init_by_tag(&wi, 5, dwi, dnnl_f32, weights);
  if (!st) st = dnnl_memory_desc_init_by_tag(&b, 4, db, dnnl_f32, dnnl_ldgo);
  if (!st) st = dnnl_memory_desc_init_by_tag(&dl, 3, ddl, dnnl_f32, (k->alg & ALG_DST_NTC) ? dnnl_ntc : dnnl_tnc);
  if (st) return st;
  dnnl_rnn_direction_t dir = D == 2 ? dnnl_bidirectional_concat : dnnl_unidirectional_left2right;
  dnnl_rnn_desc_t rd;
  switch (mode) {
  case MODE_LSTM:
    st = dnnl_lstm_forward_desc_init(&rd, dnnl_forward_inference, dir, &sl, &it, &it, &wl, &wi, &b, &dl, &it, &it, 0);
    break;
  case MODE_GRU:
    st = dnnl_lbr_gru_forward_desc_init(&rd, dnnl_forward_inference, dir, &sl, &it, &wl, &wi, &b, &dl, &it, 0);
    break;
  default:
    st = dnnl_vanilla_rnn_forward_desc_init(&rd, dnnl_forward_inference,
                                            mode == MODE_RELU ? dnnl_eltwise_relu : dnnl_eltwise_tanh, dir, &sl, &it,
                                            &wl, &wi, &b, &dl, &it, 0, 0.0f, 0.0f);
  }
  if (st) return st;
  dnnl_primitive_attr_t attr = onednn_attr(false);
  if (!attr) return dnnl_out_of_memory;
  st = dnnl_primitive_desc_create(pd, &rd, attr, onednn_engine(), NULL);
  dnnl_primitive_attr_destroy(attr);
  return st;
}

static bool packed(const_dnnl_primitive_desc_t pd, int arg) {
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
  return md && md->format_kind == dnnl_format_kind_rnn_packed;
}

/* The RNN in the weight formats it prefers (brgemm's blocked ones, or its
 * gemm path's), except GRU's rnn_packed weights, which become plain ldigo:
 * a packed matrix cannot be filled gate by gate from the user's tensor, and
 * packing costs more per call than it saves (oneDNN 2.6 runs lbr_gru on its
 * gemm path on every ISA; gru 1x64x512, 2 threads: packed 6.2 ms, plain
 * 1.2; at 50x64x512 plain is as fast).  rnn and lstm keep packed weights
 * where their gemm path picks them (no brgemm: AVX2 and older; measured
 * with ONEDNN_MAX_CPU_ISA=AVX2, lstm 50x64x512 runs 13% faster packed,
 * 1x64x512 4.5x slower: a rule by T*N would need a wider machine to set). */
static dnnl_status_t rnn_pd(const onednn_key *k, dnnl_primitive_desc_t *pd) {
  dnnl_status_t st = rnn_pd_as(k, dnnl_format_tag_any, pd);
  if (st || (k->alg & 0xf) != MODE_GRU || !(packed(*pd, DNNL_ARG_WEIGHTS_LAYER) || packed(*pd, DNNL_ARG_WEIGHTS_ITER)))
    return st;
  dnnl_primitive_desc_t plain;
  if (rnn_pd_as(k, dnnl_ldigo, &plain)) return dnnl_success; /* packed it is: weights_in copies */
  dnnl_primitive_desc_destroy(*pd);
  *pd = plain;
  return dnnl_success;
}

static dnnl_status_t build(const onednn_key *k, onednn_prim *p) {
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = rnn_pd(k, &pd);
  if (st) return st;
  p->allow_ref_impl = true; /* oneDNN's RNN "ref" is its gemm-based implementation */
  bool lstm = (k->alg & 0xf) == MODE_LSTM;
  static const int args[] = {DNNL_ARG_SRC_LAYER, DNNL_ARG_SRC_ITER, DNNL_ARG_SRC_ITER_C, DNNL_ARG_WEIGHTS_LAYER,
                             DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_BIAS, DNNL_ARG_DST_LAYER, DNNL_ARG_DST_ITER,
                             DNNL_ARG_DST_ITER_C};
  if (k->kind == ONEDNN_K_RNN_FWD) {
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
      if (!lstm && (args[i] == DNNL_ARG_SRC_ITER_C || args[i] == DNNL_ARG_DST_ITER_C)) continue;
      onednn_prim_arg(p, args[i], dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[i]));
    }
    return onednn_prim_from_pd(p, pd);
  }
  /* a reorder into the format the RNN chose, of weights_layer
   * (1, D, I_l, G, H) or weights_iter (1, D, H, G, H), from either */
  bool layer = k->kind == ONEDNN_K_RNN_REORDER_LAYER;
  dnnl_memory_desc_t to = *dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md,
                                                        layer ? DNNL_ARG_WEIGHTS_LAYER : DNNL_ARG_WEIGHTS_ITER);
  dnnl_primitive_desc_destroy(pd);
  int64_t D = (k->alg & ALG_BIDIR) ? 2 : 1, G = gates_of(k->alg & 0xf), H = k->d[3], I = layer ? k->d[2] : H;
  int gate = (k->alg >> ALG_GATE_SHIFT) - 1; /* -1: every gate */
  dnnl_dims_t dims = {1, D, I, gate < 0 ? G : 1, H};
  dnnl_memory_desc_t from;
  if (!(k->alg & ALG_DIRECT)) {
    /* the plain ldgoi copy (PyTorch's (G*H, I) rows per direction) */
    st = dnnl_memory_desc_init_by_tag(&from, 5, dims, dnnl_f32, dnnl_ldgoi);
  } else {
    /* the user's matrix in place: PyTorch's rows are ldgoi within a
     * direction, and the reverse direction's matrix starts one direction's
     * parameters (weight_ih, weight_hh, biases) later.  With one direction
     * the strides are exactly ldgoi's, which the packed-format reorder
     * (oneDNN's gemm path) insists on. */
    int64_t ds = D == 1 ? G * H * I : G * H * (k->d[2] + H + ((k->alg & ALG_BIAS) ? 2 : 0));
    dnnl_dims_t strides = {D * ds, ds, 1, H * I, I};
    st = dnnl_memory_desc_init_by_strides(&from, 5, dims, dnnl_f32, strides);
    /* GRU: one gate's (H, I) block (the kernel passes its pointer) into
     * that gate of the RNN's weights: a sub-memory, which exists when the
     * chosen format does not block g (brgemm's ldgOi32o, plain ldigo; not
     * the gemm path's rnn_packed, whose build fails here: then the copy) */
    if (!st && gate >= 0) {
      dnnl_memory_desc_t whole = to;
      dnnl_dims_t offsets = {0, 0, 0, gate, 0};
      st = dnnl_memory_desc_init_submemory(&to, &whole, dims, offsets);
    }
  }
  dnnl_primitive_attr_t attr = st ? NULL : onednn_attr(false);
  if (!st && !attr) st = dnnl_out_of_memory;
  if (!st) st = dnnl_reorder_primitive_desc_create(&pd, &from, onednn_engine(), &to, onednn_engine(), attr);
  if (attr) dnnl_primitive_attr_destroy(attr);
  if (st) return st;
  onednn_prim_arg(p, DNNL_ARG_FROM, &from);
  onednn_prim_arg(p, DNNL_ARG_TO, &to);
  return onednn_prim_from_pd(p, pd);
}

/* ---- calls ---- */
/* Tensor positions per op: input, h0, c0 (lstm), weights, batch_sizes;
 * output, h_n, c_n (lstm), workspace. */
typedef struct slots {
  int x, h0, c0, w, bs, y, hn, cn, ws;
} slots;

static const slots RNN_SLOTS = {0, 1, -1, 2, 3, 0, 1, -1, 2};
static const slots LSTM_SLOTS = {0, 1, 2, 3, 4, 0, 1, 2, 3};

#define GEO_FROM_(p, g)                                                          \
  do {                                                                           \
    (g)->I = (p)->input_size, (g)->H = (p)->hidden_size, (g)->L = (p)->num_layers; \
    (g)->D = (p)->bidirectional ? 2 : 1, (g)->bias = (p)->bias, (g)->batch_first = (p)->batch_first; \
    dropout_on = (p)->training && (p)->dropout > 0 && (p)->num_layers > 1;       \
  } while (0)

/* The geometry of a call oneDNN can run exactly, or false. */
static bool geo_of(const nnrt_call *c, int mode, const slots *s, geo *g) {
  bool dropout_on;
  memset(g, 0, sizeof *g);
  g->mode = mode;
  switch (mode) {
  case MODE_LSTM: GEO_FROM_((const nnrt_lstm_params *)c->params, g); break;
  case MODE_GRU: GEO_FROM_((const nnrt_gru_params *)c->params, g); break;
  default: {
    const nnrt_rnn_params *p = c->params;
    GEO_FROM_(p, g);
    g->mode = p->nonlinearity ? MODE_RELU : MODE_TANH;
  }
  }
  if (dropout_on || c->inputs[s->bs] || c->outputs[s->ws] || !onednn_call_f32_nonempty(c)) return false;
  g->G = gates_of(g->mode);
  g->GB = g->mode == MODE_GRU ? 4 : g->G;
  const nnrt_tensor *x = c->inputs[s->x];
  if (x->ndim == 2) { /* unbatched (T, I) is (T, 1, I) */
    g->T = x->shape[0];
    g->N = 1;
    g->batch_first = false;
  } else {
    g->T = x->shape[g->batch_first ? 1 : 0];
    g->N = x->shape[g->batch_first ? 0 : 1];
  }
  return g->T > 0 && g->N > 0 && g->I > 0 && g->H > 0;
}

static onednn_key layer_key(const geo *g, int64_t l, int kind) {
  int64_t I = l ? g->D * g->H : g->I;
  int32_t alg = g->mode | (g->D == 2 ? ALG_BIDIR : 0) | (l == 0 && g->batch_first ? ALG_SRC_NTC : 0) |
                (l == g->L - 1 && g->batch_first ? ALG_DST_NTC : 0);
  double macs = (double)g->T * (double)g->N * (double)(g->D * g->G * g->H) * (double)(I + g->H);
  return (onednn_key){.kind = kind, .alg = alg, .d = {g->T, g->N, I, g->H}, .serial = macs < ONEDNN_SERIAL_MACS};
}

/* PyTorch gate index -> oneDNN's: GRU r,z,n -> u(z)=0, r=1, o(n)=2. */
static int64_t gate_map(int mode, int64_t gp) { return mode == MODE_GRU ? (gp == 0 ? 1 : gp == 1 ? 0 : 2) : gp; }

enum { VIA_COPY = -2, EVERY_GATE = -1 };

/* The key of a weight reorder of layer l: from the plain copy (VIA_COPY),
 * or from the user's tensor, all gates (EVERY_GATE) or oneDNN's gate. */
static onednn_key weights_key(const geo *g, int64_t l, bool iter, int gate) {
  onednn_key k = layer_key(g, l, iter ? ONEDNN_K_RNN_REORDER_ITER : ONEDNN_K_RNN_REORDER_LAYER);
  if (gate != VIA_COPY) k.alg |= ALG_DIRECT | (g->bias ? ALG_BIAS : 0) | (gate + 1) << ALG_GATE_SHIFT;
  return k;
}

/* Whether layer l's weights_layer (weights_iter) can be reordered from the
 * user's tensor in place: one reorder, or for GRU one per gate. */
static bool direct(const char *op, const geo *g, int64_t l, bool iter) {
  if (g->mode != MODE_GRU) {
    onednn_key k = weights_key(g, l, iter, EVERY_GATE);
    return onednn_available(op, &k, build);
  }
  for (int gate = 0; gate < g->G; gate++) {
    onednn_key k = weights_key(g, l, iter, gate);
    if (!onednn_available(op, &k, build)) return false;
  }
  return true;
}

static bool supports(const nnrt_call *c, int mode, const slots *s) {
  geo g;
  if (!geo_of(c, mode, s, &g)) return false;
  for (int64_t l = 0; l < g.L; l++) {
    onednn_key kr = layer_key(&g, l, ONEDNN_K_RNN_FWD);
    if (!onednn_available(c->op_name, &kr, build)) return false;
    for (int iter = 0; iter < 2; iter++) {
      onednn_key kc = weights_key(&g, l, iter, VIA_COPY);
      if (!direct(c->op_name, &g, l, iter) && !onednn_available(c->op_name, &kc, build)) return false;
    }
  }
  return true;
}

/* Where layer l's parameters start in the flat tensor. */
static int64_t layer_offset(const geo *g, int64_t l) {
  int64_t off = 0, GH = g->G * g->H;
  for (int64_t k = 0; k < l * g->D; k++) off += GH * ((k / g->D ? g->D * g->H : g->I) + g->H + (g->bias ? 2 : 0));
  return off;
}

/* Layer l's bias (D, GB, H) from the flat tensor, and where a weight
 * cannot be reordered in place (wl, wi not NULL), its plain ldgoi copy:
 * wl (D, G, H, I), wi (D, G, H, H), PyTorch's rows with gate blocks in
 * oneDNN's order (whole block copies). */
static void convert(const geo *g, const float *flat, int64_t l, float *wl, float *wi, float *b) {
  int64_t G = g->G, H = g->H, GH = G * H, I = l ? g->D * g->H : g->I;
  int64_t off = layer_offset(g, l);
  for (int64_t d = 0; d < g->D; d++) {
    const float *wih = flat + off, *whh = wih + GH * I, *bih = whh + GH * H, *bhh = bih + GH;
    off += GH * (I + H + (g->bias ? 2 : 0));
    float *db = b + d * g->GB * H;
    for (int64_t gp = 0; gp < G; gp++) {
      int64_t gd = gate_map(g->mode, gp);
      if (wl) memcpy(wl + d * I * GH + gd * H * I, wih + gp * H * I, sizeof(float) * (size_t)(H * I));
      if (wi) memcpy(wi + d * H * GH + gd * H * H, whh + gp * H * H, sizeof(float) * (size_t)(H * H));
    }
    if (!g->bias) {
      memset(db, 0, sizeof(float) * (size_t)(g->GB * H));
    } else if (g->mode == MODE_GRU) {
      for (int64_t o = 0; o < H; o++) {
        db[0 * H + o] = bih[1 * H + o] + bhh[1 * H + o]; /* u = z */
        db[1 * H + o] = bih[0 * H + o] + bhh[0 * H + o]; /* r */
        db[2 * H + o] = bih[2 * H + o];                  /* o = n, input part */
        db[3 * H + o] = bhh[2 * H + o];                  /* n, hidden part (inside r *) */
      }
    } else {
      for (int64_t j = 0; j < GH; j++) db[j] = bih[j] + bhh[j];
    }
  }
}

/* Layer l's weights_layer (weights_iter) into the RNN's format at `to`:
 * reordered from the user's matrix (direction 0's at `user`) when
 * `in_place`, else from its plain copy. */
static nnrt_status weights_in(const char *op, const geo *g, int64_t l, bool iter, bool in_place, float *user,
                              float *plain, void *to) {
  if (!in_place) {
    onednn_key k = weights_key(g, l, iter, VIA_COPY);
    void *ptrs[] = {plain, to};
    return onednn_execute(op, &k, build, ptrs);
  }
  if (g->mode != MODE_GRU) {
    onednn_key k = weights_key(g, l, iter, EVERY_GATE);
    void *ptrs[] = {user, to};
    return onednn_execute(op, &k, build, ptrs);
  }
  int64_t I = iter ? g->H : (l ? g->D * g->H : g->I); /* a gate's block is (H, I) */
  nnrt_status st = NNRT_OK;
  for (int64_t gp = 0; gp < g->G && !st; gp++) {
    onednn_key k = weights_key(g, l, iter, (int)gate_map(g->mode, gp));
    void *ptrs[] = {user + gp * g->H * I, to};
    st = onednn_execute(op, &k, build, ptrs);
  }
  return st;
}

static size_t up64(size_t bytes) { return (bytes + 63) / 64 * 64; }

static nnrt_status forward(const nnrt_call *c, int mode, const slots *s) {
  geo g;
  if (!geo_of(c, mode, s, &g)) return onednn_host->error(NNRT_ERR_UNIMPLEMENTED, "%s: onednn cannot run this call", c->op_name);
  bool lstm = g.mode == MODE_LSTM;
  int64_t DNH = g.D * g.N * g.H, Imax = g.I > g.D * g.H ? g.I : g.D * g.H, GH = g.G * g.H;
  size_t n_wl = 0, n_wi = 0; /* the RNN's weights, largest over layers */
  bool copy_l = false, copy_i = false; /* a layer reorders from the plain copy */
  for (int64_t l = 0; l < g.L; l++) {
    onednn_key kr = layer_key(&g, l, ONEDNN_K_RNN_FWD);
    /* weights_layer, weights_iter: the args after src_layer, src_iter (, src_iter_c) */
    size_t a = onednn_arg_bytes(c->op_name, &kr, build, lstm ? 3 : 2);
    size_t b = onednn_arg_bytes(c->op_name, &kr, build, lstm ? 4 : 3);
    if (!a || !b) return onednn_host->error(NNRT_ERR_RUNTIME, "%s: onednn: cannot build the layer's primitive", c->op_name);
    n_wl = a > n_wl ? a : n_wl;
    n_wi = b > n_wi ? b : n_wi;
    copy_l = copy_l || !direct(c->op_name, &g, l, false);
    copy_i = copy_i || !direct(c->op_name, &g, l, true);
  }
  size_t sz[] = {
      copy_l ? up64(sizeof(float) * (size_t)(g.D * Imax * GH)) : 0,     /* plain weights_layer */
      copy_i ? up64(sizeof(float) * (size_t)(g.D * g.H * GH)) : 0,      /* plain weights_iter */
      up64(n_wl), up64(n_wi),                                            /* the RNN's format */
      up64(sizeof(float) * (size_t)(g.D * g.GB * g.H)),                  /* bias */
      up64(sizeof(float) * (size_t)DNH),                                 /* zeros: absent h0/c0 */
      up64(sizeof(float) * (size_t)DNH) * 2,                             /* h_n, c_n when not asked */
      g.L > 1 ? up64(sizeof(float) * (size_t)(g.T * DNH)) * 2 : 0,       /* layer outputs */
  };
  size_t total = 0;
  for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) total += sz[i];
  char *buf = onednn_thread_buffer(total);
  if (!buf) return onednn_host->error(NNRT_ERR_OUT_OF_MEMORY, "%s: onednn: cannot allocate %zu bytes", c->op_name, total);
  float *wl = (float *)buf, *wi = (float *)(buf += sz[0]);
  void *wlb = (buf += sz[1]), *wib = (buf += sz[2]);
  float *bias = (float *)(buf += sz[3]), *zeros = (float *)(buf += sz[4]);
  float *hn_tmp = (float *)(buf += sz[5]), *cn_tmp = hn_tmp + sz[6] / 2 / sizeof(float);
  float *inter[2] = {(float *)(buf += sz[6]), NULL};
  inter[1] = inter[0] + sz[7] / 2 / sizeof(float);
  memset(zeros, 0, sizeof(float) * (size_t)DNH);

  float *flat = c->inputs[s->w]->data; /* read only */
  const nnrt_tensor *h0 = c->inputs[s->h0], *c0 = lstm ? c->inputs[s->c0] : NULL;
  nnrt_tensor *hn = c->outputs[s->hn], *cn = lstm ? c->outputs[s->cn] : NULL;
  nnrt_status st = NNRT_OK;
  for (int64_t l = 0; l < g.L && !st; l++) {
    bool dl = direct(c->op_name, &g, l, false), di = direct(c->op_name, &g, l, true);
    convert(&g, flat, l, dl ? NULL : wl, di ? NULL : wi, bias);
    float *wih = flat + layer_offset(&g, l), *whh = wih + GH * (l ? g.D * g.H : g.I);
    st = weights_in(c->op_name, &g, l, false, dl, wih, wl, wlb);
    if (!st) st = weights_in(c->op_name, &g, l, true, di, whh, wi, wib);
    if (st) break;
    onednn_key kr = layer_key(&g, l, ONEDNN_K_RNN_FWD);
    void *src = l == 0 ? c->inputs[s->x]->data : inter[(l - 1) % 2];
    void *dst = l == g.L - 1 ? c->outputs[s->y]->data : inter[l % 2];
    void *hi = h0 ? (float *)h0->data + l * DNH : zeros, *ho = hn ? (float *)hn->data + l * DNH : hn_tmp;
    if (lstm) {
      void *ci = c0 ? (float *)c0->data + l * DNH : zeros, *co = cn ? (float *)cn->data + l * DNH : cn_tmp;
      void *ptrs[] = {src, hi, ci, wlb, wib, bias, dst, ho, co};
      st = onednn_execute(c->op_name, &kr, build, ptrs);
    } else {
      void *ptrs[] = {src, hi, wlb, wib, bias, dst, ho};
      st = onednn_execute(c->op_name, &kr, build, ptrs);
    }
  }
  return st;
}

static nnrt_status rnn_k(nnrt_device *d, const nnrt_call *c) { (void)d; return forward(c, MODE_TANH, &RNN_SLOTS); }
static nnrt_status lstm_k(nnrt_device *d, const nnrt_call *c) { (void)d; return forward(c, MODE_LSTM, &LSTM_SLOTS); }
static nnrt_status gru_k(nnrt_device *d, const nnrt_call *c) { (void)d; return forward(c, MODE_GRU, &RNN_SLOTS); }
static bool rnn_s(const nnrt_call *c) { return supports(c, MODE_TANH, &RNN_SLOTS); }
static bool lstm_s(const nnrt_call *c) { return supports(c, MODE_LSTM, &LSTM_SLOTS); }
static bool gru_s(const nnrt_call *c) { return supports(c, MODE_GRU, &RNN_SLOTS); }

bool onednn_rnn_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports_fn) {
  static const struct {
    const char *name;
    nnrt_kernel_fn kernel;
    onednn_supports_fn supports;
  } table[] = {{"rnn", rnn_k, rnn_s}, {"lstm", lstm_k, lstm_s}, {"gru", gru_k, gru_s}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(table[i].name, op)) {
      *kernel = table[i].kernel;
      *supports_fn = table[i].supports;
      return true;
    }
  return false;
}
