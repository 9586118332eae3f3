/* tests/test_optim.c - the Adam optimizer over a module against PyTorch:
 * a Sequential of Linear, Tanh, Linear with CrossEntropyLoss trained for
 * three torch.optim.Adam steps (plain, and amsgrad with weight decay and
 * other betas) from PyTorch's starting weights (tests/fixtures/optim,
 * written by tools/golden/optim.py); the optimizer API's error paths; and
 * the adam_step op's own refusals.  The op's numbers per step are checked
 * by tests/test_golden.c (tools/golden/gen.py, family adam). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <nnrt/nnrt.h>
#include <string.h>

#include "npy.h"
#include "train.h"

#define FIX NNRT_SOURCE_DIR "/tests/fixtures/optim/"
#define OK(call) cr_assert_eq((call), NNRT_OK, "%s: %s", #call, nnrt_last_error())

static npy_array load(const char *name, nnrt_dtype dt) {
  char path[512], err[256];
  snprintf(path, sizeof path, FIX "%s.npy", name);
  npy_array a;
  cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
  if (dt != NNRT_I64) cr_assert_eq(npy_convert(&a, dt, err, sizeof err), 0, "%s", err);
  return a;
}

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

/* "0.weight" -> "<prefix>0_weight" */
static void fixture_name(char *out, size_t len, const char *prefix, const char *param) {
  snprintf(out, len, "%s%s", prefix, param);
  for (char *c = out; *c; c++)
    if (*c == '.') *c = '_';
}

static nnrt_module *build(nnrt_device *dev) {
  nnrt_module *net, *m;
  OK(nnrt_module_sequential(dev, &net));
  OK(nnrt_module_linear(dev, 5, 6, true, 1, &m));
  OK(nnrt_sequential_add(net, m));
  OK(nnrt_module_activation(dev, NNRT_OP_tanh, NULL, &m));
  OK(nnrt_sequential_add(net, m));
  OK(nnrt_module_linear(dev, 6, 3, true, 2, &m));
  OK(nnrt_sequential_add(net, m));
  return net;
}

/* Three steps of Adam with params p; the losses and final parameters must
 * match the fixtures <tag>_loss and <tag>_p3_*. */
static void three_adam_steps(const char *tag, const nnrt_adam_step_params *p) {
  nnrt_device *dev = ref();
  nnrt_module *net = build(dev);
  static const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias"};
  cr_assert_eq(nnrt_module_param_count(net), 4);
  char file[96];
  for (size_t i = 0; i < 4; i++) {
    const char *name;
    nnrt_tensor *t;
    OK(nnrt_module_param(net, i, &name, &t, NULL));
    cr_assert_str_eq(name, names[i]);
    fixture_name(file, sizeof file, "p0_", name);
    npy_array a = load(file, NNRT_F32);
    OK(nnrt_tensor_write(t, a.data, a.bytes));
    npy_free(&a);
  }
  npy_array x = load("x", NNRT_F32), y = load("y", NNRT_I64);
  snprintf(file, sizeof file, "%s_loss", tag);
  npy_array want_loss = load(file, NNRT_F64);
  nnrt_tensor *xt, *yt;
  OK(nnrt_tensor_new(dev, NNRT_F32, x.ndim, x.shape, &xt));
  OK(nnrt_tensor_write(xt, x.data, x.bytes));
  OK(nnrt_tensor_new(dev, NNRT_I64, y.ndim, y.shape, &yt));
  OK(nnrt_tensor_write(yt, y.data, y.bytes));
  nnrt_module *loss_fn;
  OK(nnrt_module_loss(dev, NNRT_OP_cross_entropy, NULL, NULL, &loss_fn));
  nnrt_optimizer *opt;
  OK(nnrt_optimizer_adam(net, p, &opt));
  for (int step = 0; step < 3; step++) {
    float lv;
    OK(train_step(net, loss_fn, opt, xt, yt, &lv));
    double w = ((double *)want_loss.data)[step];
    cr_expect(fabs(lv - w) <= 1e-5 * (1 + fabs(w)), "%s: loss of step %d: got %.8g, PyTorch %.8g", tag, step + 1,
              lv, w);
  }
  for (size_t i = 0; i < 4; i++) {
    const char *name;
    nnrt_tensor *t;
    OK(nnrt_module_param(net, i, &name, &t, NULL));
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s_p3_", tag);
    fixture_name(file, sizeof file, prefix, name);
    npy_array w = load(file, NNRT_F64);
    float got[64];
    int64_t n = nnrt_tensor_numel(t);
    OK(nnrt_tensor_read(t, got, sizeof(float) * (size_t)n));
    /* Adam moves each weight by about lr per step whatever the gradient's
     * size, so float32 rounding of small gradients shows only at ~1e-6 */
    for (int64_t k = 0; k < n; k++)
      cr_expect(fabs(got[k] - ((double *)w.data)[k]) <= 2e-5 * (1 + fabs(((double *)w.data)[k])),
                "%s: %s[%lld]: got %.8g, PyTorch %.8g", tag, name, (long long)k, got[k], ((double *)w.data)[k]);
    npy_free(&w);
  }
  npy_free(&x);
  npy_free(&y);
  npy_free(&want_loss);
  nnrt_tensor_free(xt);
  nnrt_tensor_free(yt);
  nnrt_optimizer_free(opt);
  nnrt_module_free(loss_fn);
  nnrt_module_free(net);
}

