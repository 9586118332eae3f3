/* tests/test_rnn.c - the recurrent modules, packed sequences and
 * clip_grad_norm against PyTorch 1.13, on ref.
 *
 *  - modules: RNN, LSTM, GRU (padded, batch-first, packed, unbatched) and
 *    the cells run through the module API on the inputs and weights of
 *    golden cases of tests/golden/manifest.txt (from tools/golden/
 *    rnn_golden.py), loading the flat weights into the named parameters in
 *    order; every output and gradient, h0/c0 and each parameter's included.
 *  - parameter names and shapes equal PyTorch's (lists printed by PyTorch).
 *  - packing through nnrt_packed_sequence_from_padded and back (the op
 *    itself is in test_golden's manifest) from
 *    tests/golden/rnn_extra.pack.*.npy.
 *  - bad inputs: a clear error naming the op and values, nothing written.
 *  - clip_grad_norm (p = 2, 1.5, inf, non-finite) against a float64
 *    computation done here.
 * The ops themselves are checked by test_golden, test_gradcheck,
 * test_bad_inputs and nnrt-check through their cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <nnrt/nnrt.h>

#include "npy.h"

#define GOLDEN NNRT_SOURCE_DIR "/tests/golden"
#define MAX_FILES 24

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

/* ---- golden cases: the files of a manifest line ---- */
typedef struct gcase {
  int n;
  char kind[MAX_FILES][4]; /* "in", "out", "upd" */
  char name[MAX_FILES][48];
  char file[MAX_FILES][160];
} gcase;

static gcase find_case(const char *id) {
  gcase c = {0};
  FILE *f = fopen(GOLDEN "/manifest.txt", "r");
  cr_assert(f, "cannot open %s/manifest.txt", GOLDEN);
  static char line[16384];
  size_t idl = strlen(id);
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    if (strncmp(line, id, idl) || line[idl] != ' ') continue;
    found = true;
    for (char *save = NULL, *tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
      char *colon = strchr(tok, ':'), *eq = strchr(tok, '=');
      if (!colon || !eq || eq < colon) continue;
      size_t kl = (size_t)(colon - tok);
      if (kl >= 4 || c.n >= MAX_FILES) continue;
      memcpy(c.kind[c.n], tok, kl);
      c.kind[c.n][kl] = 0;
      snprintf(c.name[c.n], sizeof c.name[0], "%.*s", (int)(eq - colon - 1), colon + 1);
      snprintf(c.file[c.n], sizeof c.file[0], "%s", eq + 1);
      c.n++;
    }
  }
  fclose(f);
  cr_assert(found, "golden case %s not in the manifest (rerun tools/golden/gen.py)", id);
  return c;
}

static const char *case_file(const gcase *c, const char *kind, const char *name) {
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->kind[i], kind) && !strcmp(c->name[i], name)) return c->file[i];
  return NULL;
}

static npy_array load_path(const char *path, nnrt_dtype dt) {
  npy_array a;
  char err[256];
  cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
  if (dt != NNRT_I64) cr_assert_eq(npy_convert(&a, dt, err, sizeof err), 0, "%s", err);
  return a;
}

static nnrt_tensor *tensor_of(const npy_array *a) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref(), a->dtype, a->ndim, a->shape, &t), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_write(t, a->data, a->bytes), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

/* A case's tensor (f32 unless index), or NULL if the case lacks it. */
static nnrt_tensor *case_tensor(const gcase *c, const char *kind, const char *name, nnrt_dtype dt) {
  const char *f = case_file(c, kind, name);
  if (!f) return NULL;
  char path[512];
  snprintf(path, sizeof path, "%s/%s", GOLDEN, f);
  npy_array a = load_path(path, dt);
  nnrt_tensor *t = tensor_of(&a);
  npy_free(&a);
  return t;
}

static double *read_f64(nnrt_tensor *t) {
  int64_t n = nnrt_tensor_numel(t);
  double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
  if (nnrt_tensor_dtype(t) == NNRT_F64) {
    cr_assert_eq(nnrt_tensor_read(t, v, sizeof *v * (size_t)n), NNRT_OK);
  } else {
    float *f = malloc(sizeof *f * (size_t)(n ? n : 1));
    cr_assert_eq(nnrt_tensor_read(t, f, sizeof *f * (size_t)n), NNRT_OK);
    for (int64_t i = 0; i < n; i++) v[i] = f[i];
    free(f);
  }
  return v;
}

/* got[offset .. offset+n) against want (f64 values), |d| <= atol + rtol*|w| */
static void expect_close_at(const char *what, nnrt_tensor *got, const double *want, int64_t n, int64_t offset,
                            double rtol, double atol) {
  cr_assert(got, "%s: no tensor", what);
  double *g = read_f64(got);
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(g[offset + i] - want[i]);
    if (!(d <= atol + rtol * fabs(want[i])) && bad++ < 3)
      cr_expect_fail("%s[%lld]: got %.9g, want %.9g", what, (long long)i, g[offset + i], want[i]);
  }
  free(g);
}

static void expect_case_out(const gcase *c, const char *name, nnrt_tensor *got, double tol) {
  const char *f = case_file(c, "out", name);
  cr_assert(f, "case has no out:%s", name);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", GOLDEN, f);
  npy_array a = load_path(path, NNRT_F64);
  cr_assert_eq(nnrt_tensor_numel(got), npy_numel(&a), "%s: %lld elements, want %lld", name,
               (long long)nnrt_tensor_numel(got), (long long)npy_numel(&a));
  cr_expect_eq(nnrt_tensor_ndim(got), a.ndim, "%s: ndim %d, want %d", name, nnrt_tensor_ndim(got), a.ndim);
  for (int d = 0; d < a.ndim && d < nnrt_tensor_ndim(got); d++)
    cr_expect_eq(nnrt_tensor_shape(got)[d], a.shape[d], "%s: dim %d is %lld, want %lld", name, d,
                 (long long)nnrt_tensor_shape(got)[d], (long long)a.shape[d]);
  expect_close_at(name, got, a.data, npy_numel(&a), 0, tol, tol / 10);
  npy_free(&a);
}

/* Loads the flat weights of a case into the module's parameters, in order. */
static void load_flat(nnrt_module *m, const gcase *c) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", GOLDEN, case_file(c, "in", "weights"));
  npy_array w = load_path(path, NNRT_F32);
  int64_t off = 0;
  for (size_t i = 0; i < nnrt_module_param_count(m); i++) {
    nnrt_tensor *p;
    cr_assert_eq(nnrt_module_param(m, i, NULL, &p, NULL), NNRT_OK);
    int64_t n = nnrt_tensor_numel(p);
    cr_assert_leq(off + n, npy_numel(&w));
    cr_assert_eq(nnrt_tensor_write(p, (float *)w.data + off, sizeof(float) * (size_t)n), NNRT_OK);
    off += n;
  }
  cr_assert_eq(off, npy_numel(&w), "the module has %lld parameter values, the case %lld", (long long)off,
               (long long)npy_numel(&w));
  npy_free(&w);
}

