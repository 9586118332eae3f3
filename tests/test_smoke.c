/* tests/test_smoke.c - the library starts, ref is there, a tensor round-trips. */
#include <criterion/criterion.h>
#include <nnrt/nnrt.h>

Test(smoke, ref_device_and_relu) {
  nnrt_device *dev;
  cr_assert_eq(nnrt_device_get("ref", &dev), NNRT_OK, "%s", nnrt_last_error());
  int64_t shape[] = {2, 3};
  nnrt_tensor *x, *y;
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F32, 2, shape, &x), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F32, 2, shape, &y), NNRT_OK);
  float in[6] = {-2, -1, 0, 1, 2, 3}, out[6];
  cr_assert_eq(nnrt_tensor_write(x, in, sizeof in), NNRT_OK);
  cr_assert_eq(nnrt_relu(x, y, NULL), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_read(y, out, sizeof out), NNRT_OK);
  for (int i = 0; i < 6; i++) cr_expect_float_eq(out[i], in[i] > 0 ? in[i] : 0, 0);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}
