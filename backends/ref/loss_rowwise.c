/* backends/ref/loss_rowwise.c - the losses computed per sample along the
 * last dim C, forward and backward: multilabel_soft_margin_loss,
 * cosine_embedding_loss, multi_margin_loss, multilabel_margin_loss.
 *
 * One driver reduces the per-row losses (none / mean over rows / sum, in
 * double, OpenMP over rows) and scales each row's gradient; each op gives
 * only "loss of row n" and "gradient of row n times g" (an unweighted
 * multilabel_soft_margin mean or sum skips the rows: one simd sum of all
 * terms per thread).  Rows are read in
 * double through ld()/st(), whatever the dtype.  Formulas as PyTorch 1.13:
 *  - multilabel_soft_margin: sum_c w_c (t softplus(-x) + (1-t) softplus(x)) / C
 *  - cosine_embedding: cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12));
 *    t == 1: 1 - cos; t == -1: max(0, cos - margin); other t: 0
 *  - multi_margin: sum_{j != y} w[y] max(0, margin - x[y] + x[j])^p / C
 *  - multilabel_margin: sum over listed targets j (up to the first -1,
 *    repeats counted again) and non-targets i of max(0, 1 - x[j] + x[i]) / C
 * A mean over zero rows is NaN (PyTorch returns an unspecified value for
 * multi_margin / multilabel_margin there). */
#include <math.h>

#define REF_VECMATH_F64
#include "ref_vecmath.h"

#include "ref.h"
#include "ref_omp.h"

typedef struct row_loss {
  nnrt_dtype dt;
  int64_t rows, C;      /* rows of C contiguous elements */
  const void *x, *x2;   /* input or input1, input2 */
  const void *t;        /* target: float, or int64 */
  const void *w;        /* weight or NULL */
  int64_t wn;           /* weight period */
  double margin;
  int64_t p;
  unsigned char *flags; /* multilabel_margin: rows * C "is a target" marks */
  void *gx, *gx2;       /* backward outputs (either may be NULL) */
} row_loss;

static inline double ld(const void *p, nnrt_dtype dt, int64_t i) {
  return dt == NNRT_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}
static inline void st(void *p, nnrt_dtype dt, int64_t i, double v) {
  if (dt == NNRT_F64) ((double *)p)[i] = v;
  else ((float *)p)[i] = (float)v;
}
static inline double softplus(double v) { return fmax(v, 0) + log1p(exp(-fabs(v))); }
static inline double sigmoid(double v) { return 1 / (1 + exp(-v)); }

typedef double (*row_fwd_fn)(const row_loss *r, int64_t n);
/* writes the whole gradient of row n, scaled by g */
typedef void (*row_bwd_fn)(const row_loss *r, int64_t n, double g);

static void rows_forward(const row_loss *r, row_fwd_fn f, int reduction, nnrt_tensor *out) {
  double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (r->rows * r->C > REF_OMP_MIN)
  for (int64_t n = 0; n < r->rows; n++) {
    double l = f(r, n);
    if (reduction == 0) st(out->data, r->dt, n, l);
    else acc += l;
  }
  if (reduction == 1) st(out->data, r->dt, 0, acc / (double)r->rows);
  if (reduction == 2) st(out->data, r->dt, 0, acc);
}

static void rows_backward(const row_loss *r, row_bwd_fn f, int reduction, const nnrt_tensor *gy) {
  double g0 = reduction == 0 ? 0 : ld(gy->data, r->dt, 0) / (reduction == 1 ? (double)r->rows : 1.0);
#pragma omp parallel for schedule(static) if (r->rows * r->C > REF_OMP_MIN)
  for (int64_t n = 0; n < r->rows; n++) f(r, n, reduction == 0 ? ld(gy->data, r->dt, n) : g0);
}

/* Fills the row view of a call: input(1) shape (..., C), rows = the rest. */
static row_loss row_setup(const nnrt_call *call, int off) {
  const nnrt_tensor *x = call->inputs[off];
  row_loss r = {.dt = x->dtype, .rows = 1, .C = x->ndim ? x->shape[x->ndim - 1] : 1, .x = x->data};
  for (int i = 0; i < x->ndim - 1; i++) r.rows *= x->shape[i];
  return r;
}

/* ---- multilabel_soft_margin_loss: (input, target, weight) ---- */
static double mlsm_w(const row_loss *r, int64_t i) { return r->w ? ld(r->w, r->dt, i % r->wn) : 1.0; }

