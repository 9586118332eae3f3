/* tests/test_gradcheck.c - every backward op against central finite
 * differences, on ref in float64, for every case of cases.def whose op has
 * a `<op>_backward`.
 *
 * With R random (the backward's grad_<output>), L(inputs) = sum over the
 * forward's outputs of sum(output * R); each gradient output grad_<name>
 * of the backward must equal dL/d<name> (its forward input).  UPDATE
 * gradients start at zero.  Index inputs are not differentiated.  Elements
 * are sampled (at most SAMPLES per gradient) to keep the test fast; an
 * element where the differences with h and h/2 disagree sits on a kink or
 * jump and is skipped, but more than MAX_SKIP_FRACTION skipped fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "cases.h"

#define SAMPLES 48
#define MAX_SKIP_FRACTION 0.1
#define REL_STEP 1e-5 /* h = REL_STEP * max(1, |x|) */
#define ATOL 1e-6
#define RTOL 1e-5

typedef struct gc_param {
  size_t index; /* of the forward case in cases_list() */
} gc_param;

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(gradcheck, cases) {
  nnrt_case *list;
  size_t n, k = 0;
  if (cases_list(&list, &n)) return cr_make_param_array(gc_param, NULL, 0, NULL);
  gc_param *params = cr_malloc(sizeof *params * (n + 1));
  for (size_t i = 0; i + 1 < n; i++)
    if (!list[i].backward && list[i + 1].backward && list[i + 1].def == list[i].def && !list[i].error[0])
      params[k++].index = i;
  cases_list_free(list);
  return cr_make_param_array(gc_param, params, k, free_params);
}

/* The forward's state while evaluating L. */
typedef struct fwd_state {
  const nnrt_case *c;
  const case_values *v;
  nnrt_tensor **in, **out;
  const double *r[CASE_MAX_ARGS]; /* R per forward output, NULL if none */
} fwd_state;

/* L with input k's host values x (only input k changed since last call). */
static double eval_loss(fwd_state *s, int k, const double *x) {
  cr_assert_eq(case_write_f64(s->in[k], x), NNRT_OK, "%s", nnrt_last_error());
  if (case_inplace(s->c) && k != 0) case_write_f64(s->in[0], s->v->in[0].f);
  for (int o = 0; o < s->v->n_outputs; o++)
    if (s->out[o] && s->v->upd[o].present && !(case_inplace(s->c) && o == 0))
      case_write_f64(s->out[o], s->v->upd[o].f);
  nnrt_status st = nnrt_op_run(s->c->op, &s->c->params, s->in, s->out);
  cr_assert_eq(st, NNRT_OK, "%s: forward failed: %s", s->c->desc, nnrt_last_error());
  double L = 0;
  for (int o = 0; o < s->v->n_outputs; o++) {
    if (!s->r[o]) continue;
    double *y;
    char err[CASE_ERR_LEN];
    cr_assert_eq(case_read_f64(s->out[o], &y, err, sizeof err), 0, "%s", err);
    for (int64_t e = 0; e < nnrt_tensor_numel(s->out[o]); e++) L += y[e] * s->r[o][e];
    free(y);
  }
  return L;
}

static double central(fwd_state *s, int k, double *x, int64_t e, double h) {
  double x0 = x[e];
  x[e] = x0 + h;
  double lp = eval_loss(s, k, x);
  x[e] = x0 - h;
  double lm = eval_loss(s, k, x);
  x[e] = x0;
  return (lp - lm) / (2 * h);
}

