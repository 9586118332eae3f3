/* tests/test_opencl.c - the OpenCL backend (backends/opencl): device
 * enumeration, ops against ref on opencl:0 (odd sizes that hit the vector
 * tails, multi-tile GEMMs, strided reductions, accumulating gradients),
 * empty tensors, threads sharing a device, the program cache (in process
 * and on disk), error paths, and probe's reasons when OpenCL is missing.
 *
 * nnrt_init runs once per process, so the cases that need a different
 * environment (no ICD vendors, no loader, a fresh cache directory) run this
 * same binary again as a child: with NNRT_OPENCL_TEST_HELPER set, a
 * constructor does the helper's job and exits before Criterion starts.
 * Cases that need a device skip (with the reason) where there is none.
 * The full op-by-op conformance run is nnrt-check (tests/opencl.cmake).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nnrt/nnrt.h>

/* ---- helpers ----------------------------------------------------------------- */
/* The first backend named opencl (the build tree's plugin comes before an
 * installed copy, which is then rejected as a duplicate). */
static const char *opencl_reason(bool *usable) {
  static char reason[1024];
  nnrt_backend_info info;
  *usable = false;
  snprintf(reason, sizeof reason, "the opencl plugin was not found");
  for (size_t i = 0; i < nnrt_backend_count(); i++)
    if (!nnrt_backend_info_get(i, &info) && !strcmp(info.name, "opencl")) {
      *usable = info.usable;
      snprintf(reason, sizeof reason, "%s", info.reason ? info.reason : "");
      break;
    }
  return reason;
}

static nnrt_device *ocl_or_skip(void) {
  nnrt_device *d = NULL;
  if (nnrt_device_get("opencl:0", &d) != NNRT_OK) cr_skip_test("no OpenCL device: %s", nnrt_last_error());
  return d;
}

static nnrt_device *ref_dev(void) {
  nnrt_device *d = NULL;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

static uint64_t rng_state = 12345;
static double rnd(void) { /* uniform in [-1, 1) */
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

/* A tensor on dev filled from vals (converted to dt), or random if NULL. */
static nnrt_tensor *make(nnrt_device *dev, nnrt_dtype dt, int nd, const int64_t *shape, const double *vals) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(dev, dt, nd, shape, &t), NNRT_OK, "%s", nnrt_last_error());
  int64_t n = nnrt_tensor_numel(t);
  size_t es = nnrt_dtype_size(dt);
  void *buf = malloc(n ? (size_t)n * es : 1);
  for (int64_t i = 0; i < n; i++) {
    double v = vals ? vals[i] : 3 * rnd();
    if (dt == NNRT_F32) ((float *)buf)[i] = (float)v;
    else if (dt == NNRT_F64) ((double *)buf)[i] = v;
    else ((int64_t *)buf)[i] = (int64_t)v;
  }
  cr_assert_eq(nnrt_tensor_write(t, buf, (size_t)n * es), NNRT_OK, "%s", nnrt_last_error());
  free(buf);
  return t;
}

static double *values(const nnrt_tensor *t) {
  int64_t n = nnrt_tensor_numel(t);
  nnrt_dtype dt = nnrt_tensor_dtype(t);
  void *buf = malloc(n ? (size_t)n * nnrt_dtype_size(dt) : 1);
  double *v = malloc(n ? (size_t)n * sizeof *v : 1);
  cr_assert_eq(nnrt_tensor_read(t, buf, (size_t)n * nnrt_dtype_size(dt)), NNRT_OK, "%s", nnrt_last_error());
  for (int64_t i = 0; i < n; i++) v[i] = dt == NNRT_F32 ? ((float *)buf)[i] : ((double *)buf)[i];
  free(buf);
  return v;
}

/* Same shape and dtype on another device, same contents. */
static nnrt_tensor *twin(nnrt_device *dev, const nnrt_tensor *t) {
  if (!t) return NULL;
  nnrt_tensor *c;
  cr_assert_eq(nnrt_tensor_new(dev, nnrt_tensor_dtype(t), nnrt_tensor_ndim(t), nnrt_tensor_shape(t), &c), NNRT_OK);
  cr_assert_eq(nnrt_tensor_copy(c, t), NNRT_OK, "%s", nnrt_last_error());
  return c;
}

