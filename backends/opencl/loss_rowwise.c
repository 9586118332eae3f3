/* backends/opencl/loss_rowwise.c - the per-row losses along the last dim
 * (kernels/loss_rowwise.cl): multilabel_soft_margin_loss,
 * cosine_embedding_loss, multi_margin_loss, multilabel_margin_loss.
 * Rows = numel / C of input(1); mean divides by the number of rows. */
#include <string.h>

#include "kernels/loss_rowwise.cl.h"
#include "ocl.h"

enum { K_MLSM_FWD, K_MLSM_BWD, K_COS_FWD, K_COS_BWD, K_MM_FWD, K_MM_BWD, K_MLM_FWD, K_MLM_BWD };
static const char *const names[] = {"mlsm_fwd", "mlsm_bwd", "cos_fwd", "cos_bwd",
                                    "mm_fwd",   "mm_bwd",   "mlm_fwd", "mlm_bwd"};
static const ocl_family fam = {
    .id = OCL_FAM_LOSS_ROWWISE,
    .name = "loss_rowwise",
    .source = ocl_src_loss_rowwise,
    .kernel_names = names,
    .n_kernels = 8,
};

typedef struct {
  size_t rows, C;
} rows_t;

static rows_t rows_of(const nnrt_tensor *x) {
  rows_t r = {1, x->ndim ? (size_t)x->shape[x->ndim - 1] : 1};
  for (int i = 0; i < x->ndim - 1; i++) r.rows *= (size_t)x->shape[i];
  return r;
}

static double div_of(int reduction, rows_t r) { return reduction == 1 ? (double)r.rows : 1.0; }

/* Per-row losses into the output (none) or scratch, then the finish. */
typedef struct fwd_ctx {
  ocl_dev *d;
  const nnrt_call *call;
  nnrt_dtype dt;
  rows_t r;
  int reduction;
  cl_mem part;     /* scratch: row losses as ACC (reduction mean / sum) */
  size_t extra;    /* scratch bytes the kernel needs after the row losses */
  cl_mem scratch;
} fwd_ctx;

static nnrt_status fwd_begin(fwd_ctx *f, ocl_dev *d, const nnrt_call *call, const nnrt_tensor *x, int reduction,
                             size_t extra) {
  *f = (fwd_ctx){d, call, x->dtype, rows_of(x), reduction, d->dummy, extra, d->dummy};
  size_t lbytes = reduction ? f->r.rows * ocl_asize(f->d, f->dt) : 0;
  lbytes = (lbytes + 63) / 64 * 64;
  if (lbytes + extra) {
    nnrt_status s = ocl_scratch(d, lbytes + extra, &f->scratch);
    if (s) return s;
  }
  if (reduction) f->part = f->scratch;
  return NNRT_OK;
}

static nnrt_status fwd_end(fwd_ctx *f) {
  if (!f->reduction) return NNRT_OK;
  /* mean over zero rows: 0 / 0 */
  return ocl_finish_sum(f->d, f->call, f->dt, f->scratch, f->r.rows, false, div_of(f->reduction, f->r),
                        ocl_mem(f->call->outputs[0]));
}

/* per-row work-group size and global size */
static void row_range(size_t rows, size_t C, size_t wg, size_t *local, size_t *global) {
  *local = ocl_wg_reduce(C, wg, 16);
  *global = rows * *local;
}

#define GET_KERNEL(which)                                                        \
  cl_kernel k;                                                                   \
  size_t wg;                                                                     \
  nnrt_status s = ocl_kernel(d, &fam, dt, (which), &k, &wg)