/* Each parameter's gradient against its slice of the case's grad_weights. */
static void expect_flat_grads(nnrt_module *m, const gcase *c, double tol) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", GOLDEN, case_file(c, "out", "grad_weights"));
  npy_array w = load_path(path, NNRT_F64);
  int64_t off = 0;
  for (size_t i = 0; i < nnrt_module_param_count(m); i++) {
    const char *name;
    nnrt_tensor *g;
    cr_assert_eq(nnrt_module_param(m, i, &name, NULL, &g), NNRT_OK);
    char what[96];
    snprintf(what, sizeof what, "grad of %s", name);
    expect_close_at(what, g, (double *)w.data + off, nnrt_tensor_numel(g), 0, tol, tol / 10);
    off += nnrt_tensor_numel(g);
  }
  npy_free(&w);
}

static void free_all(nnrt_tensor **t, int n) {
  for (int i = 0; i < n; i++) nnrt_tensor_free(t[i]);
}

#define TOL 2e-4

/* ---- layers through the module API ---- */

/* Runs the module on case id (and its backward) and checks everything. */
static void check_layer_module(nnrt_module *m, const char *fwd_id, const char *bwd_id, bool packed) {
  gcase f = find_case(fwd_id), b = find_case(bwd_id);
  load_flat(m, &f);
  bool lstm = !strcmp(nnrt_module_kind(m), "LSTM");
  nnrt_tensor *x = case_tensor(&f, "in", "input", NNRT_F32), *h0 = case_tensor(&f, "in", "h0", NNRT_F32);
  nnrt_tensor *c0 = case_tensor(&f, "in", "c0", NNRT_F32);
  nnrt_tensor *bs = case_tensor(&f, "in", "batch_sizes", NNRT_I64), *si = case_tensor(&f, "in", "sorted_indices", NNRT_I64);
  nnrt_tensor *ui = NULL, *y, *hn, *cn;
  nnrt_packed_sequence seq = {x, bs, si, NULL};
  if (packed && si) {
    /* unsorted_indices: the inverse permutation */
    int64_t n = nnrt_tensor_numel(si), *s = nnrt_tensor_data(si), u[64];
    cr_assert_leq(n, 64);
    for (int64_t k = 0; k < n; k++) u[s[k]] = k;
    cr_assert_eq(nnrt_tensor_new(ref(), NNRT_I64, 1, &n, &ui), NNRT_OK);
    cr_assert_eq(nnrt_tensor_write(ui, u, sizeof(int64_t) * (size_t)n), NNRT_OK);
    seq.unsorted_indices = ui;
  }
  if (packed) {
    const nnrt_packed_sequence *out;
    cr_assert_eq(nnrt_module_rnn_forward_packed(m, &seq, h0, c0, &out, &hn, lstm ? &cn : NULL), NNRT_OK, "%s",
                 nnrt_last_error());
    cr_expect_eq(out->batch_sizes, bs);
    cr_expect_eq(out->sorted_indices, si);
    cr_expect_eq(out->unsorted_indices, ui);
    y = out->data;
  } else {
    cr_assert_eq(nnrt_module_rnn_forward(m, x, h0, c0, &y, &hn, lstm ? &cn : NULL), NNRT_OK, "%s", nnrt_last_error());
  }
  expect_case_out(&f, "output", y, TOL);
  expect_case_out(&f, "h_n", hn, TOL);
  if (lstm) expect_case_out(&f, "c_n", cn, TOL);

  nnrt_tensor *gy = case_tensor(&b, "in", "grad_output", NNRT_F32), *ghn = case_tensor(&b, "in", "grad_h_n", NNRT_F32);
  nnrt_tensor *gcn = case_tensor(&b, "in", "grad_c_n", NNRT_F32);
  nnrt_tensor *gx, *gh0, *gc0;
  cr_assert_eq(nnrt_module_zero_grad(m), NNRT_OK);
  cr_assert_eq(nnrt_module_rnn_backward(m, gy, ghn, gcn, &gx, &gh0, lstm ? &gc0 : NULL), NNRT_OK, "%s",
               nnrt_last_error());
  expect_case_out(&b, "grad_input", gx, TOL);
  if (h0) expect_case_out(&b, "grad_h0", gh0, TOL);
  if (c0) expect_case_out(&b, "grad_c0", gc0, TOL);
  expect_flat_grads(m, &b, TOL);

  /* a second backward accumulates: every parameter gradient doubles */
  nnrt_tensor *g0;
  cr_assert_eq(nnrt_module_param(m, 0, NULL, NULL, &g0), NNRT_OK);
  double *once = read_f64(g0);
  cr_assert_eq(nnrt_module_rnn_backward(m, gy, ghn, gcn, NULL, NULL, NULL), NNRT_OK, "%s", nnrt_last_error());
  double *twice = read_f64(g0);
  for (int64_t i = 0; i < nnrt_tensor_numel(g0); i++)
    cr_expect(fabs(twice[i] - 2 * once[i]) <= 1e-5 * (1 + fabs(once[i])), "accumulated gradient [%lld]: %g, once %g",
              (long long)i, twice[i], once[i]);
  free(once);
  free(twice);
  nnrt_tensor *all[] = {x, h0, c0, bs, si, ui, gy, ghn, gcn};
  free_all(all, 9);
}

Test(rnn_module, lstm_deep_bidirectional_batch_first) {
  nnrt_lstm_params p;
  nnrt_params_init(NNRT_OP_lstm, &p);
  p.input_size = 3, p.hidden_size = 3, p.num_layers = 2, p.batch_first = true, p.bidirectional = true;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_lstm(ref(), &p, 1, &m), NNRT_OK, "%s", nnrt_last_error());
  check_layer_module(m, "lstm.deep_bidir_batch_first", "lstm_backward.deep_bidir_batch_first", false);
  nnrt_module_free(m);
}

Test(rnn_module, gru_packed_unsorted) {
  nnrt_gru_params p;
  nnrt_params_init(NNRT_OP_gru, &p);
  p.input_size = 2, p.hidden_size = 3, p.num_layers = 2, p.bidirectional = true;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_gru(ref(), &p, 2, &m), NNRT_OK, "%s", nnrt_last_error());
  check_layer_module(m, "gru.packed_deep_bidir", "gru_backward.packed_deep_bidir", true);
  nnrt_module_free(m);
}

Test(rnn_module, lstm_packed_unsorted) {
  nnrt_lstm_params p;
  nnrt_params_init(NNRT_OP_lstm, &p);
  p.input_size = 2, p.hidden_size = 3, p.num_layers = 2, p.bidirectional = true;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_lstm(ref(), &p, 2, &m), NNRT_OK, "%s", nnrt_last_error());
  check_layer_module(m, "lstm.packed_deep_bidir", "lstm_backward.packed_deep_bidir", true);
  nnrt_module_free(m);
}

