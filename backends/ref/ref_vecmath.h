/* backends/ref/ref_vecmath.h - vector math for ref's float32 loops:
 * glibc's libmvec variants of expf, tanhf, log1pf and erff, and
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
 * ref_expf_nonpos is e^x for x <= 0 (or -inf) written out so an `omp simd`
 * loop inlines it (no call, no spills), for softmax-like lines whose
 * arguments are x - max: x = n ln2 + r with n rounded to nearest, |r| <=
 * ln2/2, e^r by a degree-5 polynomial fitted for relative error (1.1e-7
 * on the interval, 2.0e-7 measured over [-87, 0]), times 2^n added to the
 * exponent bits.  Limits: results below 1.7e-38 (x < -87) are 0 where
 * expf gives denormals; x > 0 beyond 88, +inf and NaN give garbage, so
 * callers screen them out first.
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
#define REF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define REF_CLONES
#endif

static inline float ref_expf_nonpos(float x) {
  /* n = round(x / ln2): adding 1.5 * 2^23 leaves n in the low mantissa
   * bits (|n| < 2^22), rounded to nearest on the way.  Below -87, where
   * 2^n is no longer a normal number, this and what follows are garbage
   * (NaN at -inf), replaced by 0 at the end; no clamp is needed. */
  float t = x * 1.44269504088896341f + 12582912.0f;
  float n = t - 12582912.0f;
  /* ln2 split Cody-Waite style: n * 0.693359375 is exact for |n| < 2^15. */
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 0.0083125252f;
  p = p * r + 0.041890115f;
  p = p * r + 0.16667114f;
  p = p * r + 0.49999231f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  uint32_t pb, tb;
  memcpy(&pb, &p, sizeof pb);
  memcpy(&tb, &t, sizeof tb);
  /* t's low 9 bits are n (two's complement); shifted by 23 the rest of
   * its bits fall off the top. */
  pb += tb << 23;
  float y;
  memcpy(&y, &pb, sizeof y);
  return x < -87.0f ? 0.0f : y;
}

#endif
