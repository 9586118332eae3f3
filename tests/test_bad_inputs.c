/* tests/test_bad_inputs.c - every op refuses bad calls cleanly: an error
 * status, a message naming the op, and every tensor left byte-identical.
 *
 * Generic part, for each op of cases.def (forward and derived backward,
 * its first case): a required input or output NULL, an input of the other
 * float dtype, i64 where a float is expected (and float where an index is),
 * an output of the wrong shape, an output aliasing an input or another
 * output.  Specific part: param and value checks named in the op table.
 * Also: every line of cases.def parses and generates.  Runs on ref, f32.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "cases.h"

#define MAX_SNAP (2 * CASE_MAX_ARGS + 2)

/* Raw bytes of a set of tensors, to prove a failed call wrote nothing. */
typedef struct snapshot {
  int n;
  const nnrt_tensor *t[MAX_SNAP];
  unsigned char *bytes[MAX_SNAP];
  size_t len[MAX_SNAP];
} snapshot;

static size_t tensor_bytes(const nnrt_tensor *t) {
  return (size_t)nnrt_tensor_numel(t) * nnrt_dtype_size(nnrt_tensor_dtype(t));
}

static void snap_add(snapshot *s, const nnrt_tensor *t) {
  if (!t) return;
  for (int i = 0; i < s->n; i++)
    if (s->t[i] == t) return;
  cr_assert(s->n < MAX_SNAP);
  size_t len = tensor_bytes(t);
  s->t[s->n] = t;
  s->len[s->n] = len;
  s->bytes[s->n] = malloc(len ? len : 1);
  cr_assert_eq(nnrt_tensor_read(t, s->bytes[s->n], len), NNRT_OK, "%s", nnrt_last_error());
  s->n++;
}

/* Compares and frees; names the first changed tensor. */
static void snap_check(snapshot *s, const char *what) {
  for (int i = 0; i < s->n; i++) {
    unsigned char *now = malloc(s->len[i] ? s->len[i] : 1);
    cr_assert_eq(nnrt_tensor_read(s->t[i], now, s->len[i]), NNRT_OK, "%s", nnrt_last_error());
    cr_expect(!memcmp(now, s->bytes[i], s->len[i]), "%s: a tensor (#%d of the call) was written by the failed call", what, i);
    free(now);
    free(s->bytes[i]);
  }
  s->n = 0;
}

/* Runs op on ins/outs, expecting refusal, a message naming op_name (and
 * containing must, when given), and no tensor changed. */
static void expect_refused(nnrt_op op, const void *params, nnrt_tensor *const *ins, int n_in,
                           nnrt_tensor *const *outs, int n_out, const char *must, const char *what) {
  snapshot s = {0};
  for (int i = 0; i < n_in; i++) snap_add(&s, ins[i]);
  for (int i = 0; i < n_out; i++) snap_add(&s, outs[i]);
  nnrt_status st = nnrt_op_run(op, params, ins, outs);
  const char *msg = nnrt_last_error();
  const char *name = nnrt_op_name(op);
  cr_expect_neq(st, NNRT_OK, "%s: accepted", what);
  if (st != NNRT_OK) {
    cr_expect(msg && msg[0], "%s: refused (%s) with an empty nnrt_last_error", what, nnrt_status_str(st));
    cr_expect(msg && strstr(msg, name), "%s: message does not name %s: \"%s\"", what, name, msg);
    if (must) cr_expect(msg && strstr(msg, must), "%s: message lacks \"%s\": \"%s\"", what, must, msg);
  }
  snap_check(&s, what);
}

/* ---- cases.def itself ---- */
Test(cases, every_line_parses_and_generates) {
  nnrt_case *list;
  size_t n;
  cr_assert_eq(cases_list(&list, &n), 0);
  cr_expect(n > 0, "cases.def has no case");
  for (size_t i = 0; i < n; i++) {
    char err[CASE_ERR_LEN];
    case_values v;
    cr_expect(!list[i].error[0], "cases.def line %zu (%s): %s", list[i].def_index + 1, list[i].desc, list[i].error);
    if (list[i].error[0]) continue;
    cr_expect_eq(case_generate(&list[i], NNRT_F32, &v, err, sizeof err), 0, "%s: %s", list[i].desc, err);
    case_values_free(&v);
  }
  cases_list_free(list);
}

