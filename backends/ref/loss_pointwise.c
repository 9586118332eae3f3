/* backends/ref/loss_pointwise.c - the elementwise losses, forward and
 * backward, from one table: l1_loss, mse_loss, smooth_l1_loss,
 * soft_margin_loss, kl_div, bce_loss, bce_with_logits, hinge_embedding_loss,
 * margin_ranking_loss (on d = input1 - input2, grad_input2 = -grad_input1).
 *
 * Each element is computed in double whatever the dtype, and reductions
 * accumulate in double (an OpenMP + reduction of per-thread double sums),
 * so a mean over 10^7 float32 elements keeps about 1e-9 relative error.
 * Formulas are PyTorch 1.13's (aten/native/Loss*.cpp, functional.py):
 * bce clamps its logs at -100 and divides its gradient by
 * max(x (1 - x), 1e-12f) (a float epsilon even for float64, as PyTorch);
 * kl_div uses xlogy(t, t) so t = 0 gives 0;
 * hinge/margin gradients take the clamp's kink (z = 0) as active, as
 * PyTorch's clamp_min backward does; smooth_l1 with beta = 0 is l1 except
 * that its gradient at d = 0 is -1 (PyTorch's kernel tests d <= -beta
 * first), where l1_loss gives 0.  Limits: weight and pos_weight are
 * either input-shaped or repeat with the period of the last dim (the rule
 * allows nothing else). */
#include <math.h>
#include <stdbool.h>

#define REF_VECMATH_F64
#include "ref_vecmath.h"

#include "ref.h"
#include "ref_omp.h"

/* What a pointwise kernel reads and writes; unused members are NULL / 1. */
typedef struct pw_args {
  int64_t n;                  /* elements */
  const void *x, *x2, *t;     /* input (input1), input2, target */
  const void *w, *pw;         /* weight, pos_weight: NULL or periodic */
  int64_t wn, pwn;            /* their periods */
  const void *gy;             /* backward: grad_output */
  void *y;                    /* forward: output */
  void *gx, *gx2;             /* backward: grad_input(1), grad_input2 */
  int reduction;              /* 0 none, 1 mean, 2 sum, 3 batchmean */
  double div;                 /* the divisor of mean / batchmean, else 1 */
  double a;                   /* the op's float param (margin, beta, log_target) */
} pw_args;

/* fmax(v, c) for a number c (NaN v gives c, as fmax): a select, which
 * vectorizes where a call of fmax does not. */
static inline double floor_at(double v, double c) { return v > c ? v : c; }
static inline double sgn(double v) { return (double)((v > 0) - (v < 0)); }
static inline double sigmoid(double v) { return 1 / (1 + exp(-v)); }
/* log(1 + exp(v)) without overflow */
static inline double softplus(double v) { return floor_at(v, 0) + log1p(exp(-fabs(v))); }
static inline double xlogx(double v) { return v == 0 ? 0 : v * log(v); }

/* X(name, A, fwd, bwd): A is the op's float param from `p`, its params
 * struct; fwd is one element's loss from x (input, or input1 - input2),
 * t (target), a (= A) and pw (pos_weight, 1 when absent); bwd is
 * d loss / d x.  The driver multiplies by weight, grad_output and 1/div. */
