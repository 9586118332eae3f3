/* backends/ref/unary_impl.h - the elementwise driver of unary.c: the
 * float32 and float64 loops of one activation, forward and backward, from
 * its formulas (nnrt/scalar.h, or for float32 an arrangement of the same
 * function, unary.c's REF_F32_<op>), and the ref_<op> kernels around them.
 *
 * The including file defines UNARY_CLONES (a target_clones attribute, or
 * nothing) and includes <tgmath.h> and the math declarations it wants
 * first; it then expands NNRT_UNARY_LIST with UNARY_KERNELS_F32.
 * Limits: float32 and float64 only; tensors contiguous.
 */
#ifndef NNRT_REF_UNARY_IMPL_H
#define NNRT_REF_UNARY_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "nnrt/scalar.h"
#include "ref.h"
#include "ref_omp.h"

#define REF_UNARY_SECOND_(a, b, ...) b

#include "ref_stream.h"

/* a, b, c: the op's numeric params in ops.def order, `inplace` skipped. */
static void unary_abc(const nnrt_call *call, double abc[3]) {
  const nnrt_op_signature *s = nnrt_op_signature_of(call->op);
  int k = 0;
  abc[0] = abc[1] = abc[2] = 0;
  for (int i = 0; i < s->n_params && k < 3; i++) {
    const char *at = (const char *)call->params + s->params[i].offset;
    switch (s->params[i].type) {
    case NNRT_PARAM_F64: abc[k++] = *(const double *)at; break;
    case NNRT_PARAM_I64: abc[k++] = (double)*(const int64_t *)at; break;
    case NNRT_PARAM_ENUM: abc[k++] = *(const int *)at; break;
    default: break;
    }
  }
}

/* Outputs of REF_STREAM_MIN bytes or more are written with streaming
 * stores (ref_stream.h), block by block from an L1-resident buffer, and
 * their inputs are prefetched REF_PREFETCH floats ahead.  On the 2-core
 * guest of docs/PERFORMANCE.md an exp-based activation then costs little
 * more than a copy: with 8 KiB blocks and no prefetch, computing and
 * moving data took turns (their times added up), and a backward's two
 * input streams ran at 60% of the copy rate; 512 B blocks and the
 * prefetch overlap them (16 Mi elements: sigmoid 3.4 -> 2.5 ms, its
 * backward 5.6 -> 3.9 ms, relu 2.4 ms either way). */
#define REF_BLOCK 128
#define REF_PREFETCH 1024

/* Prefetch the lines of X and G (when it is another tensor) in
 * [o, min(o + REF_BLOCK, n)) into every cache level. */
static inline __attribute__((always_inline)) void ref_prefetch_block(const float *G, const float *X, int64_t o,
                                                                    int64_t n) {
  int64_t end = o + REF_BLOCK < n ? o + REF_BLOCK : n;
  for (int64_t p = o; p < end; p += 16) {
    __builtin_prefetch(X + p, 0, 3);
    if (G != X)
      __builtin_prefetch(G + p, 0, 3);
  }
}

#define K(v) ((T)(v))

/* One direction of one activation: the float32 formula loop (inlined into
 * each ISA clone of the span function), the span function (direct, or
 * block by block through an L1 buffer into streaming stores), its threaded
 * driver, the float64 loop (plain OpenMP on scalar libm) and the kernel.
 * The loops read x = X[i] and g = G[i]: a forward passes its input as both
 * (g unused, its load dropped); a backward reads grad_output from input 0
 * and x from input IX = 1.  (An inplace forward has X == Y: each element
 * is read before it is written.) */
#define UNARY_DIR(name, dir, SFX, IX, f32, f64)                                  \
  static inline __attribute__((always_inline)) void name##_##dir##_block(       \
      const float *G, const float *X, float *Y, int64_t n, float a, float b, float c) { \
    typedef float T; /* what K() converts to */                                  \
    (void)a, (void)b, (void)c;                                                   \
    _Pragma("omp simd")                                                          \
    for (int64_t i = 0; i < n; i++) {                                            \
      T x = X[i], g = G[i];                                                      \
      (void)g;                                                                   \
      Y[i] = (f32);                                                              \
    }                                                                            \
  }                                                                              \
  UNARY_CLONES static void name##_##dir##_span(const float *G, const float *X, float *Y, int64_t n, float a, \
                                               float b, float c, bool stream) {  \
    if (!stream) {                                                               \
      name##_##dir##_block(G, X, Y, n, a, b, c);                                 \
      return;                                                                    \
    }                                                                            \
    float buf[REF_BLOCK] __attribute__((aligned(64)));                           \
    for (int64_t o = 0; o < n; o += REF_BLOCK) {                                 \
      int64_t m = n - o < REF_BLOCK ? n - o : REF_BLOCK;                         \
      ref_prefetch_block(G, X, o + REF_PREFETCH, n);                             \
      name##_##dir##_block(G + o, X + o, buf, m, a, b, c);                       \
      ref_stream_store(Y + o, buf, m);                                           \
    }                                                                            \
    ref_stream_fence();                                                          \
  }                                                                              \
  static void name##_##dir##_f32(const float *G, const float *X, float *Y, int64_t n, float a, float b, \
                                 float c) {                                      \
    if (n <= REF_OMP_MIN) {                                                      \
      name##_##dir##_span(G, X, Y, n, a, b, c, false);                           \
      return;                                                                    \
    }                                                                            \
    bool stream = n * (int64_t)sizeof(float) >= REF_STREAM_MIN;                  \
    _Pragma("omp parallel")                                                      \
    {                                                                            \
      int64_t lo, hi;                                                            \
      ref_span(n, 16, &lo, &hi); /* whole 64-byte lines */                       \
      name##_##dir##_span(G + lo, X + lo, Y + lo, hi - lo, a, b, c, stream);     \
    }                                                                            \
  }                                                                              \
  static void name##_##dir##_f64(const double *G, const double *X, double *Y, int64_t n, double a, double b, \
                                 double c) {                                     \
    typedef double T;                                                            \
    (void)a, (void)b, (void)c;                                                   \
    _Pragma("omp parallel for simd schedule(static) if (n > REF_OMP_MIN)")       \
    for (int64_t i = 0; i < n; i++) {                                            \
      T x = X[i], g = G[i];                                                      \
      (void)g;                                                                   \
      Y[i] = (f64);                                                              \
    }                                                                            \
  }                                                                              \
  nnrt_status ref_##name##SFX(nnrt_device *dev, const nnrt_call *call) {         \
    (void)dev;                                                                   \
    double p[3];                                                                 \
    unary_abc(call, p);                                                          \
    const nnrt_tensor *g = call->inputs[0], *x = call->inputs[IX];               \
    if (x->dtype == NNRT_F64)                                                    \
      name##_##dir##_f64(g->data, x->data, call->outputs[0]->data, x->numel, p[0], p[1], p[2]); \
    else                                                                         \
      name##_##dir##_f32(g->data, x->data, call->outputs[0]->data, x->numel, (float)p[0], (float)p[1], \
                         (float)p[2]);                                           \
    return NNRT_OK;                                                              \
  }

/* f32f, f32b: the float32 formulas, the same functions as the float64
 * ones f64f, f64b arranged otherwise where that is faster (unary.c's
 * REF_F32_<op>). */
#define UNARY_KERNELS_F32(name, f32f, f32b, f64f, f64b)                          \
  UNARY_DIR(name, fwd, , 0, f32f, f64f)                                          \
  UNARY_DIR(name, bwd, _backward, 1, f32b, f64b)

#endif
