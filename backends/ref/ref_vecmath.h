/* backends/ref/ref_vecmath.h - vector math for ref's float32 loops:
 * glibc's libmvec variants of expf, tanhf, log1pf, erff and erfcf (and of
 * the double exp, log and log1p where REF_VECMATH_F64 is defined), and
 * REF_CLONES, a target_clones attribute compiling a function for AVX-512
 * (x86-64-v4), AVX2 (x86-64-v3) and baseline x86-64, picked when the
 * library loads.
 *
 * glibc declares the vector variants only under -ffast-math; declaring
 * them here lets an `omp simd` loop call them (within 4 ulp of the scalar
 * functions) while every other rule of IEEE arithmetic stays.  Files that
 * include this are built with -fno-math-errno and -fno-trapping-math and
 * get NNRT_REF_LIBMVEC when libmvec has the functions (CMakeLists.txt);
 * without it, or off GCC/x86-64, the declarations and clones are left out
 * and the same loops call scalar libm.  Include before <tgmath.h>.
 *
 * Inline float32 functions, written out so that an `omp simd` loop
 * inlines them (no call, no spills around it) on any compiler and CPU;
 * tools/vecmath/fit.py fits their polynomials and tests/test_vecmath.c
 * measures them against the float64 libm over the whole float range:
 *   ref_expf_nonpos(x)  e^x for x <= 0 (and -inf), for softmax-like
 *       lines whose arguments are x - max and for e^-|x|: x = n ln2 + r
 *       with n rounded to nearest, |r| <= ln2/2, e^r by a degree-5
 *       polynomial (relative error 1.1e-7 on the interval), times 2^n
 *       made from exponent bits, denormal results included; NaN gives
 *       NaN, x > 80 garbage.
 *   ref_expf(x)  e^x everywhere: the same reduction and polynomial, 2^n
 *       applied as two factors so that denormal results round once and
 *       overflow gives +inf; NaN gives NaN.
 *   ref_expf_neg(x)  e^x for x <= 0 and NaN (the same function).
 *   ref_sigmoidf(x), ref_dsigmoidf(x)  1 / (1 + e^-x) and its derivative
 *       from e = e^-|x|, which never overflows.
 *   ref_tanhf(x)  sign(x) (-u / (2 + u)) for u = e^-2|x| - 1, from an
 *       expm1 polynomial that stays accurate near 0; NaN gives NaN.
 *   ref_softplusf(y)  log(1 + e^y) as max(y, 0) + log(1 + e^-|y|), the
 *       logarithm of 1 + e for e in [0, 1] by a polynomial in e.
 *   ref_log1pf(u)  log(1 + u): v = 1 + u rounded, v = 2^k m with m in
 *       [sqrt(1/2), sqrt(2)), log(m) = f - f^2/2 + f^3 Q(f) for f = m - 1,
 *       plus k ln2 and the part of u that the rounding of v lost, over v;
 *       -1 gives -inf, below -1 NaN, +inf +inf.
 * They differ from glibc's expf, tanhf and log1pf by a few ulp (the
 * test's bounds), as libmvec's and PyTorch's vector functions do.
 */
#ifndef NNRT_REF_VECMATH_H
#define NNRT_REF_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(NNRT_REF_LIBMVEC) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) float tanhf(float);
__attribute__((simd("notinbranch"))) float log1pf(float);
__attribute__((simd("notinbranch"))) float erff(float);
__attribute__((simd("notinbranch"))) float erfcf(float);
#ifdef REF_VECMATH_F64 /* opted into by files whose float64 loops want them */
__attribute__((simd("notinbranch"))) double exp(double);
__attribute__((simd("notinbranch"))) double log(double);
__attribute__((simd("notinbranch"))) double log1p(double);
#endif
#define REF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define REF_CLONES
#endif