/* t softplus(-x) + (1 - t) softplus(x) with one exp and one log1p:
 * both softpluses are max(+-x, 0) + log(1 + e^-|x|). */
static inline double mlsm_term(double x, double t) {
  return t * (x < 0 ? -x : 0) + (1 - t) * (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}

/* Rows without weight: `omp simd` over the row with libmvec's double exp
 * and log1p (REF_VECMATH_F64), compiled per ISA. */
#define MLSM_PLAIN(T, SFX)                                                       \
  REF_CLONES static double mlsm_fwd_plain_##SFX(const T *x, const T *t, int64_t C) { \
    double s = 0;                                                                \
    _Pragma("omp simd reduction(+ : s)")                                         \
    for (int64_t c = 0; c < C; c++) s += mlsm_term(x[c], t[c]);                  \
    return s;                                                                    \
  }                                                                              \
  REF_CLONES static void mlsm_bwd_plain_##SFX(const T *x, const T *t, T *gx, int64_t C, double gc) { \
    _Pragma("omp simd")                                                          \
    for (int64_t c = 0; c < C; c++) gx[c] = (T)(gc * (sigmoid(x[c]) - t[c]));    \
  }
MLSM_PLAIN(float, f32)
MLSM_PLAIN(double, f64)

static double mlsm_fwd(const row_loss *r, int64_t n) {
  double s = 0;
  int64_t o = n * r->C;
  if (!r->w && r->dt == NNRT_F32) s = mlsm_fwd_plain_f32((const float *)r->x + o, (const float *)r->t + o, r->C);
  else if (!r->w) s = mlsm_fwd_plain_f64((const double *)r->x + o, (const double *)r->t + o, r->C);
  else
    for (int64_t c = 0, i = o; c < r->C; c++, i++) s += mlsm_w(r, i) * mlsm_term(ld(r->x, r->dt, i), ld(r->t, r->dt, i));
  return s / (double)r->C;
}

static void mlsm_bwd(const row_loss *r, int64_t n, double g) {
  int64_t o = n * r->C;
  double gc = g / (double)r->C;
  if (!r->w && r->dt == NNRT_F32)
    mlsm_bwd_plain_f32((const float *)r->x + o, (const float *)r->t + o, (float *)r->gx + o, r->C, gc);
  else if (!r->w)
    mlsm_bwd_plain_f64((const double *)r->x + o, (const double *)r->t + o, (double *)r->gx + o, r->C, gc);
  else
    for (int64_t c = 0, i = o; c < r->C; c++, i++) {
      double x = ld(r->x, r->dt, i), t = ld(r->t, r->dt, i);
      st(r->gx, r->dt, i, g * mlsm_w(r, i) * (sigmoid(x) - t) / (double)r->C);
    }
}

static row_loss mlsm_setup(const nnrt_call *call, int off) {
  row_loss r = row_setup(call, off);
  const nnrt_tensor *w = call->inputs[off + 2];
  r.t = call->inputs[off + 1]->data;
  r.w = w ? w->data : NULL;
  r.wn = w && w->numel ? w->numel : 1;
  return r;
}

/* mean or sum without weight: the row sums only add up, so the terms of
 * all rows go through one simd sum per thread (short rows pay no per-row
 * call and horizontal sum). */
static void mlsm_total(const row_loss *r, int reduction, nnrt_tensor *out) {
  int64_t n = r->rows * r->C;
  double acc = 0;
#pragma omp parallel reduction(+ : acc) if (n > REF_OMP_MIN)
  {
    int64_t lo, hi;
    ref_span(n, 16, &lo, &hi);
    if (r->dt == NNRT_F32) acc += mlsm_fwd_plain_f32((const float *)r->x + lo, (const float *)r->t + lo, hi - lo);
    else acc += mlsm_fwd_plain_f64((const double *)r->x + lo, (const double *)r->t + lo, hi - lo);
  }
  acc /= (double)r->C;
  st(out->data, r->dt, 0, reduction == 1 ? acc / (double)r->rows : acc);
}

nnrt_status ref_multilabel_soft_margin_loss(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r = mlsm_setup(call, 0);
  int reduction = NNRT_PARAMS(call, multilabel_soft_margin_loss)->reduction;
  if (!r.w && reduction != 0) mlsm_total(&r, reduction, call->outputs[0]);
  else rows_forward(&r, mlsm_fwd, reduction, call->outputs[0]);
  return NNRT_OK;
}

