/* backends/opencl/packed.c - pack_padded_sequence, pad_packed_sequence and
 * their backward ops (kernels/packed.cl).  The index work is small and
 * sequential (sorting lengths, walking batch_sizes), so it runs on the
 * host: the index inputs are read (blocking), the row map and the index
 * outputs are written back; the data moves on the device. */
#include <stdlib.h>
#include <string.h>

#include "kernels/packed.cl.h"
#include "ocl.h"

enum { K_FILL, K_COPY_ROWS };
static const char *const names[] = {"fill", "copy_rows"};
static const ocl_family fam = {
    .id = OCL_FAM_PACKED,
    .name = "packed",
    .source = ocl_src_packed,
    .kernel_names = names,
    .n_kernels = 2,
};

static nnrt_status oom(const nnrt_call *call) {
  return ocl_host->error(NNRT_ERR_OUT_OF_MEMORY, "opencl: %s: out of memory", call->op_name);
}

static nnrt_status read_index(ocl_dev *d, const nnrt_tensor *t, int64_t *dst) {
  if (!t->numel) return NNRT_OK;
  cl_int err = ocl.clEnqueueReadBuffer(d->queue, ocl_mem(t), CL_TRUE, 0, sizeof(int64_t) * (size_t)t->numel, dst, 0,
                                       NULL, NULL);
  return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueReadBuffer", "index tensor", err);
}

static nnrt_status write_index(ocl_dev *d, nnrt_tensor *t, const int64_t *src) {
  if (!t || !t->numel) return NNRT_OK;
  cl_int err = ocl.clEnqueueWriteBuffer(d->queue, ocl_mem(t), CL_TRUE, 0, sizeof(int64_t) * (size_t)t->numel, src, 0,
                                        NULL, NULL);
  return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueWriteBuffer", "index tensor", err);
}

/* Optionally fills dst with v, then moves rows by map (rows pairs); device lock taken here. */
static nnrt_status move_rows(ocl_dev *d, const nnrt_call *call, const nnrt_tensor *src, nnrt_tensor *dst, bool fill,
                             double v, const int64_t *map, size_t rows, size_t F) {
  nnrt_dtype dt = dst->dtype;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = NNRT_OK;
  if (fill && dst->numel && !(s = ocl_kernel(d, &fam, dt, K_FILL, &k, &wg))) {
    size_t n = (size_t)dst->numel, local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[K_FILL], 1, &global, &local, OCL_A_MEM(ocl_mem(dst)), OCL_A_U64(n),
                OCL_A_REAL(dt, v));
  }
  cl_mem m;
  if (!s && rows && F && !(s = ocl_scratch(d, 2 * rows * sizeof(int64_t), &m))) {
    cl_int err = ocl.clEnqueueWriteBuffer(d->queue, m, CL_TRUE, 0, 2 * rows * sizeof(int64_t), map, 0, NULL, NULL);
    if (err != CL_SUCCESS) s = ocl_fail("clEnqueueWriteBuffer", "row map", err);
    if (!s && !(s = ocl_kernel(d, &fam, dt, K_COPY_ROWS, &k, &wg))) {
      size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(rows * F, local);
      s = OCL_RUN(d, k, call->op_name, names[K_COPY_ROWS], 1, &global, &local, OCL_A_MEM(ocl_mem(src)),
                  OCL_A_MEM(ocl_mem(dst)), OCL_A_MEM(m), OCL_A_U64(rows), OCL_A_U64(F));
    }
  }
  OCL_UNLOCK(d);
  return s;
}

static size_t features(const nnrt_tensor *t, int first) {
  size_t f = 1;
  for (int i = first; i < t->ndim; i++) f *= (size_t)t->shape[i];
  return f;
}

/* Map entries for steps t < T, sequences k < bs[t]: packed row <-> padded
 * row (t, col[k]); to_packed says which is the source.  Returns the rows. */
static size_t make_map(const int64_t *bs, int64_t T, const int64_t *col, int64_t Tp, int64_t N, bool batch_first,
                       bool to_packed, int64_t *map) {
  size_t row = 0;
  for (int64_t t = 0; t < T; t++)
    for (int64_t k = 0; k < bs[t]; k++, row++) {
      int64_t pad = batch_first ? col[k] * Tp + t : t * N + col[k];
      map[2 * row] = to_packed ? pad : (int64_t)row;
      map[2 * row + 1] = to_packed ? (int64_t)row : pad;
    }
  return row;
}