static inline __attribute__((always_inline)) float ref_f32_from_bits_(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}
static inline __attribute__((always_inline)) uint32_t ref_bits_of_f32_(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* e^r for |r| <= ln2/2 (and a little beyond), relative error 1.1e-7 */
static inline __attribute__((always_inline)) float ref_exp_poly_(float r) {
  float p = 0.00831204958f;
  p = p * r + 0.0418944996f;
  p = p * r + 0.166671332f;
  p = p * r + 0.499992018f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

/* x = n ln2 + *r: returns t = 1.5 * 2^23 + n, whose low mantissa bits
 * hold n (two's complement) for |n| < 2^22; adding 1.5 * 2^23 rounds
 * x / ln2 to nearest on the way.  ln2 is split Cody-Waite style:
 * n * 0.693359375 is exact for |n| < 2^15. */
static inline __attribute__((always_inline)) float ref_exp_reduce_(float x, float *r) {
  float t = x * 1.44269504088896341f + 12582912.0f;
  float n = t - 12582912.0f;
  *r = x - n * 0.693359375f + n * 2.12194440e-4f;
  return t;
}

static inline __attribute__((always_inline)) float ref_expf_nonpos(float x) {
  /* p = 2^-24 e^r (the polynomial's coefficients times 2^-24, exact),
   * s = 2^(n+24) made from t's bits, a normal number down to n = -150:
   * one product, rounded once where the result is denormal, NaN staying
   * NaN.  Below -104, where the result rounds to 0, s is garbage (and
   * at -inf p is NaN): replaced by 0 at the end. */
  float r, t = ref_exp_reduce_(x, &r);
  float p = 0.00831204958f * 0x1p-24f;
  p = p * r + 0.0418944996f * 0x1p-24f;
  p = p * r + 0.166671332f * 0x1p-24f;
  p = p * r + 0.499992018f * 0x1p-24f;
  p = p * r + 0x1p-24f;
  p = p * r + 0x1p-24f;
  float y = p * ref_f32_from_bits_((ref_bits_of_f32_(t) - ref_bits_of_f32_(12582912.0f) + 151u) << 23);
  return x < -104.0f ? 0.0f : y;
}

static inline __attribute__((always_inline)) float ref_expf(float x) {
  /* Clamped to [-105, 89], n lies in [-152, 129]: each half of it is a
   * normal power of two, so a denormal result is rounded once, e^-105
   * rounds to 0 and e^89 overflows.  NaN stays NaN through the clamps and
   * the product, whatever the garbage exponents. */
  float xc = x < -105.0f ? -105.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  float r, t = ref_exp_reduce_(xc, &r);
  int32_t n = (int32_t)(ref_bits_of_f32_(t) - ref_bits_of_f32_(12582912.0f));
  int32_t n1 = n >> 1, n2 = n - n1; /* >> of a negative int: arithmetic in GCC and Clang */
  return ref_exp_poly_(r) * ref_f32_from_bits_((uint32_t)(n1 + 127) << 23) *
         ref_f32_from_bits_((uint32_t)(n2 + 127) << 23);
}

/* e^x for x <= 0 and NaN (NaN out); garbage for x > 0, for formulas that
 * select another value there.  (ref_expf_nonpos itself, named for what
 * its callers may rely on.) */
static inline __attribute__((always_inline)) float ref_expf_neg(float x) { return ref_expf_nonpos(x); }

/* 1 / (1 + e^-x) from e = e^-|x| <= 1: 1 / (1 + e) for x >= 0, e / (1 + e)
 * below; no overflow, and accurate where the result is tiny. */
static inline __attribute__((always_inline)) float ref_sigmoidf(float x) {
  float e = ref_expf_nonpos(-fabsf(x)), r = 1.0f / (1.0f + e); /* NaN: e is NaN */
  return x < 0 ? e * r : r;
}

/* The sigmoid's derivative s (1 - s) = e / (1 + e)^2 for e = e^-|x|
 * (even in x): no cancellation where s is near 1; 0 at +-inf. */
static inline __attribute__((always_inline)) float ref_dsigmoidf(float x) {
  float e = ref_expf_nonpos(-fabsf(x)), d = 1.0f + e; /* NaN: e is NaN */
  return e / (d * d);
}

/* e^y - 1 for y in [-20, 0]: y = n ln2 + r, e^r - 1 = r + r^2 Q(r)
 * (relative error 1.4e-8), then 2^n (e^r - 1) + (2^n - 1) in one
 * rounding; accurate near 0, where n = 0. */
static inline __attribute__((always_inline)) float ref_expm1f_neg_(float y) {
  float r, t = ref_exp_reduce_(y, &r);
  float q = 0.00138823956f;
  q = q * r + 0.00836718087f;
  q = q * r + 0.0416672213f;
  q = q * r + 0.166665387f;
  q = q * r + 0.49999998f;
  float em = r + r * r * q;
  float s = ref_f32_from_bits_((ref_bits_of_f32_(t) - ref_bits_of_f32_(12582912.0f) + 127u) << 23);
  return s * em + (s - 1.0f);
}

static inline __attribute__((always_inline)) float ref_tanhf(float x) {
  /* tanh|x| = -u / (2 + u) for u = e^-2|x| - 1; below -20, u rounds to
   * -1 + 2e-9 and the quotient to 1.  NaN stays NaN (the clamp keeps it). */
  float y = -2.0f * fabsf(x);
  y = y < -20.0f ? -20.0f : y;
  float u = ref_expm1f_neg_(y);
  return copysignf(-u / (2.0f + u), x);
}

/* log(1 + e) for e in [0, 1]: e + e^2 P(e), P of degree 7 (relative
 * error 3.3e-8 on the interval); no division, which made softplus 10%
 * slower as 2 atanh(e / (2 + e)). */
static inline __attribute__((always_inline)) float ref_log1pf_unit_(float e) {
  float p = 0.00536481837f;
  p = p * e - 0.0300657685f;
  p = p * e + 0.0792044969f;
  p = p * e - 0.137537991f;
  p = p * e + 0.191536534f;
  p = p * e - 0.248571633f;
  p = p * e + 0.333213226f;
  p = p * e - 0.49999648f;
  return e + (e * e) * p;
}

/* log(1 + e^y) for any y, as max(y, 0) + log(1 + e^-|y|): softplus
 * without overflow or cancellation; +-inf and NaN come out as they go in
 * (0 for -inf). */
static inline __attribute__((always_inline)) float ref_softplusf(float y) {
  float l = ref_log1pf_unit_(ref_expf_nonpos(-fabsf(y))); /* NaN: l is NaN */
  return (y > 0 ? y : 0.0f) + l;
}

static inline __attribute__((always_inline)) float ref_log1pf(float u) {
  float v = 1.0f + u;
  /* k: v's binary exponent, counted from sqrt(1/2) so m lands in
   * [sqrt(1/2), sqrt(2)); f = m - 1 is exact. */
  int32_t k = (int32_t)(ref_bits_of_f32_(v) - 0x3f3504f3u) >> 23;
  float m = ref_f32_from_bits_(ref_bits_of_f32_(v) - ((uint32_t)k << 23));
  float f = m - 1.0f;
  /* c = 1 + u - v (fdlibm's two forms, each exact where it is used),
   * over v as c 2^-k (2 - m): 1/m to within (m-1)^2, enough for a term
   * below half an ulp of v. */
  float c = k > 0 ? 1.0f - (v - u) : u - (v - 1.0f);
  int32_t ks = k > 126 ? 126 : k;
  float cv = c * ref_f32_from_bits_((uint32_t)(127 - ks) << 23) * (2.0f - m);
  float q = 0.0870043057f;
  q = q * f - 0.142674862f;
  q = q * f + 0.149147692f;
  q = q * f - 0.165775848f;
  q = q * f + 0.199630637f;
  q = q * f - 0.25001337f;
  q = q * f + 0.333339107f;
  float kf = (float)k, hf = 0.5f * f * f;
  float y = kf * 0.693359375f + (f - (hf - (f * f * f * q + (cv - kf * 2.12194440e-4f))));
  y = u == __builtin_inff() ? u : y;
  y = u == -1.0f ? -__builtin_inff() : y;
  y = u < -1.0f ? __builtin_nanf("") : y;
  y = u != u ? u : y; /* two selects: GCC 12 vectorizes no single one after an exp */
  return u == 0.0f ? u : y; /* the sign of a zero */
}

#endif
