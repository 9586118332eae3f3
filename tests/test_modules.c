/* tests/test_modules.c - modules end to end against PyTorch: a Sequential
 * of Linear, PReLU, Tanh, Linear with CrossEntropyLoss and SGD (momentum,
 * nesterov, weight decay) trained for three steps from PyTorch's starting
 * weights (tests/fixtures/modules, written by tools/golden/modules.py);
 * and the module API's error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <nnrt/nnrt.h>
#include <string.h>

#include "npy.h"
#include "train.h"

#define FIX NNRT_SOURCE_DIR "/tests/fixtures/modules/"

static npy_array load(const char *name, nnrt_dtype dt) {
  char path[512], err[256];
  snprintf(path, sizeof path, FIX "%s.npy", name);
  npy_array a;
  cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
  if (dt != NNRT_I64) cr_assert_eq(npy_convert(&a, dt, err, sizeof err), 0, "%s", err);
  return a;
}

static void expect_close(const float *got, const double *want, int64_t n, double tol, const char *what) {
  for (int64_t i = 0; i < n; i++)
    cr_expect(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])), "%s[%lld]: got %.8g, PyTorch %.8g", what,
              (long long)i, got[i], want[i]);
}

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

#define OK(call) cr_assert_eq((call), NNRT_OK, "%s: %s", #call, nnrt_last_error())

static nnrt_module *build(nnrt_device *dev) {
  nnrt_module *net, *m;
  OK(nnrt_module_sequential(dev, &net));
  OK(nnrt_module_linear(dev, 5, 6, true, 1, &m));
  OK(nnrt_sequential_add(net, m));
  OK(nnrt_module_prelu(dev, 6, 0.2, &m));
  OK(nnrt_sequential_add(net, m));
  OK(nnrt_module_activation(dev, NNRT_OP_tanh, NULL, &m));
  OK(nnrt_sequential_add(net, m));
  OK(nnrt_module_linear(dev, 6, 3, true, 2, &m));
  OK(nnrt_sequential_add(net, m));
  return net;
}

Test(modules, three_sgd_steps_match_pytorch) {
  nnrt_device *dev = ref();
  nnrt_module *net = build(dev);
  static const char *names[] = {"0.weight", "0.bias", "1.weight", "3.weight", "3.bias"};
  cr_assert_eq(nnrt_module_param_count(net), 5);
  for (size_t i = 0; i < 5; i++) {
    const char *name;
    nnrt_tensor *p, *g;
    OK(nnrt_module_param(net, i, &name, &p, &g));
    cr_assert_str_eq(name, names[i]);
    char file[64] = "p0_";
    strcat(file, name);
    for (char *c = file; *c; c++) if (*c == '.') *c = '_';
    npy_array a = load(file, NNRT_F32);
    OK(nnrt_tensor_write(p, a.data, a.bytes));
    npy_free(&a);
  }
  npy_array x = load("x", NNRT_F32), y = load("y", NNRT_I64), want_loss = load("loss", NNRT_F64);
  nnrt_tensor *xt, *yt;
  OK(nnrt_tensor_new(dev, NNRT_F32, x.ndim, x.shape, &xt));
  OK(nnrt_tensor_write(xt, x.data, x.bytes));
  OK(nnrt_tensor_new(dev, NNRT_I64, y.ndim, y.shape, &yt));
  OK(nnrt_tensor_write(yt, y.data, y.bytes));
  nnrt_module *loss_fn;
  nnrt_cross_entropy_params cp;
  OK(nnrt_params_init(NNRT_OP_cross_entropy, &cp));
  cp.label_smoothing = 0.05;
  OK(nnrt_module_loss(dev, NNRT_OP_cross_entropy, &cp, NULL, &loss_fn));
  nnrt_sgd_step_params sp = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
  nnrt_optimizer *opt;
  OK(nnrt_optimizer_sgd(net, &sp, &opt));
  for (int step = 0; step < 3; step++) {
    float lv;
    OK(train_step(net, loss_fn, opt, xt, yt, &lv));
    expect_close(&lv, (double *)want_loss.data + step, 1, 1e-5, "loss");
  }
  for (size_t i = 0; i < 5; i++) {
    const char *name;
    nnrt_tensor *p;
    OK(nnrt_module_param(net, i, &name, &p, NULL));
    char file[64] = "p3_";
    strcat(file, name);
    for (char *c = file; *c; c++) if (*c == '.') *c = '_';
    npy_array w = load(file, NNRT_F64);
    float got[64];
    OK(nnrt_tensor_read(p, got, sizeof(float) * (size_t)nnrt_tensor_numel(p)));
    expect_close(got, w.data, nnrt_tensor_numel(p), 2e-5, name);
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

Test(modules, api_errors_and_modes) {
  nnrt_device *dev = ref();
  nnrt_module *net = build(dev), *m;
  cr_expect(nnrt_module_is_training(net));
  nnrt_module_train(net, false);
  cr_expect_not(nnrt_module_is_training(net));
  cr_expect_str_eq(nnrt_module_kind(net), "Sequential");
  nnrt_tensor *g = NULL;
  int64_t shape[2] = {2, 3};
  nnrt_tensor *t;
  OK(nnrt_tensor_new(dev, NNRT_F32, 2, shape, &t));
  /* backward before any forward */
  cr_expect_eq(nnrt_module_backward(net, t, &g), NNRT_ERR_INVALID_ARGUMENT);
  /* wrong input width names the op and the shapes */
  nnrt_tensor *out;
  cr_expect_eq(nnrt_module_forward(net, t, &out), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "linear"), "%s", nnrt_last_error());
  cr_expect_neq(nnrt_sequential_add(net, net), NNRT_OK);
  cr_expect_neq(nnrt_module_linear(dev, 0, 3, true, 1, &m), NNRT_OK);
  cr_expect_neq(nnrt_module_prelu(dev, 0, 0.25, &m), NNRT_OK);
  cr_expect_neq(nnrt_module_activation(dev, NNRT_OP_linear, NULL, &m), NNRT_OK);
  nnrt_relu_params rp = {.inplace = true};
  cr_expect_neq(nnrt_module_activation(dev, NNRT_OP_relu, &rp, &m), NNRT_OK);
  cr_expect_neq(nnrt_module_loss(dev, NNRT_OP_relu, NULL, NULL, &m), NNRT_OK);
  cr_expect_neq(nnrt_loss_forward(net, t, t, &out), NNRT_OK);
  cr_expect_neq(nnrt_module_param(net, 99, NULL, NULL, NULL), NNRT_OK);
  nnrt_tensor_free(t);
  nnrt_module_free(net);
}