/* order[k]: batch index of the k-th longest (stable); bs[t]; returns maxlen */
static int64_t sort_lengths(const int64_t *len, int64_t N, bool enforce_sorted, int64_t *order, int64_t *bs,
                            int64_t T) {
  for (int64_t i = 0; i < N; i++) order[i] = i;
  if (!enforce_sorted) /* insertion sort: stable, N is a batch size */
    for (int64_t i = 1; i < N; i++)
      for (int64_t j = i; j > 0 && len[order[j - 1]] < len[order[j]]; j--) {
        int64_t t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  int64_t maxlen = N ? len[order[0]] : 0;
  for (int64_t t = 0; t < T; t++) bs[t] = 0;
  for (int64_t k = 0; k < N; k++)
    for (int64_t t = 0; t < len[order[k]] && t < T; t++) bs[t]++;
  return maxlen;
}

static nnrt_status pack(nnrt_device *dev, const nnrt_call *call, bool bwd) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_pack_padded_sequence_params *p = call->params;
  const nnrt_tensor *x = call->inputs[bwd ? 1 : 0], *len = call->inputs[bwd ? 2 : 1];
  int64_t T = x->shape[p->batch_first ? 1 : 0], N = x->shape[p->batch_first ? 0 : 1];
  size_t F = features(x, 2), words = (size_t)(3 * N + T + 1);
  int64_t *buf = malloc(sizeof *buf * words), *map = malloc(sizeof *map * (size_t)(2 * N * T + 1));
  if (!buf || !map) {
    free(buf);
    free(map);
    return oom(call);
  }
  int64_t *lv = buf, *order = buf + N, *inv = order + N, *bs = inv + N;
  nnrt_status s = read_index(d, len, lv);
  if (!s) {
    int64_t maxlen = sort_lengths(lv, N, p->enforce_sorted, order, bs, T);
    size_t rows = make_map(bs, maxlen, order, T, N, p->batch_first, !bwd, map);
    if (!bwd) {
      s = move_rows(d, call, x, call->outputs[0], false, 0, map, rows, F);
      for (int64_t k = 0; k < N; k++) inv[order[k]] = k;
      if (!s) s = write_index(d, call->outputs[1], bs);
      if (!s) s = write_index(d, call->outputs[2], order);
      if (!s) s = write_index(d, call->outputs[3], inv);
    } else {
      s = move_rows(d, call, call->inputs[0], call->outputs[0], true, 0, map, rows, F);
    }
  }
  free(buf);
  free(map);
  return s;
}

static nnrt_status pad(nnrt_device *dev, const nnrt_call *call, bool bwd) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_pad_packed_sequence_params *p = call->params;
  const nnrt_tensor *data = call->inputs[bwd ? 1 : 0], *bst = call->inputs[bwd ? 2 : 1];
  const nnrt_tensor *uns = call->inputs[bwd ? 3 : 2], *padded = bwd ? call->inputs[0] : call->outputs[0];
  int64_t T = bst->shape[0], Tp = padded->shape[p->batch_first ? 1 : 0];
  int64_t N = padded->shape[p->batch_first ? 0 : 1];
  size_t F = features(data, 1);
  int64_t *buf = malloc(sizeof *buf * (size_t)(T + 3 * N + 1)), *map = malloc(sizeof *map * (size_t)(2 * N * T + 1));
  if (!buf || !map) {
    free(buf);
    free(map);
    return oom(call);
  }
  int64_t *bs = buf, *u = bs + T, *col = u + N, *lengths = col + N;
  nnrt_status s = read_index(d, bst, bs);
  if (!s && uns) s = read_index(d, uns, u);
  if (!s) {
    for (int64_t j = 0; j < N; j++) {
      if (uns) col[u[j]] = j;
      else col[j] = j;
    }
    size_t rows = make_map(bs, T, col, Tp, N, p->batch_first, bwd, map);
    if (!bwd) {
      s = move_rows(d, call, data, call->outputs[0], true, p->padding_value, map, rows, F);
      if (!s && call->outputs[1]) {
        for (int64_t k = 0; k < N; k++) {
          int64_t l = 0;
          while (l < T && bs[l] > k) l++;
          lengths[col[k]] = l;
        }
        s = write_index(d, call->outputs[1], lengths);
      }
    } else {
      s = move_rows(d, call, call->inputs[0], call->outputs[0], false, 0, map, rows, F);
    }
  }
  free(buf);
  free(map);
  return s;
}

static nnrt_status k_pack(nnrt_device *d, const nnrt_call *c) { return pack(d, c, false); }
static nnrt_status k_pack_bwd(nnrt_device *d, const nnrt_call *c) { return pack(d, c, true); }
static nnrt_status k_pad(nnrt_device *d, const nnrt_call *c) { return pad(d, c, false); }
static nnrt_status k_pad_bwd(nnrt_device *d, const nnrt_call *c) { return pad(d, c, true); }

nnrt_kernel_fn ocl_packed_lookup(const char *op) {
  if (!strcmp(op, "pack_padded_sequence")) return k_pack;
  if (!strcmp(op, "pack_padded_sequence_backward")) return k_pack_bwd;
  if (!strcmp(op, "pad_packed_sequence")) return k_pad;
  if (!strcmp(op, "pad_packed_sequence_backward")) return k_pad_bwd;
  return NULL;
}
