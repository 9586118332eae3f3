/* tests/test_onednn.c - the oneDNN plugin: the device is there and says
 * what it is, its ops equal ref's (within float tolerance: activations,
 * softmax, linear, prelu, batch_norm (a large-mean input against its
 * definition), rnn/lstm/gru inference at tiny and realistic sizes,
 * upsample nearest and bilinear where oneDNN's index rule is PyTorch's), NaN
 * and infinities come out where ref's (PyTorch's) do on the paths that
 * repair oneDNN's results (softmax, log_softmax backward, prelu, large
 * enough to run in pieces), the memory-bound activations and whatever else
 * it declines run on ref in place and are counted, parameter gradients
 * accumulate, cached primitives give the same bits call after call and
 * from several threads.  Skipped (with a message) when the plugin was not
 * built: oneDNN missing at configure time.  The full op-by-op comparison
 * is nnrt-check's (tests/onednn.cmake); no timing is asserted anywhere.
 * Valid on any ISA: ctest runs it again with ONEDNN_MAX_CPU_ISA=AVX2
 * (oneDNN's kernels, and what runs on ref, differ there). */
#include <criterion/criterion.h>
#include <math.h>
#include <nnrt/nnrt.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLUGIN_FILE NNRT_BINARY_DIR "/lib/nnrt/libnnrt-onednn.so"

static nnrt_device *ref_dev, *dnn;

/* The onednn device, or a skip when the plugin was not built. */
static void need_onednn(void) {
  if (access(PLUGIN_FILE, F_OK) != 0) cr_skip_test("onednn plugin not built (oneDNN not found at configure time)");
  cr_assert_eq(nnrt_device_get("ref", &ref_dev), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_device_get("onednn", &dnn), NNRT_OK, "plugin built but not usable: %s", nnrt_last_error());
}

static nnrt_tensor *tensor(nnrt_device *d, nnrt_dtype dt, int ndim, const int64_t *shape) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(d, dt, ndim, shape, &t), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

/* A deterministic pseudo-random fill in [lo, hi), with x's kinks planted. */
static void fill(nnrt_tensor *t, double lo, double hi, unsigned seed) {
  static const float kinks[] = {0, -0.0f, 1, -1, 3, -3, 6, -6, 0.5f, -0.5f, 1e-30f, -1e-30f};
  float *d = nnrt_tensor_data(t);
  int64_t n = nnrt_tensor_numel(t);
  uint64_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    d[i] = (float)(lo + (hi - lo) * (double)(s >> 11) / 9007199254740992.0);
  }
  for (int64_t i = 0; i < n && i < (int64_t)(sizeof kinks / sizeof kinks[0]); i++) d[(i * 7) % n] = kinks[i];
}

static nnrt_tensor *copy_to(nnrt_device *d, nnrt_tensor *src) {
  nnrt_tensor *t = tensor(d, nnrt_tensor_dtype(src), nnrt_tensor_ndim(src), nnrt_tensor_shape(src));
  cr_assert_eq(nnrt_tensor_copy(t, src), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

/* |a-b| <= rtol |b| + atol * scale, scale = the largest |b|. */
static void expect_close(const char *what, nnrt_tensor *got, nnrt_tensor *want, double rtol, double atol) {
  const float *a = nnrt_tensor_data(got), *b = nnrt_tensor_data(want);
  int64_t n = nnrt_tensor_numel(want);
  cr_assert_eq(nnrt_tensor_numel(got), n);
  double scale = 0;
  for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
  for (int64_t i = 0; i < n; i++) {
    double tol = rtol * fabs(b[i]) + atol * (scale > 1 ? scale : 1);
    if (!(fabs((double)a[i] - b[i]) <= tol))
      cr_assert_fail("%s: element %lld: onednn %.9g, ref %.9g (tol %.3g)", what, (long long)i, a[i], b[i], tol);
  }
}

/* Equal values (a zero's sign may differ: oneDNN's relu' gives g*0). */
static void expect_equal(const char *what, nnrt_tensor *got, nnrt_tensor *want) {
  const float *a = nnrt_tensor_data(got), *b = nnrt_tensor_data(want);
  for (int64_t i = 0; i < nnrt_tensor_numel(want); i++)
    if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))))
      cr_assert_fail("%s: element %lld: onednn %.9g, ref %.9g", what, (long long)i, a[i], b[i]);
}

/* The same bits: one device against itself. */
static void expect_equal_bits(const char *what, nnrt_tensor *got, nnrt_tensor *want) {
  size_t bytes = (size_t)nnrt_tensor_numel(want) * nnrt_dtype_size(nnrt_tensor_dtype(want));
  cr_assert_eq(memcmp(nnrt_tensor_data(got), nnrt_tensor_data(want), bytes), 0, "%s: results differ", what);
}

/* Runs op on ref and on onednn with the same inputs (given on ref;
 * outputs flagged UPDATE start from `update_init`), compares, and expects
 * the onednn call to have run on ref by fallback or not. */
static void compare_op_as(nnrt_op op, const void *params, nnrt_tensor **in_ref, int n_in, double rtol, double atol,
                          bool exact, double update_init, bool fallback) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  nnrt_tensor *in_dnn[8] = {0}, *out_ref[8] = {0}, *out_dnn[8] = {0};
  nnrt_shape shapes[8];
  for (int i = 0; i < n_in; i++) in_dnn[i] = in_ref[i] ? copy_to(dnn, in_ref[i]) : NULL;
  cr_assert_eq(nnrt_op_infer(op, params, in_ref, shapes), NNRT_OK, "%s", nnrt_last_error());
  for (int i = 0; i < s->n_outputs; i++) {
    out_ref[i] = tensor(ref_dev, shapes[i].dtype, shapes[i].ndim, shapes[i].dims);
    out_dnn[i] = tensor(dnn, shapes[i].dtype, shapes[i].ndim, shapes[i].dims);
    if (s->outputs[i].flags & NNRT_ARG_UPDATE) {
      nnrt_tensor_fill(out_ref[i], update_init);
      nnrt_tensor_fill(out_dnn[i], update_init);
    }
  }
  uint64_t fb = nnrt_device_fallback_count(dnn, op);
  cr_assert_eq(nnrt_op_run(op, params, in_ref, out_ref), NNRT_OK, "ref %s: %s", s->name, nnrt_last_error());
  cr_assert_eq(nnrt_op_run(op, params, in_dnn, out_dnn), NNRT_OK, "onednn %s: %s", s->name, nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, op), fb + fallback, "%s %s to ref", s->name,
               fallback ? "did not fall back" : "fell back");
  for (int i = 0; i < s->n_outputs; i++) {
    char what[96];
    snprintf(what, sizeof what, "%s %s", s->name, s->outputs[i].name);
    if (exact) expect_equal(what, out_dnn[i], out_ref[i]);
    else expect_close(what, out_dnn[i], out_ref[i], rtol, atol);
    nnrt_tensor_free(out_ref[i]);
    nnrt_tensor_free(out_dnn[i]);
  }
  for (int i = 0; i < n_in; i++) nnrt_tensor_free(in_dnn[i]);
}