Test(modules, softmax_module_backward_uses_its_output) {
  nnrt_device *dev = ref();
  nnrt_module *m;
  nnrt_log_softmax_params p = {.dim = 1};
  OK(nnrt_module_activation(dev, NNRT_OP_log_softmax, &p, &m));
  int64_t shape[2] = {2, 3};
  float xv[6] = {1, 2, 3, -1, 0, 4}, gv[6] = {1, 0, 0, 0, 0, 1}, gx[6];
  nnrt_tensor *x, *g, *out, *gi;
  OK(nnrt_tensor_new(dev, NNRT_F32, 2, shape, &x));
  OK(nnrt_tensor_new(dev, NNRT_F32, 2, shape, &g));
  OK(nnrt_tensor_write(x, xv, sizeof xv));
  OK(nnrt_tensor_write(g, gv, sizeof gv));
  OK(nnrt_module_forward(m, x, &out));
  OK(nnrt_module_backward(m, g, &gi));
  OK(nnrt_tensor_read(gi, gx, sizeof gx));
  /* d/dx of sum(g * log_softmax(x)) = g - softmax(x) * sum(g), in float64 */
  for (int r = 0; r < 2; r++) {
    double mx = -INFINITY, s = 0, gs = 0;
    for (int c = 0; c < 3; c++) mx = fmax(mx, xv[r * 3 + c]);
    for (int c = 0; c < 3; c++) s += exp(xv[r * 3 + c] - mx), gs += gv[r * 3 + c];
    for (int c = 0; c < 3; c++) {
      double want = gv[r * 3 + c] - exp(xv[r * 3 + c] - mx) / s * gs;
      cr_expect(fabs(gx[r * 3 + c] - want) < 1e-6, "[%d,%d] got %g want %g", r, c, gx[r * 3 + c], want);
    }
  }
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_module_free(m);
}
