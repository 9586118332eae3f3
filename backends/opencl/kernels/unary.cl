/* backends/opencl/kernels/unary.cl - the elementwise activations.  unary.c
 * appends one UNARY_KERNELS(name, forward, backward) line per activation,
 * with the expressions of nnrt/scalar.h stringized there, so the formulas
 * exist once.  They use x, g, the params a, b, c, K(v) and the OpenCL
 * built-ins exp, log1p, tanh, erf, fabs, fmin, fmax, which take vectors
 * too: each work-item does 4 elements with vload4/vstore4 (T redefined as
 * the 4-vector, so K(v) splats), and the last one finishes the n % 4 tail
 * with the scalar type.
 * Precise float32 (-DNNRT_PRECISE): the formulas run in double and round
 * once, because several of them cancel (1 - tanh^2 near saturation in
 * gelu, mish) where a float tanh within OpenCL's 5 ulp is not enough
 * (PoCL's tanhf(20) is 1 - 2^-24).  The params stay rounded to float, as
 * ref's float32 loops take them. */
#if defined(NNRT_PRECISE) && !defined(NNRT_F64)
typedef double CT;
typedef double4 CT4;
#define IN4(v) convert_double4(v)
#define OUT4(v) convert_float4(v)
#else
typedef T CT;
typedef T4 CT4;
#define IN4(v) (v)
#define OUT4(v) (v)
#endif

#define UNARY_KERNELS(name, FWD, BWD)                                            \
  __kernel void name##_fwd(__global const T *X, __global T *Y, ulong n,           \
                           T a_, T b_, T c_) {                                   \
    typedef T S;                                                                 \
    size_t i = get_global_id(0), base = i * 4;                                   \
    if (base + 4 <= n) {                                                         \
      typedef CT4 T;                                                             \
      T a = (T)(a_), b = (T)(b_), c = (T)(c_);                                   \
      T x = IN4(vload4(i, X));                                                   \
      vstore4(OUT4(FWD), i, Y);                                                  \
    } else {                                                                     \
      typedef CT T;                                                              \
      T a = a_, b = b_, c = c_;                                                  \
      for (size_t j = base; j < n; j++) {                                        \
        T x = X[j];                                                              \
        Y[j] = (S)(FWD);                                                         \
      }                                                                          \
    }                                                                            \
  }                                                                              \
  __kernel void name##_bwd(__global const T *G, __global const T *X,             \
                           __global T *GX, ulong n, T a_, T b_, T c_) {          \
    typedef T S;                                                                 \
    size_t i = get_global_id(0), base = i * 4;                                   \
    if (base + 4 <= n) {                                                         \
      typedef CT4 T;                                                             \
      T a = (T)(a_), b = (T)(b_), c = (T)(c_);                                   \
      T x = IN4(vload4(i, X)), g = IN4(vload4(i, G));                            \
      vstore4(OUT4(BWD), i, GX);                                                 \
    } else {                                                                     \
      typedef CT T;                                                              \
      T a = a_, b = b_, c = c_;                                                  \
      for (size_t j = base; j < n; j++) {                                        \
        T x = X[j], g = G[j];                                                    \
        GX[j] = (S)(BWD);                                                        \
      }                                                                          \
    }                                                                            \
  }