static void expect_close(const char *what, const nnrt_tensor *got, const nnrt_tensor *want, double tol) {
  cr_assert_eq(nnrt_tensor_numel(got), nnrt_tensor_numel(want));
  double *g = values(got), *w = values(want);
  int64_t n = nnrt_tensor_numel(got), bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (!(fabs(g[i] - w[i]) <= tol * (1 + fabs(w[i]))) && !(isnan(g[i]) && isnan(w[i]))) bad = i;
  if (bad >= 0)
    cr_expect_fail("%s: element %lld is %.9g on opencl, %.9g on ref", what, (long long)bad, g[bad], w[bad]);
  free(g);
  free(w);
}

/* Runs op on opencl (ins/outs) and on ref (copies), compares every output.
 * Outputs start from their current contents (UPDATE outputs accumulate). */
static void check_op(nnrt_op op, const void *params, nnrt_tensor **ins, int n_in, nnrt_tensor **outs, int n_out,
                     double tol) {
  nnrt_device *ref = ref_dev();
  nnrt_tensor *rin[8] = {0}, *rout[8] = {0};
  for (int i = 0; i < n_in; i++) rin[i] = twin(ref, ins[i]);
  for (int i = 0; i < n_out; i++) rout[i] = twin(ref, outs[i]);
  cr_assert_eq(nnrt_op_run(op, params, ins, outs), NNRT_OK, "%s on opencl: %s", nnrt_op_name(op), nnrt_last_error());
  cr_assert_eq(nnrt_op_run(op, params, rin, rout), NNRT_OK, "%s on ref: %s", nnrt_op_name(op), nnrt_last_error());
  for (int i = 0; i < n_out; i++) {
    if (!outs[i]) continue;
    char what[96];
    snprintf(what, sizeof what, "%s output %d", nnrt_op_name(op), i);
    expect_close(what, outs[i], rout[i], tol);
  }
  cr_expect_eq(nnrt_device_fallback_count(nnrt_tensor_device(ins[0]), op), 0, "%s fell back", nnrt_op_name(op));
  for (int i = 0; i < n_in; i++) nnrt_tensor_free(rin[i]);
  for (int i = 0; i < n_out; i++) nnrt_tensor_free(rout[i]);
}

/* ---- the helper child --------------------------------------------------------- */
/* Runs a few ops on opencl:0 (used to watch the program cache); 0 if fine. */
static int helper_ops(void) {
  nnrt_device *d, *ref;
  if (nnrt_device_get("opencl:0", &d) || nnrt_device_get("ref", &ref)) return 2;
  int64_t shape[] = {3, 37};
  nnrt_tensor *x, *y, *g, *gx, *rx, *ry;
  if (nnrt_tensor_new(d, NNRT_F32, 2, shape, &x) || nnrt_tensor_new(d, NNRT_F32, 2, shape, &y) ||
      nnrt_tensor_new(d, NNRT_F32, 2, shape, &g) || nnrt_tensor_new(d, NNRT_F32, 2, shape, &gx) ||
      nnrt_tensor_new(ref, NNRT_F32, 2, shape, &rx) || nnrt_tensor_new(ref, NNRT_F32, 2, shape, &ry))
    return 3;
  float h[111];
  for (int i = 0; i < 111; i++) h[i] = (float)(i % 7) - 3.0f;
  nnrt_tensor_write(x, h, sizeof h);
  nnrt_tensor_write(rx, h, sizeof h);
  for (int rep = 0; rep < 3; rep++)
    if (nnrt_relu(x, y, NULL) || nnrt_gelu(x, y, NULL) || nnrt_relu_backward(x, x, gx, NULL)) return 4;
  if (nnrt_softmax(x, y, NULL) || nnrt_softmax_backward(x, y, g, NULL) || nnrt_softmax(rx, ry, NULL)) return 5;
  float a[111], b[111];
  nnrt_tensor_read(y, a, sizeof a);
  nnrt_tensor_read(ry, b, sizeof b);
  for (int i = 0; i < 111; i++)
    if (fabsf(a[i] - b[i]) > 1e-5f) return 6;
  return 0;
}

__attribute__((constructor)) static void helper_main(void) {
  const char *mode = getenv("NNRT_OPENCL_TEST_HELPER");
  if (!mode) return;
  int rc = 0;
  if (!strcmp(mode, "probe")) {
    bool usable;
    const char *reason = opencl_reason(&usable);
    nnrt_device *d = NULL;
    printf("usable=%d\nreason=%s\n", usable, reason);
    if (nnrt_device_get("opencl", &d)) printf("get_error=%s\n", nnrt_last_error());
    if (nnrt_device_default(&d)) printf("default_error=%s\n", nnrt_last_error());
    else printf("default=%s\n", nnrt_device_name(d));
  } else if (!strcmp(mode, "ops")) {
    rc = helper_ops();
    printf("ops=%d\n", rc);
  }
  fflush(stdout);
  _exit(rc);
}

