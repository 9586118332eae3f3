/* backends/ref/unary.c - every elementwise activation, forward and
 * backward, from the formulas of nnrt/scalar.h: one driver
 * (unary_impl.h), one X-macro.  gelu lives in unary_exact.c.
 *
 * float32 runs at memory speed where the machine allows: each OpenMP
 * thread takes one contiguous share of the elements and runs it through a
 * span function that GCC compiles three times (x86-64-v4 i.e. AVX-512,
 * x86-64-v3 i.e. AVX2, baseline; target_clones picks one when the library
 * loads) and vectorizes, calling glibc's libmvec for exp, tanh, log1p and
 * erf (ref_vecmath.h; within 4 ulp of the scalar functions).  This file
 * is built with -fno-trapping-math, so the vectorizer may compute both
 * sides of a formula's ?: and keep one, and -fno-math-errno; no result
 * changes.  Large outputs are written with streaming stores (unary_impl.h).
 * Elsewhere (other compilers, CPUs or libcs) the same loops run with scalar
 * libm.  float64, the precision reference of the gradient checks, keeps
 * plain loops on the scalar libm functions.
 */
#include "ref_vecmath.h"

#define UNARY_CLONES REF_CLONES

#include <tgmath.h>

#include "unary_impl.h"

/* every op but the exact ones */
#define UNARY_OWN_0(name, fwd, bwd) UNARY_KERNELS(name, fwd, bwd)
#define UNARY_OWN_1(name, fwd, bwd)
#define UNARY_OWN(name, fwd, bwd) REF_UNARY_CAT(UNARY_OWN_, REF_UNARY_IS_EXACT(name))(name, fwd, bwd)
NNRT_UNARY_LIST(UNARY_OWN)