/* The same, run on oneDNN (no fallback). */
static void compare_op(nnrt_op op, const void *params, nnrt_tensor **in_ref, int n_in, double rtol, double atol,
                       bool exact, double update_init) {
  compare_op_as(op, params, in_ref, n_in, rtol, atol, exact, update_init, false);
}

/* Whether softmax and log_softmax backward run on oneDNN: oneDNN 2.6
 * vectorises them for AVX-512 only; on AVX2 and older (a machine without
 * AVX-512, or ONEDNN_MAX_CPU_ISA=AVX2) its only implementation is its
 * reference one, which the plugin declines, so they run on ref. */
static bool softmax_backward_on_onednn(void) { return strstr(nnrt_device_description(dnn), "ISA avx512") != NULL; }

Test(onednn, device_describes_itself) {
  need_onednn();
  cr_expect_str_eq(nnrt_device_backend(dnn), "onednn");
  const char *d = nnrt_device_description(dnn);
  cr_expect_not_null(strstr(d, "oneDNN"), "description '%s'", d);
  cr_expect_not_null(strstr(d, "ISA"), "description '%s'", d);
  /* the usable one: an installed copy elsewhere is listed as a rejected duplicate */
  bool found = false;
  for (size_t i = 0; i < nnrt_backend_count(); i++) {
    nnrt_backend_info info;
    cr_assert_eq(nnrt_backend_info_get(i, &info), NNRT_OK);
    if (strcmp(info.name, "onednn") || !info.usable) continue;
    found = true;
    cr_expect(info.host_memory);
    cr_expect_not_null(strstr(info.version, "oneDNN"), "version '%s'", info.version);
  }
  cr_expect(found, "no usable onednn backend listed");
  cr_expect(nnrt_device_has_op(dnn, NNRT_OP_sigmoid));
  cr_expect(nnrt_device_has_op(dnn, NNRT_OP_linear_backward));
  cr_expect(nnrt_device_has_op(dnn, NNRT_OP_prelu_backward));
  cr_expect_not(nnrt_device_has_op(dnn, NNRT_OP_softsign));
  cr_expect_not(nnrt_device_has_op(dnn, NNRT_OP_hardswish_backward));
  cr_expect_not(nnrt_device_has_op(dnn, NNRT_OP_relu)); /* memory-bound: ref's */
}

/* The memory-bound activations are left to ref (as fast, and exact with
 * NaN and infinities where oneDNN's relu and clip are not): on the onednn
 * device they run on ref in place, are counted, and give ref's bits, at
 * the kinks and with NaN and +-inf inputs and gradients. */
Test(onednn, memory_bound_activations_run_on_ref) {
  need_onednn();
  int64_t shape[] = {5, 7, 11, 13};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 4, shape), *g = tensor(ref_dev, NNRT_F32, 4, shape);
  fill(x, -8, 8, 1);
  fill(g, -2, 2, 2);
  float *xv = nnrt_tensor_data(x), *gv = nnrt_tensor_data(g);
  for (int i = 0; i < 3; i++) {
    xv[100 + i] = (float[]){NAN, INFINITY, -INFINITY}[i];
    gv[200 + i] = (float[]){NAN, INFINITY, -INFINITY}[i];
  }
  nnrt_tensor *fwd[] = {x}, *bwd[] = {g, x};
  const char *cases[] = {"relu", "relu6", "leaky_relu negative_slope=0.2", "hardtanh min_val=-1 max_val=3",
                         "threshold", "elu", "elu alpha=0.3", "celu"};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int b = 0; b < 2; b++) {
      char name[64], buf[64];
      snprintf(buf, sizeof buf, "%s", cases[c]);
      char *save = NULL, *op_name = strtok_r(buf, " ", &save);
      snprintf(name, sizeof name, "%s%s", op_name, b ? "_backward" : "");
      nnrt_op op = nnrt_op_from_name(name);
      char p[256];
      cr_assert_eq(nnrt_params_init(op, p), NNRT_OK);
      for (char *t = strtok_r(NULL, " ", &save); t; t = strtok_r(NULL, " ", &save))
        cr_assert_eq(nnrt_params_set(op, p, t), NNRT_OK, "%s", nnrt_last_error());
      nnrt_tensor **in = b ? bwd : fwd, *in_d[2] = {0};
      for (int i = 0; i <= b; i++) in_d[i] = copy_to(dnn, in[i]);
      nnrt_tensor *want = tensor(ref_dev, NNRT_F32, 4, shape), *got = tensor(dnn, NNRT_F32, 4, shape);
      uint64_t before = nnrt_device_fallback_count(dnn, op);
      cr_assert_eq(nnrt_op_run(op, p, in, &want), NNRT_OK, "%s", nnrt_last_error());
      cr_assert_eq(nnrt_op_run(op, p, in_d, &got), NNRT_OK, "%s", nnrt_last_error());
      cr_expect_eq(nnrt_device_fallback_count(dnn, op), before + 1, "%s did not run on ref", cases[c]);
      expect_equal_bits(cases[c], got, want);
      nnrt_tensor_free(want);
      nnrt_tensor_free(got);
      for (int i = 0; i <= b; i++) nnrt_tensor_free(in_d[i]);
    }
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
}

Test(onednn, smooth_activations_equal_ref_within_float_tolerance) {
  need_onednn();
  int64_t shape[] = {3, 1000};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 2, shape), *g = tensor(ref_dev, NNRT_F32, 2, shape);
  fill(x, -12, 12, 3);
  fill(g, -1, 1, 4);
  nnrt_tensor *fwd[] = {x}, *bwd[] = {g, x};
  nnrt_gelu_params gt = {.approximate = 1};
  nnrt_gelu_backward_params gtb = {.approximate = 1};
  const struct {
    nnrt_op op;
    const void *params;
  } cases[] = {
      {NNRT_OP_sigmoid, NULL}, {NNRT_OP_sigmoid_backward, NULL},
      {NNRT_OP_tanh, NULL}, {NNRT_OP_tanh_backward, NULL}, {NNRT_OP_gelu, NULL}, {NNRT_OP_gelu_backward, NULL},
      {NNRT_OP_gelu, &gt}, {NNRT_OP_gelu_backward, &gtb}, {NNRT_OP_silu, NULL}, {NNRT_OP_silu_backward, NULL},
      {NNRT_OP_mish, NULL}, {NNRT_OP_hardswish, NULL}, {NNRT_OP_softplus_backward, NULL},
      {NNRT_OP_logsigmoid_backward, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool backward = strstr(nnrt_op_name(cases[i].op), "_backward") != NULL;
    compare_op(cases[i].op, cases[i].params, backward ? bwd : fwd, backward ? 2 : 1, 1e-5, 2e-6, false, 0);
  }
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
}

