/* tests/test_batchnorm.c - BatchNorm modules and the batch_norm ops beyond
 * the per-op fixtures of test_golden: three training steps and an eval
 * step against PyTorch 1.13 (fixtures module.bn*.npy written by
 * tools/golden/gen.py), train/eval switching, buffers, a large-mean input
 * against a float64 two-pass computation, and bad inputs (clear error,
 * nothing written).  Runs on ref. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnrt/nnrt.h>

#include "npy.h"

#define GOLDEN_DIR NNRT_SOURCE_DIR "/tests/golden"

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

/* A fixture as float32 (caller frees with npy_free). */
static npy_array fixture(const char *name) {
  char path[512], err[256];
  snprintf(path, sizeof path, "%s/%s.npy", GOLDEN_DIR, name);
  npy_array a;
  cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(npy_convert(&a, NNRT_F32, err, sizeof err), 0, "%s", err);
  return a;
}

static nnrt_tensor *tensor_of(const npy_array *a) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref(), a->dtype, a->ndim, a->shape, &t), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_write(t, a->data, a->bytes), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

static nnrt_tensor *new_f32(int ndim, const int64_t *shape, const float *vals) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, ndim, shape, &t), NNRT_OK, "%s", nnrt_last_error());
  if (vals) cr_assert_eq(nnrt_tensor_write(t, vals, sizeof(float) * (size_t)nnrt_tensor_numel(t)), NNRT_OK);
  return t;
}

/* Every element of t within atol + rtol |want| of the fixture. */
static void expect_close(const nnrt_tensor *t, const char *name, double rtol, double atol) {
  npy_array want = fixture(name);
  int64_t n = nnrt_tensor_numel(t);
  cr_assert_eq(n, npy_numel(&want), "%s: %lld elements, fixture has %lld", name, (long long)n,
               (long long)npy_numel(&want));
  float *got = malloc(sizeof(float) * (size_t)n + 1);
  cr_assert_eq(nnrt_tensor_read(t, got, sizeof(float) * (size_t)n), NNRT_OK);
  const float *w = want.data;
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabs((double)got[i] - w[i]) <= atol + rtol * fabs(w[i]), "%s[%lld]: got %.9g, want %.9g", name,
              (long long)i, got[i], w[i]);
  free(got);
  npy_free(&want);
}

static nnrt_tensor *buffer(const nnrt_module *m, const char *name) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_module_buffer(m, name, &t), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

static int64_t batches_tracked(const nnrt_module *m) {
  int64_t v;
  cr_assert_eq(nnrt_tensor_read(buffer(m, "num_batches_tracked"), &v, sizeof v), NNRT_OK);
  return v;
}