#define POINTWISE_LOSSES(X)                                                      \
  X(l1_loss, 0, fabs(x - t), sgn(x - t))                                         \
  X(mse_loss, 0, (x - t) * (x - t), 2 * (x - t))                                 \
  X(smooth_l1_loss, p->beta,                                                     \
    (fabs(x - t) < a ? 0.5 * (x - t) * (x - t) / a : fabs(x - t) - 0.5 * a),     \
    (x - t <= -a ? -1.0 : x - t >= a ? 1.0 : (x - t) / a))                       \
  X(soft_margin_loss, 0, softplus(-t * x), -t * sigmoid(-t * x))                 \
  X(kl_div, p->log_target, (a != 0 ? exp(t) * (t - x) : xlogx(t) - t * x),       \
    (a != 0 ? -exp(t) : -t))                                                     \
  X(bce_loss, 0, -(t * floor_at(log(x), -100.0) + (1 - t) * floor_at(log1p(-x), -100.0)), \
    (x - t) / floor_at((1 - x) * x, (double)1e-12f))                                  \
  X(bce_with_logits, 0, (1 - t) * x + ((pw - 1) * t + 1) * softplus(-x),         \
    ((pw - 1) * t + 1) * sigmoid(x) - pw * t)                                    \
  X(hinge_embedding_loss, p->margin,                                             \
    (t != 1 ? floor_at(a - x, 0) : 0) + (t != -1 ? x : 0),                           \
    (t != 1 && a - x >= 0 ? -1.0 : 0.0) + (t != -1 ? 1.0 : 0.0))                 \
  X(margin_ranking_loss, p->margin, floor_at(-t * x + a, 0), (-t * x + a >= 0 ? -t : 0))

/* One loss, one element type: per thread, the span of elements goes
 * through `omp simd` loops compiled per ISA (REF_CLONES; libmvec's double
 * log, log1p and exp, ref_vecmath.h).  Without weight and pos_weight
 * straight; with them in chunks of PW_CHUNK, their values for the chunk
 * first laid out in wb and pwb (a period can be as short as the last
 * dim).  The per-thread double sums are added by OpenMP. */
#define PW_CHUNK 256

/* An `omp simd` loop (PRAGMA: its clauses) over [lo, hi) with x = XV and
 * t = Tg[i], BODY per element. */
#define PW_SIMD_(PRAGMA, BODY, XV)                                               \
  {                                                                              \
    _Pragma(PRAGMA)                                                              \
    for (int64_t i = lo; i < hi; i++) {                                          \
      double x = XV, t = Tg[i];                                                  \
      (void)x, (void)t;                                                          \
      BODY;                                                                      \
    }                                                                            \
  }

/* The chunk [lo, return value) of [lo, to), at most PW_CHUNK elements;
 * wb, pwb get their weights and pos_weights (1 where absent), the
 * periods walked by a wrapping index. */
#define PW_CHUNK_FN(TY, SFX)                                                     \
  static int64_t pw_chunk_##SFX(const pw_args *g, int64_t lo, int64_t to, double *wb, double *pwb) { \
    const TY *W = g->w, *PW = g->pw;                                             \
    int64_t len = to - lo < PW_CHUNK ? to - lo : PW_CHUNK, iw = lo % g->wn, ip = lo % g->pwn; \
    for (int64_t k = 0; k < len; k++) {                                          \
      wb[k] = W ? (double)W[iw] : 1.0;                                           \
      pwb[k] = PW ? (double)PW[ip] : 1.0;                                        \
      iw = iw + 1 == g->wn ? 0 : iw + 1;                                         \
      ip = ip + 1 == g->pwn ? 0 : ip + 1;                                        \
    }                                                                            \
    return lo + len;                                                             \
  }
PW_CHUNK_FN(float, f32)
PW_CHUNK_FN(double, f64)

