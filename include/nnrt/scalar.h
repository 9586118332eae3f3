/* nnrt/scalar.h - the scalar formulas of every elementwise activation,
 * forward and backward, written once.
 *
 * NNRT_UNARY_LIST(X) expands X(name, forward, backward) for each op whose
 * rule in ops.def is `unary`.  The expressions use:
 *   x        the input element            g  the grad_output element
 *   a, b, c  the op's float params, in ops.def order (inplace excluded;
 *            an enum param is its index, e.g. gelu approximate: 0 none, 1 tanh)
 *   K(v)     a constant converted to the element type T
 * and the type-generic math functions exp, log1p, tanh, erf, fabs, fmin,
 * fmax.  In C include <tgmath.h> and typedef T before use; in CUDA the
 * overloads of the math API serve; the OpenCL backend turns the same
 * expressions into kernel source with the preprocessor's # operator.
 * Comparisons are written so that NaN goes where PyTorch 1.13 sends it:
 * each ?: tests the condition PyTorch's vectorized CPU loop tests, so a
 * NaN input takes the same branch (forward: softshrink gives 0, the rest
 * NaN; backward: relu and threshold pass g, leaky_relu gives g * slope,
 * relu6, hardtanh, softshrink, hardshrink and hardsigmoid give 0, the rest
 * NaN).  Where PyTorch's scalar tail loop (the last few elements of a
 * tensor) disagrees with its vector loop, the vector loop is followed: it
 * is what nearly every element gets.  An infinite input gives what
 * PyTorch's own expression gives, NaN included (softsign at +-inf is
 * inf/inf; gelu, silu, mish and hardswish at -inf are -inf * 0).
 * tests/golden holds these cases (family `nonfinite` of tools/golden/gen.py,
 * which also says where PyTorch's values are not followed).
 * This header is installed so that a plugin computes our numbers from the
 * same formulas.  (ref's float32 loops evaluate a few of them in another
 * arrangement of the same function, for speed and accuracy: softplus as
 * max(y, 0) + log1p(e^-|y|), the sigmoid's derivative as e/(1+e)^2 with
 * e = e^-|x|, ...; see REF_F32_<op> in backends/ref/unary.c.  They agree
 * with these within float rounding, except where these overflow: softplus
 * with a huge threshold gives x where log1p(exp(beta x)) is inf.)
 */
#ifndef NNRT_SCALAR_H
#define NNRT_SCALAR_H

#define NNRT_SIGMOID_(v) (K(1) / (K(1) + exp(-(v))))
#define NNRT_SELU_ALPHA_ 1.6732632423543772848170429916717
#define NNRT_SELU_SCALE_ 1.0507009873554804934193349852946
#define NNRT_SQRT1_2_ 0.70710678118654752440
#define NNRT_GELU_K_ 0.79788456080286535588 /* sqrt(2/pi) */
#define NNRT_INV_SQRT_2PI_ 0.39894228040143267794
#define NNRT_GELU_TANH_IN_(v) (K(NNRT_GELU_K_) * ((v) + K(0.044715) * (v) * (v) * (v)))