/* Three training steps (forward, backward), then eval, as PyTorch. */
static void three_steps(const char *name, int dims, int64_t C, double momentum) {
  nnrt_module *m;
  cr_assert_eq(nnrt_module_batch_norm(ref(), dims, C, 1e-5, momentum, true, true, &m), NNRT_OK, "%s",
               nnrt_last_error());
  char f[128];
  for (int step = 1; step <= 3; step++) {
    snprintf(f, sizeof f, "module.%s.step%d.input", name, step);
    npy_array xa = fixture(f);
    snprintf(f, sizeof f, "module.%s.step%d.grad_output", name, step);
    npy_array ga = fixture(f);
    nnrt_tensor *x = tensor_of(&xa), *g = tensor_of(&ga), *y, *gx;
    cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
    snprintf(f, sizeof f, "module.%s.step%d.output", name, step);
    expect_close(y, f, 1e-5, 1e-5);
    cr_assert_eq(nnrt_module_backward(m, g, &gx), NNRT_OK, "%s", nnrt_last_error());
    snprintf(f, sizeof f, "module.%s.step%d.grad_input", name, step);
    expect_close(gx, f, 1e-5, 1e-5);
    snprintf(f, sizeof f, "module.%s.step%d.running_mean", name, step);
    expect_close(buffer(m, "running_mean"), f, 1e-5, 1e-6);
    snprintf(f, sizeof f, "module.%s.step%d.running_var", name, step);
    expect_close(buffer(m, "running_var"), f, 1e-5, 1e-6);
    cr_assert_eq(batches_tracked(m), step);
    nnrt_tensor_free(x);
    nnrt_tensor_free(g);
    npy_free(&xa);
    npy_free(&ga);
  }
  nnrt_tensor *w, *gw, *gb;
  cr_assert_eq(nnrt_module_param(m, 0, NULL, &w, &gw), NNRT_OK);
  cr_assert_eq(nnrt_module_param(m, 1, NULL, NULL, &gb), NNRT_OK);
  snprintf(f, sizeof f, "module.%s.weight_grad", name);
  expect_close(gw, f, 1e-5, 1e-5);
  snprintf(f, sizeof f, "module.%s.bias_grad", name);
  expect_close(gb, f, 1e-5, 1e-5);

  /* eval: running statistics, nothing updated */
  nnrt_module_train(m, false);
  snprintf(f, sizeof f, "module.%s.eval.input", name);
  npy_array xa = fixture(f);
  nnrt_tensor *x = tensor_of(&xa), *y;
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
  snprintf(f, sizeof f, "module.%s.eval.output", name);
  expect_close(y, f, 1e-5, 1e-5);
  snprintf(f, sizeof f, "module.%s.step3.running_mean", name);
  expect_close(buffer(m, "running_mean"), f, 1e-5, 1e-6);
  cr_assert_eq(batches_tracked(m), 3);
  /* back to training: the count goes on */
  nnrt_module_train(m, true);
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(batches_tracked(m), 4);
  nnrt_tensor_free(x);
  npy_free(&xa);
  nnrt_module_free(m);
}

Test(batchnorm, bn2d_three_steps_match_pytorch) { three_steps("bn2d", 2, 3, 0.1); }
Test(batchnorm, bn1d_cumulative_average_matches_pytorch) { three_steps("bn1d_cma", 1, 4, NAN); }

/* eval without running statistics normalises with the batch's, exactly as
 * training does, and has nothing to update */
Test(batchnorm, eval_untracked_uses_batch_stats) {
  nnrt_module *a, *b;
  cr_assert_eq(nnrt_module_batch_norm(ref(), 2, 2, 1e-5, 0.1, true, false, &a), NNRT_OK);
  cr_assert_eq(nnrt_module_batch_norm(ref(), 2, 2, 1e-5, 0.1, true, false, &b), NNRT_OK);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_module_buffer(a, "running_mean", &t), NNRT_ERR_NOT_FOUND);
  int64_t s[] = {3, 2, 2, 2};
  float v[24];
  for (int i = 0; i < 24; i++) v[i] = (float)((i * 7) % 11) - 3.5f;
  nnrt_tensor *x = new_f32(4, s, v), *ya, *yb;
  nnrt_module_train(b, false);
  cr_assert_eq(nnrt_module_forward(a, x, &ya), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_module_forward(b, x, &yb), NNRT_OK, "%s", nnrt_last_error());
  float ra[24], rb[24];
  nnrt_tensor_read(ya, ra, sizeof ra);
  nnrt_tensor_read(yb, rb, sizeof rb);
  cr_assert_eq(memcmp(ra, rb, sizeof ra), 0);
  nnrt_tensor_free(x);
  nnrt_module_free(a);
  nnrt_module_free(b);
}