Test(rnn_module, rnn_relu_time_major) {
  nnrt_rnn_params p;
  nnrt_params_init(NNRT_OP_rnn, &p);
  p.input_size = 3, p.hidden_size = 4, p.nonlinearity = 1;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_rnn(ref(), &p, 3, &m), NNRT_OK, "%s", nnrt_last_error());
  check_layer_module(m, "rnn.relu.basic", "rnn_backward.relu.basic", false);
  nnrt_module_free(m);
}

/* nnrt_module_forward/backward: input only, zero state, output only. */
Test(rnn_module, generic_forward_backward_unbatched) {
  nnrt_rnn_params p;
  nnrt_params_init(NNRT_OP_rnn, &p);
  p.input_size = 2, p.hidden_size = 2, p.num_layers = 2, p.bidirectional = true, p.batch_first = true;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_rnn(ref(), &p, 4, &m), NNRT_OK, "%s", nnrt_last_error());
  gcase f = find_case("rnn.tanh.unbatched_bidir_no_h0");
  load_flat(m, &f);
  nnrt_tensor *x = case_tensor(&f, "in", "input", NNRT_F32), *y, *gx;
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
  expect_case_out(&f, "output", y, TOL);
  /* backward of the output alone equals the full API with grad_h_n NULL */
  nnrt_tensor *gy;
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, nnrt_tensor_ndim(y), nnrt_tensor_shape(y), &gy), NNRT_OK);
  cr_assert_eq(nnrt_tensor_fill(gy, 0.5), NNRT_OK);
  cr_assert_eq(nnrt_module_backward(m, gy, &gx), NNRT_OK, "%s", nnrt_last_error());
  double *a = read_f64(gx);
  nnrt_tensor *gx2;
  cr_assert_eq(nnrt_module_rnn_backward(m, gy, NULL, NULL, &gx2, NULL, NULL), NNRT_OK, "%s", nnrt_last_error());
  expect_close_at("grad_input", gx2, a, nnrt_tensor_numel(gx2), 0, 0, 0);
  free(a);
  nnrt_tensor_free(x);
  nnrt_tensor_free(gy);
  nnrt_module_free(m);
}

/* Dropout only in training, a new mask each training forward, none in eval. */
Test(rnn_module, dropout_train_and_eval) {
  nnrt_gru_params p;
  nnrt_params_init(NNRT_OP_gru, &p);
  p.input_size = 4, p.hidden_size = 8, p.num_layers = 3, p.dropout = 0.5;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_gru(ref(), &p, 5, &m), NNRT_OK, "%s", nnrt_last_error());
  int64_t xs[] = {5, 2, 4};
  nnrt_tensor *x, *y;
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, xs, &x), NNRT_OK);
  cr_assert_eq(nnrt_tensor_fill(x, 0.7), NNRT_OK);
  double *t[3];
  for (int k = 0; k < 3; k++) {
    nnrt_module_train(m, k < 2);
    cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
    t[k] = read_f64(y);
  }
  int64_t n = nnrt_tensor_numel(y);
  bool d01 = false, d02 = false;
  for (int64_t i = 0; i < n; i++) d01 |= t[0][i] != t[1][i], d02 |= t[0][i] != t[2][i];
  cr_expect(d01, "two training forwards drew the same dropout mask");
  cr_expect(d02, "training and eval forwards agree although dropout=0.5");
  /* eval is deterministic */
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK);
  expect_close_at("eval output", y, t[2], n, 0, 0, 0);
  for (int k = 0; k < 3; k++) free(t[k]);
  nnrt_tensor_free(x);
  nnrt_module_free(m);
}

/* ---- cells ---- */