Test(cases, descriptors_select_exactly_their_case) {
  nnrt_case *list;
  size_t n;
  cr_assert_eq(cases_list(&list, &n), 0);
  for (size_t i = 0; i < n; i++) {
    size_t hits = 0;
    for (size_t j = 0; j < n; j++) hits += !strcmp(list[j].desc, list[i].desc);
    cr_expect_eq(hits, 1, "descriptor '%s' names %zu cases (make the lines differ)", list[i].desc, hits);
    cr_expect(case_matches(&list[i], list[i].desc), "%s does not select itself", list[i].desc);
  }
  cases_list_free(list);
}

/* ---- generic checks, one parameterized test per op ---- */
typedef struct op_param {
  size_t index; /* the op's first case in cases_list() */
} op_param;

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(bad_inputs, generic) {
  nnrt_case *list;
  size_t n, k = 0;
  if (cases_list(&list, &n)) return cr_make_param_array(op_param, NULL, 0, NULL);
  op_param *params = cr_malloc(sizeof *params * (n + 1));
  bool seen[NNRT_OP_COUNT] = {0};
  for (size_t i = 0; i < n; i++) {
    if (list[i].error[0] || seen[list[i].op]) continue;
    seen[list[i].op] = true;
    params[k++].index = i;
  }
  cases_list_free(list);
  return cr_make_param_array(op_param, params, k, free_params);
}

/* Fills every output with a byte pattern (UPDATE ones too). */
static void pattern_fill(nnrt_tensor *t) {
  size_t len = tensor_bytes(t);
  unsigned char *b = malloc(len ? len : 1);
  memset(b, 0xa5, len);
  cr_assert_eq(nnrt_tensor_write(t, b, len), NNRT_OK, "%s", nnrt_last_error());
  free(b);
}

/* A tensor like t (shape) with dtype dt, filled with small values. */
static nnrt_tensor *like(nnrt_device *dev, const nnrt_tensor *t, nnrt_dtype dt) {
  nnrt_tensor *r;
  cr_assert_eq(nnrt_tensor_new(dev, dt, nnrt_tensor_ndim(t), nnrt_tensor_shape(t), &r), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_fill(r, 1.0), NNRT_OK, "%s", nnrt_last_error());
  return r;
}

static bool same_shape(const nnrt_tensor *a, const nnrt_tensor *b) {
  if (nnrt_tensor_ndim(a) != nnrt_tensor_ndim(b)) return false;
  return !memcmp(nnrt_tensor_shape(a), nnrt_tensor_shape(b), sizeof(int64_t) * (size_t)nnrt_tensor_ndim(a));
}