Test(onednn, softmax_family_equals_ref) {
  need_onednn();
  int64_t shape[] = {6, 5, 40};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 3, shape), *g = tensor(ref_dev, NNRT_F32, 3, shape);
  nnrt_tensor *y = tensor(ref_dev, NNRT_F32, 3, shape), *ly = tensor(ref_dev, NNRT_F32, 3, shape);
  fill(x, -10, 10, 5);
  fill(g, -1, 1, 6);
  nnrt_softmax_params p = {.dim = -1};
  nnrt_log_softmax_params lp = {.dim = 2};
  cr_assert_eq(nnrt_softmax(x, y, &p), NNRT_OK);
  cr_assert_eq(nnrt_log_softmax(x, ly, &lp), NNRT_OK);
  nnrt_tensor *fwd[] = {x}, *bwd[] = {g, y}, *lbwd[] = {g, ly}; /* log_softmax forward is ref's */
  nnrt_softmax_backward_params bp = {.dim = -1};
  nnrt_log_softmax_backward_params lbp = {.dim = 2};
  compare_op(NNRT_OP_softmax, &p, fwd, 1, 1e-5, 1e-6, false, 0);
  bool bwd_ref = !softmax_backward_on_onednn();
  compare_op_as(NNRT_OP_softmax_backward, &bp, bwd, 2, 1e-5, 1e-6, false, 0, bwd_ref);
  compare_op_as(NNRT_OP_log_softmax_backward, &lbp, lbwd, 2, 1e-5, 1e-6, false, 0, bwd_ref);
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_tensor_free(y);
  nnrt_tensor_free(ly);
}

/* NaN where ref has NaN, the same infinities, other values within
 * rtol |b| + atol * (largest finite |b|, at least 1). */
static void expect_close_nonfinite(const char *what, nnrt_tensor *got, nnrt_tensor *want, double rtol, double atol) {
  const float *a = nnrt_tensor_data(got), *b = nnrt_tensor_data(want);
  int64_t n = nnrt_tensor_numel(want);
  double scale = 1;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(b[i])) scale = fmax(scale, fabs(b[i]));
  for (int64_t i = 0; i < n; i++) {
    bool ok = isnan(b[i]) ? isnan(a[i]) : isinf(b[i]) ? a[i] == b[i] : fabs((double)a[i] - b[i]) <= rtol * fabs(b[i]) + atol * scale;
    if (!ok) cr_assert_fail("%s: element %lld: onednn %.9g, ref %.9g", what, (long long)i, a[i], b[i]);
  }
}

/* Puts NaN, +inf and -inf at about one element in `every` (from seed). */
static void sprinkle(nnrt_tensor *t, int every, unsigned seed) {
  float *d = nnrt_tensor_data(t);
  uint64_t s = seed * 2654435761u + 7;
  for (int64_t i = 0; i < nnrt_tensor_numel(t); i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t r = s >> 33;
    if (r % (uint64_t)every == 0) d[i] = (float[]){NAN, INFINITY, -INFINITY}[(r / (uint64_t)every) % 3];
  }
}

/* Runs op on ref and onednn (inputs given on ref; UPDATE outputs from
 * 0.5), expects the NaN and infinities where ref's are and whether it
 * fell back. */
static void compare_nonfinite(const char *what, nnrt_op op, const void *params, nnrt_tensor **in_ref, int n_in,
                              double rtol, double atol, bool fallback) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  nnrt_tensor *in_dnn[4] = {0}, *out_ref[4] = {0}, *out_dnn[4] = {0};
  nnrt_shape shapes[4];
  for (int i = 0; i < n_in; i++) in_dnn[i] = copy_to(dnn, in_ref[i]);
  cr_assert_eq(nnrt_op_infer(op, params, in_ref, shapes), NNRT_OK, "%s", nnrt_last_error());
  for (int i = 0; i < s->n_outputs; i++) {
    out_ref[i] = tensor(ref_dev, shapes[i].dtype, shapes[i].ndim, shapes[i].dims);
    out_dnn[i] = tensor(dnn, shapes[i].dtype, shapes[i].ndim, shapes[i].dims);
    nnrt_tensor_fill(out_ref[i], 0.5);
    nnrt_tensor_fill(out_dnn[i], 0.5);
  }
  uint64_t fb = nnrt_device_fallback_count(dnn, op);
  cr_assert_eq(nnrt_op_run(op, params, in_ref, out_ref), NNRT_OK, "ref %s: %s", what, nnrt_last_error());
  cr_assert_eq(nnrt_op_run(op, params, in_dnn, out_dnn), NNRT_OK, "onednn %s: %s", what, nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, op), fb + fallback, "%s: %s to ref", what,
               fallback ? "did not fall back" : "fell back");
  for (int i = 0; i < s->n_outputs; i++) {
    char w[128];
    snprintf(w, sizeof w, "%s %s", what, s->outputs[i].name);
    expect_close_nonfinite(w, out_dnn[i], out_ref[i], rtol, atol);
    nnrt_tensor_free(out_ref[i]);
    nnrt_tensor_free(out_dnn[i]);
  }
  for (int i = 0; i < n_in; i++) nnrt_tensor_free(in_dnn[i]);
}

/* NaN and infinities through the ops that keep oneDNN and repair its
 * results (softmax, log_softmax backward, prelu), small (one primitive)
 * and at 2 Mi elements (in pieces up to 32 threads), against ref, which
 * the PyTorch golden fixtures check.  Rows hold scattered NaN, +inf and
 * -inf, and one row is all -inf; prelu's NaN inputs sit in one channel, so
 * only that channel's grad_weight is NaN, and two other channels hold
 * x > 0 with g x not finite, which adds nothing to grad_weight (g = +inf,
 * and all-finite x = 1e38, g = 4, overflowing: oneDNN's AVX2 and SSE4.1
 * kernels gave NaN there, as for x = +inf; ctest runs this under
 * ONEDNN_MAX_CPU_ISA=AVX2 too). */