Test(batchnorm, buffers_and_params) {
  nnrt_module *seq, *bn, *plain;
  cr_assert_eq(nnrt_module_sequential(ref(), &seq), NNRT_OK);
  cr_assert_eq(nnrt_module_batch_norm(ref(), 3, 5, 1e-5, 0.1, true, true, &bn), NNRT_OK);
  cr_assert_str_eq(nnrt_module_kind(bn), "BatchNorm3d");
  cr_assert_eq(nnrt_module_param_count(bn), 2);
  nnrt_tensor *rm = buffer(bn, "running_mean"), *rv = buffer(bn, "running_var"), *nbt = buffer(bn, "num_batches_tracked");
  cr_assert_eq(nnrt_tensor_numel(rm), 5);
  cr_assert_eq(nnrt_tensor_numel(rv), 5);
  cr_assert_eq(nnrt_tensor_ndim(nbt), 0);
  cr_assert_eq(nnrt_tensor_dtype(nbt), NNRT_I64);
  float v[5];
  nnrt_tensor_read(rv, v, sizeof v);
  for (int i = 0; i < 5; i++) cr_assert_eq(v[i], 1.0f);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_module_buffer(bn, "running_std", &t), NNRT_ERR_NOT_FOUND);
  cr_assert(strstr(nnrt_last_error(), "running_std"), "%s", nnrt_last_error());
  cr_assert_eq(nnrt_sequential_add(seq, bn), NNRT_OK);
  cr_assert_eq(nnrt_module_buffer(seq, "0.running_var", &t), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(t, rv);
  cr_assert_eq(nnrt_module_buffer(seq, "1.running_var", &t), NNRT_ERR_NOT_FOUND);
  cr_assert_eq(nnrt_module_batch_norm(ref(), 1, 4, 1e-5, 0.1, false, false, &plain), NNRT_OK);
  cr_assert_eq(nnrt_module_param_count(plain), 0);
  nnrt_module_free(plain);
  nnrt_module_free(seq);
}

/* float64 two-pass reference for channel c of x (N, C, L) */
static void ref_stats(const float *x, int64_t N, int64_t C, int64_t L, int64_t c, double *mean, double *var) {
  double s = 0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t l = 0; l < L; l++) s += x[(n * C + c) * L + l];
  *mean = s / (double)(N * L);
  double q = 0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t l = 0; l < L; l++) {
      double e = x[(n * C + c) * L + l] - *mean;
      q += e * e;
    }
  *var = q / (double)(N * L);
}

/* mean 1e4, std 1 in float32: naive float sums of x and x^2 lose every
 * digit of the variance; the kernel must match float64 closely. */
Test(batchnorm, large_mean_is_stable) {
  enum { N = 200, C = 3, L = 64 }; /* big enough for threads */
  int64_t s[] = {N, C, L}, cs[] = {C};
  static float x[N * C * L], g[N * C * L];
  uint64_t seed = 12345;
  for (int i = 0; i < N * C * L; i++) {
    /* a cheap deterministic spread around 1e4 (std about 1) */
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(seed >> 11) / 9007199254740992.0;
    x[i] = (float)(1e4 + ((i / L) % C) * 100.0 + 3.4641 * (u - 0.5));
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    g[i] = (float)((double)(seed >> 11) / 9007199254740992.0 - 0.5);
  }
  nnrt_tensor *xt = new_f32(3, s, x), *gt = new_f32(3, s, g), *y = new_f32(3, s, NULL), *gx = new_f32(3, s, NULL);
  nnrt_tensor *sm = new_f32(1, cs, NULL), *si = new_f32(1, cs, NULL), *rm = new_f32(1, cs, NULL), *rv = new_f32(1, cs, NULL);
  nnrt_tensor *gw = new_f32(1, cs, NULL), *gb = new_f32(1, cs, NULL);
  nnrt_tensor_fill(rv, 1.0);
  nnrt_batch_norm_params p;
  nnrt_params_init(NNRT_OP_batch_norm, &p);
  cr_assert_eq(nnrt_batch_norm(xt, NULL, NULL, y, sm, si, rm, rv, &p), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_batch_norm_backward(gt, xt, NULL, sm, si, gx, gw, gb, NULL), NNRT_OK, "%s", nnrt_last_error());
  static float yv[N * C * L], gxv[N * C * L];
  float rmv[C], rvv[C], siv[C], gwv[C];
  nnrt_tensor_read(y, yv, sizeof yv);
  nnrt_tensor_read(gx, gxv, sizeof gxv);
  nnrt_tensor_read(rm, rmv, sizeof rmv);
  nnrt_tensor_read(rv, rvv, sizeof rvv);
  nnrt_tensor_read(si, siv, sizeof siv);
  nnrt_tensor_read(gw, gwv, sizeof gwv);
  for (int c = 0; c < C; c++) {
    double mean, var, M = N * L;
    ref_stats(x, N, C, L, c, &mean, &var);
    double invstd = 1 / sqrt(var + 1e-5);
    cr_assert(var > 0.5 && var < 2, "test data: var %g", var);
    cr_assert(fabs(rmv[c] - 0.1 * mean) <= 1e-6 * fabs(mean), "running_mean[%d] %.9g vs %.9g", c, rmv[c], 0.1 * mean);
    double want_rv = 0.9 + 0.1 * var * M / (M - 1);
    cr_assert(fabs(rvv[c] - want_rv) <= 1e-6, "running_var[%d] %.9g vs %.9g", c, rvv[c], want_rv);
    cr_assert(fabs(siv[c] - invstd) <= 1e-6 * invstd, "save_invstd[%d] %.9g vs %.9g", c, siv[c], invstd);
    double sg = 0, sgx = 0;
    for (int n = 0; n < N; n++)
      for (int l = 0; l < L; l++) {
        int i = (n * C + c) * L + l;
        double xh = (x[i] - mean) * invstd;
        cr_assert(fabs(yv[i] - xh) <= 2e-6, "output[%d] %.9g vs %.9g", i, yv[i], xh);
        sg += g[i];
        sgx += g[i] * xh;
      }
    cr_assert(fabs(gwv[c] - sgx) <= 1e-5 * (1 + fabs(sgx)), "grad_weight[%d] %.9g vs %.9g", c, gwv[c], sgx);
    for (int n = 0; n < N; n++)
      for (int l = 0; l < L; l++) {
        int i = (n * C + c) * L + l;
        double xh = (x[i] - mean) * invstd;
        double want = invstd * (g[i] - sg / M - xh * sgx / M);
        cr_assert(fabs(gxv[i] - want) <= 1e-5, "grad_input[%d] %.9g vs %.9g", i, gxv[i], want);
      }
  }
  nnrt_tensor *all[] = {xt, gt, y, gx, sm, si, rm, rv, gw, gb};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nnrt_tensor_free(all[i]);
}