nnrt_status ref_multilabel_soft_margin_loss_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r = mlsm_setup(call, 1);
  r.gx = call->outputs[0]->data;
  rows_backward(&r, mlsm_bwd, NNRT_PARAMS(call, multilabel_soft_margin_loss_backward)->reduction, call->inputs[0]);
  return NNRT_OK;
}

/* ---- cosine_embedding_loss: (input1, input2, target) ---- */
#define COS_EPS 1e-12

/* cos of row n and the pieces its gradient needs */
static double cos_row(const row_loss *r, int64_t n, double *m1, double *m2) {
  double dot = 0, a = COS_EPS, b = COS_EPS;
  for (int64_t c = 0, i = n * r->C; c < r->C; c++, i++) {
    double u = ld(r->x, r->dt, i), v = ld(r->x2, r->dt, i);
    dot += u * v;
    a += u * u;
    b += v * v;
  }
  *m1 = a;
  *m2 = b;
  return dot / sqrt(a * b);
}

static double cos_fwd(const row_loss *r, int64_t n) {
  double m1, m2, cs = cos_row(r, n, &m1, &m2), t = ld(r->t, r->dt, n);
  return t == 1 ? 1 - cs : t == -1 ? fmax(cs - r->margin, 0) : 0;
}

static void cos_bwd(const row_loss *r, int64_t n, double g) {
  double m1, m2, cs = cos_row(r, n, &m1, &m2), t = ld(r->t, r->dt, n);
  /* d loss / d cos; the clamp's kink counts as active, as in PyTorch */
  double k = t == 1 ? -1 : t == -1 && cs - r->margin >= 0 ? 1 : 0;
  double s = g * k / sqrt(m1 * m2);
  for (int64_t c = 0, i = n * r->C; c < r->C; c++, i++) {
    double u = ld(r->x, r->dt, i), v = ld(r->x2, r->dt, i);
    if (r->gx) st(r->gx, r->dt, i, s * v - g * k * cs * u / m1);
    if (r->gx2) st(r->gx2, r->dt, i, s * u - g * k * cs * v / m2);
  }
}

static row_loss cos_setup(const nnrt_call *call, int off) {
  row_loss r = row_setup(call, off);
  r.x2 = call->inputs[off + 1]->data;
  r.t = call->inputs[off + 2]->data;
  r.margin = NNRT_PARAMS(call, cosine_embedding_loss)->margin;
  return r;
}

nnrt_status ref_cosine_embedding_loss(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r = cos_setup(call, 0);
  rows_forward(&r, cos_fwd, NNRT_PARAMS(call, cosine_embedding_loss)->reduction, call->outputs[0]);
  return NNRT_OK;
}

nnrt_status ref_cosine_embedding_loss_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r = cos_setup(call, 1);
  r.gx = REF_OUT_OPT(call, 0, void);
  r.gx2 = REF_OUT_OPT(call, 1, void);
  rows_backward(&r, cos_bwd, NNRT_PARAMS(call, cosine_embedding_loss_backward)->reduction, call->inputs[0]);
  return NNRT_OK;
}

/* ---- multi_margin_loss: (input, target, weight) ---- */
static double mm_fwd(const row_loss *r, int64_t n) {
  const int64_t y = ((const int64_t *)r->t)[n], base = n * r->C;
  const double xy = ld(r->x, r->dt, base + y), wy = r->w ? ld(r->w, r->dt, y) : 1.0;
  double s = 0;
  for (int64_t j = 0; j < r->C; j++) {
    double z = r->margin - xy + ld(r->x, r->dt, base + j);
    if (j != y && z > 0) s += r->p == 1 ? z : z * z;
  }
  return s * wy / (double)r->C;
}

static void mm_bwd(const row_loss *r, int64_t n, double g) {
  const int64_t y = ((const int64_t *)r->t)[n], base = n * r->C;
  const double xy = ld(r->x, r->dt, base + y), wy = r->w ? ld(r->w, r->dt, y) : 1.0;
  const double s = g * wy / (double)r->C;
  double gy = 0;
  for (int64_t j = 0; j < r->C; j++) {
    double z = r->margin - xy + ld(r->x, r->dt, base + j), d = 0;
    if (j != y && z > 0) d = s * (r->p == 1 ? 1 : 2 * z);
    gy -= d;
    st(r->gx, r->dt, base + j, d);
  }
  st(r->gx, r->dt, base + y, gy);
}