/* Runs this binary as the helper with `env` (shell assignments) in front;
 * returns its stdout and stderr together. */
static char *run_helper(const char *mode, const char *env) {
  char self[1024];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  cr_assert(n > 0, "cannot find this test binary");
  self[n] = 0;
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "env NNRT_OPENCL_TEST_HELPER=%s %s '%s' 2>&1", mode, env, self);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  while (len + 1 < cap && (n = (ssize_t)fread(out + len, 1, cap - 1 - len, p)) > 0) len += (size_t)n;
  out[len] = 0;
  pclose(p);
  return out;
}

static int count_of(const char *hay, const char *needle) {
  int c = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) c++;
  return c;
}

/* a fresh directory under the build tree (or /tmp) */
static void temp_dir(char *buf, size_t len, const char *tag) {
  snprintf(buf, len, "/tmp/nnrt-opencl-test-%s-XXXXXX", tag);
  cr_assert_not_null(mkdtemp(buf), "mkdtemp failed");
}

/* ---- enumeration -------------------------------------------------------------------- */
Test(opencl, enumerates_devices) {
  bool usable;
  const char *reason = opencl_reason(&usable);
  if (!usable) cr_skip_test("opencl backend not usable: %s", reason);
  nnrt_backend_info info = {0};
  for (size_t i = 0; i < nnrt_backend_count(); i++) {
    cr_assert_eq(nnrt_backend_info_get(i, &info), NNRT_OK);
    if (!strcmp(info.name, "opencl")) break;
  }
  cr_assert_str_eq(info.name, "opencl");
  cr_expect_geq(info.device_count, 1);
  cr_expect_not(info.host_memory, "OpenCL buffers are not host memory");
  cr_expect_not_null(strstr(info.version, "nnrt-opencl"), "version '%s'", info.version);
  for (int i = 0; i < info.device_count; i++) {
    char name[32];
    nnrt_device *d;
    snprintf(name, sizeof name, "opencl:%d", i);
    cr_assert_eq(nnrt_device_get(name, &d), NNRT_OK, "%s: %s", name, nnrt_last_error());
    cr_expect_str_eq(nnrt_device_name(d), name);
    cr_expect_str_eq(nnrt_device_backend(d), "opencl");
    cr_expect_gt(strlen(nnrt_device_description(d)), 0, "%s has no description", name);
    cr_expect(nnrt_device_has_op(d, NNRT_OP_relu) && nnrt_device_has_op(d, NNRT_OP_cross_entropy_backward));
  }
  char past[32];
  nnrt_device *d;
  snprintf(past, sizeof past, "opencl:%d", info.device_count);
  cr_expect_neq(nnrt_device_get(past, &d), NNRT_OK);
  cr_expect_not_null(strstr(nnrt_last_error(), "device(s)"), "%s", nnrt_last_error());
}

/* A CPU OpenCL device (PoCL) must not be preferred by NNRT_BACKEND=auto over
 * the CPU backends: the plugin does not claim NNRT_PLUGIN_ACCELERATOR then.
 * (Core's auto order is accelerators, then other plugins in load order,
 * then ref; so this holds against onednn, and against ref only if core
 * ranks non-accelerator device plugins after it.) */
Test(opencl, cpu_device_does_not_win_auto) {
  nnrt_device *d = ocl_or_skip();
  if (!strstr(nnrt_device_description(d), "(CPU,")) cr_skip_test("opencl:0 is not a CPU device");
  char *out = run_helper("probe", "NNRT_BACKEND=auto");
  cr_expect_not_null(strstr(out, "usable=1"), "%s", out);
  cr_expect_null(strstr(out, "default=opencl"),
                 "auto picked the OpenCL CPU device (is onednn built? core puts every non-accelerator "
                 "plugin before ref):\n%s", out);
  free(out);
}