Test(onednn, nonfinite_values_where_ref_has_them) {
  need_onednn();
  for (int big = 0; big < 2; big++) {
    char what[64];
    int64_t xs[] = {big ? 20480 : 37, 100};
    nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 2, xs), *g = tensor(ref_dev, NNRT_F32, 2, xs);
    nnrt_tensor *y = tensor(ref_dev, NNRT_F32, 2, xs), *ly = tensor(ref_dev, NNRT_F32, 2, xs);
    fill(x, -10, 10, 30);
    fill(g, -1, 1, 31);
    sprinkle(x, 700, 32);
    float *xv = nnrt_tensor_data(x);
    for (int d = 0; d < 100; d++) xv[5 * 100 + d] = -INFINITY;
    for (int d = 0; d < 100; d += 3) xv[6 * 100 + d] = -INFINITY;
    nnrt_softmax_params sp = {.dim = 1};
    nnrt_log_softmax_params lp = {.dim = -1};
    cr_assert_eq(nnrt_softmax(x, y, &sp), NNRT_OK);
    cr_assert_eq(nnrt_log_softmax(x, ly, &lp), NNRT_OK);
    snprintf(what, sizeof what, "softmax %lldx100", (long long)xs[0]);
    compare_nonfinite(what, NNRT_OP_softmax, &sp, (nnrt_tensor *[]){x}, 1, 1e-5, 1e-6, false);
    nnrt_softmax_backward_params bp = {.dim = 1};
    nnrt_log_softmax_backward_params lbp = {.dim = 1};
    bool bwd_ref = !softmax_backward_on_onednn();
    snprintf(what, sizeof what, "log_softmax_backward %lldx100", (long long)xs[0]);
    compare_nonfinite(what, NNRT_OP_log_softmax_backward, &lbp, (nnrt_tensor *[]){g, ly}, 2, 1e-5, 1e-6, bwd_ref);
    sprinkle(g, 900, 33);
    snprintf(what, sizeof what, "log_softmax_backward %lldx100, non-finite g", (long long)xs[0]);
    compare_nonfinite(what, NNRT_OP_log_softmax_backward, &lbp, (nnrt_tensor *[]){g, ly}, 2, 1e-5, 1e-6, bwd_ref);
    snprintf(what, sizeof what, "softmax_backward %lldx100", (long long)xs[0]);
    compare_nonfinite(what, NNRT_OP_softmax_backward, &bp, (nnrt_tensor *[]){g, y}, 2, 1e-5, 1e-6, bwd_ref);
    nnrt_tensor *all[] = {x, g, y, ly};
    for (size_t i = 0; i < 4; i++) nnrt_tensor_free(all[i]);

    int64_t ps[] = {big ? 256 : 3, 16, big ? 512 : 5}, per_channel[] = {16}, single[] = {1};
    nnrt_tensor *px = tensor(ref_dev, NNRT_F32, 3, ps), *pg = tensor(ref_dev, NNRT_F32, 3, ps);
    fill(px, -4, 4, 34);
    fill(pg, -1, 1, 35);
    float *pxv = nnrt_tensor_data(px);
    for (int64_t n = 0; n < ps[0]; n++) /* NaN in channel 3 only; +-inf anywhere */
      for (int64_t i = 0; i < ps[2]; i += 7) pxv[(n * 16 + 3) * ps[2] + i] = NAN;
    for (int64_t i = 11; i < nnrt_tensor_numel(px); i += 1013) pxv[i] = i % 2 ? INFINITY : -INFINITY;
    float *pgv = nnrt_tensor_data(pg);
    for (int64_t n = 0; n < ps[0]; n += 2) { /* channels 5 and 9, at their first element */
      pxv[(n * 16 + 5) * ps[2]] = 2, pgv[(n * 16 + 5) * ps[2]] = INFINITY;
      pxv[(n * 16 + 9) * ps[2]] = 1e38f, pgv[(n * 16 + 9) * ps[2]] = 4;
    }
    for (int k = 0; k < 2; k++) {
      nnrt_tensor *w = tensor(ref_dev, NNRT_F32, 1, k ? single : per_channel);
      fill(w, 0.1, 0.5, 36);
      snprintf(what, sizeof what, "prelu %s %lld", k ? "w1" : "wC", (long long)nnrt_tensor_numel(px));
      compare_nonfinite(what, NNRT_OP_prelu, NULL, (nnrt_tensor *[]){px, w}, 2, 0, 0, false);
      snprintf(what, sizeof what, "prelu_backward %s %lld", k ? "w1" : "wC", (long long)nnrt_tensor_numel(px));
      compare_nonfinite(what, NNRT_OP_prelu_backward, NULL, (nnrt_tensor *[]){pg, px, w}, 3, 1e-4, 1e-6, false);
      /* a non-finite weight: both go to ref (oneDNN's x > 0 lanes come out NaN) */
      ((float *)nnrt_tensor_data(w))[0] = k ? NAN : INFINITY;
      snprintf(what, sizeof what, "prelu %s, non-finite weight", k ? "w1" : "wC");
      compare_nonfinite(what, NNRT_OP_prelu, NULL, (nnrt_tensor *[]){px, w}, 2, 0, 0, true);
      snprintf(what, sizeof what, "prelu_backward %s, non-finite weight", k ? "w1" : "wC");
      compare_nonfinite(what, NNRT_OP_prelu_backward, NULL, (nnrt_tensor *[]){pg, px, w}, 3, 1e-4, 1e-6, true);
      nnrt_tensor_free(w);
    }
    nnrt_tensor_free(px);
    nnrt_tensor_free(pg);
  }
}

/* x (2, 3, 17) exercises the (*, in) view; gradients start from 0.5 to
 * show they accumulate. */
Test(onednn, linear_forward_and_accumulating_backward) {
  need_onednn();
  int64_t xs[] = {2, 3, 17}, ws[] = {9, 17}, bs[] = {9}, gs[] = {2, 3, 9};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 3, xs), *w = tensor(ref_dev, NNRT_F32, 2, ws);
  nnrt_tensor *b = tensor(ref_dev, NNRT_F32, 1, bs), *g = tensor(ref_dev, NNRT_F32, 3, gs);
  fill(x, -1, 1, 7);
  fill(w, -0.5, 0.5, 8);
  fill(b, -0.5, 0.5, 9);
  fill(g, -1, 1, 10);
  nnrt_tensor *fwd[] = {x, w, b}, *fwd_nobias[] = {x, w, NULL}, *bwd[] = {g, x, w};
  compare_op(NNRT_OP_linear, NULL, fwd, 3, 1e-5, 1e-6, false, 0);
  compare_op(NNRT_OP_linear, NULL, fwd_nobias, 3, 1e-5, 1e-6, false, 0);
  compare_op(NNRT_OP_linear_backward, NULL, bwd, 3, 1e-5, 1e-6, false, 0.5);

  /* only the bias gradient, twice: 0.5 + 2 * column sums of g */
  nnrt_tensor *g_d = copy_to(dnn, g), *x_d = copy_to(dnn, x), *w_d = copy_to(dnn, w);
  nnrt_tensor *gb = tensor(dnn, NNRT_F32, 1, bs);
  nnrt_tensor_fill(gb, 0.5);
  for (int r = 0; r < 2; r++)
    cr_assert_eq(nnrt_linear_backward(g_d, x_d, w_d, NULL, NULL, gb, NULL), NNRT_OK, "%s", nnrt_last_error());
  const float *gv = nnrt_tensor_data(g), *gbv = nnrt_tensor_data(gb);
  for (int n = 0; n < 9; n++) {
    double s = 0;
    for (int m = 0; m < 6; m++) s += gv[m * 9 + n];
    cr_expect_float_eq(gbv[n], 0.5 + 2 * s, 1e-5, "grad_bias[%d]", n);
  }
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_linear_backward), 0);
  nnrt_tensor_free(g_d);
  nnrt_tensor_free(x_d);
  nnrt_tensor_free(w_d);
  nnrt_tensor_free(gb);
  nnrt_tensor_free(x);
  nnrt_tensor_free(w);
  nnrt_tensor_free(b);
  nnrt_tensor_free(g);
}