Test(optim, three_adam_steps_match_pytorch) {
  nnrt_adam_step_params p;
  OK(nnrt_params_init(NNRT_OP_adam_step, &p));
  p.lr = 0.01;
  p.step = 99; /* ignored: the optimizer counts */
  three_adam_steps("adam", &p);
}

Test(optim, three_amsgrad_steps_with_weight_decay_match_pytorch) {
  nnrt_adam_step_params p;
  OK(nnrt_params_init(NNRT_OP_adam_step, &p));
  p.lr = 0.05;
  p.beta1 = 0.8;
  p.beta2 = 0.6;
  p.eps = 1e-6;
  p.weight_decay = 0.01;
  p.amsgrad = true;
  three_adam_steps("amsgrad", &p);
}

/* NULL params are PyTorch's defaults, and the op's defaults agree. */
Test(optim, adam_defaults_are_pytorchs) {
  nnrt_adam_step_params p;
  OK(nnrt_params_init(NNRT_OP_adam_step, &p));
  cr_expect_eq(p.lr, 1e-3);
  cr_expect_eq(p.beta1, 0.9);
  cr_expect_eq(p.beta2, 0.999);
  cr_expect_eq(p.eps, 1e-8);
  cr_expect_eq(p.weight_decay, 0.0);
  cr_expect_not(p.amsgrad);
  cr_expect_not(p.maximize);
  cr_expect_eq(p.step, 1);
  nnrt_module *net = build(ref());
  nnrt_optimizer *opt;
  OK(nnrt_optimizer_adam(net, NULL, &opt));
  /* zero gradients: m = v = 0, so the step leaves every weight as it was */
  float before[30], after[30];
  nnrt_tensor *w;
  OK(nnrt_module_param(net, 0, NULL, &w, NULL));
  OK(nnrt_tensor_read(w, before, sizeof before));
  OK(nnrt_optimizer_step(opt));
  OK(nnrt_tensor_read(w, after, sizeof after));
  cr_expect_arr_eq(before, after, sizeof before);
  nnrt_optimizer_free(opt);
  nnrt_module_free(net);
}