#define PW_LOOPS(name, A, fwd, bwd, TY, SFX)                                     \
  REF_CLONES static double name##_fwd_plain_##SFX(const pw_args *g, int64_t lo, int64_t hi) { \
    const TY *X = g->x, *X2 = g->x2, *Tg = g->t;                                 \
    TY *Y = g->y;                                                                \
    const double a = g->a, pw = 1.0;                                             \
    double acc = 0;                                                              \
    (void)a, (void)pw;                                                           \
    if (X2 && g->reduction == 0) PW_SIMD_("omp simd", Y[i] = (TY)(fwd), (double)X[i] - (double)X2[i]) \
    else if (X2) PW_SIMD_("omp simd reduction(+ : acc)", acc += (fwd), (double)X[i] - (double)X2[i])                 \
    else if (g->reduction == 0) PW_SIMD_("omp simd", Y[i] = (TY)(fwd), (double)X[i])         \
    else PW_SIMD_("omp simd reduction(+ : acc)", acc += (fwd), (double)X[i])                                         \
    return acc;                                                                  \
  }                                                                              \
  REF_CLONES static double name##_fwd_any_##SFX(const pw_args *g, int64_t from, int64_t to) { \
    const TY *X = g->x, *Tg = g->t;                                              \
    TY *Y = g->y;                                                                \
    const double a = g->a;                                                       \
    double acc = 0, wb[PW_CHUNK], pwb[PW_CHUNK];                                 \
    (void)a;                                                                     \
    for (int64_t lo = from, hi; lo < to; lo = hi) {                              \
      hi = pw_chunk_##SFX(g, lo, to, wb, pwb);                                   \
      if (g->reduction == 0)                                                     \
        PW_SIMD_("omp simd", double pw = pwb[i - lo]; (void)pw; Y[i] = (TY)((fwd) * wb[i - lo]), (double)X[i]) \
      else PW_SIMD_("omp simd reduction(+ : acc)", double pw = pwb[i - lo]; (void)pw; acc += (fwd) * wb[i - lo], \
                    (double)X[i])                                                \
    }                                                                            \
    return acc;                                                                  \
  }                                                                              \
  static void name##_fwd_##SFX(const pw_args *g) {                               \
    double acc = 0;                                                              \
    bool plain = (!g->w && !g->pw) || g->x2; /* input2: margin_ranking, no weight */ \
    _Pragma("omp parallel reduction(+ : acc) if (g->n > REF_OMP_MIN)")           \
    {                                                                            \
      int64_t lo, hi;                                                            \
      ref_span(g->n, 16, &lo, &hi);                                              \
      acc += plain ? name##_fwd_plain_##SFX(g, lo, hi) : name##_fwd_any_##SFX(g, lo, hi); \
    }                                                                            \
    if (g->reduction != 0) ((TY *)g->y)[0] = (TY)(acc / g->div);                 \
  }                                                                              \
  REF_CLONES static void name##_bwd_plain_##SFX(const pw_args *g, int64_t lo, int64_t hi) { \
    const TY *X = g->x, *X2 = g->x2, *Tg = g->t, *GY = g->gy;                    \
    TY *GX = g->gx, *GX2 = g->gx2;                                               \
    const double a = g->a, pw = 1.0, gs = g->reduction == 0 ? 0 : GY[0] / g->div; \
    (void)a, (void)pw;                                                           \
    if (X2) { /* margin_ranking_loss: both gradients, either may be absent */   \
      if (g->reduction == 0)                                                     \
        PW_SIMD_("omp simd", double d = (bwd) * (double)GY[i]; if (GX) GX[i] = (TY)d; if (GX2) GX2[i] = (TY)-d, \
                 (double)X[i] - (double)X2[i])                                   \
      else PW_SIMD_("omp simd", double d = (bwd) * gs; if (GX) GX[i] = (TY)d; if (GX2) GX2[i] = (TY)-d, \
                    (double)X[i] - (double)X2[i])                                \
    } else if (!GX) {                                                            \
    } else if (g->reduction == 0) PW_SIMD_("omp simd", GX[i] = (TY)((bwd) * (double)GY[i]), (double)X[i]) \
    else PW_SIMD_("omp simd", GX[i] = (TY)((bwd) * gs), (double)X[i])                        \
  }                                                                              \
  REF_CLONES static void name##_bwd_any_##SFX(const pw_args *g, int64_t from, int64_t to) { \
    const TY *X = g->x, *Tg = g->t, *GY = g->gy;                                 \
    TY *GX = g->gx;                                                              \
    const double a = g->a, gs = g->reduction == 0 ? 0 : GY[0] / g->div;          \
    double wb[PW_CHUNK], pwb[PW_CHUNK];                                          \
    (void)a;                                                                     \
    for (int64_t lo = from, hi; GX && lo < to; lo = hi) {                        \
      hi = pw_chunk_##SFX(g, lo, to, wb, pwb);                                   \
      if (g->reduction == 0)                                                     \
        PW_SIMD_("omp simd", double pw = pwb[i - lo]; (void)pw;                  \
                 GX[i] = (TY)((bwd) * (double)GY[i] * wb[i - lo]), (double)X[i]) \
      else PW_SIMD_("omp simd", double pw = pwb[i - lo]; (void)pw; GX[i] = (TY)((bwd) * gs * wb[i - lo]), \
                    (double)X[i])                                                \
    }                                                                            \
  }                                                                              \
  static void name##_bwd_##SFX(const pw_args *g) {                               \
    bool plain = (!g->w && !g->pw) || g->x2; /* input2: margin_ranking, no weight */ \
    _Pragma("omp parallel if (g->n > REF_OMP_MIN)")                              \
    {                                                                            \
      int64_t lo, hi;                                                            \
      ref_span(g->n, 16, &lo, &hi);                                              \
      if (plain) name##_bwd_plain_##SFX(g, lo, hi);                              \
      else name##_bwd_any_##SFX(g, lo, hi);                                      \
    }                                                                            \
  }

