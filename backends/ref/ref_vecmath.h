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
 */
#ifndef NNRT_REF_VECMATH_H
#define NNRT_REF_VECMATH_H

#include <math.h>

#if defined(NNRT_REF_LIBMVEC) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) float tanhf(float);
__attribute__((simd("notinbranch"))) float log1pf(float);
__attribute__((simd("notinbranch"))) float erff(float);
#define REF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define REF_CLONES
#endif

#endif