/* PReLU per channel and with one weight; grad_weight accumulates from 0.5. */
Test(onednn, prelu_forward_and_backward) {
  need_onednn();
  int64_t xs[] = {4, 6, 5, 3}, per_channel[] = {6}, single[] = {1};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 4, xs), *g = tensor(ref_dev, NNRT_F32, 4, xs);
  fill(x, -4, 4, 16);
  fill(g, -1, 1, 17);
  for (int k = 0; k < 2; k++) {
    nnrt_tensor *w = tensor(ref_dev, NNRT_F32, 1, k ? single : per_channel);
    fill(w, 0.1, 0.5, 18);
    nnrt_tensor *fwd[] = {x, w}, *bwd[] = {g, x, w};
    compare_op(NNRT_OP_prelu, NULL, fwd, 2, 0, 0, true, 0);
    compare_op(NNRT_OP_prelu_backward, NULL, bwd, 3, 1e-5, 1e-6, false, 0.5);
    nnrt_tensor_free(w);
  }
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
}

/* batch_norm: training (running stats updated), eval, both backwards with
 * gradients accumulating from 0.5; then a large-mean input, where float
 * statistics would lose 1e-3 (the expected value is computed here in
 * double from the definition, not taken from either backend). */
Test(onednn, batch_norm_forward_backward_and_large_mean) {
  need_onednn();
  int64_t xs[] = {6, 4, 5, 3}, cs[] = {4};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 4, xs), *g = tensor(ref_dev, NNRT_F32, 4, xs);
  nnrt_tensor *w = tensor(ref_dev, NNRT_F32, 1, cs), *b = tensor(ref_dev, NNRT_F32, 1, cs);
  fill(x, -2, 3, 19);
  fill(g, -1, 1, 20);
  fill(w, 0.5, 1.5, 21);
  fill(b, -0.5, 0.5, 22);
  nnrt_tensor *fwd[] = {x, w, b};
  /* running stats start at 0.5 (UPDATE outputs): the training step updates them */
  nnrt_batch_norm_params train = {.training = true, .momentum = 0.1, .eps = 1e-5};
  compare_op(NNRT_OP_batch_norm, &train, fwd, 3, 1e-5, 1e-6, false, 0.5);
  nnrt_batch_norm_params eval = {.training = false, .momentum = 0.1, .eps = 1e-3};
  compare_op(NNRT_OP_batch_norm, &eval, fwd, 3, 1e-5, 1e-6, false, 0.5);

  nnrt_tensor *sm = tensor(ref_dev, NNRT_F32, 1, cs), *si = tensor(ref_dev, NNRT_F32, 1, cs);
  nnrt_tensor *y = tensor(ref_dev, NNRT_F32, 4, xs);
  cr_assert_eq(nnrt_batch_norm(x, w, b, y, sm, si, NULL, NULL, &train), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *bwd[] = {g, x, w, sm, si};
  nnrt_batch_norm_backward_params bt = {.training = true}, be = {.training = false};
  compare_op(NNRT_OP_batch_norm_backward, &bt, bwd, 5, 1e-5, 1e-6, false, 0.5);
  compare_op(NNRT_OP_batch_norm_backward, &be, bwd, 5, 1e-5, 1e-6, false, 0.5);

  /* mean 1e4, spread 1: y = (x - mean) / sqrt(var + eps) within 1e-5 */
  int64_t ls[] = {64, 2};
  nnrt_tensor *lx = tensor(dnn, NNRT_F32, 2, ls), *ly = tensor(dnn, NNRT_F32, 2, ls);
  nnrt_tensor *lm = tensor(dnn, NNRT_F32, 1, (int64_t[]){2}), *li = tensor(dnn, NNRT_F32, 1, (int64_t[]){2});
  fill(lx, 9999, 10001, 23);
  nnrt_batch_norm_params plain = {.training = true, .momentum = 0.1, .eps = 1e-5};
  uint64_t before = nnrt_device_fallback_count(dnn, NNRT_OP_batch_norm);
  cr_assert_eq(nnrt_batch_norm(lx, NULL, NULL, ly, lm, li, NULL, NULL, &plain), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_batch_norm), before);
  const float *xv = nnrt_tensor_data(lx), *yv = nnrt_tensor_data(ly);
  for (int c = 0; c < 2; c++) {
    double mean = 0, var = 0;
    for (int n = 0; n < 64; n++) mean += xv[n * 2 + c];
    mean /= 64;
    for (int n = 0; n < 64; n++) var += (xv[n * 2 + c] - mean) * (xv[n * 2 + c] - mean);
    var /= 64;
    for (int n = 0; n < 64; n++) {
      double want = (xv[n * 2 + c] - mean) / sqrt(var + 1e-5);
      cr_assert(fabs(yv[n * 2 + c] - want) < 1e-5, "large mean: y[%d,%d] = %.9g, want %.9g", n, c, yv[n * 2 + c], want);
    }
  }
  nnrt_tensor *all[] = {x, g, w, b, sm, si, y, lx, ly, lm, li};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nnrt_tensor_free(all[i]);
}

/* rnn, lstm, gru forward without a workspace (inference) run on oneDNN and
 * equal ref: T steps of N sequences, with initial states or without; the
 * sizes, layers and directions come from params, weights from [-wmax, wmax]. */
static void compare_rnn(nnrt_op op, const char *params, int64_t T, int64_t N, bool batch_first, bool with_h0,
                        double wmax) {
  char p[512];
  cr_assert_eq(nnrt_params_init(op, p), NNRT_OK);
  char buf[256];
  snprintf(buf, sizeof buf, "%s", params);
  for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
    cr_assert_eq(nnrt_params_set(op, p, t), NNRT_OK, "%s", nnrt_last_error());
  bool lstm = op == NNRT_OP_lstm;
  const nnrt_rnn_params *rp = (const nnrt_rnn_params *)p; /* the layer params share their first members */
  int64_t G = lstm ? 4 : op == NNRT_OP_gru ? 3 : 1, H = rp->hidden_size, D = rp->bidirectional ? 2 : 1, n = 0;
  int64_t xs[] = {batch_first ? N : T, batch_first ? T : N, rp->input_size}, hs[] = {rp->num_layers * D, N, H};
  nnrt_tensor *in[6] = {0};
  in[0] = tensor(ref_dev, NNRT_F32, 3, xs);
  fill(in[0], -1, 1, 24);
  if (with_h0) {
    in[1] = tensor(ref_dev, NNRT_F32, 3, hs);
    fill(in[1], -1, 1, 25);
    if (lstm) {
      in[2] = tensor(ref_dev, NNRT_F32, 3, hs);
      fill(in[2], -1, 1, 26);
    }
  }
  /* the flat weights' size: G*H*(I_l + H [+ 2 biases]) per layer and direction */
  for (int64_t l = 0; l < rp->num_layers; l++) n += D * G * H * ((l ? D * H : rp->input_size) + H + (rp->bias ? 2 : 0));
  int wi = lstm ? 3 : 2;
  in[wi] = tensor(ref_dev, NNRT_F32, 1, &n);
  fill(in[wi], -wmax, wmax, 27);
  /* outputs: output, h_n (, c_n); workspace left out */
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  nnrt_shape shapes[4];
  cr_assert_eq(nnrt_op_infer(op, p, in, shapes), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *in_d[6] = {0}, *out_r[4] = {0}, *out_d[4] = {0};
  for (int i = 0; i < 6; i++) in_d[i] = in[i] ? copy_to(dnn, in[i]) : NULL;
  for (int i = 0; i + 1 < s->n_outputs; i++) {
    out_r[i] = tensor(ref_dev, NNRT_F32, shapes[i].ndim, shapes[i].dims);
    out_d[i] = tensor(dnn, NNRT_F32, shapes[i].ndim, shapes[i].dims);
  }
  uint64_t fb = nnrt_device_fallback_count(dnn, op);
  cr_assert_eq(nnrt_op_run(op, p, in, out_r), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_op_run(op, p, in_d, out_d), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, op), fb, "%s %s fell back to ref", s->name, params);
  for (int i = 0; i + 1 < s->n_outputs; i++) {
    char what[300];
    snprintf(what, sizeof what, "%s %s: %s", s->name, params, s->outputs[i].name);
    expect_close(what, out_d[i], out_r[i], 1e-5, 1e-6);
    nnrt_tensor_free(out_r[i]);
    nnrt_tensor_free(out_d[i]);
  }
  for (int i = 0; i < 6; i++) {
    nnrt_tensor_free(in[i]);
    nnrt_tensor_free(in_d[i]);
  }
}