/* ---- probe's reasons ---------------------------------------------------------------- */
Test(opencl, no_platform_is_reported) {
  char dir[256], env[512];
  temp_dir(dir, sizeof dir, "vendors");
  snprintf(env, sizeof env, "OCL_ICD_VENDORS='%s' NNRT_BACKEND=opencl", dir);
  char *out = run_helper("probe", env);
  rmdir(dir);
  if (strstr(out, "no OpenCL ICD loader")) cr_skip_test("no ICD loader here: %s", out);
  cr_expect_not_null(strstr(out, "usable=0"), "%s", out);
  cr_expect_not_null(strstr(out, "reason=no platform"), "%s", out);
  cr_expect_not_null(strstr(out, "-1001 CL_PLATFORM_NOT_FOUND_KHR"), "%s", out);
  /* named explicitly, the backend is an error that carries the reason */
  cr_expect_not_null(strstr(out, "get_error=device 'opencl': backend opencl cannot be used: no platform"), "%s", out);
  cr_expect_not_null(strstr(out, "default_error="), "%s", out);
  free(out);
}

Test(opencl, no_loader_is_reported) {
  char *out = run_helper("probe", "NNRT_OPENCL_LIBRARY=/nonexistent/libOpenCL.so.1");
  cr_expect_not_null(strstr(out, "usable=0"), "%s", out);
  cr_expect_not_null(strstr(out, "reason=no OpenCL ICD loader: dlopen(/nonexistent/libOpenCL.so.1)"), "%s", out);
  free(out);
}

Test(opencl, no_device_of_the_type_is_reported) {
  bool usable;
  const char *reason = opencl_reason(&usable);
  if (!usable) cr_skip_test("opencl backend not usable: %s", reason);
  char *out = run_helper("probe", "NNRT_OPENCL_DEVICE_TYPE=accelerator");
  if (strstr(out, "usable=1")) cr_skip_test("this machine has an OpenCL accelerator");
  cr_expect_not_null(strstr(out, "reason=no device: platform "), "%s", out);
  cr_expect_not_null(strstr(out, "NNRT_OPENCL_DEVICE_TYPE=accelerator"), "%s", out);
  free(out);
}

/* ---- ops against ref ----------------------------------------------------------------- */
Test(opencl, activations_match_ref) {
  nnrt_device *d = ocl_or_skip();
  /* 1003 = 4 * 250 + 3: the vector path and the scalar tail */
  int64_t shape[] = {17, 59};
  nnrt_tensor *x = make(d, NNRT_F32, 2, shape, NULL), *g = make(d, NNRT_F32, 2, shape, NULL);
  nnrt_tensor *y = make(d, NNRT_F32, 2, shape, NULL);
  nnrt_gelu_params gp;
  nnrt_params_init(NNRT_OP_gelu, &gp);
  gp.approximate = 1;
  nnrt_elu_params ep = {.alpha = 0.7};
  nnrt_elu_backward_params ebp = {.alpha = 0.7};
  check_op(NNRT_OP_relu, NULL, (nnrt_tensor *[]){x}, 1, (nnrt_tensor *[]){y}, 1, 1e-6);
  check_op(NNRT_OP_gelu, &gp, (nnrt_tensor *[]){x}, 1, (nnrt_tensor *[]){y}, 1, 1e-5);
  check_op(NNRT_OP_elu, &ep, (nnrt_tensor *[]){x}, 1, (nnrt_tensor *[]){y}, 1, 1e-5);
  check_op(NNRT_OP_elu_backward, &ebp, (nnrt_tensor *[]){g, x}, 2, (nnrt_tensor *[]){y}, 1, 1e-5);
  check_op(NNRT_OP_mish_backward, NULL, (nnrt_tensor *[]){g, x}, 2, (nnrt_tensor *[]){y}, 1, 1e-5);
  /* in place: output is the input */
  double *before = values(x);
  nnrt_relu_params ip = {.inplace = true};
  cr_assert_eq(nnrt_relu(x, NULL, &ip), NNRT_OK, "%s", nnrt_last_error());
  double *after = values(x);
  for (int i = 0; i < 17 * 59; i++) cr_expect_eq(after[i], (float)(before[i] > 0 ? before[i] : 0));
  free(before);
  free(after);
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_tensor_free(y);
}

/* Activations whose formulas cancel near saturation (1 - tanh^2) stay
 * exact where the device has fp64: the formulas then run in double. */
