/* backends/ref/rnn_ref.h - what the recurrent kernels of ref share beside
 * the type-generic code of rnn_impl.h: the geometry of a layer call (how
 * rows of time steps are found in padded, batch-first and packed inputs),
 * the flat weights and workspace layouts of ops.def, the dropout mask, and
 * access to a call's tensors by signature name. */
#ifndef NNRT_REF_RNN_H
#define NNRT_REF_RNN_H

#include <stdbool.h>
#include <stdint.h>

#include "nnrt/scalar.h"
#include "ref.h"

enum { RNN_MODE_TANH = 0, RNN_MODE_RELU = 1, RNN_MODE_LSTM = 2, RNN_MODE_GRU = 3 };

/* A call's input or output by its name in ops.def; NULL if absent. */
static inline nnrt_tensor *ref_in_named(const nnrt_call *c, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; i < s->n_inputs; i++)
    if (!strcmp(s->inputs[i].name, name)) return c->inputs[i];
  return NULL;
}

static inline nnrt_tensor *ref_out_named(const nnrt_call *c, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; i < s->n_outputs; i++)
    if (!strcmp(s->outputs[i].name, name)) return c->outputs[i];
  return NULL;
}

static inline void *ref_data(const nnrt_tensor *t) { return t ? t->data : NULL; }

/* One cell call: tensors as data pointers of the call's element type. */
typedef struct {
  int mode;
  int64_t N, In, H, G;
  const void *x, *hx, *cx, *wih, *whh, *bih, *bhh, *gy, *gc;
  void *h_out, *c_out, *gx, *ghx, *gcx, *gwih, *gwhh, *gbih, *gbhh;
} rnn_cell_args;

/* One layer call. */
typedef struct {
  int mode;
  int64_t In, H, L, D, G, K; /* K: workspace columns per unit (ops.def) */
  int64_t T, N, R;          /* steps, batch, rows of the input */
  bool bias, batch_first, packed;
  bool dropout_on;          /* training, dropout > 0 and a layer above */
  double dropout;
  uint64_t key, threshold;  /* dropout mask, nnrt/scalar.h */
  const int64_t *bs;        /* batch_sizes (T), packed only */
  int64_t *offs;            /* first row of each step, packed only */
  const int64_t *perm;      /* sorted_indices or NULL */
} rnn_geom;

/* rows of step t: rnn_base + b * rnn_stride for b < rnn_rows */
static inline int64_t rnn_rows(const rnn_geom *q, int64_t t) { return q->packed ? q->bs[t] : q->N; }
static inline int64_t rnn_base(const rnn_geom *q, int64_t t) {
  return q->packed ? q->offs[t] : q->batch_first ? t : t * q->N;
}
static inline int64_t rnn_stride(const rnn_geom *q) { return !q->packed && q->batch_first ? q->T : 1; }
static inline int64_t rnn_perm(const rnn_geom *q, int64_t b) { return q->perm ? q->perm[b] : b; }
static inline bool rnn_dropout_on(const rnn_geom *q) { return q->dropout_on; }

/* Offset of (layer l, direction d)'s weight_ih in the flat weights. */
static inline int64_t rnn_weights_offset(const rnn_geom *q, int64_t l, int64_t d) {
  int64_t o = 0, GH = q->G * q->H;
  for (int64_t k = 0; k < l * q->D + d; k++) {
    int64_t in = k / q->D ? q->D * q->H : q->In;
    o += GH * (in + q->H + (q->bias ? 2 : 0));
  }
  return o;
}

/* Offset of layer l's block in the workspace. */
static inline int64_t rnn_ws_layer(const rnn_geom *q, int64_t l) { return l * q->R * q->D * q->H * q->K; }

/* Whether flat element i of the layer outputs survives dropout. */
static inline bool rnn_keep(const rnn_geom *q, uint64_t i) {
  uint64_t r;
  NNRT_RNG_BITS(r, q->key, i);
  return (r >> NNRT_DROPOUT_SHIFT) >= q->threshold;
}

#endif