Test(onednn, recurrent_layers_forward) {
  need_onednn();
  const nnrt_op ops[] = {NNRT_OP_rnn, NNRT_OP_lstm, NNRT_OP_gru};
  for (int i = 0; i < 3; i++) {
    compare_rnn(ops[i], "input_size=5 hidden_size=6 num_layers=2 bidirectional=true", 4, 3, false, true, 0.4);
    compare_rnn(ops[i], "input_size=5 hidden_size=6 batch_first=true bias=false", 4, 3, true, false, 0.4);
  }
  compare_rnn(NNRT_OP_rnn, "input_size=5 hidden_size=6 num_layers=2 bidirectional=true nonlinearity=relu", 4, 3,
              false, true, 0.4);
}

/* The same at realistic sizes, two layers, one and two directions, with
 * and without biases: the weights there take oneDNN's optimised formats,
 * which H=6 does not reach on every ISA.  AVX-512: brgemm's blocked
 * ldgOi32o (unpadded, H a multiple of 32).  AVX2 and older, the gemm path:
 * plain ldigo at T=3, N=4, H=64, and rnn_packed where it packs (weights_
 * layer at T=1, weights_iter at N >= 16, and on AVX2 only from H=128 on:
 * the second shape), reordered from the plain copy with two directions
 * (rnn.c's one non-direct path); GRU plain ldigo throughout.  Initial
 * states go with the biases (at T=1 the only use of weights_iter).
 * Weights in PyTorch's init range, +-1/sqrt(H), so the gates do not all
 * saturate. */
Test(onednn, recurrent_layers_forward_realistic_size) {
  need_onednn();
  const nnrt_op ops[] = {NNRT_OP_rnn, NNRT_OP_lstm, NNRT_OP_gru};
  const int64_t shapes[][3] = {{3, 4, 64}, {1, 16, 128}}; /* T, N, H; I = 40 */
  for (int i = 0; i < 3; i++)
    for (int s = 0; s < 2; s++)
      for (int bidir = 0; bidir < 2; bidir++)
        for (int bias = 0; bias < 2; bias++) {
          char params[160];
          snprintf(params, sizeof params, "input_size=40 hidden_size=%lld num_layers=2 bidirectional=%s bias=%s",
                   (long long)shapes[s][2], bidir ? "true" : "false", bias ? "true" : "false");
          compare_rnn(ops[i], params, shapes[s][0], shapes[s][1], false, bias, 1 / sqrt((double)shapes[s][2]));
        }
}

/* An op oneDNN lacks, params it cannot do exactly, and f64: each runs on
 * ref on the same buffers, is counted, and equals ref. */
Test(onednn, fallback_runs_on_ref_in_place_and_is_counted) {
  need_onednn();
  int64_t shape[] = {4, 33};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 2, shape), *want = tensor(ref_dev, NNRT_F32, 2, shape);
  fill(x, -5, 5, 11);
  nnrt_tensor *xd = copy_to(dnn, x), *yd = tensor(dnn, NNRT_F32, 2, shape);
  void *buf = nnrt_tensor_data(yd);

  uint64_t before = nnrt_device_fallback_count(dnn, NNRT_OP_softsign);
  cr_assert_eq(nnrt_softsign(x, want, NULL), NNRT_OK);
  cr_assert_eq(nnrt_softsign(xd, yd, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_softsign), before + 1);
  cr_expect_eq(nnrt_tensor_data(yd), buf, "the output buffer was replaced");
  expect_equal_bits("softsign", yd, want);

  /* softplus forward: oneDNN's soft_relu differs from PyTorch in the tail */
  before = nnrt_device_fallback_count(dnn, NNRT_OP_softplus);
  cr_assert_eq(nnrt_softplus(x, want, NULL), NNRT_OK);
  cr_assert_eq(nnrt_softplus(xd, yd, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_softplus), before + 1);
  expect_equal_bits("softplus", yd, want);

  /* softplus backward with beta != 1 is declined by supports() */
  nnrt_tensor *gd = copy_to(dnn, x);
  nnrt_softplus_backward_params sb = {.beta = 2, .threshold = 20};
  before = nnrt_device_fallback_count(dnn, NNRT_OP_softplus_backward);
  cr_assert_eq(nnrt_softplus_backward(x, x, want, &sb), NNRT_OK);
  cr_assert_eq(nnrt_softplus_backward(gd, xd, yd, &sb), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_softplus_backward), before + 1);
  expect_equal_bits("softplus_backward beta=2", yd, want);

  /* f64 on the onednn device: ref computes it on the device's buffers */
  nnrt_tensor *x64 = tensor(dnn, NNRT_F64, 2, shape), *y64 = tensor(dnn, NNRT_F64, 2, shape);
  double *xv = nnrt_tensor_data(x64);
  for (int i = 0; i < 4 * 33; i++) xv[i] = (i % 2 ? -i : i) / 16.0;
  before = nnrt_device_fallback_count(dnn, NNRT_OP_sigmoid);
  cr_assert_eq(nnrt_sigmoid(x64, y64, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_sigmoid), before + 1);
  const double *yv = nnrt_tensor_data(y64);
  for (int i = 0; i < 4 * 33; i++)
    cr_expect(fabs(yv[i] - 1 / (1 + exp(-xv[i]))) < 1e-15, "f64 sigmoid[%d] = %.17g", i, yv[i]);

  nnrt_tensor_free(x);
  nnrt_tensor_free(want);
  nnrt_tensor_free(xd);
  nnrt_tensor_free(yd);
  nnrt_tensor_free(gd);
  nnrt_tensor_free(x64);
  nnrt_tensor_free(y64);
}