Test(opencl, saturated_activation_gradients_match_ref) {
  nnrt_device *d = ocl_or_skip();
  if (!strstr(nnrt_device_description(d), "fp64")) cr_skip_test("opencl:0 has no cl_khr_fp64: float formulas");
  const char *pr = getenv("NNRT_OPENCL_PRECISE");
  if (pr && !strcmp(pr, "0")) cr_skip_test("NNRT_OPENCL_PRECISE=0: float formulas");
  int64_t shape[] = {9};
  double xv[] = {1e4, 1e3, 100, 50, 20.5, -20.5, -50, -6, -8};
  nnrt_tensor *x = make(d, NNRT_F32, 1, shape, xv), *g = make(d, NNRT_F32, 1, shape, NULL);
  nnrt_tensor *y = make(d, NNRT_F32, 1, shape, NULL);
  nnrt_gelu_backward_params gp = {.approximate = 1};
  check_op(NNRT_OP_mish_backward, NULL, (nnrt_tensor *[]){g, x}, 2, (nnrt_tensor *[]){y}, 1, 1e-6);
  check_op(NNRT_OP_gelu_backward, &gp, (nnrt_tensor *[]){g, x}, 2, (nnrt_tensor *[]){y}, 1, 1e-6);
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_tensor_free(y);
}

Test(opencl, softmax_family_matches_ref) {
  nnrt_device *d = ocl_or_skip();
  /* D = 300 is more than one work-group pass; inner = 5 strides the line */
  int64_t shape[] = {3, 300, 5};
  nnrt_tensor *x = make(d, NNRT_F32, 3, shape, NULL), *g = make(d, NNRT_F32, 3, shape, NULL);
  nnrt_tensor *y = make(d, NNRT_F32, 3, shape, NULL), *gx = make(d, NNRT_F32, 3, shape, NULL);
  nnrt_softmax_params p = {.dim = 1};
  nnrt_log_softmax_params lp = {.dim = -1};
  nnrt_softmin_params mp = {.dim = 0};
  check_op(NNRT_OP_softmax, &p, (nnrt_tensor *[]){x}, 1, (nnrt_tensor *[]){y}, 1, 1e-5);
  check_op(NNRT_OP_softmax_backward, &p, (nnrt_tensor *[]){g, y}, 2, (nnrt_tensor *[]){gx}, 1, 1e-5);
  check_op(NNRT_OP_log_softmax, &lp, (nnrt_tensor *[]){x}, 1, (nnrt_tensor *[]){y}, 1, 1e-5);
  check_op(NNRT_OP_log_softmax_backward, &lp, (nnrt_tensor *[]){g, y}, 2, (nnrt_tensor *[]){gx}, 1, 1e-5);
  check_op(NNRT_OP_softmin, &mp, (nnrt_tensor *[]){x}, 1, (nnrt_tensor *[]){y}, 1, 1e-5);
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_tensor_free(y);
  nnrt_tensor_free(gx);
}

Test(opencl, linear_matches_ref_and_accumulates) {
  nnrt_device *d = ocl_or_skip();
  /* 70 x 130 by 50 x 130: several 64-wide tiles, ragged edges everywhere */
  int64_t xs[] = {2, 35, 130}, ws[] = {50, 130}, bs[] = {50}, ys[] = {2, 35, 50};
  nnrt_tensor *x = make(d, NNRT_F32, 3, xs, NULL), *w = make(d, NNRT_F32, 2, ws, NULL);
  nnrt_tensor *b = make(d, NNRT_F32, 1, bs, NULL), *y = make(d, NNRT_F32, 3, ys, NULL);
  nnrt_tensor *gy = make(d, NNRT_F32, 3, ys, NULL), *gx = make(d, NNRT_F32, 3, xs, NULL);
  nnrt_tensor *gw = make(d, NNRT_F32, 2, ws, NULL), *gb = make(d, NNRT_F32, 1, bs, NULL);
  check_op(NNRT_OP_linear, NULL, (nnrt_tensor *[]){x, w, b}, 3, (nnrt_tensor *[]){y}, 1, 1e-5);
  check_op(NNRT_OP_linear, NULL, (nnrt_tensor *[]){x, w, NULL}, 3, (nnrt_tensor *[]){y}, 1, 1e-5);
  /* gw and gb hold random values: they must be added to, as on ref */
  check_op(NNRT_OP_linear_backward, NULL, (nnrt_tensor *[]){gy, x, w}, 3, (nnrt_tensor *[]){gx, gw, gb}, 3, 1e-5);
  check_op(NNRT_OP_linear_backward, NULL, (nnrt_tensor *[]){gy, x, w}, 3, (nnrt_tensor *[]){NULL, gw, NULL}, 3, 1e-5);
  nnrt_tensor *all[] = {x, w, b, y, gy, gx, gw, gb};
  for (int i = 0; i < 8; i++) nnrt_tensor_free(all[i]);
}