Test(optim, adam_api_errors) {
  nnrt_device *dev = ref();
  nnrt_module *net = build(dev);
  nnrt_optimizer *opt = NULL;
  nnrt_adam_step_params p;
  OK(nnrt_params_init(NNRT_OP_adam_step, &p));
  cr_expect_eq(nnrt_optimizer_adam(NULL, &p, &opt), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_eq(nnrt_optimizer_adam(net, &p, NULL), NNRT_ERR_INVALID_ARGUMENT);
  /* bad hyper-parameters are refused when the optimizer is made, by name */
  struct { const char *set, *name; } bad[] = {{"lr=-0.1", "lr"}, {"beta1=1", "beta1"}, {"beta2=-0.5", "beta2"},
                                              {"eps=-1e-8", "eps"}, {"weight_decay=-1", "weight_decay"},
                                              {"lr=none", "lr"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    OK(nnrt_params_init(NNRT_OP_adam_step, &p));
    OK(nnrt_params_set(NNRT_OP_adam_step, &p, bad[i].set));
    cr_expect_eq(nnrt_optimizer_adam(net, &p, &opt), NNRT_ERR_INVALID_ARGUMENT, "%s accepted", bad[i].set);
    cr_expect_not_null(strstr(nnrt_last_error(), bad[i].name), "%s: %s", bad[i].set, nnrt_last_error());
    cr_expect_not_null(strstr(nnrt_last_error(), "adam_step"), "%s: %s", bad[i].set, nnrt_last_error());
  }
  cr_expect_eq(nnrt_optimizer_step(NULL), NNRT_ERR_INVALID_ARGUMENT);
  nnrt_optimizer_free(NULL);
  /* a module that gained parameters since is refused, not half-stepped */
  OK(nnrt_optimizer_adam(net, NULL, &opt));
  nnrt_module *extra;
  OK(nnrt_module_linear(dev, 3, 2, true, 3, &extra));
  OK(nnrt_sequential_add(net, extra));
  cr_expect_eq(nnrt_optimizer_step(opt), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "parameters"), "%s", nnrt_last_error());
  nnrt_optimizer_free(opt);
  /* SGD goes through the same machinery */
  nnrt_sgd_step_params sp = {.lr = -1};
  cr_expect_eq(nnrt_optimizer_sgd(net, &sp, &opt), NNRT_ERR_INVALID_ARGUMENT);
  nnrt_module_free(net);
}

/* SGD with momentum keeps its buffer across steps in the generalised
 * optimizer: two steps of constant gradient g move a weight by
 * lr*g + lr*(momentum*g + g). */
Test(optim, sgd_momentum_still_works) {
  nnrt_device *dev = ref();
  nnrt_module *lin;
  OK(nnrt_module_linear(dev, 2, 1, false, 7, &lin));
  nnrt_tensor *w, *g;
  OK(nnrt_module_param(lin, 0, NULL, &w, &g));
  float w0[2], w2[2], gv[2] = {0.5f, -2.0f};
  OK(nnrt_tensor_read(w, w0, sizeof w0));
  nnrt_sgd_step_params sp = {.lr = 0.1, .momentum = 0.9};
  nnrt_optimizer *opt;
  OK(nnrt_optimizer_sgd(lin, &sp, &opt));
  for (int s = 0; s < 2; s++) {
    OK(nnrt_tensor_write(g, gv, sizeof gv));
    OK(nnrt_optimizer_step(opt));
  }
  OK(nnrt_tensor_read(w, w2, sizeof w2));
  for (int i = 0; i < 2; i++) {
    double want = w0[i] - 0.1 * gv[i] - 0.1 * (0.9 * gv[i] + gv[i]);
    cr_expect(fabs(w2[i] - want) < 1e-6, "w[%d]: got %.8g want %.8g", i, w2[i], want);
  }
  nnrt_optimizer_free(opt);
  nnrt_module_free(lin);
}

/* The op refuses what the optimizer never passes: step 0, amsgrad without
 * its state, and mismatched state shapes; nothing is written. */
Test(optim, adam_step_op_refusals) {
  nnrt_device *dev = ref();
  int64_t s3[1] = {3}, s4[1] = {4};
  nnrt_tensor *g, *p, *m, *v, *vm, *bad;
  OK(nnrt_tensor_new(dev, NNRT_F32, 1, s3, &g));
  OK(nnrt_tensor_new(dev, NNRT_F32, 1, s3, &p));
  OK(nnrt_tensor_new(dev, NNRT_F32, 1, s3, &m));
  OK(nnrt_tensor_new(dev, NNRT_F32, 1, s3, &v));
  OK(nnrt_tensor_new(dev, NNRT_F32, 1, s3, &vm));
  OK(nnrt_tensor_new(dev, NNRT_F32, 1, s4, &bad));
  OK(nnrt_tensor_fill(g, 1.0));
  OK(nnrt_tensor_fill(p, 2.0));
  nnrt_adam_step_params ap;
  OK(nnrt_params_init(NNRT_OP_adam_step, &ap));
  ap.step = 0;
  cr_expect_eq(nnrt_adam_step(g, p, m, v, NULL, &ap), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "step=0"), "%s", nnrt_last_error());
  ap.step = 1;
  ap.amsgrad = true;
  cr_expect_eq(nnrt_adam_step(g, p, m, v, NULL, &ap), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "max_exp_avg_sq"), "%s", nnrt_last_error());
  cr_expect_eq(nnrt_adam_step(g, p, m, bad, vm, &ap), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "exp_avg_sq"), "%s", nnrt_last_error());
  float pv[3];
  OK(nnrt_tensor_read(p, pv, sizeof pv));
  for (int i = 0; i < 3; i++) cr_expect_eq(pv[i], 2.0f);
  /* and the valid call: first step moves every weight by lr against g */
  OK(nnrt_adam_step(g, p, m, v, vm, &ap));
  OK(nnrt_tensor_read(p, pv, sizeof pv));
  for (int i = 0; i < 3; i++) cr_expect(fabs(pv[i] - (2.0 - 1e-3)) < 1e-6, "p[%d] = %.8g", i, pv[i]);
  nnrt_tensor *all[] = {g, p, m, v, vm, bad};
  for (int i = 0; i < 6; i++) nnrt_tensor_free(all[i]);
}

