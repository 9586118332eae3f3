/* tests/test_vecmath.c - the inline float32 functions of ref's vector
 * loops (backends/ref/ref_vecmath.h) against the float64 libm: every
 * 251st float bit pattern (17 million inputs, all signs and exponents),
 * the ranges where the results turn denormal or overflow, and the special
 * values.  Errors are counted in ulps of the float64 value rounded to
 * float (2^-149 for denormals); the bounds are what each function's
 * header comment and docs/PERFORMANCE.md promise.  The sweep is compiled
 * for the same ISAs as ref's loops (FMA contracted or not), so the clone
 * the library runs on this CPU is the one tested.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../backends/ref/ref_vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SWEEP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SWEEP_CLONES
#endif

/* |got - want| in ulps of want as a float; NaN must meet NaN, inf the same inf. */
static double ulps(float got, double want) {
  if (isnan(want)) return isnan(got) ? 0 : INFINITY;
  if (fabs(want) > FLT_MAX) want = want > 0 ? INFINITY : -INFINITY; /* overflows as a float */
  if (isinf(want)) return got == want ? 0 : INFINITY;
  if (isnan(got) || isinf(got)) return INFINITY;
  int e;
  frexp(want, &e);
  double ulp = ldexp(1.0, e - 24);
  if (ulp < 0x1p-149) ulp = 0x1p-149;
  return fabs((double)got - want) / ulp;
}

typedef enum { F_EXP, F_EXP_NONPOS, F_EXP_NEG, F_TANH, F_LOG1P, F_SOFTPLUS, F_SIGMOID, F_DSIGMOID, F_N } fn;
static const char *const names[F_N] = {"ref_expf", "ref_expf_nonpos", "ref_expf_neg", "ref_tanhf",
                                       "ref_log1pf", "ref_softplusf", "ref_sigmoidf", "ref_dsigmoidf"};
static const double bound[F_N] = {2.5, 2.5, 2.5, 3.0, 3.0, 4.0, 4.0, 5.0};

/* The float64 truth, and whether x is in the function's domain. */
static bool truth(fn f, float xf, double *want) {
  double x = xf, e;
  switch (f) {
  case F_EXP: *want = exp(x); return true;
  case F_EXP_NONPOS: *want = exp(x); return x <= 0;
  case F_EXP_NEG: *want = exp(x); return !(x > 0);
  case F_TANH: *want = tanh(x); return true;
  case F_LOG1P: *want = log1p(x); return true;
  case F_SOFTPLUS: *want = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); return true;
  case F_SIGMOID: *want = x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); return true;
  case F_DSIGMOID:
    e = exp(-fabs(x));
    *want = isnan(x) ? x : e / ((1 + e) * (1 + e));
    return true;
  default: return false;
  }
}

SWEEP_CLONES static float eval(fn f, float x) {
  switch (f) {
  case F_EXP: return ref_expf(x);
  case F_EXP_NONPOS: return ref_expf_nonpos(x);
  case F_EXP_NEG: return ref_expf_neg(x);
  case F_TANH: return ref_tanhf(x);
  case F_LOG1P: return ref_log1pf(x);
  case F_SOFTPLUS: return ref_softplusf(x);
  case F_SIGMOID: return ref_sigmoidf(x);
  case F_DSIGMOID: return ref_dsigmoidf(x);
  default: return NAN;
  }
}

typedef struct worst {
  double ulps;
  float at, got;
  double want;
} worst;

static void check(fn f, float x, worst *w) {
  double want;
  if (!truth(f, x, &want)) return;
  float got = eval(f, x);
  double u = ulps(got, want);
  if (!(u <= w->ulps)) *w = (worst){u, x, got, want};
}

static float from_bits(uint32_t b) {
  float x;
  memcpy(&x, &b, sizeof x);
  return x;
}

static void sweep(fn f) {
  worst w = {0};
  for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += 251) check(f, from_bits((uint32_t)b), &w);
  /* dense where results turn denormal or overflow, and around 0 */
  for (float x = -110.0f; x < -80.0f; x += 0.00390625f) check(f, x, &w);
  for (float x = 80.0f; x < 95.0f; x += 0.00390625f) check(f, x, &w);
  for (float x = -2.0f; x < 2.0f; x += 0x1p-10f) check(f, x, &w);
  const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f,
                           FLT_MAX, -FLT_MAX, -1.0f, 1.0f, 88.72283935546875f, 88.7228469848632812f, -87.3365478515625f,
                           -103.972076416015625f, -104.0f, 0.625f, -0.625f};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) check(f, special[i], &w);
  cr_expect(w.ulps <= bound[f], "%s: %.2f ulp at %a (got %a, want %a), bound %.1f", names[f], w.ulps, (double)w.at,
            (double)w.got, w.want, bound[f]);
}

Test(vecmath, expf) { sweep(F_EXP); }
Test(vecmath, expf_nonpos) { sweep(F_EXP_NONPOS); }
Test(vecmath, expf_neg) { sweep(F_EXP_NEG); }
Test(vecmath, tanhf) { sweep(F_TANH); }
Test(vecmath, log1pf) { sweep(F_LOG1P); }
Test(vecmath, softplusf) { sweep(F_SOFTPLUS); }
Test(vecmath, sigmoidf) { sweep(F_SIGMOID); }
Test(vecmath, dsigmoidf) { sweep(F_DSIGMOID); }

/* Signs and exact values the formulas of nnrt/scalar.h rely on. */
Test(vecmath, exact_values) {
  cr_expect(ref_expf(0.0f) == 1.0f && ref_expf_nonpos(0.0f) == 1.0f && ref_expf_nonpos(-0.0f) == 1.0f);
  cr_expect(ref_expf(-INFINITY) == 0.0f && ref_expf_nonpos(-INFINITY) == 0.0f && ref_expf(INFINITY) == INFINITY);
  cr_expect(signbit(ref_tanhf(-0.0f)) && ref_tanhf(-0.0f) == 0.0f && ref_tanhf(INFINITY) == 1.0f &&
            ref_tanhf(-INFINITY) == -1.0f);
  cr_expect(signbit(ref_log1pf(-0.0f)) && ref_log1pf(-1.0f) == -INFINITY && isnan(ref_log1pf(-2.0f)));
  cr_expect(ref_softplusf(-INFINITY) == 0.0f && ref_softplusf(INFINITY) == INFINITY);
  cr_expect(ref_sigmoidf(-INFINITY) == 0.0f && ref_sigmoidf(INFINITY) == 1.0f && ref_sigmoidf(0.0f) == 0.5f);
  cr_expect(ref_dsigmoidf(INFINITY) == 0.0f && ref_dsigmoidf(-INFINITY) == 0.0f && ref_dsigmoidf(0.0f) == 0.25f);
}