Test(opencl, prelu_and_sgd_match_ref) {
  nnrt_device *d = ocl_or_skip();
  int64_t xs[] = {4, 3, 33}, ws[] = {3}, w1[] = {1};
  nnrt_tensor *x = make(d, NNRT_F32, 3, xs, NULL), *g = make(d, NNRT_F32, 3, xs, NULL);
  nnrt_tensor *y = make(d, NNRT_F32, 3, xs, NULL), *w = make(d, NNRT_F32, 1, ws, NULL);
  nnrt_tensor *gw = make(d, NNRT_F32, 1, ws, NULL), *one = make(d, NNRT_F32, 1, w1, NULL);
  nnrt_tensor *gone = make(d, NNRT_F32, 1, w1, NULL);
  check_op(NNRT_OP_prelu, NULL, (nnrt_tensor *[]){x, w}, 2, (nnrt_tensor *[]){y}, 1, 1e-6);
  check_op(NNRT_OP_prelu_backward, NULL, (nnrt_tensor *[]){g, x, w}, 3, (nnrt_tensor *[]){y, gw}, 2, 1e-5);
  check_op(NNRT_OP_prelu_backward, NULL, (nnrt_tensor *[]){g, x, one}, 3, (nnrt_tensor *[]){NULL, gone}, 2, 1e-5);
  nnrt_sgd_step_params sp;
  nnrt_params_init(NNRT_OP_sgd_step, &sp);
  sp.lr = 0.1, sp.momentum = 0.9, sp.nesterov = true, sp.weight_decay = 0.01;
  check_op(NNRT_OP_sgd_step, &sp, (nnrt_tensor *[]){g}, 1, (nnrt_tensor *[]){x, y}, 2, 1e-6);
  nnrt_tensor *all[] = {x, g, y, w, gw, one, gone};
  for (int i = 0; i < 7; i++) nnrt_tensor_free(all[i]);
}

Test(opencl, cross_entropy_matches_ref) {
  nnrt_device *d = ocl_or_skip();
  int64_t xs[] = {4, 6, 3, 5}, ts[] = {4, 3, 5}, wsh[] = {6}, scalar[1];
  double tv[60];
  for (int i = 0; i < 60; i++) tv[i] = i % 7 == 3 ? 2 : (i * 5) % 6; /* some ignored (2) */
  nnrt_tensor *x = make(d, NNRT_F32, 4, xs, NULL), *t = make(d, NNRT_I64, 3, ts, tv);
  double wv[] = {0.5, 1, 1.5, 2, 0.7, 1.2};
  nnrt_tensor *w = make(d, NNRT_F32, 1, wsh, wv), *gx = make(d, NNRT_F32, 4, xs, NULL);
  nnrt_tensor *loss = make(d, NNRT_F32, 0, scalar, NULL), *gy = make(d, NNRT_F32, 0, scalar, (double[]){0.7});
  nnrt_tensor *lnone = make(d, NNRT_F32, 3, ts, NULL), *gnone = make(d, NNRT_F32, 3, ts, NULL);
  for (int red = 0; red < 3; red++)
    for (int weighted = 0; weighted < 2; weighted++) {
      nnrt_cross_entropy_params p = {.reduction = red, .ignore_index = 2, .label_smoothing = 0.2};
      nnrt_cross_entropy_backward_params bp = {.reduction = red, .ignore_index = 2, .label_smoothing = 0.2};
      nnrt_tensor *out = red ? loss : lnone, *g = red ? gy : gnone, *wt = weighted ? w : NULL;
      check_op(NNRT_OP_cross_entropy, &p, (nnrt_tensor *[]){x, t, wt}, 3, (nnrt_tensor *[]){out}, 1, 1e-5);
      check_op(NNRT_OP_cross_entropy_backward, &bp, (nnrt_tensor *[]){g, x, t, wt}, 4, (nnrt_tensor *[]){gx}, 1, 1e-5);
    }
  nnrt_tensor *all[] = {x, t, w, gx, loss, gy, lnone, gnone};
  for (int i = 0; i < 8; i++) nnrt_tensor_free(all[i]);
}