static void load_named(nnrt_module *m, const gcase *c, const char *name) {
  nnrt_tensor *p, *src = case_tensor(c, "in", name, NNRT_F32);
  cr_assert(src, "case has no %s", name);
  cr_assert_eq(nnrt_module_param_by_name(m, name, &p, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_copy(p, src), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor_free(src);
}

static void check_cell_module(nnrt_module *m, const char *fwd_id, const char *bwd_id, bool bias) {
  gcase f = find_case(fwd_id), b = find_case(bwd_id);
  bool lstm = !strcmp(nnrt_module_kind(m), "LSTMCell");
  load_named(m, &f, "weight_ih");
  load_named(m, &f, "weight_hh");
  if (bias) load_named(m, &f, "bias_ih"), load_named(m, &f, "bias_hh");
  nnrt_tensor *x = case_tensor(&f, "in", "input", NNRT_F32), *hx = case_tensor(&f, "in", "hx", NNRT_F32);
  nnrt_tensor *cx = case_tensor(&f, "in", "cx", NNRT_F32), *h, *c = NULL;
  cr_assert_eq(nnrt_module_cell_forward(m, x, hx, cx, &h, lstm ? &c : NULL), NNRT_OK, "%s", nnrt_last_error());
  expect_case_out(&f, "output", h, TOL);
  if (lstm) expect_case_out(&f, "c_out", c, TOL);
  nnrt_tensor *gh = case_tensor(&b, "in", "grad_output", NNRT_F32), *gc = case_tensor(&b, "in", "grad_c_out", NNRT_F32);
  nnrt_tensor *gx, *ghx, *gcx;
  cr_assert_eq(nnrt_module_cell_backward(m, gh, gc, &gx, &ghx, lstm ? &gcx : NULL), NNRT_OK, "%s", nnrt_last_error());
  expect_case_out(&b, "grad_input", gx, TOL);
  if (hx) expect_case_out(&b, "grad_hx", ghx, TOL);
  if (cx) expect_case_out(&b, "grad_cx", gcx, TOL);
  const char *pn[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  for (int i = 0; i < (bias ? 4 : 2); i++) {
    char gname[64];
    snprintf(gname, sizeof gname, "grad_%s", pn[i]);
    nnrt_tensor *g;
    cr_assert_eq(nnrt_module_param_by_name(m, pn[i], NULL, &g), NNRT_OK);
    expect_case_out(&b, gname, g, TOL);
  }
  nnrt_tensor *all[] = {x, hx, cx, gh, gc};
  free_all(all, 5);
}

Test(rnn_cell_module, lstm_cell) {
  nnrt_module *m;
  cr_assert_eq(nnrt_module_lstm_cell(ref(), 4, 5, true, 1, &m), NNRT_OK, "%s", nnrt_last_error());
  check_cell_module(m, "lstm_cell.basic", "lstm_cell_backward.basic", true);
  nnrt_module_free(m);
}

Test(rnn_cell_module, gru_cell_unbatched) {
  nnrt_module *m;
  cr_assert_eq(nnrt_module_gru_cell(ref(), 4, 5, true, 1, &m), NNRT_OK, "%s", nnrt_last_error());
  check_cell_module(m, "gru_cell.unbatched", "gru_cell_backward.unbatched", true);
  nnrt_module_free(m);
}

Test(rnn_cell_module, rnn_cell_relu_no_bias) {
  nnrt_module *m;
  nnrt_rnn_cell_params p;
  nnrt_params_init(NNRT_OP_rnn_cell, &p);
  p.nonlinearity = 1;
  cr_assert_eq(nnrt_module_rnn_cell(ref(), 4, 5, false, &p, 1, &m), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_module_param_count(m), 2);
  check_cell_module(m, "rnn_cell.relu.nobias", "rnn_cell_backward.relu.nobias", false);
  nnrt_module_free(m);
}

/* nnrt_module_forward of a cell: zero state (the "nohx" case). */
Test(rnn_cell_module, generic_forward_zero_state) {
  nnrt_module *m;
  cr_assert_eq(nnrt_module_gru_cell(ref(), 4, 5, true, 1, &m), NNRT_OK, "%s", nnrt_last_error());
  gcase f = find_case("gru_cell.nohx");
  load_named(m, &f, "weight_ih"), load_named(m, &f, "weight_hh"), load_named(m, &f, "bias_ih"),
      load_named(m, &f, "bias_hh");
  nnrt_tensor *x = case_tensor(&f, "in", "input", NNRT_F32), *y;
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
  expect_case_out(&f, "output", y, TOL);
  nnrt_tensor_free(x);
  nnrt_module_free(m);
}

/* ---- parameter names and shapes: PyTorch's named_parameters() ---- */

static void expect_params(nnrt_module *m, const char *const *names, const int64_t (*shapes)[2], size_t n) {
  cr_assert_eq(nnrt_module_param_count(m), n, "%s has %zu parameters, PyTorch %zu", nnrt_module_kind(m),
               nnrt_module_param_count(m), n);
  for (size_t i = 0; i < n; i++) {
    const char *name;
    nnrt_tensor *p, *g;
    cr_assert_eq(nnrt_module_param(m, i, &name, &p, &g), NNRT_OK);
    cr_expect_str_eq(name, names[i]);
    int nd = shapes[i][1] ? 2 : 1;
    cr_expect_eq(nnrt_tensor_ndim(p), nd, "%s: ndim", names[i]);
    cr_expect_eq(nnrt_tensor_shape(p)[0], shapes[i][0], "%s: dim 0 %lld", names[i], (long long)nnrt_tensor_shape(p)[0]);
    if (nd == 2) cr_expect_eq(nnrt_tensor_shape(p)[1], shapes[i][1], "%s: dim 1", names[i]);
    nnrt_tensor *q;
    cr_expect_eq(nnrt_module_param_by_name(m, names[i], &q, NULL), NNRT_OK);
    cr_expect_eq(q, p);
  }
}

Test(rnn_params, lstm_two_layers_bidirectional_names_and_shapes) {
  /* torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True).named_parameters() */
  static const char *const names[] = {
      "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
      "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
  static const int64_t shapes[][2] = {{80, 10}, {80, 20}, {80, 0}, {80, 0}, {80, 10}, {80, 20}, {80, 0}, {80, 0},
                                      {80, 40}, {80, 20}, {80, 0}, {80, 0}, {80, 40}, {80, 20}, {80, 0}, {80, 0}};
  nnrt_lstm_params p;
  nnrt_params_init(NNRT_OP_lstm, &p);
  p.input_size = 10, p.hidden_size = 20, p.num_layers = 2, p.bidirectional = true;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_lstm(ref(), &p, 0, &m), NNRT_OK, "%s", nnrt_last_error());
  expect_params(m, names, shapes, 16);
  cr_expect_str_eq(nnrt_module_kind(m), "LSTM");
  /* initialised in U(-1/sqrt(20), 1/sqrt(20)), not all equal */
  nnrt_tensor *w;
  cr_assert_eq(nnrt_module_param_by_name(m, "weight_hh_l1_reverse", &w, NULL), NNRT_OK);
  double *v = read_f64(w), lo = 1, hi = -1, b = 1 / sqrt(20.0);
  for (int64_t i = 0; i < nnrt_tensor_numel(w); i++) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
  cr_expect(lo >= -b && hi <= b && hi - lo > b, "weights in [%g, %g], bound %g", lo, hi, b);
  free(v);
  cr_expect_eq(nnrt_module_param_by_name(m, "weight_ih_l2", NULL, NULL), NNRT_ERR_NOT_FOUND);
  cr_expect(strstr(nnrt_last_error(), "weight_ih_l2"), "%s", nnrt_last_error());
  nnrt_module_free(m);
}

Test(rnn_params, gru_no_bias_and_cells) {
  static const char *const gn[] = {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"};
  static const int64_t gs[][2] = {{12, 3}, {12, 4}, {12, 4}, {12, 4}};
  nnrt_gru_params p;
  nnrt_params_init(NNRT_OP_gru, &p);
  p.input_size = 3, p.hidden_size = 4, p.num_layers = 2, p.bias = false;
  nnrt_module *m;
  cr_assert_eq(nnrt_module_gru(ref(), &p, 0, &m), NNRT_OK, "%s", nnrt_last_error());
  expect_params(m, gn, gs, 4);
  nnrt_module_free(m);
  static const char *const cn[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  static const int64_t ls[][2] = {{28, 6}, {28, 7}, {28, 0}, {28, 0}};
  cr_assert_eq(nnrt_module_lstm_cell(ref(), 6, 7, true, 0, &m), NNRT_OK);
  expect_params(m, cn, ls, 4);
  cr_expect_str_eq(nnrt_module_kind(m), "LSTMCell");
  nnrt_module_free(m);
  static const int64_t rs[][2] = {{7, 6}, {7, 7}};
  cr_assert_eq(nnrt_module_rnn_cell(ref(), 6, 7, false, NULL, 0, &m), NNRT_OK);
  expect_params(m, cn, rs, 2);
  nnrt_module_free(m);
}

/* ---- packed sequences ---- */

static nnrt_tensor *extra(const char *tag, const char *name, nnrt_dtype dt) {
  char path[512];
  snprintf(path, sizeof path, "%s/rnn_extra.pack.%s.%s.npy", GOLDEN, tag, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fclose(f);
  npy_array a = load_path(path, dt);
  nnrt_tensor *t = tensor_of(&a);
  npy_free(&a);
  return t;
}

static void expect_same_index(const char *what, nnrt_tensor *got, nnrt_tensor *want) {
  cr_assert(got && want, "%s missing (got %p, want %p)", what, (void *)got, (void *)want);
  cr_assert_eq(nnrt_tensor_numel(got), nnrt_tensor_numel(want), "%s: %lld values, want %lld", what,
               (long long)nnrt_tensor_numel(got), (long long)nnrt_tensor_numel(want));
  const int64_t *g = nnrt_tensor_data(got), *w = nnrt_tensor_data(want);
  for (int64_t i = 0; i < nnrt_tensor_numel(got); i++)
    cr_expect_eq(g[i], w[i], "%s[%lld]: %lld, want %lld", what, (long long)i, (long long)g[i], (long long)w[i]);
}

static void check_pack(const char *tag, bool batch_first, bool enforce_sorted) {
  nnrt_tensor *x = extra(tag, "input", NNRT_F64), *len = extra(tag, "lengths", NNRT_I64);
  nnrt_tensor *data = extra(tag, "data", NNRT_F64), *bs = extra(tag, "batch_sizes", NNRT_I64);
  nnrt_tensor *si = extra(tag, "sorted_indices", NNRT_I64), *ui = extra(tag, "unsorted_indices", NNRT_I64);
  cr_assert(x && len && data && bs, "fixtures tests/golden/rnn_extra.pack.%s.* missing", tag);
  nnrt_packed_sequence *seq;
  cr_assert_eq(nnrt_packed_sequence_from_padded(x, len, batch_first, enforce_sorted, &seq), NNRT_OK, "%s",
               nnrt_last_error());
  double *want = read_f64(data);
  expect_close_at("data", seq->data, want, nnrt_tensor_numel(data), 0, 0, 0);
  free(want);
  expect_same_index("batch_sizes", seq->batch_sizes, bs);
  if (enforce_sorted) {
    cr_expect_null(seq->sorted_indices);
    cr_expect_null(seq->unsorted_indices);
  } else {
    expect_same_index("sorted_indices", seq->sorted_indices, si);
    expect_same_index("unsorted_indices", seq->unsorted_indices, ui);
  }
  /* and back: the input with zeros past each length, the lengths themselves */
  nnrt_tensor *y, *l;
  cr_assert_eq(nnrt_packed_sequence_to_padded(seq, batch_first, 0.0, -1, &y, &l), NNRT_OK, "%s", nnrt_last_error());
  expect_same_index("lengths", l, len);
  double *xv = read_f64(x), *yv = read_f64(y);
  const int64_t *lv = nnrt_tensor_data(len), *xs = nnrt_tensor_shape(x);
  int64_t T = xs[batch_first ? 1 : 0], N = xs[batch_first ? 0 : 1], F = nnrt_tensor_numel(x) / (T * N);
  int64_t Ty = nnrt_tensor_shape(y)[batch_first ? 1 : 0], maxlen = 0;
  for (int64_t n = 0; n < N; n++) maxlen = lv[n] > maxlen ? lv[n] : maxlen;
  cr_expect_eq(Ty, maxlen);
  for (int64_t n = 0; n < N; n++)
    for (int64_t t = 0; t < Ty; t++)
      for (int64_t f = 0; f < F; f++) {
        int64_t xi = ((batch_first ? n * T + t : t * N + n)) * F + f, yi = ((batch_first ? n * Ty + t : t * N + n)) * F + f;
        double w = t < lv[n] ? xv[xi] : 0.0;
        cr_expect_eq(yv[yi], w, "padded [t=%lld n=%lld f=%lld]: %g, want %g", (long long)t, (long long)n,
                     (long long)f, yv[yi], w);
      }
  free(xv);
  free(yv);
  nnrt_tensor_free(y);
  nnrt_tensor_free(l);
  nnrt_packed_sequence_free(seq);
  nnrt_tensor *all[] = {x, len, data, bs, si, ui};
  free_all(all, 6);
}

Test(packed, pack_sorted) { check_pack("sorted", false, true); }
Test(packed, pack_unsorted_batch_first) { check_pack("unsorted_batch_first", true, false); }
Test(packed, pack_feature_dims) { check_pack("feat2d", false, false); }
Test(packed, pack_no_feature_dim) { check_pack("nofeat", true, false); }

/* ---- bad inputs ---- */

static nnrt_tensor *mk(nnrt_dtype dt, double fill, int ndim, const int64_t *shape) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref(), dt, ndim, shape, &t), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_fill(t, fill), NNRT_OK);
  return t;
}

static nnrt_tensor *mk_index(int64_t n, const int64_t *v) {
  nnrt_tensor *t = mk(NNRT_I64, 0, 1, &n);
  cr_assert_eq(nnrt_tensor_write(t, v, sizeof *v * (size_t)n), NNRT_OK);
  return t;
}

/* the call failed, named the op and each of the words, and left out untouched */
static void expect_refused(nnrt_status st, const char *op, nnrt_tensor *out, const char *w1, const char *w2) {
  const char *e = nnrt_last_error();
  cr_expect_eq(st, NNRT_ERR_INVALID_ARGUMENT, "accepted or wrong status (%d): %s", (int)st, e);
  cr_expect(strstr(e, op), "message does not name %s: %s", op, e);
  if (w1) cr_expect(strstr(e, w1), "message lacks '%s': %s", w1, e);
  if (w2) cr_expect(strstr(e, w2), "message lacks '%s': %s", w2, e);
  if (out) {
    double *v = read_f64(out);
    for (int64_t i = 0; i < nnrt_tensor_numel(out); i++)
      if (v[i] != 7.0) {
        cr_expect_fail("the failed call wrote its output");
        break;
      }
    free(v);
  }
}

Test(rnn_bad, layer_inputs_and_weights) {
  nnrt_lstm_params p;
  nnrt_params_init(NNRT_OP_lstm, &p);
  p.input_size = 3, p.hidden_size = 4;
  /* 1 layer: 16*(3+4+2) = 144 weights */
  int64_t xs[] = {5, 2, 3}, bad_xs[] = {5, 2, 6}, ws = 144, bad_ws = 143, hs[] = {1, 2, 4}, bad_hs[] = {1, 3, 4};
  int64_t ys[] = {5, 2, 4};
  nnrt_tensor *x = mk(NNRT_F32, 0.5, 3, xs), *w = mk(NNRT_F32, 0.1, 1, &ws), *y = mk(NNRT_F32, 7, 3, ys);
  nnrt_tensor *hn = mk(NNRT_F32, 7, 3, hs), *cn = mk(NNRT_F32, 7, 3, hs);
  cr_assert_eq(nnrt_lstm(x, NULL, NULL, w, NULL, NULL, y, hn, cn, NULL, &p), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_fill(y, 7), NNRT_OK);
  nnrt_tensor *bx = mk(NNRT_F32, 0.5, 3, bad_xs);
  expect_refused(nnrt_lstm(bx, NULL, NULL, w, NULL, NULL, y, hn, cn, NULL, &p), "lstm", y, "input_size=3", "got 6");
  nnrt_tensor *bh = mk(NNRT_F32, 0, 3, bad_hs);
  expect_refused(nnrt_lstm(x, bh, NULL, w, NULL, NULL, y, hn, cn, NULL, &p), "lstm", y, "h0", "[1,3,4]");
  expect_refused(nnrt_lstm(x, NULL, bh, w, NULL, NULL, y, hn, cn, NULL, &p), "lstm", y, "c0", "[1,2,4]");
  nnrt_tensor *bw = mk(NNRT_F32, 0.1, 1, &bad_ws);
  expect_refused(nnrt_lstm(x, NULL, NULL, bw, NULL, NULL, y, hn, cn, NULL, &p), "lstm", y, "144", "[143]");
  p.hidden_size = 0;
  expect_refused(nnrt_lstm(x, NULL, NULL, w, NULL, NULL, y, hn, cn, NULL, &p), "lstm", y, "hidden_size=0", NULL);
  nnrt_tensor *all[] = {x, w, y, hn, cn, bx, bh, bw};
  free_all(all, 8);
}

Test(rnn_bad, packed_layer_batch_sizes) {
  nnrt_gru_params p;
  nnrt_params_init(NNRT_OP_gru, &p);
  p.input_size = 2, p.hidden_size = 3;
  int64_t xs[] = {6, 2}, ws = 9 * (2 + 3 + 2), ys[] = {6, 3};
  nnrt_tensor *x = mk(NNRT_F32, 0.5, 2, xs), *w = mk(NNRT_F32, 0.1, 1, &ws), *y = mk(NNRT_F32, 7, 2, ys);
  int64_t up[] = {2, 3, 1}, sum5[] = {3, 2}, zero[] = {3, 3, 0};
  nnrt_tensor *b1 = mk_index(3, up), *b2 = mk_index(2, sum5), *b3 = mk_index(3, zero);
  expect_refused(nnrt_gru(x, NULL, w, b1, NULL, y, NULL, NULL, &p), "gru", y, "batch_sizes[1]=3", NULL);
  expect_refused(nnrt_gru(x, NULL, w, b2, NULL, y, NULL, NULL, &p), "gru", y, "sum to 5", "6 rows");
  expect_refused(nnrt_gru(x, NULL, w, b3, NULL, y, NULL, NULL, &p), "gru", y, "batch_sizes[2]=0", NULL);
  int64_t ok[] = {3, 2, 1}, perm[] = {0, 0, 2};
  nnrt_tensor *b4 = mk_index(3, ok), *si = mk_index(3, perm);
  expect_refused(nnrt_gru(x, NULL, w, b4, si, y, NULL, NULL, &p), "gru", y, "sorted_indices", "permutation");
  nnrt_tensor *all[] = {x, w, y, b1, b2, b3, b4, si};
  free_all(all, 8);
}

Test(rnn_bad, pack_lengths) {
  int64_t xs[] = {4, 3, 2};
  nnrt_tensor *x = mk(NNRT_F32, 1, 3, xs);
  nnrt_packed_sequence *seq = NULL;
  int64_t unsorted[] = {2, 4, 1}, zero[] = {4, 0, 1}, big[] = {5, 2, 1};
  nnrt_tensor *l1 = mk_index(3, unsorted), *l2 = mk_index(3, zero), *l3 = mk_index(3, big);
  expect_refused(nnrt_packed_sequence_from_padded(x, l1, false, true, &seq), "pack_padded_sequence", NULL,
                 "lengths[1]=4 > lengths[0]=2", "enforce_sorted");
  cr_expect_null(seq);
  expect_refused(nnrt_packed_sequence_from_padded(x, l2, false, false, &seq), "pack_padded_sequence", NULL,
                 "lengths[1]=0", ">= 1");
  expect_refused(nnrt_packed_sequence_from_padded(x, l3, false, false, &seq), "pack_padded_sequence", NULL,
                 "lengths[0]=5", "4 time steps");
  /* the op itself leaves its outputs alone */
  int64_t ds[] = {5, 2}, bn = 4;
  nnrt_tensor *data = mk(NNRT_F32, 7, 2, ds), *bs = mk(NNRT_I64, 7, 1, &bn);
  expect_refused(nnrt_pack_padded_sequence(x, l1, data, bs, NULL, NULL, NULL), "pack_padded_sequence", data, "lengths",
                 NULL);
  /* pad: total_length below the longest sequence */
  int64_t b3[] = {3, 2, 1};
  nnrt_tensor *bsz = mk_index(3, b3), *pd = mk(NNRT_F32, 1, 2, (int64_t[]){6, 2}), *out = NULL;
  nnrt_packed_sequence s = {pd, bsz, NULL, NULL};
  expect_refused(nnrt_packed_sequence_to_padded(&s, false, 0, 2, &out, NULL), "pad_packed_sequence", NULL,
                 "total_length=2", "3");
  cr_expect_null(out);
  nnrt_tensor *all[] = {x, l1, l2, l3, data, bs, bsz, pd};
  free_all(all, 8);
}

Test(rnn_bad, module_api_misuse) {
  nnrt_gru_params p;
  nnrt_params_init(NNRT_OP_gru, &p);
  p.input_size = 2, p.hidden_size = 3;
  nnrt_module *m, *lin;
  cr_assert_eq(nnrt_module_gru(ref(), &p, 0, &m), NNRT_OK);
  cr_assert_eq(nnrt_module_linear(ref(), 2, 3, true, 0, &lin), NNRT_OK);
  int64_t xs[] = {4, 1, 2}, hs[] = {1, 1, 3};
  nnrt_tensor *x = mk(NNRT_F32, 1, 3, xs), *c0 = mk(NNRT_F32, 0, 3, hs), *y;
  expect_refused(nnrt_module_rnn_backward(m, NULL, NULL, NULL, NULL, NULL, NULL), "nnrt_module_rnn_backward", NULL,
                 "no forward", NULL);
  expect_refused(nnrt_module_rnn_forward(lin, x, NULL, NULL, &y, NULL, NULL), "nnrt_module_rnn_forward", NULL, "Linear",
                 NULL);
  expect_refused(nnrt_module_rnn_forward(m, x, NULL, c0, &y, NULL, NULL), "nnrt_module_rnn_forward", NULL, "c0", NULL);
  expect_refused(nnrt_module_cell_forward(m, x, NULL, NULL, &y, NULL), "nnrt_module_cell_forward", NULL, "GRU", NULL);
  p.dropout = 1.5;
  nnrt_module *bad = NULL;
  expect_refused(nnrt_module_gru(ref(), &p, 0, &bad), "GRU", NULL, "dropout=1.5", NULL);
  cr_expect_null(bad);
  nnrt_tensor_free(x);
  nnrt_tensor_free(c0);
  nnrt_module_free(m);
  nnrt_module_free(lin);
}

/* ---- clip_grad_norm ---- */

/* float64 reference: the total norm and the clipped values */
static double ref_total(double *const *g, const int64_t *n, int k, double p) {
  double acc = 0;
  for (int i = 0; i < k; i++)
    for (int64_t j = 0; j < n[i]; j++) {
      double a = fabs(g[i][j]);
      if (isinf(p)) acc = fmax(acc, a);
      else acc += pow(a, p);
    }
  return isinf(p) ? acc : pow(acc, 1 / p);
}

static void check_clip(double p, double max_norm) {
  int64_t s0[] = {3, 4}, s1 = 5, s2[] = {2, 2, 2};
  nnrt_tensor *g[3] = {mk(NNRT_F32, 0, 2, s0), mk(NNRT_F32, 0, 1, &s1), mk(NNRT_F32, 0, 3, s2)};
  int64_t n[3] = {12, 5, 8};
  double *v[3];
  for (int i = 0; i < 3; i++) {
    float f[12];
    v[i] = malloc(sizeof(double) * 12);
    for (int64_t j = 0; j < n[i]; j++) f[j] = (float)(sin(1.7 * (double)(j + 13 * i)) * (i + 1)), v[i][j] = f[j];
    cr_assert_eq(nnrt_tensor_write(g[i], f, sizeof(float) * (size_t)n[i]), NNRT_OK);
  }
  double want = ref_total(v, n, 3, p), got = -1;
  nnrt_tensor *list[4] = {g[0], NULL, g[1], g[2]};
  cr_assert_eq(nnrt_clip_grad_norm_tensors(list, 4, max_norm, p, true, &got), NNRT_OK, "%s", nnrt_last_error());
  cr_expect(fabs(got - want) <= 1e-6 * want, "p=%g: total %.9g, want %.9g", p, got, want);
  double coef = max_norm / (want + 1e-6);
  if (coef > 1) coef = 1;
  for (int i = 0; i < 3; i++) {
    for (int64_t j = 0; j < n[i]; j++) v[i][j] *= coef;
    expect_close_at("clipped gradient", g[i], v[i], n[i], 0, 1e-6, 1e-7);
    free(v[i]);
    nnrt_tensor_free(g[i]);
  }
}

Test(clip_grad_norm, p2_clips) { check_clip(2.0, 1.0); }
Test(clip_grad_norm, p2_below_max_unchanged) { check_clip(2.0, 100.0); }
Test(clip_grad_norm, p_inf) { check_clip(INFINITY, 0.5); }
Test(clip_grad_norm, p_1_5) { check_clip(1.5, 2.0); }

Test(clip_grad_norm, module_gradients) {
  nnrt_module *m;
  nnrt_rnn_params p;
  nnrt_params_init(NNRT_OP_rnn, &p);
  p.input_size = 2, p.hidden_size = 3;
  cr_assert_eq(nnrt_module_rnn(ref(), &p, 9, &m), NNRT_OK);
  int64_t xs[] = {4, 2, 2};
  nnrt_tensor *x = mk(NNRT_F32, 0.8, 3, xs), *y, *gx, *gy;
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
  gy = mk(NNRT_F32, 1.0, nnrt_tensor_ndim(y), nnrt_tensor_shape(y));
  cr_assert_eq(nnrt_module_backward(m, gy, &gx), NNRT_OK, "%s", nnrt_last_error());
  size_t k = nnrt_module_param_count(m);
  double *v[8], acc = 0;
  int64_t n[8];
  for (size_t i = 0; i < k; i++) {
    nnrt_tensor *g;
    cr_assert_eq(nnrt_module_param(m, i, NULL, NULL, &g), NNRT_OK);
    v[i] = read_f64(g);
    n[i] = nnrt_tensor_numel(g);
    for (int64_t j = 0; j < n[i]; j++) acc += v[i][j] * v[i][j];
  }
  double total = -1, want = sqrt(acc), max_norm = want / 4;
  cr_assert_eq(nnrt_clip_grad_norm(m, max_norm, 2.0, false, &total), NNRT_OK, "%s", nnrt_last_error());
  cr_expect(fabs(total - want) <= 1e-6 * want, "total %.9g, want %.9g", total, want);
  for (size_t i = 0; i < k; i++) {
    nnrt_tensor *g;
    cr_assert_eq(nnrt_module_param(m, i, NULL, NULL, &g), NNRT_OK);
    for (int64_t j = 0; j < n[i]; j++) v[i][j] *= max_norm / (want + 1e-6);
    expect_close_at("clipped module gradient", g, v[i], n[i], 0, 1e-6, 1e-7);
    free(v[i]);
  }
  nnrt_tensor_free(x);
  nnrt_tensor_free(gy);
  nnrt_module_free(m);
}

Test(clip_grad_norm, nonfinite) {
  int64_t s = 4;
  nnrt_tensor *a = mk(NNRT_F32, 1.0, 1, &s), *b = mk(NNRT_F32, 2.0, 1, &s);
  float inf4[4] = {1, INFINITY, 2, 3};
  cr_assert_eq(nnrt_tensor_write(b, inf4, sizeof inf4), NNRT_OK);
  nnrt_tensor *list[] = {a, b};
  double total = -1;
  nnrt_status st = nnrt_clip_grad_norm_tensors(list, 2, 1.0, 2.0, true, &total);
  cr_expect_eq(st, NNRT_ERR_INVALID_ARGUMENT);
  cr_expect(strstr(nnrt_last_error(), "nnrt_clip_grad_norm") && strstr(nnrt_last_error(), "inf"), "%s",
            nnrt_last_error());
  cr_expect_eq(total, -1, "total written on error");
  double ones[4] = {1, 1, 1, 1};
  expect_close_at("unclipped a", a, ones, 4, 0, 0, 0);
  /* without the check, PyTorch scales by max_norm / inf = 0 (inf * 0 = NaN) */
  cr_assert_eq(nnrt_clip_grad_norm_tensors(list, 2, 1.0, 2.0, false, &total), NNRT_OK, "%s", nnrt_last_error());
  cr_expect(isinf(total));
  double zeros[4] = {0, 0, 0, 0};
  expect_close_at("a scaled by 0", a, zeros, 4, 0, 0, 0);
  double *bv = read_f64(b);
  cr_expect(isnan(bv[1]) && bv[0] == 0, "b: %g %g", bv[0], bv[1]);
  free(bv);
  /* NaN for p = inf too */
  float nan4[4] = {1, NAN, 2, 3};
  cr_assert_eq(nnrt_tensor_write(b, nan4, sizeof nan4), NNRT_OK);
  cr_expect_eq(nnrt_clip_grad_norm_tensors(list, 2, 1.0, INFINITY, true, &total), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_eq(nnrt_clip_grad_norm_tensors(list, 2, 1.0, 0.0, false, &total), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect(strstr(nnrt_last_error(), "norm_type=0"), "%s", nnrt_last_error());
  nnrt_tensor_free(a);
  nnrt_tensor_free(b);
}

/* ---- eval mode: no workspace ---- */

/* A deterministic fill of t (f32, host memory) in [-1, 1). */
static void fill_wave(nnrt_tensor *t, double phase) {
  float *v = nnrt_tensor_data(t);
  cr_assert(v, "tensor not in host memory");
  for (int64_t i = 0; i < nnrt_tensor_numel(t); i++) v[i] = (float)sin(0.37 * (double)i + phase);
}

/* Two eval forwards (padded, then packed-free batch-first with h0/c0) of a
 * two-layer bidirectional LSTM module on `onednn`: the module asks the op
 * for no workspace in eval mode, so the onednn backend runs it itself
 * (its RNN primitives do inference only) instead of falling back to ref,
 * and gives ref's output.  Skipped where the onednn backend is not loaded. */
Test(rnn_module, lstm_eval_on_onednn_without_fallback) {
  nnrt_device *dnn;
  if (nnrt_device_get("onednn", &dnn) != NNRT_OK) cr_skip_test("onednn backend not loaded: %s", nnrt_last_error());
  nnrt_lstm_params p;
  nnrt_params_init(NNRT_OP_lstm, &p);
  p.input_size = 5, p.hidden_size = 6, p.num_layers = 2, p.bidirectional = true;
  nnrt_module *md, *mr;
  cr_assert_eq(nnrt_module_lstm(dnn, &p, 11, &md), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_module_lstm(ref(), &p, 11, &mr), NNRT_OK, "%s", nnrt_last_error());
  nnrt_module_train(md, false);
  nnrt_module_train(mr, false);
  int64_t xs[] = {4, 3, 5}, hs[] = {4, 3, 6};
  nnrt_tensor *xd, *xr, *hd, *hr, *cd, *cr_;
  cr_assert_eq(nnrt_tensor_new(dnn, NNRT_F32, 3, xs, &xd), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, xs, &xr), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(dnn, NNRT_F32, 3, hs, &hd), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, hs, &hr), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(dnn, NNRT_F32, 3, hs, &cd), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, hs, &cr_), NNRT_OK);
  fill_wave(xd, 0.1), fill_wave(xr, 0.1), fill_wave(hd, 1.3), fill_wave(hr, 1.3), fill_wave(cd, 2.9), fill_wave(cr_, 2.9);
  uint64_t fb = nnrt_device_fallback_count(dnn, NNRT_OP_lstm);
  for (int pass = 0; pass < 2; pass++) {
    nnrt_tensor *yd, *yr, *hnd, *hnr, *cnd, *cnr;
    cr_assert_eq(nnrt_module_rnn_forward(md, xd, pass ? hd : NULL, pass ? cd : NULL, &yd, &hnd, &cnd), NNRT_OK, "%s",
                 nnrt_last_error());
    cr_assert_eq(nnrt_module_rnn_forward(mr, xr, pass ? hr : NULL, pass ? cr_ : NULL, &yr, &hnr, &cnr), NNRT_OK, "%s",
                 nnrt_last_error());
    nnrt_tensor *got[] = {yd, hnd, cnd}, *want[] = {yr, hnr, cnr};
    const char *names[] = {"output", "h_n", "c_n"};
    for (int i = 0; i < 3; i++) {
      double *w = read_f64(want[i]);
      char what[64];
      snprintf(what, sizeof what, "pass %d: %s on onednn", pass, names[i]);
      cr_assert_eq(nnrt_tensor_numel(got[i]), nnrt_tensor_numel(want[i]), "%s", what);
      expect_close_at(what, got[i], w, nnrt_tensor_numel(want[i]), 0, 1e-5, 1e-5);
      free(w);
    }
  }
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_lstm), fb, "eval-mode lstm fell back to ref %llu times",
               (unsigned long long)(nnrt_device_fallback_count(dnn, NNRT_OP_lstm) - fb));
  nnrt_tensor *all[] = {xd, xr, hd, hr, cd, cr_};
  free_all(all, 6);
  nnrt_module_free(md);
  nnrt_module_free(mr);
}

