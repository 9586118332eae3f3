/* backends/ref/unary.c - every elementwise activation, forward and
 * backward, from the formulas of nnrt/scalar.h: one driver
 * (unary_impl.h), one X-macro.
 *
 * float32 runs at memory speed where the machine allows: each OpenMP
 * thread takes one contiguous share of the elements and runs it through a
 * span function that GCC compiles three times (x86-64-v4 i.e. AVX-512,
 * x86-64-v3 i.e. AVX2, baseline; target_clones picks one when the library
 * loads) and vectorizes, with exp, tanh and log1p of a float inlined
 * (ref_expf, ref_tanhf, ref_log1pf and friends of ref_vecmath.h, within
 * 2.5-5 ulp of the float64 functions, tests/test_vecmath.c): a call to
 * libmvec's versions, and the spills around it, cost more than the
 * memory traffic.  This file
 * is built with -fno-trapping-math, so the vectorizer may compute both
 * sides of a formula's ?: and keep one, and -fno-math-errno; no result
 * changes.  Large outputs are written with streaming stores (unary_impl.h).
 * Elsewhere (other compilers or CPUs) the same loops run unvectorized with
 * the same inline functions.  float64, the precision reference of the
 * gradient checks, keeps plain loops on the scalar libm functions.
 */
#include "ref_vecmath.h"

#define UNARY_CLONES REF_CLONES

#include <tgmath.h>

/* The formulas of nnrt/scalar.h call the type-generic exp, tanh and
 * log1p: of a float they become the inline functions, of a double libm's
 * (the inner name is not expanded again). */
#undef exp
#undef tanh
#undef log1p
#define exp(v) _Generic((v), float: ref_expf, default: exp)(v)
#define tanh(v) _Generic((v), float: ref_tanhf, default: tanh)(v)
#define log1p(v) _Generic((v), float: ref_log1pf, default: log1p)(v)

#include "unary_impl.h"

/* Float32 formulas written as another arrangement of the same function
 * where that runs faster, REF_F32_<op> as `~, (forward), (backward)`
 * (probed the way Linux's IS_ENABLED probes a macro):
 *   sigmoid, and the sigmoids inside the backwards of softplus and
 *   logsigmoid: from e^-|x| (ref_sigmoidf), which needs no overflow
 *   handling; its derivative as e / (1 + e)^2 (ref_dsigmoidf), also
 *   tanh's as 1 - tanh(x)^2 = 4 s'(2x);
 *   elu: e^x on the side where x <= 0 only (ref_expf_neg);
 *   softplus: log1p(exp(y)) costs a general log1p after an exp that
 *   overflows at 88; max(y, 0) + log(1 + e^-|y|) needs the logarithm on
 *   [1, 2] only (ref_softplusf), and 1/beta is taken once per call;
 *   logsigmoid: min(x, 0) - log(1 + e^-|x|) is -softplus(-x) (GCC 12 does
 *   not vectorize the fminf);
 *   gelu: 0.5 (1 + tanh u) is the sigmoid of 2u and 1 - tanh^2 u is 4 s'(2u),
 *   and 1 + erf(z) is erfc(-z): the formulas' 1 + tanh and 1 + erf cancel
 *   where x is very negative (one ulp of tanh moved the tanh variant's
 *   backward by ~1e-6 at x = -5, so gelu used to keep scalar libm). */
#define REF_F32_sigmoid ~, (ref_sigmoidf(x)), (g * ref_dsigmoidf(x))
#define REF_F32_tanh ~, (tanh(x)), (g * K(4) * ref_dsigmoidf(K(2) * x))
#define REF_F32_elu                                                              \
  ~, (x > K(0) ? x : a * (ref_expf_neg(x) - K(1))), (x > K(0) ? g : g * a * ref_expf_neg(x))
#define REF_F32_softplus                                                         \
  ~, (a * x > b ? x : ref_softplusf(a * x) * (K(1) / a)), (a * x > b ? g : g * ref_sigmoidf(a * x))
#define REF_F32_logsigmoid ~, (K(0) - ref_softplusf(-x)), (g * ref_sigmoidf(-x))
#define REF_F32_gelu                                                             \
  ~, (a != K(0) ? x * ref_sigmoidf(K(2) * NNRT_GELU_TANH_IN_(x)) : K(0.5) * x * erfc(-x * K(NNRT_SQRT1_2_))), \
      (a != K(0) ? g * (ref_sigmoidf(K(2) * NNRT_GELU_TANH_IN_(x)) +                                    \
                        K(2) * x * ref_dsigmoidf(K(2) * NNRT_GELU_TANH_IN_(x)) * K(NNRT_GELU_K_) *     \
                            (K(1) + K(3 * 0.044715) * x * x))                                          \
                 : g * (K(0.5) * erfc(-x * K(NNRT_SQRT1_2_)) + x * K(NNRT_INV_SQRT_2PI_) * exp(K(-0.5) * x * x)))
#define REF_F32_PICK_(...) REF_UNARY_SECOND_(__VA_ARGS__, ~)
#define REF_F32_THIRD_(a, b, c, ...) c
#define REF_F32_PICK2_(...) REF_F32_THIRD_(__VA_ARGS__, ~)
#define REF_F32_FWD_(name, fwd) REF_F32_PICK_(REF_F32_##name, fwd)
#define REF_F32_BWD_(name, bwd) REF_F32_PICK2_(REF_F32_##name, ~, bwd)

#define UNARY_OWN(name, fwd, bwd)                                                \
  UNARY_KERNELS_F32(name, REF_F32_FWD_(name, fwd), REF_F32_BWD_(name, bwd), fwd, bwd)
NNRT_UNARY_LIST(UNARY_OWN)