ParameterizedTest(op_param *p, bad_inputs, generic) {
  nnrt_case *list;
  size_t n;
  char err[CASE_ERR_LEN], what[CASE_DESC_LEN + 128];
  cr_assert_eq(cases_list(&list, &n), 0);
  const nnrt_case *c = &list[p->index];
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  nnrt_device *ref;
  cr_assert_eq(nnrt_device_get("ref", &ref), NNRT_OK, "%s", nnrt_last_error());
  case_values v;
  cr_assert_eq(case_generate(c, NNRT_F32, &v, err, sizeof err), 0, "%s: %s", c->desc, err);
  nnrt_tensor *in[CASE_MAX_ARGS] = {0}, *out[CASE_MAX_ARGS] = {0};
  nnrt_tensor *ins[CASE_MAX_ARGS], *outs[CASE_MAX_ARGS];
  cr_assert_eq(case_make_inputs(&v, ref, NNRT_F32, in, NULL, err, sizeof err), 0, "%s", err);
  cr_assert_eq(case_make_outputs(c, &v, ref, NNRT_F32, in, false, out, NULL, err, sizeof err), 0, "%s", err);
  bool inplace = case_inplace(c);
  for (int j = 0; j < s->n_outputs; j++)
    if (out[j] && !(inplace && j == 0)) pattern_fill(out[j]);
#define RESET() (memcpy(ins, in, sizeof ins), memcpy(outs, out, sizeof outs))
#define WHAT(...) (snprintf(what, sizeof what, __VA_ARGS__), what)

  /* the unchanged call must work, or the checks below prove nothing */
  {
    snapshot keep = {0};
    for (int j = 0; j < s->n_outputs; j++) snap_add(&keep, out[j]);
    cr_assert_eq(nnrt_op_run(c->op, &c->params, in, out), NNRT_OK, "%s: the valid call fails: %s", c->desc,
                 nnrt_last_error());
    /* restore the pattern the checks compare against */
    for (int i = 0; i < keep.n; i++) {
      cr_assert_eq(nnrt_tensor_write((nnrt_tensor *)keep.t[i], keep.bytes[i], keep.len[i]), NNRT_OK);
      free(keep.bytes[i]);
    }
  }

  for (int i = 0; i < s->n_inputs; i++) {
    if (!in[i]) continue;
    const char *iname = s->inputs[i].name;
    if (!(s->inputs[i].flags & NNRT_ARG_OPTIONAL)) {
      RESET();
      ins[i] = NULL;
      expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, iname,
                     WHAT("%s: input '%s' NULL", c->desc, iname));
    }
    if (s->inputs[i].flags & NNRT_ARG_INDEX) {
      RESET();
      ins[i] = like(ref, in[i], NNRT_F32);
      expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, iname,
                     WHAT("%s: index input '%s' as f32", c->desc, iname));
      nnrt_tensor_free(ins[i]);
      continue;
    }
    RESET();
    ins[i] = like(ref, in[i], NNRT_F64);
    expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, NULL,
                   WHAT("%s: input '%s' f64 among f32", c->desc, iname));
    nnrt_tensor_free(ins[i]);
    RESET();
    ins[i] = like(ref, in[i], NNRT_I64);
    expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, iname,
                   WHAT("%s: input '%s' i64 where a float is expected", c->desc, iname));
    nnrt_tensor_free(ins[i]);
  }

  for (int j = 0; j < s->n_outputs; j++) {
    const char *oname = s->outputs[j].name;
    if (!out[j] || (inplace && j == 0)) continue;
    if (!(s->outputs[j].flags & NNRT_ARG_OPTIONAL)) {
      RESET();
      outs[j] = NULL;
      expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, oname,
                     WHAT("%s: output '%s' NULL", c->desc, oname));
    }
    RESET();
    int64_t wrong = nnrt_tensor_numel(out[j]) + 1;
    cr_assert_eq(nnrt_tensor_new(ref, nnrt_tensor_dtype(out[j]), 1, &wrong, &outs[j]), NNRT_OK);
    pattern_fill(outs[j]);
    expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, oname,
                   WHAT("%s: output '%s' of shape [%lld]", c->desc, oname, (long long)wrong));
    nnrt_tensor_free(outs[j]);
    if (nnrt_tensor_dtype(out[j]) != NNRT_I64) {
      RESET();
      outs[j] = like(ref, out[j], NNRT_F64);
      expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, oname,
                     WHAT("%s: output '%s' f64 with f32 inputs", c->desc, oname));
      nnrt_tensor_free(outs[j]);
    }
    for (int i = 0; i < s->n_inputs; i++) {
      if (!in[i] || (inplace && i == 0 && j == 0) || nnrt_tensor_dtype(in[i]) != nnrt_tensor_dtype(out[j]) ||
          !same_shape(in[i], out[j]))
        continue;
      RESET();
      outs[j] = in[i];
      expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, oname,
                     WHAT("%s: output '%s' aliasing input '%s'", c->desc, oname, s->inputs[i].name));
    }
    for (int k = 0; k < j; k++) {
      if (!out[k] || nnrt_tensor_dtype(out[k]) != nnrt_tensor_dtype(out[j]) || !same_shape(out[k], out[j])) continue;
      RESET();
      outs[j] = out[k];
      expect_refused(c->op, &c->params, ins, s->n_inputs, outs, s->n_outputs, oname,
                     WHAT("%s: outputs '%s' and '%s' aliasing", c->desc, s->outputs[k].name, oname));
    }
  }
#undef RESET
#undef WHAT
  case_free_outputs(out, v.n_outputs, in, v.n_inputs);
  case_free_tensors(in, v.n_inputs);
  case_values_free(&v);
  cases_list_free(list);
}

/* ---- specific param and value checks ---- */
static nnrt_device *ref_dev(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

/* A tensor of the given shape (ndim values after dt), filled with fill. */
static nnrt_tensor *mk(nnrt_dtype dt, double fill, int ndim, ...) {
  int64_t shape[NNRT_MAX_DIMS];
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int);
  va_end(ap);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref_dev(), dt, ndim, shape, &t), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_fill(t, fill), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

static void set(nnrt_op op, void *params, const char *assignment) {
  cr_assert_eq(nnrt_params_set(op, params, assignment), NNRT_OK, "%s", nnrt_last_error());
}

