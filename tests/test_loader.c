/* tests/test_loader.c - the plugin loader against deliberately broken
 * plugins, and dispatch/fallback through the template plugin, a device
 * whose memory the core cannot read directly.  NNRT_PLUGIN_PATH points at
 * build/tests/plugins (see loader.cmake). */
#include <criterion/criterion.h>
#include <math.h>
#include <nnrt/nnrt.h>
#include <stdlib.h>
#include <string.h>

static const nnrt_backend_info *find(const char *name) {
  static nnrt_backend_info info;
  for (size_t i = 0; i < nnrt_backend_count(); i++) {
    cr_assert_eq(nnrt_backend_info_get(i, &info), NNRT_OK);
    if (!strcmp(info.name, name)) return &info;
  }
  return NULL;
}

static void expect_rejected(const char *name, const char *reason_part) {
  const nnrt_backend_info *b = find(name);
  cr_assert_not_null(b, "backend %s not listed", name);
  cr_expect_not(b->usable, "%s should be rejected", name);
  cr_expect_not_null(strstr(b->reason, reason_part), "%s: reason '%s' lacks '%s'", name, b->reason, reason_part);
}

Test(loader, broken_plugins_are_rejected_with_reasons) {
  expect_rejected("libnnrt-broken-no-entry.so", "no entry symbol nnrt_plugin_entry");
  expect_rejected("libnnrt-broken-declines.so", "needs ABI >= 7");
  expect_rejected("abi_too_new", "ABI 99");
  expect_rejected("probe_declines", "no widget attached to port 3");
  expect_rejected("null_slot", "'alloc' is NULL");
  expect_rejected("libnnrt-not-elf.so", "dlopen failed");
  const nnrt_backend_info *ref = find("ref");
  cr_assert_not_null(ref);
  cr_expect(ref->usable);
}

Test(loader, rejected_backend_named_explicitly_is_an_error_with_reason) {
  nnrt_device *dev = NULL;
  cr_assert_neq(nnrt_device_get("probe_declines", &dev), NNRT_OK);
  cr_expect_not_null(strstr(nnrt_last_error(), "no widget attached"), "%s", nnrt_last_error());
  cr_assert_neq(nnrt_device_get("nosuchbackend:0", &dev), NNRT_OK);
  cr_expect_not_null(strstr(nnrt_last_error(), "nosuchbackend"), "%s", nnrt_last_error());
  cr_assert_neq(nnrt_device_get("template:5", &dev), NNRT_OK);
  cr_assert_neq(nnrt_device_get("template:x", &dev), NNRT_OK);
}

Test(loader, nnrt_backend_selection) {
  nnrt_device *dev = NULL;
  setenv("NNRT_BACKEND", "probe_declines", 1);
  cr_assert_neq(nnrt_device_default(&dev), NNRT_OK);
  cr_expect_not_null(strstr(nnrt_last_error(), "no widget"), "%s", nnrt_last_error());
  setenv("NNRT_BACKEND", "nosuch,template:0,ref", 1);
  cr_assert_eq(nnrt_device_default(&dev), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_str_eq(nnrt_device_name(dev), "template:0");
  setenv("NNRT_BACKEND", "ref", 1);
  cr_assert_eq(nnrt_device_default(&dev), NNRT_OK);
  cr_expect_str_eq(nnrt_device_name(dev), "ref");
  unsetenv("NNRT_BACKEND");
}

static nnrt_tensor *make(nnrt_device *dev, const float *v, int64_t n) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F32, 1, &n, &t), NNRT_OK, "%s", nnrt_last_error());
  if (v) cr_assert_eq(nnrt_tensor_write(t, v, sizeof(float) * (size_t)n), NNRT_OK);
  return t;
}

Test(loader, native_kernel_and_fallback_with_copies) {
  nnrt_device *dev, *ref;
  cr_assert_eq(nnrt_device_get("template", &dev), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_device_get("ref", &ref), NNRT_OK);
  cr_expect(nnrt_device_has_op(dev, NNRT_OP_relu));
  cr_expect_not(nnrt_device_has_op(dev, NNRT_OP_sigmoid));
  float in[5] = {-2, -0.5f, 0, 0.5f, 3}, out[5], want[5];
  nnrt_tensor *x = make(dev, in, 5), *y = make(dev, NULL, 5);
  cr_assert_eq(nnrt_relu(x, y, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_read(y, out, sizeof out), NNRT_OK);
  for (int i = 0; i < 5; i++) cr_expect_eq(out[i], in[i] > 0 ? in[i] : 0);

  /* sigmoid is not on the template device: it runs on ref with copies */
  uint64_t before = nnrt_device_fallback_count(dev, NNRT_OP_sigmoid);
  cr_assert_eq(nnrt_sigmoid(x, y, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_eq(nnrt_device_fallback_count(dev, NNRT_OP_sigmoid), before + 1);
  nnrt_tensor *rx = make(ref, in, 5), *ry = make(ref, NULL, 5);
  cr_assert_eq(nnrt_sigmoid(rx, ry, NULL), NNRT_OK);
  cr_assert_eq(nnrt_tensor_read(y, out, sizeof out), NNRT_OK);
  cr_assert_eq(nnrt_tensor_read(ry, want, sizeof want), NNRT_OK);
  for (int i = 0; i < 5; i++) cr_expect_eq(out[i], want[i]);

  /* in place through the fallback: the input is the output */
  nnrt_elu_params ep = {.alpha = 1.0, .inplace = true};
  cr_assert_eq(nnrt_elu(x, NULL, &ep), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_read(x, out, sizeof out), NNRT_OK);
  for (int i = 0; i < 5; i++) cr_expect_float_eq(out[i], in[i] > 0 ? in[i] : expm1f(in[i]), 1e-6);

  /* NNRT_FALLBACK=error refuses and writes nothing */
  cr_assert_eq(nnrt_tensor_write(y, in, sizeof in), NNRT_OK);
  setenv("NNRT_FALLBACK", "error", 1);
  cr_expect_eq(nnrt_sigmoid(x, y, NULL), NNRT_ERR_UNIMPLEMENTED);
  cr_expect_not_null(strstr(nnrt_last_error(), "NNRT_FALLBACK=error"), "%s", nnrt_last_error());
  unsetenv("NNRT_FALLBACK");
  cr_assert_eq(nnrt_tensor_read(y, out, sizeof out), NNRT_OK);
  cr_expect_arr_eq(out, in, sizeof in);

  /* tensors of two devices in one op are an error; an explicit copy works */
  cr_expect_eq(nnrt_relu(x, ry, NULL), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "template"), "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_copy(ry, x), NNRT_OK);

  /* f64 is not a dtype of the template device */
  nnrt_tensor *d;
  int64_t n = 3;
  cr_expect_eq(nnrt_tensor_new(dev, NNRT_F64, 1, &n, &d), NNRT_ERR_UNIMPLEMENTED);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnrt_tensor_free(rx);
  nnrt_tensor_free(ry);
}