/* The input of a call named `name`, NULL where absent. */
static const nnrt_tensor *named_in(const nnrt_call *call, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(call->op);
  for (int i = 0; i < s->n_inputs; i++)
    if (!strcmp(s->inputs[i].name, name)) return call->inputs[i];
  return NULL;
}

/* Fills everything but y, gy, gx, gx2 from the call's named inputs. */
static pw_args pw_setup(const nnrt_call *call, int reduction, double a) {
  const nnrt_tensor *x = named_in(call, "input"), *w = named_in(call, "weight"), *pw = named_in(call, "pos_weight");
  const nnrt_tensor *x2 = named_in(call, "input2");
  if (!x) x = named_in(call, "input1");
  pw_args g = {.n = x->numel, .x = x->data, .x2 = x2 ? x2->data : NULL, .t = named_in(call, "target")->data,
               .w = w ? w->data : NULL, .pw = pw ? pw->data : NULL, .wn = w && w->numel ? w->numel : 1,
               .pwn = pw && pw->numel ? pw->numel : 1, .reduction = reduction, .div = 1, .a = a};
  if (reduction == 1) g.div = (double)x->numel;
  if (reduction == 3) g.div = x->ndim ? (double)x->shape[0] : 1.0;
  return g;
}

#define PW_KERNELS(name, A, fwd, bwd)                                            \
  PW_LOOPS(name, A, fwd, bwd, float, f32)                                        \
  PW_LOOPS(name, A, fwd, bwd, double, f64)                                       \
  nnrt_status ref_##name(nnrt_device *dev, const nnrt_call *call) {              \
    (void)dev;                                                                   \
    const nnrt_##name##_params *p = call->params;                                \
    pw_args g = pw_setup(call, p->reduction, (double)(A));                       \
    g.y = call->outputs[0]->data;                                                \
    REF_DISPATCH(call, name##_fwd, &g);                                          \
    return NNRT_OK;                                                              \
  }                                                                              \
  nnrt_status ref_##name##_backward(nnrt_device *dev, const nnrt_call *call) {   \
    (void)dev;                                                                   \
    const nnrt_##name##_backward_params *p = call->params;                       \
    pw_args g = pw_setup(call, p->reduction, (double)(A));                       \
    g.gy = call->inputs[0]->data;                                                \
    g.gx = REF_OUT_OPT(call, 0, void);                                           \
    g.gx2 = call->n_outputs > 1 ? REF_OUT_OPT(call, 1, void) : NULL;             \
    REF_DISPATCH(call, name##_bwd, &g);                                          \
    return NNRT_OK;                                                              \
  }

POINTWISE_LOSSES(PW_KERNELS)
