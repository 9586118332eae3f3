/* backends/ref/embedding.c - embedding lookup and its dense backward.
 * Forward copies row input[i] of weight (num_embeddings, D) to output row i
 * (the padding row too: PyTorch returns it as it is).  Backward groups the
 * positions by the row they hit (a counting sort that keeps their order),
 * then sums each row's gradients in double in that fixed order, in
 * parallel over rows: duplicates add up the same way whatever the thread
 * count.  Nothing goes to the padding row; grad_weight accumulates. */
#include "ref.h"

#include "ref_omp.h"

/* padding_idx normalised: NNRT_PADDING_IDX_NONE (None) -> -1, negative -> counted from
 * the end, as F.embedding does. */
static int64_t pad_row(const nnrt_call *call, int64_t num) {
  int64_t p = ((const nnrt_embedding_params *)call->params)->padding_idx;
  if (p == NNRT_PADDING_IDX_NONE) return -1;
  return p < 0 ? p + num : p;
}

#define EMB_FNS(T, SFX)                                                          \
  static void fwd_##SFX(const int64_t *idx, const T *W, T *Y, int64_t n, int64_t D) { \
    _Pragma("omp parallel for schedule(static) if (n * D > REF_OMP_MIN)")        \
    for (int64_t i = 0; i < n; i++) memcpy(Y + i * D, W + idx[i] * D, sizeof(T) * (size_t)D); \
  }                                                                              \
  static void bwd_##SFX(const T *G, T *GW, int64_t num, int64_t D, const int64_t *start, const int64_t *pos, \
                        double *acc_all) {                                       \
    _Pragma("omp parallel if (start[num] * D > REF_OMP_MIN)")                    \
    {                                                                            \
      double *acc = acc_all + (size_t)ref_thread_num() * (size_t)D;                  \
      _Pragma("omp for schedule(dynamic, 16)")                                   \
      for (int64_t r = 0; r < num; r++) {                                        \
        if (start[r] == start[r + 1]) continue;                                  \
        for (int64_t j = 0; j < D; j++) acc[j] = 0;                              \
        for (int64_t k = start[r]; k < start[r + 1]; k++) {                      \
          const T *g = G + pos[k] * D;                                           \
          for (int64_t j = 0; j < D; j++) acc[j] += g[j];                        \
        }                                                                        \
        T *gw = GW + r * D;                                                      \
        for (int64_t j = 0; j < D; j++) gw[j] = (T)((double)gw[j] + acc[j]);     \
      }                                                                          \
    }                                                                            \
  }

EMB_FNS(float, f32)
EMB_FNS(double, f64)

nnrt_status ref_embedding(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *idx = call->inputs[0], *w = call->inputs[1];
  /* not REF_DISPATCH: input 0 holds the indices */
  if (w->dtype == NNRT_F64) fwd_f64(idx->data, w->data, call->outputs[0]->data, idx->numel, w->shape[1]);
  else fwd_f32(idx->data, w->data, call->outputs[0]->data, idx->numel, w->shape[1]);
  return NNRT_OK;
}

/* REF_DISPATCH looks at input 0, the gradient, which has the float dtype. */
nnrt_status ref_embedding_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_tensor *idx = call->inputs[1], *w = call->inputs[2];
  const int64_t *v = idx->data;
  int64_t n = idx->numel, num = w->shape[0], D = w->shape[1], pad = pad_row(call, num);
  int threads = ref_max_threads();
  int64_t *start = calloc((size_t)num + 1, sizeof *start); /* row r: pos[start[r] .. start[r+1]) */
  int64_t *next = malloc(sizeof *next * (size_t)num + 1);
  int64_t *pos = malloc(sizeof *pos * (size_t)n + 1);
  double *acc = malloc(sizeof *acc * (size_t)D * (size_t)threads + 1);
  nnrt_status st = start && next && pos && acc ? NNRT_OK : NNRT_ERR_OUT_OF_MEMORY;
  if (!st) {
    /* counting sort of the positions by row, stable */
    for (int64_t i = 0; i < n; i++)
      if (v[i] != pad) start[v[i] + 1]++;
    for (int64_t r = 0; r < num; r++) start[r + 1] += start[r];
    memcpy(next, start, sizeof *next * (size_t)num);
    for (int64_t i = 0; i < n; i++)
      if (v[i] != pad) pos[next[v[i]]++] = i;
    REF_DISPATCH(call, bwd, call->inputs[0]->data, call->outputs[0]->data, num, D, start, pos, acc);
  }
  free(start);
  free(next);
  free(pos);
  free(acc);
  return st;
}
