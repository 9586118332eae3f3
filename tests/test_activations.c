/* tests/test_activations.c - float32 activation results at the edges the
 * golden fixtures cannot hold (they store float64 expectations, which do
 * not overflow where float32 does): the values PyTorch 1.13 itself gives
 * in float32, through its vectorised loop, pasted from
 *   x = torch.tensor([...], dtype=torch.float32)
 *   F.hardswish(torch.cat([x, x]))[:16]      (32 elements: the vector loop)
 * and compared bit for bit on ref. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>
#include <nnrt/nnrt.h>

/* hardswish is x * relu6(x + 3) / 6 in that order: from 3 on x * 6 / 6,
 * which overflows past FLT_MAX / 6 and is one ulp off x for a sixth of
 * the values. */
static const float hardswish_pt[][2] = {
    {0x1.8000000000000p+1f, 0x1.8000000000000p+1f},  {0x1.8000020000000p+1f, 0x1.8000020000000p+1f},
    {0x1.c800000000000p+2f, 0x1.c800000000000p+2f},  {0x1.e848040000000p+19f, 0x1.e848060000000p+19f},
    {0x1.93e5940000000p+99f, 0x1.93e5960000000p+99f}, {0x1.2ced320000000p+125f, 0x1.2ced320000000p+125f},
    {0x1.55402e0000000p+125f, 0x1.55402e0000000p+125f}, {0x1.55da420000000p+125f, INFINITY},
    {0x1.2ced320000000p+126f, INFINITY},              {0x1.fffffe0000000p+127f, INFINITY},
    {-0x1.c363cc0000000p+127f, -0x0.0p+0f},           {-0x1.8000020000000p+1f, -0x0.0p+0f},
    {0x1.69999a0000000p+3f, 0x1.69999a0000000p+3f},  {0x1.edd2f20000000p+6f, 0x1.edd2f20000000p+6f},
    {0x1.7333340000000p+1f, 0x1.6d036a0000000p+1f},  {-0x1.8000000000000p+0f, -0x1.8000000000000p-2f},
};

Test(activations, hardswish_float32_as_pytorch) {
  enum { N = sizeof hardswish_pt / sizeof hardswish_pt[0] };
  nnrt_device *dev;
  cr_assert_eq(nnrt_device_get("ref", &dev), NNRT_OK, "%s", nnrt_last_error());
  int64_t n = 2 * N; /* twice, so that a vector loop meets each value */
  nnrt_tensor *x, *y;
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F32, 1, &n, &x), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F32, 1, &n, &y), NNRT_OK, "%s", nnrt_last_error());
  float in[2 * N], out[2 * N];
  for (int i = 0; i < 2 * N; i++) in[i] = hardswish_pt[i % N][0];
  cr_assert_eq(nnrt_tensor_write(x, in, sizeof in), NNRT_OK);
  cr_assert_eq(nnrt_hardswish(x, y, &(nnrt_hardswish_params){0}), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_read(y, out, sizeof out), NNRT_OK);
  for (int i = 0; i < 2 * N; i++)
    cr_expect(memcmp(&out[i], &hardswish_pt[i % N][1], sizeof(float)) == 0, "hardswish(%a) = %a, PyTorch %a", in[i],
              out[i], hardswish_pt[i % N][1]);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}