/* sgd_step (momentum, nesterov, weight decay; first step and later) and
 * adam_step (amsgrad) on 100003 float32 parameters, enough for threads
 * and every tail, against the optimizers' formulas in float64 from the
 * same float32 state (tools/golden pins the ops' numbers on small shapes;
 * this pins ref's per-thread vector loops). */
static float rnd(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return (float)((double)(*s >> 11) * 0x1p-53 * 2 - 1);
}

Test(optim, steps_on_many_parameters_match_the_formulas) {
  enum { N = 100003 };
  int64_t n = N;
  nnrt_device *d = ref();
  nnrt_tensor *g, *p, *b, *m, *v, *vm;
  OK(nnrt_tensor_new(d, NNRT_F32, 1, &n, &g));
  OK(nnrt_tensor_new(d, NNRT_F32, 1, &n, &p));
  OK(nnrt_tensor_new(d, NNRT_F32, 1, &n, &b));
  OK(nnrt_tensor_new(d, NNRT_F32, 1, &n, &m));
  OK(nnrt_tensor_new(d, NNRT_F32, 1, &n, &v));
  OK(nnrt_tensor_new(d, NNRT_F32, 1, &n, &vm));
  float *G = nnrt_tensor_data(g), *P = nnrt_tensor_data(p), *B = nnrt_tensor_data(b);
  float *M = nnrt_tensor_data(m), *V = nnrt_tensor_data(v), *VM = nnrt_tensor_data(vm);
  static float p0[N], b0[N], m0[N], v0[N], vm0[N];
  uint64_t s = 88172645463325252u;
  for (int64_t i = 0; i < N; i++) {
    G[i] = rnd(&s), P[i] = rnd(&s), B[i] = rnd(&s), M[i] = rnd(&s) * 0.1f;
    V[i] = fabsf(rnd(&s)) * 0.01f, VM[i] = fabsf(rnd(&s)) * 0.01f;
  }
  for (int first = 1; first >= 0; first--) {
    memcpy(p0, P, sizeof p0), memcpy(b0, B, sizeof b0);
    nnrt_sgd_step_params q;
    nnrt_params_init(NNRT_OP_sgd_step, &q);
    q.lr = 0.05, q.momentum = 0.9, q.weight_decay = 0.01, q.nesterov = true, q.first_step = first;
    OK(nnrt_sgd_step(g, p, b, &q));
    for (int64_t i = 0; i < N; i++) {
      double dd = (double)G[i] + 0.01 * p0[i], bb = first ? dd : 0.9 * b0[i] + dd;
      float wb = (float)bb, wp = (float)(p0[i] - 0.05 * (dd + 0.9 * bb));
      if (B[i] != wb || P[i] != wp)
        cr_assert_fail("sgd first_step=%d, element %lld: param %a buffer %a, want %a %a", first, (long long)i, P[i],
                       B[i], wp, wb);
    }
  }
  memcpy(p0, P, sizeof p0), memcpy(m0, M, sizeof m0), memcpy(v0, V, sizeof v0), memcpy(vm0, VM, sizeof vm0);
  nnrt_adam_step_params a;
  nnrt_params_init(NNRT_OP_adam_step, &a);
  a.amsgrad = true, a.weight_decay = 0.01, a.step = 3;
  OK(nnrt_adam_step(g, p, m, v, vm, &a));
  double ss = a.lr / (1 - pow(a.beta1, 3)), bc2 = sqrt(1 - pow(a.beta2, 3));
  for (int64_t i = 0; i < N; i++) {
    double gg = (double)G[i] + 0.01 * p0[i];
    float wm = (float)(a.beta1 * m0[i] + (1 - a.beta1) * gg), wv = (float)(a.beta2 * v0[i] + (1 - a.beta2) * gg * gg);
    float wvm = wv > vm0[i] ? wv : vm0[i];
    float wp = (float)(p0[i] - ss * ((double)wm / (sqrt((double)wvm) / bc2 + a.eps)));
    if (M[i] != wm || V[i] != wv || VM[i] != wvm || P[i] != wp)
      cr_assert_fail("adam element %lld: %a %a %a %a, want %a %a %a %a", (long long)i, P[i], M[i], V[i], VM[i], wp,
                     wm, wv, wvm);
  }
  nnrt_tensor_free(g), nnrt_tensor_free(p), nnrt_tensor_free(b);
  nnrt_tensor_free(m), nnrt_tensor_free(v), nnrt_tensor_free(vm);
}