Test(onednn, inplace_activation) {
  need_onednn();
  int64_t shape[] = {100};
  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 1, shape), *want = tensor(ref_dev, NNRT_F32, 1, shape);
  fill(x, -3, 3, 12);
  cr_assert_eq(nnrt_silu(x, want, NULL), NNRT_OK);
  nnrt_tensor *xd = copy_to(dnn, x);
  nnrt_silu_params ip = {.inplace = true};
  uint64_t before = nnrt_device_fallback_count(dnn, NNRT_OP_silu);
  cr_assert_eq(nnrt_silu(xd, NULL, &ip), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dnn, NNRT_OP_silu), before, "silu fell back to ref");
  expect_close("silu inplace", xd, want, 1e-5, 2e-6);
  nnrt_tensor_free(x);
  nnrt_tensor_free(want);
  nnrt_tensor_free(xd);
}

/* ---- upsample: oneDNN's resampling where its index rule is PyTorch's ---- */
typedef struct up_case {
  const char *op; /* the forward op; its backward runs too */
  int64_t shape[4];
  const char *params;
  bool mapped; /* runs on oneDNN (else declined: ref in place) */
} up_case;

/* Params of op from "name=value ..." text. */
static void up_params(nnrt_op op, const char *text, void *p) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", text);
  cr_assert_eq(nnrt_params_init(op, p), NNRT_OK);
  char *save = NULL;
  for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
    cr_assert_eq(nnrt_params_set(op, p, t), NNRT_OK, "%s", nnrt_last_error());
}

/* The forward's output shape for x. */
static nnrt_tensor *up_grad_output(nnrt_op op, const void *p, nnrt_tensor *x, unsigned seed) {
  nnrt_shape s;
  cr_assert_eq(nnrt_op_infer(op, p, &x, &s), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *g = tensor(ref_dev, NNRT_F32, s.ndim, s.dims);
  fill(g, -1, 1, seed);
  return g;
}

/* nearest with integer factors (size or scale_factor, 1 included) and
 * bilinear with align_corners=false and a dyadic out/in equal to PyTorch's
 * scale (2, 4, 10 -> 16, a 2x downscale) run on oneDNN: nearest's forward
 * gives ref's bits, the rest ref's values within float rounding (oneDNN's
 * backward sums in float, ref's in double).  Declined: nearest's other
 * factors (1.7, 0.6, a downscale, and 2.1, whose 4 -> 8 has the sizes of
 * a 2x but PyTorch's floor(o / 2.1)), bilinear's align_corners=true, its
 * non-dyadic ratios (3x, 10 -> 23), a scale_factor that is not out/in
 * (2.1 on 4 -> 8) and odd downscales (12 -> 4: coordinates on integers). */
Test(onednn, upsample_equals_ref_where_the_index_rule_is_pytorchs) {
  need_onednn();
  cr_expect(nnrt_device_has_op(dnn, NNRT_OP_upsample_nearest2d_backward));
  cr_expect(nnrt_device_has_op(dnn, NNRT_OP_upsample_bilinear2d));
  const up_case cases[] = {
      {"upsample_nearest2d", {2, 8, 24, 32}, "scale_factor=2,2", true}, /* 48 Ki outputs: threaded */
      {"upsample_nearest2d", {2, 3, 10, 12}, "scale_factor=3,3", true},
      {"upsample_nearest2d", {2, 3, 10, 12}, "size=20,36", true},
      {"upsample_nearest2d", {2, 3, 10, 12}, "size=10,12", true},
      {"upsample_nearest2d", {2, 3, 10, 12}, "scale_factor=1,2", true},
      {"upsample_nearest2d", {5, 7, 11, 13}, "scale_factor=1.7,0.6", false},
      {"upsample_nearest2d", {2, 3, 10, 12}, "size=5,6", false},
      {"upsample_nearest2d", {2, 3, 4, 6}, "scale_factor=2.1,2", false},
      {"upsample_bilinear2d", {2, 8, 24, 32}, "scale_factor=2,2 align_corners=false", true},
      {"upsample_bilinear2d", {2, 3, 10, 12}, "size=40,24 align_corners=false", true},
      {"upsample_bilinear2d", {2, 3, 10, 12}, "size=16,12 align_corners=false", true},
      {"upsample_bilinear2d", {2, 3, 10, 12}, "size=5,6 align_corners=false", true},
      {"upsample_bilinear2d", {1, 2, 6, 1}, "size=12,2 align_corners=false", true},
      {"upsample_bilinear2d", {2, 3, 10, 12}, "scale_factor=2,2 align_corners=true", false},
      {"upsample_bilinear2d", {2, 3, 10, 12}, "scale_factor=3,3 align_corners=false", false},
      {"upsample_bilinear2d", {2, 3, 10, 12}, "size=23,24 align_corners=false", false},
      {"upsample_bilinear2d", {2, 3, 4, 6}, "scale_factor=2.1,2 align_corners=false", false},
      {"upsample_bilinear2d", {2, 3, 12, 12}, "size=4,4 align_corners=false", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const up_case *u = &cases[i];
    nnrt_op op = nnrt_op_from_name(u->op), bop;
    char bname[64];
    snprintf(bname, sizeof bname, "%s_backward", u->op);
    bop = nnrt_op_from_name(bname);
    _Alignas(max_align_t) char p[256], bp[256];
    up_params(op, u->params, p);
    up_params(bop, u->params, bp);
    nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 4, u->shape);
    fill(x, -4, 4, 40 + (unsigned)i);
    nnrt_tensor *g = up_grad_output(op, p, x, 60 + (unsigned)i), *fwd[] = {x}, *bwd[] = {g, x};
    bool nearest = strstr(u->op, "nearest") != NULL;
    compare_op_as(op, p, fwd, 1, 1e-6, 1e-6, nearest, 0, !u->mapped);
    /* the backward: oneDNN 2.6 has only a generic loop for it, declined */
    compare_op_as(bop, bp, bwd, 2, 1e-6, 1e-6, false, 0, true);
    nnrt_tensor_free(x);
    nnrt_tensor_free(g);
  }
}

/* NaN and infinities: nearest copies and sums the same elements as
 * PyTorch, so it keeps oneDNN with any data.  Bilinear's first outputs
 * when upscaling are clamped to source index 0 by PyTorch, which still
 * reads index 1 (index 0 when the dim is 1 wide) with weight 0, where
 * oneDNN reads index 0 alone: a NaN or an infinity there (forward: input
 * row or column 1; backward: grad_output's first row or column) is NaN in
 * PyTorch's result and not in oneDNN's, so such calls go to ref; the same
 * values elsewhere stay on oneDNN and come out as ref's. */
Test(onednn, upsample_nonfinite_values_where_ref_has_them) {
  need_onednn();
  int64_t xs[] = {2, 3, 10, 12};
  _Alignas(max_align_t) char np_[256], nbp[256], lp[256], lbp[256];
  up_params(NNRT_OP_upsample_nearest2d, "scale_factor=2,3", np_);
  up_params(NNRT_OP_upsample_nearest2d_backward, "scale_factor=2,3", nbp);
  up_params(NNRT_OP_upsample_bilinear2d, "scale_factor=2,2 align_corners=false", lp);
  up_params(NNRT_OP_upsample_bilinear2d_backward, "scale_factor=2,2 align_corners=false", lbp);

  nnrt_tensor *x = tensor(ref_dev, NNRT_F32, 4, xs);
  fill(x, -4, 4, 80);
  sprinkle(x, 15, 81);
  nnrt_tensor *g = up_grad_output(NNRT_OP_upsample_nearest2d, np_, x, 82);
  sprinkle(g, 40, 83);
  nnrt_tensor *fwd[] = {x}, *bwd[] = {g, x};
  compare_nonfinite("nearest", NNRT_OP_upsample_nearest2d, np_, fwd, 1, 0, 0, false);
  compare_nonfinite("nearest backward", NNRT_OP_upsample_nearest2d_backward, nbp, bwd, 2, 1e-6, 1e-6, true);
  nnrt_tensor_free(g);

  /* bilinear: one value at a time, at a plane's edge or inside */
  const struct {
    bool bwd;
    int64_t row, col; /* in input (forward) or grad_output (backward) coordinates */
    float v;
    bool to_ref;
  } spots[] = {
      {false, 1, 5, INFINITY, true},   {false, 6, 1, NAN, true},       {false, 0, 0, -INFINITY, false},
      {false, 5, 7, INFINITY, false},  {false, 9, 11, NAN, false},     {true, 0, 9, INFINITY, true},
      {true, 13, 0, NAN, true},        {true, 1, 1, -INFINITY, false}, {true, 7, 9, INFINITY, false},
      {true, 19, 23, NAN, false},
  };
  fill(x, -4, 4, 84);
  g = up_grad_output(NNRT_OP_upsample_bilinear2d, lp, x, 85);
  bwd[0] = g;
  for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
    nnrt_tensor *t = spots[i].bwd ? g : x;
    const int64_t *s = nnrt_tensor_shape(t);
    float *d = nnrt_tensor_data(t);
    int64_t at = ((1 * s[1] + 2) * s[2] + spots[i].row) * s[3] + spots[i].col; /* plane (1, 2) */
    float keep = d[at];
    d[at] = spots[i].v;
    char what[96];
    snprintf(what, sizeof what, "bilinear%s with %g at (%lld, %lld)", spots[i].bwd ? " backward" : "",
             (double)spots[i].v, (long long)spots[i].row, (long long)spots[i].col);
    if (spots[i].bwd) /* declined whatever the data: oneDNN's backward is a generic loop */
      compare_nonfinite(what, NNRT_OP_upsample_bilinear2d_backward, lbp, bwd, 2, 1e-6, 1e-6, true);
    else
      compare_nonfinite(what, NNRT_OP_upsample_bilinear2d, lp, fwd, 1, 1e-6, 1e-6, spots[i].to_ref);
    d[at] = keep;
  }
  nnrt_tensor_free(g);
  nnrt_tensor_free(x);

  /* a dim 1 wide: PyTorch's first output reads x[0] with weights 1 and 0 */
  int64_t ws[] = {1, 2, 6, 1};
  _Alignas(max_align_t) char wp[256];
  up_params(NNRT_OP_upsample_bilinear2d, "size=12,2 align_corners=false", wp);
  x = tensor(ref_dev, NNRT_F32, 4, ws);
  fill(x, -4, 4, 86);
  ((float *)nnrt_tensor_data(x))[9] = INFINITY;
  fwd[0] = x;
  compare_nonfinite("bilinear, 1 wide, with inf", NNRT_OP_upsample_bilinear2d, wp, fwd, 1, 1e-6, 1e-6, true);
  nnrt_tensor_free(x);
}

