/* backends/ref/packed.c - pack_padded_sequence, pad_packed_sequence and
 * their backward ops (each the other's scatter or gather): row copies
 * between a padded (T, N, F) / (N, T, F) layout and the packed (sum, F)
 * one, where step t holds the batch_sizes[t] longest sequences in sorted
 * order.  Lengths are sorted by decreasing length, ties in batch order (a
 * stable sort, as torch.sort gives). */
#include "ref.h"

typedef struct {
  int64_t len, idx;
} len_idx;

static int by_len_desc(const void *a, const void *b) {
  const len_idx *x = a, *y = b;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* order[k]: the batch index of the k-th longest sequence; bs: batch sizes
 * (maxlen of them); returns maxlen, or -1 out of memory. */
static int64_t sort_lengths(const int64_t *len, int64_t N, bool enforce_sorted, int64_t *order, int64_t **bs) {
  len_idx *v = malloc(sizeof *v * (size_t)N);
  if (!v) return -1;
  for (int64_t i = 0; i < N; i++) v[i] = (len_idx){len[i], i};
  if (!enforce_sorted) qsort(v, (size_t)N, sizeof *v, by_len_desc);
  int64_t maxlen = v[0].len;
  *bs = calloc((size_t)maxlen, sizeof **bs);
  if (!*bs) {
    free(v);
    return -1;
  }
  for (int64_t k = 0; k < N; k++) {
    order[k] = v[k].idx;
    for (int64_t t = 0; t < v[k].len; t++) (*bs)[t]++;
  }
  free(v);
  return maxlen;
}

/* Copies F elements per (t, k): packed row offs[t]+k <-> padded (t, col(k)).
 * to_packed: padded -> packed, else packed -> padded. */
static void copy_rows(const int64_t *bs, int64_t T, const int64_t *col, int64_t Tp, int64_t N, bool batch_first,
                      size_t bytes, const char *src, char *dst, bool to_packed) {
  int64_t row = 0;
  for (int64_t t = 0; t < T; t++)
    for (int64_t k = 0; k < bs[t]; k++, row++) {
      int64_t pad = batch_first ? col[k] * Tp + t : t * N + col[k];
      if (to_packed) memcpy(dst + (size_t)row * bytes, src + (size_t)pad * bytes, bytes);
      else memcpy(dst + (size_t)pad * bytes, src + (size_t)row * bytes, bytes);
    }
}

static size_t row_bytes(const nnrt_tensor *t, int first_feature_dim) {
  size_t n = nnrt_dtype_size(t->dtype);
  for (int i = first_feature_dim; i < t->ndim; i++) n *= (size_t)t->shape[i];
  return n;
}

/* Shared by pack_padded_sequence (forward: gather) and its backward (scatter
 * into zeros). */
static nnrt_status pack(const nnrt_call *c, bool backward) {
  const nnrt_pack_padded_sequence_params *p = c->params;
  const nnrt_tensor *x = c->inputs[backward ? 1 : 0], *len = c->inputs[backward ? 2 : 1];
  int64_t T = x->shape[p->batch_first ? 1 : 0], N = x->shape[p->batch_first ? 0 : 1];
  int64_t *order = malloc(sizeof *order * (size_t)N), *bs = NULL;
  if (!order) return NNRT_ERR_OUT_OF_MEMORY;
  int64_t maxlen = sort_lengths(len->data, N, p->enforce_sorted, order, &bs);
  if (maxlen < 0) {
    free(order);
    return NNRT_ERR_OUT_OF_MEMORY;
  }
  size_t rb = row_bytes(x, 2);
  if (!backward) {
    copy_rows(bs, maxlen, order, T, N, p->batch_first, rb, x->data, c->outputs[0]->data, true);
    memcpy(c->outputs[1]->data, bs, sizeof *bs * (size_t)maxlen);
    int64_t *si = REF_OUT_OPT(c, 2, int64_t), *ui = REF_OUT_OPT(c, 3, int64_t);
    for (int64_t k = 0; k < N; k++) {
      if (si) si[k] = order[k];
      if (ui) ui[order[k]] = k;
    }
  } else {
    memset(c->outputs[0]->data, 0, c->outputs[0]->bytes);
    copy_rows(bs, maxlen, order, T, N, p->batch_first, rb, c->inputs[0]->data, c->outputs[0]->data, false);
  }
  free(order);
  free(bs);
  return NNRT_OK;
}

nnrt_status ref_pack_padded_sequence(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return pack(call, false);
}

nnrt_status ref_pack_padded_sequence_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  return pack(call, true);
}

/* col[k]: the output column of sorted sequence k (the inverse of
 * unsorted_indices, or k). */
static int64_t *pad_columns(const nnrt_tensor *unsorted, int64_t N) {
  int64_t *col = malloc(sizeof *col * (size_t)N);
  if (!col) return NULL;
  const int64_t *u = unsorted ? unsorted->data : NULL;
  for (int64_t j = 0; j < N; j++) {
    if (u) col[u[j]] = j;
    else col[j] = j;
  }
  return col;
}

nnrt_status ref_pad_packed_sequence(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_pad_packed_sequence_params *p = call->params;
  const nnrt_tensor *data = call->inputs[0], *bst = call->inputs[1], *out = call->outputs[0];
  const int64_t *bs = bst->data;
  int64_t T = bst->shape[0], N = bs[0], Tp = out->shape[p->batch_first ? 1 : 0];
  int64_t *col = pad_columns(call->inputs[2], N);
  if (!col) return NNRT_ERR_OUT_OF_MEMORY;
  if (out->dtype == NNRT_F64)
    for (int64_t i = 0; i < out->numel; i++) ((double *)out->data)[i] = p->padding_value;
  else
    for (int64_t i = 0; i < out->numel; i++) ((float *)out->data)[i] = (float)p->padding_value;
  copy_rows(bs, T, col, Tp, N, p->batch_first, row_bytes(data, 1), data->data, out->data, false);
  int64_t *lengths = REF_OUT_OPT(call, 1, int64_t);
  if (lengths)
    for (int64_t k = 0; k < N; k++) {
      int64_t l = 0;
      while (l < T && bs[l] > k) l++;
      lengths[col[k]] = l;
    }
  free(col);
  return NNRT_OK;
}

nnrt_status ref_pad_packed_sequence_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  const nnrt_pad_packed_sequence_backward_params *p = call->params;
  const nnrt_tensor *gy = call->inputs[0], *data = call->inputs[1], *bst = call->inputs[2];
  const int64_t *bs = bst->data;
  int64_t T = bst->shape[0], N = bs[0], Tp = gy->shape[p->batch_first ? 1 : 0];
  int64_t *col = pad_columns(call->inputs[3], N);
  if (!col) return NNRT_ERR_OUT_OF_MEMORY;
  copy_rows(bs, T, col, Tp, N, p->batch_first, row_bytes(data, 1), gy->data, call->outputs[0]->data, true);
  free(col);
  return NNRT_OK;
}