static row_loss mm_setup(const nnrt_call *call, int off) {
  const nnrt_multi_margin_loss_params *p = call->params;
  row_loss r = row_setup(call, off);
  const nnrt_tensor *w = call->inputs[off + 2];
  r.t = call->inputs[off + 1]->data;
  r.w = w ? w->data : NULL;
  r.margin = p->margin;
  r.p = p->p;
  return r;
}

nnrt_status ref_multi_margin_loss(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r = mm_setup(call, 0);
  rows_forward(&r, mm_fwd, NNRT_PARAMS(call, multi_margin_loss)->reduction, call->outputs[0]);
  return NNRT_OK;
}

nnrt_status ref_multi_margin_loss_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r = mm_setup(call, 1);
  r.gx = call->outputs[0]->data;
  rows_backward(&r, mm_bwd, NNRT_PARAMS(call, multi_margin_loss_backward)->reduction, call->inputs[0]);
  return NNRT_OK;
}

/* ---- multilabel_margin_loss: (input, target) ---- */
/* Marks row n's targets in r->flags; returns how many are listed. */
static int64_t mlm_mark(const row_loss *r, int64_t n) {
  const int64_t *t = (const int64_t *)r->t + n * r->C;
  unsigned char *f = r->flags + n * r->C;
  memset(f, 0, (size_t)r->C);
  int64_t k = 0;
  while (k < r->C && t[k] >= 0) f[t[k++]] = 1;
  return k;
}

static double mlm_fwd(const row_loss *r, int64_t n) {
  const int64_t *t = (const int64_t *)r->t + n * r->C, base = n * r->C, k = mlm_mark(r, n);
  const unsigned char *f = r->flags + base;
  double s = 0;
  for (int64_t a = 0; a < k; a++) {
    double xj = ld(r->x, r->dt, base + t[a]);
    for (int64_t i = 0; i < r->C; i++) {
      double z = 1 - xj + ld(r->x, r->dt, base + i);
      if (!f[i] && z > 0) s += z;
    }
  }
  return s / (double)r->C;
}

static void mlm_bwd(const row_loss *r, int64_t n, double g) {
  const int64_t *t = (const int64_t *)r->t + n * r->C, base = n * r->C, k = mlm_mark(r, n);
  const unsigned char *f = r->flags + base;
  const double s = g / (double)r->C;
  for (int64_t i = 0; i < r->C; i++) st(r->gx, r->dt, base + i, 0);
  for (int64_t a = 0; a < k; a++) {
    double xj = ld(r->x, r->dt, base + t[a]), gj = 0;
    for (int64_t i = 0; i < r->C; i++) {
      double z = 1 - xj + ld(r->x, r->dt, base + i);
      if (!f[i] && z > 0) {
        gj -= s;
        st(r->gx, r->dt, base + i, ld(r->gx, r->dt, base + i) + s);
      }
    }
    st(r->gx, r->dt, base + t[a], ld(r->gx, r->dt, base + t[a]) + gj);
  }
}

static nnrt_status mlm_setup(const nnrt_call *call, int off, row_loss *r) {
  *r = row_setup(call, off);
  r->t = call->inputs[off + 1]->data;
  r->flags = malloc((size_t)(r->rows * r->C) + 1);
  return r->flags ? NNRT_OK : NNRT_ERR_OUT_OF_MEMORY;
}

nnrt_status ref_multilabel_margin_loss(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r;
  if (mlm_setup(call, 0, &r)) return NNRT_ERR_OUT_OF_MEMORY;
  rows_forward(&r, mlm_fwd, NNRT_PARAMS(call, multilabel_margin_loss)->reduction, call->outputs[0]);
  free(r.flags);
  return NNRT_OK;
}

nnrt_status ref_multilabel_margin_loss_backward(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  row_loss r;
  if (mlm_setup(call, 1, &r)) return NNRT_ERR_OUT_OF_MEMORY;
  r.gx = call->outputs[0]->data;
  rows_backward(&r, mlm_bwd, NNRT_PARAMS(call, multilabel_margin_loss_backward)->reduction, call->inputs[0]);
  free(r.flags);
  return NNRT_OK;
}