Test(bad_params, softmax_dim_out_of_range) {
  nnrt_softmax_params p;
  nnrt_params_init(NNRT_OP_softmax, &p);
  set(NNRT_OP_softmax, &p, "dim=2");
  nnrt_tensor *x = mk(NNRT_F32, 1, 2, 4, 5), *y = mk(NNRT_F32, 7, 2, 4, 5);
  expect_refused(NNRT_OP_softmax, &p, &x, 1, &y, 1, "dim=2", "softmax dim=2 on a 2-d input");
  set(NNRT_OP_softmax, &p, "dim=-3");
  expect_refused(NNRT_OP_softmax, &p, &x, 1, &y, 1, "dim=-3", "softmax dim=-3 on a 2-d input");
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}

Test(bad_params, hardtanh_min_above_max) {
  nnrt_hardtanh_params p;
  nnrt_params_init(NNRT_OP_hardtanh, &p);
  set(NNRT_OP_hardtanh, &p, "min_val=1");
  set(NNRT_OP_hardtanh, &p, "max_val=0");
  nnrt_tensor *x = mk(NNRT_F32, 0.5, 1, 6), *y = mk(NNRT_F32, 7, 1, 6);
  expect_refused(NNRT_OP_hardtanh, &p, &x, 1, &y, 1, "min_val", "hardtanh min_val=1 max_val=0");
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}

Test(bad_params, cross_entropy_target_out_of_range) {
  nnrt_tensor *x = mk(NNRT_F32, 0.1, 2, 3, 5), *t = mk(NNRT_I64, 0, 1, 3), *y = mk(NNRT_F32, 7, 0);
  int64_t tv[3] = {0, 7, 1};
  cr_assert_eq(nnrt_tensor_write(t, tv, sizeof tv), NNRT_OK);
  nnrt_tensor *ins[3] = {x, t, NULL};
  expect_refused(NNRT_OP_cross_entropy, NULL, ins, 3, &y, 1, "target[1]=7", "cross_entropy with target 7 of 5 classes");
  tv[1] = -1;
  cr_assert_eq(nnrt_tensor_write(t, tv, sizeof tv), NNRT_OK);
  expect_refused(NNRT_OP_cross_entropy, NULL, ins, 3, &y, 1, "target[1]=-1", "cross_entropy with target -1");
  nnrt_tensor_free(x);
  nnrt_tensor_free(t);
  nnrt_tensor_free(y);
}

Test(bad_params, cross_entropy_label_smoothing_above_one) {
  nnrt_cross_entropy_params p;
  nnrt_params_init(NNRT_OP_cross_entropy, &p);
  set(NNRT_OP_cross_entropy, &p, "label_smoothing=1.5");
  nnrt_tensor *x = mk(NNRT_F32, 0.1, 2, 3, 5), *t = mk(NNRT_I64, 1, 1, 3), *y = mk(NNRT_F32, 7, 0);
  nnrt_tensor *ins[3] = {x, t, NULL};
  expect_refused(NNRT_OP_cross_entropy, &p, ins, 3, &y, 1, "label_smoothing", "cross_entropy label_smoothing=1.5");
  nnrt_tensor *gy = mk(NNRT_F32, 1, 0), *gx = mk(NNRT_F32, 7, 2, 3, 5);
  nnrt_cross_entropy_backward_params bp;
  nnrt_params_init(NNRT_OP_cross_entropy_backward, &bp);
  set(NNRT_OP_cross_entropy_backward, &bp, "label_smoothing=1.5");
  nnrt_tensor *bins[4] = {gy, x, t, NULL};
  expect_refused(NNRT_OP_cross_entropy_backward, &bp, bins, 4, &gx, 1, "label_smoothing",
                 "cross_entropy_backward label_smoothing=1.5");
  nnrt_tensor_free(x);
  nnrt_tensor_free(t);
  nnrt_tensor_free(y);
  nnrt_tensor_free(gy);
  nnrt_tensor_free(gx);
}

Test(bad_params, linear_weight_of_wrong_shape) {
  nnrt_tensor *x = mk(NNRT_F32, 1, 2, 4, 6), *y = mk(NNRT_F32, 7, 2, 4, 5);
  nnrt_tensor *w = mk(NNRT_F32, 1, 2, 5, 7); /* in_features 7, input has 6 */
  nnrt_tensor *ins[3] = {x, w, NULL};
  expect_refused(NNRT_OP_linear, NULL, ins, 3, &y, 1, "weight", "linear weight [5,7] for input [4,6]");
  nnrt_tensor *w3 = mk(NNRT_F32, 1, 3, 5, 6, 1);
  ins[1] = w3;
  expect_refused(NNRT_OP_linear, NULL, ins, 3, &y, 1, "weight", "linear 3-d weight");
  nnrt_tensor *w_ok = mk(NNRT_F32, 1, 2, 5, 6), *b = mk(NNRT_F32, 1, 1, 4);
  nnrt_tensor *ins2[3] = {x, w_ok, b};
  expect_refused(NNRT_OP_linear, NULL, ins2, 3, &y, 1, "bias", "linear bias [4] for 5 outputs");
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnrt_tensor_free(w);
  nnrt_tensor_free(w3);
  nnrt_tensor_free(w_ok);
  nnrt_tensor_free(b);
}