/* ---- caching and threads: the same bits, call after call ---- */
typedef struct job {
  nnrt_tensor *x, *w, *b, *y, *z;
  int reps;
  nnrt_status st;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  for (int r = 0; r < j->reps && !j->st; r++) {
    j->st = nnrt_linear(j->x, j->w, j->b, j->y, NULL);
    if (!j->st) j->st = nnrt_gelu(j->y, j->z, NULL);
  }
  return NULL;
}

Test(onednn, cached_primitives_repeat_exactly_across_calls_and_threads) {
  need_onednn();
  int64_t xs[] = {64, 48}, ws[] = {40, 48}, bs[] = {40}, ys[] = {64, 40};
  nnrt_tensor *x = tensor(dnn, NNRT_F32, 2, xs), *w = tensor(dnn, NNRT_F32, 2, ws), *b = tensor(dnn, NNRT_F32, 1, bs);
  fill(x, -1, 1, 13);
  fill(w, -1, 1, 14);
  fill(b, -1, 1, 15);
  nnrt_tensor *first = tensor(dnn, NNRT_F32, 2, ys), *again = tensor(dnn, NNRT_F32, 2, ys);
  cr_assert_eq(nnrt_linear(x, w, b, first, NULL), NNRT_OK, "%s", nnrt_last_error());
  for (int r = 0; r < 5; r++) {
    cr_assert_eq(nnrt_linear(x, w, b, again, NULL), NNRT_OK, "%s", nnrt_last_error());
    expect_equal_bits("linear repeated", again, first);
  }
  /* a different shape in between, then the first again */
  int64_t xs2[] = {3, 48}, ys2[] = {3, 40};
  nnrt_tensor *x2 = tensor(dnn, NNRT_F32, 2, xs2), *y2 = tensor(dnn, NNRT_F32, 2, ys2);
  cr_assert_eq(nnrt_linear(x2, w, b, y2, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_linear(x, w, b, again, NULL), NNRT_OK, "%s", nnrt_last_error());
  expect_equal_bits("linear after another shape", again, first);

  /* the expected result of a job: linear then gelu */
  cr_assert_eq(nnrt_gelu(first, again, NULL), NNRT_OK, "%s", nnrt_last_error());

  enum { THREADS = 4 };
  pthread_t th[THREADS];
  job jobs[THREADS];
  for (int i = 0; i < THREADS; i++) {
    jobs[i] = (job){x, w, b, tensor(dnn, NNRT_F32, 2, ys), tensor(dnn, NNRT_F32, 2, ys), 20, NNRT_OK};
    cr_assert_eq(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    cr_expect_eq(jobs[i].st, NNRT_OK, "thread %d", i);
    expect_equal_bits("linear+gelu on a thread", jobs[i].z, again);
    nnrt_tensor_free(jobs[i].y);
    nnrt_tensor_free(jobs[i].z);
  }
  nnrt_tensor_free(x);
  nnrt_tensor_free(w);
  nnrt_tensor_free(b);
  nnrt_tensor_free(first);
  nnrt_tensor_free(again);
  nnrt_tensor_free(x2);
  nnrt_tensor_free(y2);
}
