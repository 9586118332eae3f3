/* tests/test_activations.c - float32 activation results, bit for bit, where
 * the golden fixtures cannot tell (they store float64 expectations and a
 * tolerance: float64 does not overflow where float32 does, and a formula
 * arranged otherwise than PyTorch's stays within the tolerance while
 * rounding differently): the values PyTorch 1.13 itself gives in float32,
 * through its vectorised loop, pasted from
 *   x = torch.tensor([...], dtype=torch.float32)
 *   F.hardswish(torch.cat([x, x]))[:16]   (x twice: the vector loop)
 *   F.hardsigmoid(torch.cat([x, x, x]))[:12]
 * and compared on ref. */
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

/* hardsigmoid is relu6(x + 3) / 6: (x + 3) / 6 between the kinks, exact
 * near -3 where x / 6 + 1/2 cancels. */
static const float hardsigmoid_pt[][2] = {
    {-0x1.7ffffe0000000p+1f, 0x1.5555560000000p-25f}, {-0x1.7fffac0000000p+1f, 0x1.c000000000000p-20f},
    {-0x1.7fdf3c0000000p+1f, 0x1.5d80000000000p-13f}, {-0x1.7333340000000p+1f, 0x1.1111000000000p-6f},
    {-0x1.4000000000000p+1f, 0x1.5555560000000p-4f},  {-0x1.0000020000000p+0f, 0x1.5555540000000p-2f},
    {0x1.99999a0000000p-4f, 0x1.0888880000000p-1f},   {0x1.7eb8520000000p+1f, 0x1.ff258a0000000p-1f},
    {0x1.7ffffe0000000p+1f, 0x1.0000000000000p+0f},   {0x1.8000000000000p+1f, 0x1.0000000000000p+0f},
    {-0x1.8000000000000p+1f, 0x0.0p+0f},              {0x1.e000000000000p+2f, 0x1.0000000000000p+0f},
};

/* Runs op (params defaulted) on ref over each pair's input, twice in a row
 * so that a vector loop meets every value, and compares the bits. */
static void expect_pytorch(nnrt_op op, const float (*pt)[2], int n_pt) {
  nnrt_device *dev;
  cr_assert_eq(nnrt_device_get("ref", &dev), NNRT_OK, "%s", nnrt_last_error());
  int64_t n = 2 * n_pt;
  nnrt_tensor *x, *y;
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F32, 1, &n, &x), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F32, 1, &n, &y), NNRT_OK, "%s", nnrt_last_error());
  float in[64], out[64];
  cr_assert(n <= 64);
  for (int i = 0; i < n; i++) in[i] = pt[i % n_pt][0];
  cr_assert_eq(nnrt_tensor_write(x, in, sizeof(float) * (size_t)n), NNRT_OK);
  nnrt_tensor *ins[] = {x}, *outs[] = {y};
  cr_assert_eq(nnrt_op_run(op, NULL, ins, outs), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_read(y, out, sizeof(float) * (size_t)n), NNRT_OK);
  for (int i = 0; i < n; i++)
    cr_expect(memcmp(&out[i], &pt[i % n_pt][1], sizeof(float)) == 0, "%s(%a) = %a, PyTorch %a",
              nnrt_op_signature_of(op)->name, in[i], out[i], pt[i % n_pt][1]);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}

Test(activations, hardswish_float32_as_pytorch) {
  expect_pytorch(NNRT_OP_hardswish, hardswish_pt, sizeof hardswish_pt / sizeof hardswish_pt[0]);
}

Test(activations, hardsigmoid_float32_as_pytorch) {
  expect_pytorch(NNRT_OP_hardsigmoid, hardsigmoid_pt, sizeof hardsigmoid_pt / sizeof hardsigmoid_pt[0]);
}