Test(opencl, f64_where_the_device_has_it) {
  nnrt_device *d = ocl_or_skip();
  int64_t shape[] = {5, 77};
  nnrt_tensor *x;
  if (nnrt_tensor_new(d, NNRT_F64, 2, shape, &x) != NNRT_OK) cr_skip_test("no f64 on opencl: %s", nnrt_last_error());
  nnrt_tensor_free(x);
  if (!strstr(nnrt_device_description(d), "fp64")) cr_skip_test("opencl:0 has no cl_khr_fp64");
  x = make(d, NNRT_F64, 2, shape, NULL);
  nnrt_tensor *y = make(d, NNRT_F64, 2, shape, NULL), *g = make(d, NNRT_F64, 2, shape, NULL);
  nnrt_softmax_params p = {.dim = 1};
  check_op(NNRT_OP_softmax, &p, (nnrt_tensor *[]){x}, 1, (nnrt_tensor *[]){y}, 1, 1e-12);
  check_op(NNRT_OP_tanh_backward, NULL, (nnrt_tensor *[]){g, x}, 2, (nnrt_tensor *[]){y}, 1, 1e-12);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnrt_tensor_free(g);
}

Test(opencl, empty_tensors) {
  nnrt_device *d = ocl_or_skip();
  int64_t es[] = {0, 5}, ws[] = {3, 5}, ys[] = {0, 3};
  nnrt_tensor *x = make(d, NNRT_F32, 2, es, NULL), *y = make(d, NNRT_F32, 2, es, NULL);
  nnrt_tensor *w = make(d, NNRT_F32, 2, ws, NULL), *ly = make(d, NNRT_F32, 2, ys, NULL);
  nnrt_tensor *gw = make(d, NNRT_F32, 2, ws, NULL);
  cr_expect_eq(nnrt_relu(x, y, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_softmax(x, y, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_linear(x, w, NULL, ly, NULL), NNRT_OK, "%s", nnrt_last_error());
  /* no rows: grad_weight += 0 */
  check_op(NNRT_OP_linear_backward, NULL, (nnrt_tensor *[]){ly, x, w}, 3, (nnrt_tensor *[]){NULL, gw, NULL}, 3, 0);
  cr_expect_eq(nnrt_device_sync(d), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *all[] = {x, y, w, ly, gw};
  for (int i = 0; i < 5; i++) nnrt_tensor_free(all[i]);
}

/* ---- threads -------------------------------------------------------------------------- */
typedef struct {
  nnrt_device *dev;
  nnrt_tensor *x, *w, *y, *s;
  nnrt_status st;
} job;

static void *worker(void *arg) {
  job *j = arg;
  nnrt_softmax_params p = {.dim = 1};
  for (int i = 0; i < 40 && !j->st; i++) {
    j->st = nnrt_linear(j->x, j->w, NULL, j->y, NULL);
    if (!j->st) j->st = nnrt_softmax(j->y, j->s, &p);
  }
  if (!j->st) j->st = nnrt_device_sync(j->dev);
  return NULL;
}

Test(opencl, threads_share_a_device) {
  nnrt_device *d = ocl_or_skip();
  int64_t xs[] = {33, 70}, ws[] = {45, 70}, ys[] = {33, 45};
  job jobs[3];
  for (int k = 0; k < 3; k++)
    jobs[k] = (job){d, make(d, NNRT_F32, 2, xs, NULL), make(d, NNRT_F32, 2, ws, NULL), make(d, NNRT_F32, 2, ys, NULL),
                    make(d, NNRT_F32, 2, ys, NULL), NNRT_OK};
  pthread_t th[3];
  for (int k = 0; k < 3; k++) pthread_create(&th[k], NULL, worker, &jobs[k]);
  for (int k = 0; k < 3; k++) pthread_join(th[k], NULL);
  nnrt_device *ref = ref_dev();
  nnrt_softmax_params p = {.dim = 1};
  for (int k = 0; k < 3; k++) {
    cr_assert_eq(jobs[k].st, NNRT_OK, "thread %d: %s", k, nnrt_last_error());
    nnrt_tensor *rx = twin(ref, jobs[k].x), *rw = twin(ref, jobs[k].w), *ry = twin(ref, jobs[k].y);
    nnrt_tensor *rs = twin(ref, jobs[k].s);
    cr_assert_eq(nnrt_linear(rx, rw, NULL, ry, NULL), NNRT_OK);
    cr_assert_eq(nnrt_softmax(ry, rs, &p), NNRT_OK);
    expect_close("threaded softmax(linear)", jobs[k].s, rs, 1e-5);
    nnrt_tensor *all[] = {jobs[k].x, jobs[k].w, jobs[k].y, jobs[k].s, rx, rw, ry, rs};
    for (int i = 0; i < 8; i++) nnrt_tensor_free(all[i]);
  }
}

/* ---- the program cache ------------------------------------------------------------------ */
Test(opencl, programs_are_built_once_and_cached_on_disk) {
  ocl_or_skip();
  char dir[256], env[600];
  temp_dir(dir, sizeof dir, "cache");
  snprintf(env, sizeof env, "NNRT_LOG=debug NNRT_OPENCL_CACHE_DIR='%s'", dir);
  /* first run: each program used (unary, softmax) is built once, for all the calls */
  char *out = run_helper("ops", env);
  cr_assert_not_null(strstr(out, "ops=0"), "%s", out);
  cr_expect_eq(count_of(out, "built program unary (f32)"), 1, "%s", out);
  cr_expect_eq(count_of(out, "built program softmax (f32)"), 1, "%s", out);
  cr_expect_eq(count_of(out, "built program"), 2, "%s", out);
  cr_expect_eq(count_of(out, "cached program binary"), 2, "%s", out);
  free(out);
  /* second run: both come from the disk cache */
  out = run_helper("ops", env);
  cr_assert_not_null(strstr(out, "ops=0"), "%s", out);
  cr_expect_eq(count_of(out, "built program"), 0, "%s", out);
  cr_expect_eq(count_of(out, "loaded from cache"), 2, "%s", out);
  free(out);
  /* a damaged cache is ignored: programs are rebuilt from source */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "for f in '%s'/*.bin; do head -c 100 /dev/urandom > \"$f\"; done", dir);
  cr_assert_eq(system(cmd), 0);
  out = run_helper("ops", env);
  cr_assert_not_null(strstr(out, "ops=0"), "%s", out);
  cr_expect_eq(count_of(out, "built program"), 2, "%s", out);
  free(out);
  /* an unwritable cache location is harmless */
  out = run_helper("ops", "NNRT_LOG=debug NNRT_OPENCL_CACHE_DIR=/proc/nnrt-no-such-dir");
  cr_assert_not_null(strstr(out, "ops=0"), "%s", out);
  cr_expect_eq(count_of(out, "could not cache"), 2, "%s", out);
  free(out);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

/* ---- errors ---------------------------------------------------------------------------------- */
Test(opencl, wrong_dtype_is_refused_and_writes_nothing) {
  nnrt_device *d = ocl_or_skip();
  int64_t shape[] = {4, 9};
  nnrt_tensor *x = make(d, NNRT_F32, 2, shape, NULL), *idx = make(d, NNRT_I64, 2, shape, NULL);
  nnrt_tensor *y = make(d, NNRT_F32, 2, shape, NULL);
  double *before = values(y);
  cr_expect_eq(nnrt_relu(idx, y, NULL), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "relu"), "%s", nnrt_last_error());
  cr_expect_not_null(strstr(nnrt_last_error(), "i64"), "%s", nnrt_last_error());
  nnrt_tensor *y64;
  if (nnrt_tensor_new(d, NNRT_F64, 2, shape, &y64) == NNRT_OK) {
    cr_expect_eq(nnrt_sigmoid(x, y64, NULL), NNRT_ERR_INVALID_ARGUMENT);
    cr_expect_not_null(strstr(nnrt_last_error(), "sigmoid"), "%s", nnrt_last_error());
    nnrt_tensor_free(y64);
  }
  double *after = values(y);
  cr_expect(!memcmp(before, after, 36 * sizeof(double)), "a refused call wrote its output");
  free(before);
  free(after);
  nnrt_tensor_free(x);
  nnrt_tensor_free(idx);
  nnrt_tensor_free(y);
}

Test(opencl, oversized_buffer_is_an_error_naming_the_limit) {
  nnrt_device *d = ocl_or_skip();
  int64_t shape[] = {(int64_t)1 << 40};
  nnrt_tensor *t = NULL;
  nnrt_status st = nnrt_tensor_new(d, NNRT_F32, 1, shape, &t);
  cr_expect_eq(st, NNRT_ERR_OUT_OF_MEMORY, "%s", nnrt_last_error());
  cr_expect_not_null(strstr(nnrt_last_error(), "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "%s", nnrt_last_error());
}