ParameterizedTest(gc_param *p, gradcheck, cases) {
  nnrt_case *list;
  size_t n;
  char err[CASE_ERR_LEN];
  cr_assert_eq(cases_list(&list, &n), 0);
  cr_assert(p->index + 1 < n);
  const nnrt_case *fc = &list[p->index], *bc = &list[p->index + 1];
  nnrt_device *ref;
  cr_assert_eq(nnrt_device_get("ref", &ref), NNRT_OK, "%s", nnrt_last_error());

  case_values fv, bv;
  cr_assert_eq(case_generate(fc, NNRT_F64, &fv, err, sizeof err), 0, "%s: %s", fc->desc, err);
  cr_assert_eq(case_generate(bc, NNRT_F64, &bv, err, sizeof err), 0, "%s: %s", bc->desc, err);
  nnrt_tensor *fin[CASE_MAX_ARGS] = {0}, *fout[CASE_MAX_ARGS] = {0};
  nnrt_tensor *bin[CASE_MAX_ARGS] = {0}, *bout[CASE_MAX_ARGS] = {0};
  cr_assert_eq(case_make_inputs(&fv, ref, NNRT_F64, fin, NULL, err, sizeof err), 0, "%s", err);
  cr_assert_eq(case_make_outputs(fc, &fv, ref, NNRT_F64, fin, false, fout, NULL, err, sizeof err), 0, "%s", err);
  cr_assert_eq(case_make_inputs(&bv, ref, NNRT_F64, bin, NULL, err, sizeof err), 0, "%s", err);
  cr_assert_eq(case_make_outputs(bc, &bv, ref, NNRT_F64, bin, false, bout, NULL, err, sizeof err), 0, "%s", err);

  const nnrt_op_signature *fs = nnrt_op_signature_of(fc->op), *bs = nnrt_op_signature_of(bc->op);
  for (int j = 0; j < bs->n_outputs; j++)
    if (bout[j] && (bs->outputs[j].flags & NNRT_ARG_UPDATE)) nnrt_tensor_fill(bout[j], 0.0);
  cr_assert_eq(nnrt_op_run(bc->op, &bc->params, bin, bout), NNRT_OK, "%s: %s", bc->desc, nnrt_last_error());

  fwd_state s = {.c = fc, .v = &fv, .in = fin, .out = fout};
  int n_r = 0;
  for (int o = 0; o < fs->n_outputs; o++) {
    char name[96];
    snprintf(name, sizeof name, "grad_%s", fs->outputs[o].name);
    int k = case_input_index(bc->op, name);
    if (k >= 0 && bv.in[k].present) {
      s.r[o] = bv.in[k].f;
      n_r++;
    }
  }
  cr_assert(n_r > 0, "%s: the backward takes no grad_<output> of the forward", bc->desc);

  int checked_outputs = 0;
  for (int j = 0; j < bs->n_outputs; j++) {
    const char *gname = bs->outputs[j].name;
    if (!bout[j] || strncmp(gname, "grad_", 5)) continue;
    int k = case_input_index(fc->op, gname + 5);
    if (k < 0 || !fv.in[k].present || fv.in[k].index) continue;
    checked_outputs++;
    double *ana;
    cr_assert_eq(case_read_f64(bout[j], &ana, err, sizeof err), 0, "%s", err);
    cr_assert_eq(nnrt_tensor_numel(bout[j]), fv.in[k].numel, "%s: %s has %lld elements, %s has %lld", bc->desc,
                 gname, (long long)nnrt_tensor_numel(bout[j]), gname + 5, (long long)fv.in[k].numel);
    int64_t numel = fv.in[k].numel;
    double *x = malloc(sizeof *x * (size_t)(numel ? numel : 1));
    memcpy(x, fv.in[k].f, sizeof *x * (size_t)numel);
    case_rng rng = case_rng_seed(bc->desc, gname);
    int64_t samples = numel <= SAMPLES ? numel : SAMPLES;
    int skipped = 0, failed = 0;
    for (int64_t t = 0; t < samples; t++) {
      int64_t e = numel <= SAMPLES ? t : (int64_t)(case_rng_next(&rng) % (uint64_t)numel);
      double h = REL_STEP * fmax(1.0, fabs(x[e]));
      double d1 = central(&s, k, x, e, h), d2 = central(&s, k, x, e, h / 2);
      if (fabs(d1 - d2) > ATOL + RTOL * fabs(d2)) {
        skipped++;
        continue;
      }
      double a = ana[e];
      if (!(fabs(a - d2) <= ATOL + RTOL * fmax(fabs(a), fabs(d2)))) {
        if (failed++ < 5)
          cr_expect_fail("%s: %s[%lld] (x=%.17g): analytic %.12g, numeric %.12g (diff %.3g)", bc->desc, gname,
                         (long long)e, x[e], a, d2, fabs(a - d2));
      }
    }
    if (failed > 5) cr_expect_fail("%s: %s: %d of %lld sampled elements differ", bc->desc, gname, failed, (long long)samples);
    cr_expect(skipped <= MAX_SKIP_FRACTION * (double)samples,
              "%s: %s: %d of %lld sampled elements skipped as kinks (finite differences with h and h/2 disagree)",
              bc->desc, gname, skipped, (long long)samples);
    case_write_f64(fin[k], fv.in[k].f);
    free(x);
    free(ana);
  }
  cr_expect(checked_outputs > 0, "%s: no gradient output grad_<input> to check", bc->desc);

  case_free_outputs(fout, fv.n_outputs, fin, fv.n_inputs);
  case_free_tensors(fin, fv.n_inputs);
  case_free_outputs(bout, bv.n_outputs, bin, bv.n_inputs);
  case_free_tensors(bin, bv.n_inputs);
  case_values_free(&fv);
  case_values_free(&bv);
  cases_list_free(list);
}