/* Backward after an eval forward (which kept no workspace) reruns the
 * forward with one: the same gradients as after a training forward (no
 * dropout, so the two forwards compute the same), and the module's output
 * is left as the eval forward gave it. */
Test(rnn_module, gru_backward_after_eval_forward) {
  nnrt_gru_params p;
  nnrt_params_init(NNRT_OP_gru, &p);
  p.input_size = 3, p.hidden_size = 4, p.num_layers = 2, p.batch_first = true;
  nnrt_module *me, *mt;
  cr_assert_eq(nnrt_module_gru(ref(), &p, 21, &me), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_module_gru(ref(), &p, 21, &mt), NNRT_OK, "%s", nnrt_last_error());
  nnrt_module_train(me, false);
  int64_t xs[] = {2, 5, 3}, hs[] = {2, 2, 4}, ys[] = {2, 5, 4};
  nnrt_tensor *x, *h0, *gy, *ghn;
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, xs, &x), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, hs, &h0), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, ys, &gy), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 3, hs, &ghn), NNRT_OK);
  fill_wave(x, 0.2), fill_wave(h0, 0.7), fill_wave(gy, 1.9), fill_wave(ghn, 2.3);
  nnrt_tensor *ye, *yt, *hne, *hnt, *gxe, *gxt, *ghe, *ght;
  cr_assert_eq(nnrt_module_rnn_forward(me, x, h0, NULL, &ye, &hne, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_module_rnn_forward(mt, x, h0, NULL, &yt, &hnt, NULL), NNRT_OK, "%s", nnrt_last_error());
  double *y_eval = read_f64(ye);
  expect_close_at("eval output", yt, y_eval, nnrt_tensor_numel(ye), 0, 0, 0);
  cr_assert_eq(nnrt_module_rnn_backward(me, gy, ghn, NULL, &gxe, &ghe, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_module_rnn_backward(mt, gy, ghn, NULL, &gxt, &ght, NULL), NNRT_OK, "%s", nnrt_last_error());
  expect_close_at("output after backward", ye, y_eval, nnrt_tensor_numel(ye), 0, 0, 0);
  free(y_eval);
  double *w = read_f64(gxt);
  expect_close_at("grad_input", gxe, w, nnrt_tensor_numel(gxt), 0, 0, 0);
  free(w);
  w = read_f64(ght);
  expect_close_at("grad_h0", ghe, w, nnrt_tensor_numel(ght), 0, 0, 0);
  free(w);
  for (size_t i = 0; i < nnrt_module_param_count(me); i++) {
    const char *name;
    nnrt_tensor *ge, *gt;
    cr_assert_eq(nnrt_module_param(me, i, &name, NULL, &ge), NNRT_OK);
    cr_assert_eq(nnrt_module_param(mt, i, NULL, NULL, &gt), NNRT_OK);
    w = read_f64(gt);
    char what[96];
    snprintf(what, sizeof what, "grad of %s", name);
    expect_close_at(what, ge, w, nnrt_tensor_numel(gt), 0, 0, 0);
    free(w);
  }
  /* a second backward of the same eval forward reuses the rerun's workspace */
  cr_assert_eq(nnrt_module_rnn_backward(me, gy, NULL, NULL, &gxe, NULL, NULL), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *all[] = {x, h0, gy, ghn};
  free_all(all, 4);
  nnrt_module_free(me);
  nnrt_module_free(mt);
}