/* ---- bad inputs: a clear error, nothing written ---- */
typedef struct bn_env {
  nnrt_tensor *x, *w, *b, *y, *sm, *si, *rm, *rv;
} bn_env;

static bn_env env_new(int ndim, const int64_t *shape, int64_t wc) {
  bn_env e;
  float v[256];
  for (int i = 0; i < 256; i++) v[i] = (float)(i % 7) - 2.0f;
  int64_t c[] = {wc}, cc[] = {ndim >= 2 ? shape[1] : 1};
  e.x = new_f32(ndim, shape, v);
  e.y = new_f32(ndim, shape, NULL);
  e.w = new_f32(1, c, NULL);
  e.b = new_f32(1, c, NULL);
  e.sm = new_f32(1, cc, NULL);
  e.si = new_f32(1, cc, NULL);
  e.rm = new_f32(1, c, NULL);
  e.rv = new_f32(1, c, NULL);
  nnrt_tensor_fill(e.y, 42.0);
  nnrt_tensor_fill(e.rm, 7.0);
  return e;
}

static void env_untouched(const bn_env *e) {
  float v[256], r[64];
  int64_t n = nnrt_tensor_numel(e->y);
  nnrt_tensor_read(e->y, v, sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) cr_assert_eq(v[i], 42.0f, "output written at %lld", (long long)i);
  n = nnrt_tensor_numel(e->rm);
  nnrt_tensor_read(e->rm, r, sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) cr_assert_eq(r[i], 7.0f, "running_mean written at %lld", (long long)i);
}

