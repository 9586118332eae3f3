/* backends/opencl/embedding.c - embedding forward and backward
 * (kernels/embedding.cl).  The backward reads the indices to the host (a
 * blocking read) to group positions by row, then uploads the grouping to
 * scratch; the sums run on the device. */
#include <stdlib.h>
#include <string.h>

#include "kernels/embedding.cl.h"
#include "ocl.h"

enum { K_FWD, K_BWD };
static const char *const names[] = {"emb_fwd", "emb_bwd"};
static const ocl_family fam = {
    .id = OCL_FAM_EMBEDDING,
    .name = "embedding",
    .source = ocl_src_embedding,
    .kernel_names = names,
    .n_kernels = 2,
};

static nnrt_status k_embedding(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *idx = call->inputs[0], *w = call->inputs[1];
  size_t D = (size_t)w->shape[1], n = (size_t)idx->numel * D;
  if (!n) return NNRT_OK;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, w->dtype, K_FWD, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[K_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(idx)), OCL_A_MEM(ocl_mem(w)),
                OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(D), OCL_A_U64(n));
  }
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_embedding_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *g = call->inputs[0], *idx = call->inputs[1], *w = call->inputs[2];
  int64_t n = idx->numel, num = w->shape[0], D = w->shape[1];
  int64_t pad = NNRT_PARAMS(call, embedding_backward)->padding_idx;
  pad = pad == NNRT_PADDING_IDX_NONE ? -1 : pad < 0 ? pad + num : pad;
  if (!n || !D) return NNRT_OK;
  /* host: positions grouped by row, stable; rows listed in increasing order */
  int64_t *v = malloc(sizeof *v * (size_t)n), *count = calloc((size_t)num + 1, sizeof *count);
  int64_t *buf = malloc(sizeof *buf * (size_t)(2 * num + 1 + n)); /* ROWS, START, POS */
  nnrt_status s = v && count && buf ? NNRT_OK : ocl_host->error(NNRT_ERR_OUT_OF_MEMORY, "opencl: %s: out of memory", call->op_name);
  cl_int err;
  if (!s && (err = ocl.clEnqueueReadBuffer(d->queue, ocl_mem(idx), CL_TRUE, 0, sizeof *v * (size_t)n, v, 0, NULL, NULL)))
    s = ocl_fail("clEnqueueReadBuffer", "embedding_backward indices", err);
  int64_t nrows = 0;
  if (!s) {
    for (int64_t i = 0; i < n; i++)
      if (v[i] != pad) count[v[i]]++;
    int64_t *rows = buf, *start, *pos;
    for (int64_t r = 0; r < num; r++)
      if (count[r]) rows[nrows++] = r;
    start = rows + nrows;
    pos = start + nrows + 1;
    /* count[r] becomes the next free slot of row r */
    int64_t at = 0;
    for (int64_t k = 0; k < nrows; k++) {
      start[k] = at;
      at += count[rows[k]];
      count[rows[k]] = start[k];
    }
    start[nrows] = at;
    for (int64_t i = 0; i < n; i++)
      if (v[i] != pad) pos[count[v[i]]++] = i;
    /* ROWS, START, POS back to back: one upload */
    size_t words = (size_t)(2 * nrows + 1 + at);
    OCL_LOCK(d);
    cl_mem scr;
    cl_kernel k;
    size_t wg;
    if (nrows && !(s = ocl_scratch(d, words * sizeof(int64_t), &scr))) {
      err = ocl.clEnqueueWriteBuffer(d->queue, scr, CL_TRUE, 0, words * sizeof(int64_t), buf, 0, NULL, NULL);
      if (err) s = ocl_fail("clEnqueueWriteBuffer", "embedding_backward grouping", err);
      if (!s) s = ocl_kernel(d, &fam, g->dtype, K_BWD, &k, &wg);
      if (!s) {
        size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up((size_t)(nrows * D), local);
        s = OCL_RUN(d, k, call->op_name, names[K_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(g)), OCL_A_MEM(scr),
                    OCL_A_U64(0), OCL_A_U64(nrows), OCL_A_U64(2 * nrows + 1), OCL_A_MEM(ocl_mem(call->outputs[0])),
                    OCL_A_U64(D), OCL_A_U64(nrows));
      }
    }
    OCL_UNLOCK(d);
  }
  free(v);
  free(count);
  free(buf);
  return s;
}

nnrt_kernel_fn ocl_embedding_lookup(const char *op) {
  if (!strcmp(op, "embedding")) return k_embedding;
  if (!strcmp(op, "embedding_backward")) return k_embedding_backward;
  return NULL;
}