#define NNRT_UNARY_LIST(X)                                                       \
  X(relu, (x <= K(0) ? K(0) : x), (x <= K(0) ? K(0) : g))                          \
  X(relu6, (x <= K(0) ? K(0) : x >= K(6) ? K(6) : x),                            \
    ((x > K(0) && x < K(6)) ? g : K(0)))                                         \
  X(elu, (x > K(0) ? x : a * (exp(x) - K(1))), (x > K(0) ? g : g * a * exp(x)))  \
  X(leaky_relu, (x > K(0) ? x : a * x), (x > K(0) ? g : g * a))                  \
  X(threshold, (x <= a ? b : x), (x <= a ? K(0) : g))                              \
  X(hardtanh, (x < a ? a : x > b ? b : x), ((x > a && x < b) ? g : K(0)))        \
  X(sigmoid, NNRT_SIGMOID_(x),                                                   \
    (g * NNRT_SIGMOID_(x) * (K(1) - NNRT_SIGMOID_(x))))                          \
  X(tanh, tanh(x), (g * (K(1) - tanh(x) * tanh(x))))                             \
  X(logsigmoid, (fmin(x, K(0)) - log1p(exp(-fabs(x)))), (g * NNRT_SIGMOID_(-x))) \
  X(softplus, (a * x > b ? x : log1p(exp(a * x)) / a),                           \
    (a * x > b ? g : g * NNRT_SIGMOID_(a * x)))                                  \
  X(softshrink, (x > a ? x - a : x < -a ? x + a : K(0)),                         \
    ((x < -a || x > a) ? g : K(0)))                                              \
  X(softsign, (x / (K(1) + fabs(x))),                                            \
    (g / ((K(1) + fabs(x)) * (K(1) + fabs(x)))))                                 \
  X(tanhshrink, (x - tanh(x)), (g * tanh(x) * tanh(x)))                          \
  X(gelu,                                                                        \
    (a != K(0) ? K(0.5) * x * (K(1) + tanh(NNRT_GELU_TANH_IN_(x)))               \
               : K(0.5) * x * (K(1) + erf(x * K(NNRT_SQRT1_2_)))),               \
    (a != K(0)                                                                   \
         ? g * (K(0.5) * (K(1) + tanh(NNRT_GELU_TANH_IN_(x))) +                  \
                K(0.5) * x * (K(1) - tanh(NNRT_GELU_TANH_IN_(x)) *               \
                                         tanh(NNRT_GELU_TANH_IN_(x))) *          \
                    K(NNRT_GELU_K_) * (K(1) + K(3 * 0.044715) * x * x))          \
         : g * (K(0.5) * (K(1) + erf(x * K(NNRT_SQRT1_2_))) +                    \
                x * K(NNRT_INV_SQRT_2PI_) * exp(K(-0.5) * x * x))))              \
  X(silu, (x * NNRT_SIGMOID_(x)),                                                \
    (g * NNRT_SIGMOID_(x) * (K(1) + x * (K(1) - NNRT_SIGMOID_(x)))))             \
  X(mish, (x * tanh(log1p(exp(x)))),                                             \
    (g * (tanh(log1p(exp(x))) + x * NNRT_SIGMOID_(x) *                           \
                                    (K(1) - tanh(log1p(exp(x))) *                \
                                                tanh(log1p(exp(x)))))))          \
  /* hardswish: PyTorch's x * relu6(x + 3) / 6 in its order: x * 0 (NaN */     \
  /* at -inf) below -3, x * 6 / 6 from 3 on (inf past FLT_MAX / 6, and 1 */     \
  /* ulp off x for a sixth of inputs); the backward gives g from x = 3 on, */   \
  /* as PyTorch's vector loop (its scalar tail gives 1.5 g at x = 3) */         \
  X(hardswish, (x <= K(-3) ? x * K(0) : x * (x >= K(3) ? K(6) : x + K(3)) / K(6)), \
    (x < K(-3) ? K(0) : x >= K(3) ? g : g * (x / K(3) + K(0.5))))                \
  /* hardsigmoid: PyTorch's relu6(x + 3) / 6, (x + 3) / 6 between the */     \
  /* kinks (x / 6 + 0.5 cancels near -3: 341 ulp off there) */                 \
  X(hardsigmoid, (x <= K(-3) ? K(0) : x >= K(3) ? K(1) : (x + K(3)) / K(6)),     \
    ((x > K(-3) && x < K(3)) ? g / K(6) : K(0)))                                 \
  X(selu,                                                                        \
    (x > K(0) ? K(NNRT_SELU_SCALE_) * x                                          \
              : K(NNRT_SELU_SCALE_ * NNRT_SELU_ALPHA_) * (exp(x) - K(1))),       \
    (x > K(0) ? g * K(NNRT_SELU_SCALE_)                                          \
              : g * K(NNRT_SELU_SCALE_ * NNRT_SELU_ALPHA_) * exp(x)))            \
  X(celu, (x > K(0) ? x : a * (exp(x / a) - K(1))),                              \
    (x > K(0) ? g : g * exp(x / a)))                                             \
  X(hardshrink, ((x >= -a && x <= a) ? K(0) : x), ((x < -a || x > a) ? g : K(0)))

/* ---- counter-based random bits (dropout masks) -------------------------
 * A dropout mask is a pure function of (seed, index): the backward op
 * recomputes the forward's mask from the same seed instead of storing it,
 * and every backend draws the same mask bit for bit.  Integer arithmetic
 * on 64-bit unsigned values only (uint64_t in C and CUDA, ulong in OpenCL
 * C), written as statement macros so they need no function qualifiers.
 *
 *   NNRT_RNG_MIX64(z)         z = splitmix64's output function of z
 *                             (a bijection of 64-bit words)
 *   NNRT_RNG_KEY(key, seed)   key = MIX64(seed + gamma); once per call
 *   NNRT_RNG_BITS(r, key, i)  r = MIX64(key + (i + 1) * gamma): 64 random
 *                             bits for element (or channel) i
 *
 * The seed is the op's int64 `seed` param reinterpreted as unsigned.
 * Dropout keeps i iff (r >> NNRT_DROPOUT_SHIFT) >= threshold, where the
 * host computes threshold = (uint64)(p * 2^53) in double: exact for every
 * p in [0, 1], so p = 0 keeps everything and p = 1 nothing.  i is the flat
 * element index for dropout and the flat (n, c) channel index for
 * dropout2d/3d.  NNRT_U64(v) spells a 64-bit unsigned constant; a source
 * generator may define it first (as v##UL for OpenCL C).
 */
#ifndef NNRT_U64
#define NNRT_U64(v) v##ULL
#endif
#define NNRT_RNG_GAMMA_ NNRT_U64(0x9e3779b97f4a7c15)
#define NNRT_RNG_MIX64(z)                                                        \
  do {                                                                           \
    (z) = ((z) ^ ((z) >> 30)) * NNRT_U64(0xbf58476d1ce4e5b9);                    \
    (z) = ((z) ^ ((z) >> 27)) * NNRT_U64(0x94d049bb133111eb);                    \
    (z) ^= (z) >> 31;                                                            \
  } while (0)
#define NNRT_RNG_KEY(key, seed)                                                  \
  do {                                                                           \
    (key) = (seed) + NNRT_RNG_GAMMA_;                                            \
    NNRT_RNG_MIX64(key);                                                         \
  } while (0)
#define NNRT_RNG_BITS(r, key, i)                                                 \
  do {                                                                           \
    (r) = (key) + ((i) + NNRT_U64(1)) * NNRT_RNG_GAMMA_;                         \
    NNRT_RNG_MIX64(r);                                                           \
  } while (0)
#define NNRT_DROPOUT_SHIFT 11
#define NNRT_DROPOUT_ONE 9007199254740992.0 /* 2^53: threshold = p * this */

#endif