static void env_free(bn_env *e) {
  nnrt_tensor *all[] = {e->x, e->w, e->b, e->y, e->sm, e->si, e->rm, e->rv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nnrt_tensor_free(all[i]);
}

static void expect_error(nnrt_status st, const char *needle) {
  cr_assert_eq(st, NNRT_ERR_INVALID_ARGUMENT, "status %s", nnrt_status_str(st));
  cr_assert(strstr(nnrt_last_error(), needle), "error '%s' lacks '%s'", nnrt_last_error(), needle);
}

Test(batchnorm, bad_inputs) {
  int64_t s[] = {4, 3, 5};
  nnrt_batch_norm_params p;
  nnrt_params_init(NNRT_OP_batch_norm, &p);

  bn_env e = env_new(3, s, 4); /* weight and running stats of 4, input C = 3 */
  expect_error(nnrt_batch_norm(e.x, e.w, NULL, e.y, e.sm, e.si, NULL, NULL, &p), "weight must be 1-d with C=3");
  expect_error(nnrt_batch_norm(e.x, NULL, NULL, e.y, e.sm, e.si, e.rm, NULL, &p), "running_mean must be 1-d with C=3");
  env_untouched(&e);
  env_free(&e);

  e = env_new(3, s, 3);
  p.momentum = NAN;
  expect_error(nnrt_batch_norm(e.x, e.w, e.b, e.y, e.sm, e.si, e.rm, e.rv, &p), "momentum");
  p.momentum = 0.1;
  p.eps = -1;
  expect_error(nnrt_batch_norm(e.x, e.w, e.b, e.y, e.sm, e.si, e.rm, e.rv, &p), "eps=-1");
  p.eps = 1e-5;
  p.training = false;
  expect_error(nnrt_batch_norm(e.x, e.w, e.b, e.y, e.sm, e.si, NULL, NULL, &p), "running_mean and running_var are required");
  env_untouched(&e);
  env_free(&e);

  int64_t one[] = {1, 3};
  e = env_new(2, one, 3);
  p.training = true;
  expect_error(nnrt_batch_norm(e.x, e.w, e.b, e.y, e.sm, e.si, e.rm, e.rv, &p), "more than 1 value per channel");
  env_untouched(&e);
  env_free(&e);

  int64_t flat[] = {6};
  e = env_new(1, flat, 6);
  expect_error(nnrt_batch_norm(e.x, NULL, NULL, e.y, e.sm, e.si, NULL, NULL, &p), "input must be (N, C)");
  env_free(&e);

  /* backward: grad_output of another shape */
  e = env_new(3, s, 3);
  int64_t s2[] = {4, 3, 6};
  nnrt_tensor *g = new_f32(3, s2, NULL);
  expect_error(nnrt_batch_norm_backward(g, e.x, NULL, e.sm, e.si, e.y, NULL, NULL, NULL), "grad_output and input shapes");
  env_untouched(&e);
  nnrt_tensor_free(g);
  env_free(&e);
}

Test(batchnorm, module_bad_inputs) {
  nnrt_module *m;
  cr_assert_eq(nnrt_module_batch_norm(ref(), 4, 3, 1e-5, 0.1, true, true, &m), NNRT_ERR_INVALID_ARGUMENT);
  cr_assert_eq(nnrt_module_batch_norm(ref(), 2, 0, 1e-5, 0.1, true, true, &m), NNRT_ERR_INVALID_ARGUMENT);
  cr_assert_eq(nnrt_module_batch_norm(ref(), 2, 3, 1e-5, INFINITY, true, true, &m), NNRT_ERR_INVALID_ARGUMENT);
  cr_assert_eq(nnrt_module_batch_norm(ref(), 2, 3, 1e-5, 0.1, true, true, &m), NNRT_OK);
  int64_t s3[] = {2, 3, 4}, s4c[] = {2, 4, 2, 2};
  nnrt_tensor *x3 = new_f32(3, s3, NULL), *x4 = new_f32(4, s4c, NULL), *y;
  expect_error(nnrt_module_forward(m, x3, &y), "expected 4D input (got 3D input)");
  expect_error(nnrt_module_forward(m, x4, &y), "weight must be 1-d with C=4");
  /* a failed forward does not count a batch */
  int64_t nbt;
  nnrt_tensor_read(buffer(m, "num_batches_tracked"), &nbt, sizeof nbt);
  cr_assert_eq(nbt, 0);
  nnrt_tensor_free(x3);
  nnrt_tensor_free(x4);
  nnrt_module_free(m);
}