/* ---- multilabel_soft_margin_loss ---- */
static nnrt_status k_mlsm(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[0], *t = call->inputs[1], *w = call->inputs[2];
  nnrt_dtype dt = x->dtype;
  fwd_ctx f;
  OCL_LOCK(d);
  GET_KERNEL(K_MLSM_FWD);
  if (!s) s = fwd_begin(&f, d, call, x, NNRT_PARAMS(call, multilabel_soft_margin_loss)->reduction, 0);
  if (!s) {
    size_t local, global;
    row_range(f.r.rows, f.r.C, wg, &local, &global);
    s = OCL_RUN(d, k, call->op_name, names[K_MLSM_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(w ? ocl_mem(w) : d->dummy), OCL_A_U64(w ? w->numel : 0),
                OCL_A_U64(f.r.C), OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_MEM(f.part), OCL_A_INT(f.reduction != 0), OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  if (!s) s = fwd_end(&f);
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_mlsm_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *gy = call->inputs[0], *x = call->inputs[1], *t = call->inputs[2], *w = call->inputs[3];
  nnrt_dtype dt = x->dtype;
  int red = NNRT_PARAMS(call, multilabel_soft_margin_loss_backward)->reduction;
  rows_t r = rows_of(x);
  size_t n = (size_t)x->numel;
  if (!n) return NNRT_OK;
  OCL_LOCK(d);
  GET_KERNEL(K_MLSM_BWD);
  if (!s) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[K_MLSM_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(gy)),
                OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(w ? ocl_mem(w) : d->dummy),
                OCL_A_U64(w ? w->numel : 0), OCL_A_U64(r.C), OCL_A_U64(n), OCL_A_INT(red),
                OCL_A_REAL(dt, div_of(red, r)), OCL_A_MEM(ocl_mem(call->outputs[0])));
  }
  OCL_UNLOCK(d);
  return s;
}

/* ---- cosine_embedding_loss ---- */
static nnrt_status k_cos(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_cosine_embedding_loss_params *p = call->params;
  const nnrt_tensor *x1 = call->inputs[0], *x2 = call->inputs[1], *t = call->inputs[2];
  nnrt_dtype dt = x1->dtype;
  fwd_ctx f;
  OCL_LOCK(d);
  GET_KERNEL(K_COS_FWD);
  if (!s) s = fwd_begin(&f, d, call, x1, p->reduction, 0);
  if (!s) {
    size_t local, global;
    row_range(f.r.rows, f.r.C, wg, &local, &global);
    s = OCL_RUN(d, k, call->op_name, names[K_COS_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x1)),
                OCL_A_MEM(ocl_mem(x2)), OCL_A_MEM(ocl_mem(t)), OCL_A_U64(f.r.C), OCL_A_REAL(dt, p->margin),
                OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_MEM(f.part), OCL_A_INT(f.reduction != 0), OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  if (!s) s = fwd_end(&f);
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_cos_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_cosine_embedding_loss_backward_params *p = call->params;
  const nnrt_tensor *gy = call->inputs[0], *x1 = call->inputs[1], *x2 = call->inputs[2], *t = call->inputs[3];
  nnrt_tensor *g1 = call->outputs[0], *g2 = call->outputs[1];
  nnrt_dtype dt = x1->dtype;
  rows_t r = rows_of(x1);
  OCL_LOCK(d);
  GET_KERNEL(K_COS_BWD);
  if (!s) {
    size_t local, global;
    row_range(r.rows, r.C, wg, &local, &global);
    s = OCL_RUN(d, k, call->op_name, names[K_COS_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(gy)),
                OCL_A_MEM(ocl_mem(x1)), OCL_A_MEM(ocl_mem(x2)), OCL_A_MEM(ocl_mem(t)), OCL_A_U64(r.C),
                OCL_A_REAL(dt, p->margin), OCL_A_INT(p->reduction), OCL_A_REAL(dt, div_of(p->reduction, r)),
                OCL_A_MEM(g1 ? ocl_mem(g1) : d->dummy), OCL_A_INT(g1 != NULL),
                OCL_A_MEM(g2 ? ocl_mem(g2) : d->dummy), OCL_A_INT(g2 != NULL), OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  OCL_UNLOCK(d);
  return s;
}

/* ---- multi_margin_loss ---- */
static nnrt_status k_mm(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_multi_margin_loss_params *p = call->params;
  const nnrt_tensor *x = call->inputs[0], *t = call->inputs[1], *w = call->inputs[2];
  nnrt_dtype dt = x->dtype;
  fwd_ctx f;
  OCL_LOCK(d);
  GET_KERNEL(K_MM_FWD);
  if (!s) s = fwd_begin(&f, d, call, x, p->reduction, 0);
  if (!s) {
    size_t local, global;
    row_range(f.r.rows, f.r.C, wg, &local, &global);
    s = OCL_RUN(d, k, call->op_name, names[K_MM_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(w ? ocl_mem(w) : d->dummy), OCL_A_INT(w != NULL), OCL_A_U64(f.r.C),
                OCL_A_INT(p->p), OCL_A_REAL(dt, p->margin), OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_MEM(f.part), OCL_A_INT(f.reduction != 0), OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  if (!s) s = fwd_end(&f);
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_mm_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_multi_margin_loss_backward_params *p = call->params;
  const nnrt_tensor *gy = call->inputs[0], *x = call->inputs[1], *t = call->inputs[2], *w = call->inputs[3];
  nnrt_dtype dt = x->dtype;
  rows_t r = rows_of(x);
  OCL_LOCK(d);
  GET_KERNEL(K_MM_BWD);
  if (!s) {
    size_t local, global;
    row_range(r.rows, r.C, wg, &local, &global);
    s = OCL_RUN(d, k, call->op_name, names[K_MM_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(gy)),
                OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(w ? ocl_mem(w) : d->dummy),
                OCL_A_INT(w != NULL), OCL_A_U64(r.C), OCL_A_INT(p->p), OCL_A_REAL(dt, p->margin),
                OCL_A_INT(p->reduction), OCL_A_REAL(dt, div_of(p->reduction, r)),
                OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_LOCAL(local * ocl_asize(d, dt)));
  }
  OCL_UNLOCK(d);
  return s;
}

/* ---- multilabel_margin_loss ---- */
static nnrt_status k_mlm(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[0], *t = call->inputs[1];
  int red = NNRT_PARAMS(call, multilabel_margin_loss)->reduction;
  nnrt_dtype dt = x->dtype;
  rows_t r = rows_of(x);
  fwd_ctx f;
  OCL_LOCK(d);
  GET_KERNEL(K_MLM_FWD);
  /* scratch: the row losses (for mean and sum), then rows * C target flags */
  if (!s) s = fwd_begin(&f, d, call, x, red, r.rows * r.C * sizeof(cl_int));
  if (!s) {
    size_t local, global, foff = red ? (r.rows * ocl_asize(d, dt) + 63) / 64 * 64 / sizeof(cl_int) : 0;
    row_range(r.rows, r.C, wg, &local, &global);
    s = OCL_RUN(d, k, call->op_name, names[K_MLM_FWD], 1, &global, &local, OCL_A_MEM(ocl_mem(x)),
                OCL_A_MEM(ocl_mem(t)), OCL_A_U64(r.C), OCL_A_MEM(f.scratch), OCL_A_U64(foff), OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_MEM(f.part), OCL_A_INT(f.reduction != 0),
                OCL_A_LOCAL(local * ocl_asize(d, dt)), OCL_A_LOCAL(local * sizeof(cl_int)));
  }
  if (!s) s = fwd_end(&f);
  OCL_UNLOCK(d);
  return s;
}

static nnrt_status k_mlm_backward(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *gy = call->inputs[0], *x = call->inputs[1], *t = call->inputs[2];
  int red = NNRT_PARAMS(call, multilabel_margin_loss_backward)->reduction;
  nnrt_dtype dt = x->dtype;
  rows_t r = rows_of(x);
  if (!r.rows || !r.C) return NNRT_OK;
  OCL_LOCK(d);
  GET_KERNEL(K_MLM_BWD);
  cl_mem flags;
  /* scratch: rows * C target flags, then rows * C counts */
  if (!s) s = ocl_scratch(d, 2 * r.rows * r.C * sizeof(cl_int), &flags);
  if (!s) {
    size_t local, global;
    row_range(r.rows, r.C, wg, &local, &global);
    s = OCL_RUN(d, k, call->op_name, names[K_MLM_BWD], 1, &global, &local, OCL_A_MEM(ocl_mem(gy)),
                OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(t)), OCL_A_U64(r.C), OCL_A_INT(red),
                OCL_A_REAL(dt, div_of(red, r)), OCL_A_MEM(flags), OCL_A_MEM(ocl_mem(call->outputs[0])),
                OCL_A_LOCAL(local * sizeof(cl_int)));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_loss_rowwise_lookup(const char *op) {
  static const struct {
    const char *name;
    nnrt_kernel_fn fn;
  } t[] = {
      {"multilabel_soft_margin_loss", k_mlsm}, {"multilabel_soft_margin_loss_backward", k_mlsm_backward},
      {"cosine_embedding_loss", k_cos},        {"cosine_embedding_loss_backward", k_cos_backward},
      {"multi_margin_loss", k_mm},             {"multi_margin_loss_backward", k_mm_backward},
      {"multilabel_margin_loss", k_mlm},       {"multilabel_margin_loss_backward", k_mlm_backward},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(t[i].name, op)) return t[i].fn;
  return NULL;
}