Test(bad_params, prelu_weight_of_wrong_size) {
  nnrt_tensor *x = mk(NNRT_F32, 1, 3, 2, 3, 4), *y = mk(NNRT_F32, 7, 3, 2, 3, 4);
  nnrt_tensor *w = mk(NNRT_F32, 0.25, 1, 2); /* 2 weights, 3 channels */
  nnrt_tensor *ins[2] = {x, w};
  expect_refused(NNRT_OP_prelu, NULL, ins, 2, &y, 1, "weight", "prelu 2 weights for 3 channels");
  nnrt_tensor *gx = mk(NNRT_F32, 7, 3, 2, 3, 4), *gw = mk(NNRT_F32, 7, 1, 2);
  nnrt_tensor *bins[3] = {y, x, w}, *bouts[2] = {gx, gw};
  expect_refused(NNRT_OP_prelu_backward, NULL, bins, 3, bouts, 2, "weight", "prelu_backward 2 weights for 3 channels");
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnrt_tensor_free(w);
  nnrt_tensor_free(gx);
  nnrt_tensor_free(gw);
}

Test(bad_params, sgd_negative_lr_and_nesterov_without_momentum) {
  nnrt_tensor *g = mk(NNRT_F32, 1, 1, 5), *w = mk(NNRT_F32, 2, 1, 5), *buf = mk(NNRT_F32, 3, 1, 5);
  nnrt_tensor *outs[2] = {w, buf};
  nnrt_sgd_step_params p;
  nnrt_params_init(NNRT_OP_sgd_step, &p);
  set(NNRT_OP_sgd_step, &p, "lr=-0.1");
  expect_refused(NNRT_OP_sgd_step, &p, &g, 1, outs, 2, "lr", "sgd_step lr=-0.1");
  nnrt_params_init(NNRT_OP_sgd_step, &p);
  set(NNRT_OP_sgd_step, &p, "nesterov=true");
  expect_refused(NNRT_OP_sgd_step, &p, &g, 1, outs, 2, "nesterov", "sgd_step nesterov without momentum");
  set(NNRT_OP_sgd_step, &p, "momentum=0.9");
  set(NNRT_OP_sgd_step, &p, "dampening=0.5");
  expect_refused(NNRT_OP_sgd_step, &p, &g, 1, outs, 2, "nesterov", "sgd_step nesterov with dampening");
  nnrt_params_init(NNRT_OP_sgd_step, &p);
  set(NNRT_OP_sgd_step, &p, "momentum=0.9");
  nnrt_tensor *no_buf[2] = {w, NULL};
  expect_refused(NNRT_OP_sgd_step, &p, &g, 1, no_buf, 2, "momentum_buffer", "sgd_step momentum without a buffer");
  nnrt_tensor_free(g);
  nnrt_tensor_free(w);
  nnrt_tensor_free(buf);
}

Test(bad_params, unknown_param_and_bad_values) {
  nnrt_elu_params p;
  nnrt_params_init(NNRT_OP_elu, &p);
  cr_expect_neq(nnrt_params_set(NNRT_OP_elu, &p, "beta=1"), NNRT_OK);
  cr_expect(strstr(nnrt_last_error(), "elu") && strstr(nnrt_last_error(), "beta"), "%s", nnrt_last_error());
  cr_expect_neq(nnrt_params_set(NNRT_OP_elu, &p, "alpha=x"), NNRT_OK);
  cr_expect(strstr(nnrt_last_error(), "alpha"), "%s", nnrt_last_error());
  nnrt_cross_entropy_params cp;
  nnrt_params_init(NNRT_OP_cross_entropy, &cp);
  cr_expect_neq(nnrt_params_set(NNRT_OP_cross_entropy, &cp, "reduction=avg"), NNRT_OK);
  cr_expect(strstr(nnrt_last_error(), "none|mean|sum"), "%s", nnrt_last_error());
}
