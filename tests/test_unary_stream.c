/* tests/test_unary_stream.c - ref's float32 activations on tensors large
 * enough for the streaming path of backends/ref/unary_impl.h (outputs of
 * 32 MiB or more: blocks through an L1 buffer into non-temporal stores,
 * inputs prefetched ahead), which the golden fixtures never reach.  Every
 * element of an 8 Mi + 37 element tensor, forward and backward (and elu
 * in place), is checked against a float64 formula computed here;
 * the input mixes ordinary values with NaN, +-inf and zeros at scattered
 * positions, including the last elements (the tail after the last whole
 * block).  Limits: a few activations, float32 only; the tolerance is a
 * few times the inline functions' ulp bounds (tests/test_vecmath.c), not
 * PyTorch's numbers (the golden tests pin those on small shapes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <nnrt/nnrt.h>

#include "../backends/ref/ref_stream.h"

#define N ((int64_t)(8 << 20) + 37)
_Static_assert(N * (int64_t)sizeof(float) >= REF_STREAM_MIN, "N must reach ref's streaming path");

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

static nnrt_tensor *mk(void) {
  nnrt_tensor *t;
  int64_t n = N;
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 1, &n, &t), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

/* x: values in [-30, 30] with specials every few thousand elements and at
 * the very end; g: a different pattern in [-2, 2]. */
static void fill(float *x, float *g) {
  uint64_t s = 0x9e3779b97f4a7c15u;
  static const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-30f, -88.0f, 89.0f};
  for (int64_t i = 0; i < N; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double u = (double)(s >> 11) * 0x1p-53;
    x[i] = (float)(60 * u - 30);
    g[i] = (float)(4 * u * u - 2);
    if (i % 4099 == 17 || i >= N - 8)
      x[i] = special[(i / 4099 + (uint64_t)i) % 8];
  }
}

typedef enum { SIGMOID, TANH, SOFTPLUS, ELU, N_FN } fn;
static const char *const names[N_FN] = {"sigmoid", "tanh", "softplus", "elu"};

static double fwd64(fn f, double x) {
  switch (f) {
  case SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
  case TANH: return tanh(x);
  case SOFTPLUS: return x > 20 ? x : log1p(exp(x)); /* beta 1, threshold 20 */
  case ELU: return x > 0 ? x : exp(x) - 1; /* alpha 1; PyTorch's formula, not expm1 */
  default: return NAN;
  }
}

/* s (1 - s) and 1 - tanh^2 from e^-|x|, without the cancellation that
 * leaves nothing of them in float64 for large |x|. */
static double bwd64(fn f, double g, double x) {
  double e;
  switch (f) {
  case SIGMOID: e = exp(-fabs(x)); return isnan(x) ? x : g * e / ((1 + e) * (1 + e));
  case TANH: e = exp(-2 * fabs(x)); return isnan(x) ? x : g * 4 * e / ((1 + e) * (1 + e));
  case SOFTPLUS: return x > 20 ? g : g * fwd64(SIGMOID, x);
  case ELU: return x > 0 ? g : g * exp(x);
  default: return NAN;
  }
}

static nnrt_status run(fn f, bool backward, nnrt_tensor *g, nnrt_tensor *x, nnrt_tensor *y) {
  switch (f) {
  case SIGMOID:
    if (backward) return nnrt_sigmoid_backward(g, x, y, &(nnrt_sigmoid_backward_params){0});
    return nnrt_sigmoid(x, y, &(nnrt_sigmoid_params){0});
  case TANH:
    if (backward) return nnrt_tanh_backward(g, x, y, &(nnrt_tanh_backward_params){0});
    return nnrt_tanh(x, y, &(nnrt_tanh_params){0});
  case SOFTPLUS:
    if (backward) return nnrt_softplus_backward(g, x, y, &(nnrt_softplus_backward_params){.beta = 1, .threshold = 20});
    return nnrt_softplus(x, y, &(nnrt_softplus_params){.beta = 1, .threshold = 20});
  case ELU:
    if (backward) return nnrt_elu_backward(g, x, y, &(nnrt_elu_backward_params){.alpha = 1});
    return nnrt_elu(x, y, &(nnrt_elu_params){.alpha = 1, .inplace = x == y});
  default: return NNRT_ERR_INVALID_ARGUMENT;
  }
}

/* |got - want| within 8 float32 ulps of want, plus `abs`; NaN for NaN,
 * the same infinity.  elu's e^x - 1 in float32 (PyTorch's formula as
 * ours) is off by up to an ulp of 1 near x = 0, hence its abs. */
static bool close_to(float got, double want, double abs) {
  if (isnan(want)) return isnan(got);
  if (isinf(want)) return got == want;
  return fabs(got - want) <= 8 * 0x1p-24 * fabs(want) + abs;
}

static void check(fn f, bool backward, bool inplace) {
  nnrt_tensor *x = mk(), *g = mk(), *y = inplace ? x : mk();
  float *X = nnrt_tensor_data(x), *G = nnrt_tensor_data(g);
  fill(X, G);
  float *x0 = malloc(sizeof(float) * N);
  cr_assert(x0);
  memcpy(x0, X, sizeof(float) * N);
  cr_assert_eq(run(f, backward, g, x, y), NNRT_OK, "%s", nnrt_last_error());
  const float *Y = nnrt_tensor_data(y);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < N; i++) {
    double want = backward ? bwd64(f, G[i], x0[i]) : fwd64(f, x0[i]);
    if (!close_to(Y[i], want, f == ELU ? 0x1p-23 : 0x1p-140) && bad++ == 0) first = i;
  }
  cr_expect_eq(bad, 0, "%s%s%s: %lld of %lld elements off, first at %lld: x = %a, got %a, want %a", names[f],
               backward ? "_backward" : "", inplace ? " in place" : "", (long long)bad, (long long)N,
               (long long)first, first >= 0 ? x0[first] : 0.0f, first >= 0 ? Y[first] : 0.0f,
               first >= 0 ? (backward ? bwd64(f, G[first], x0[first]) : fwd64(f, x0[first])) : 0.0);
  free(x0);
  if (!inplace) nnrt_tensor_free(y);
  nnrt_tensor_free(g);
  nnrt_tensor_free(x);
}

Test(unary_stream, sigmoid) { check(SIGMOID, false, false), check(SIGMOID, true, false); }
Test(unary_stream, tanh) { check(TANH, false, false), check(TANH, true, false); }
Test(unary_stream, softplus) { check(SOFTPLUS, false, false), check(SOFTPLUS, true, false); }
Test(unary_stream, elu) { check(ELU, false, false), check(ELU, true, false); }
Test(unary_stream, elu_inplace) { check(ELU, false, true); }
