/* backends/opencl/kernels/loss_pointwise.cl - the elementwise losses, with
 * the formulas of backends/ref/loss_pointwise.c (PyTorch 1.13's): each op's
 * loss of one element and d loss / d x, from x (input, or input1 - input2),
 * t (target), a (margin, beta or log_target) and pw (pos_weight, else 1).
 * The kernels multiply by the weight, grad_output and 1/div.
 * Forward, reduction none: one loss per element; else per-group partial
 * sums, which finish_sum (reduce.cl) divides by div.  Weights repeat with
 * period wn (pwn); 0 means absent. */

T sgn_(T v) { return (T)((v > 0) - (v < 0)); }
T sigmoid_(T v) { return K(1) / (K(1) + exp(-v)); }
T softplus_(T v) { return fmax(v, K(0)) + log1p(exp(-fabs(v))); }
T xlogx_(T v) { return v == 0 ? K(0) : v * log(v); }

#define PW_LOSSES(X)                                                             \
  X(l1_loss, fabs(x - t), sgn_(x - t))                                           \
  X(mse_loss, (x - t) * (x - t), 2 * (x - t))                                    \
  X(smooth_l1_loss, (fabs(x - t) < a ? K(0.5) * (x - t) * (x - t) / a : fabs(x - t) - K(0.5) * a), \
    (x - t <= -a ? K(-1) : x - t >= a ? K(1) : (x - t) / a))                     \
  X(soft_margin_loss, softplus_(-t * x), -t * sigmoid_(-t * x))                  \
  X(kl_div, (a != 0 ? exp(t) * (t - x) : xlogx_(t) - t * x), (a != 0 ? -exp(t) : -t)) \
  X(bce_loss, -(t * fmax(log(x), K(-100)) + (1 - t) * fmax(log1p(-x), K(-100))), \
    (x - t) / fmax((1 - x) * x, (T)1e-12f))                                      \
  X(bce_with_logits, (1 - t) * x + ((pw - 1) * t + 1) * softplus_(-x),           \
    ((pw - 1) * t + 1) * sigmoid_(x) - pw * t)                                   \
  X(hinge_embedding_loss, (t != 1 ? fmax(a - x, K(0)) : K(0)) + (t != -1 ? x : K(0)), \
    (t != 1 && a - x >= 0 ? K(-1) : K(0)) + (t != -1 ? K(1) : K(0)))             \
  X(margin_ranking_loss, fmax(-t * x + a, K(0)), (-t * x + a >= 0 ? -t : K(0)))

#define PW_KERNELS(name, FWD, BWD)                                               \
  __kernel void name##_fwd(__global const T *X, __global const T *X2, int has_x2, __global const T *TG, \
                           __global const T *W, ulong wn, __global const T *PW, ulong pwn, T a, ulong n,   \
                           int reduction, __global T *Y, __global ACC *part, __local ACC *s) {          \
    ACC acc = 0;                                                                 \
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0)) {          \
      T x = has_x2 ? X[i] - X2[i] : X[i], t = TG[i], pw = pwn ? PW[umod(i, pwn)] : K(1); \
      T l = (FWD) * (wn ? W[umod(i, wn)] : K(1));                                     \
      if (reduction == 0) Y[i] = l;                                              \
      else acc += l;                                                             \
    }                                                                            \
    if (reduction != 0) {                                                        \
      acc = wg_sum(s, acc);                                                      \
      if (get_local_id(0) == 0) part[get_group_id(0)] = acc;                     \
    }                                                                            \
  }                                                                              \
  __kernel void name##_bwd(__global const T *GY, __global const T *X, __global const T *X2, int has_x2, \
                           __global const T *TG, __global const T *W, ulong wn, __global const T *PW, \
                           ulong pwn, T a, ulong n, int reduction, T div, __global T *GX, int has_gx,  \
                           __global T *GX2, int has_gx2) {                       \
    size_t i = get_global_id(0);                                                 \
    if (i >= n) return;                                                          \
    T x = has_x2 ? X[i] - X2[i] : X[i], t = TG[i], pw = pwn ? PW[umod(i, pwn)] : K(1); \
    T g = reduction == 0 ? GY[i] : GY[0] / div;                                  \
    T v = (BWD) * g * (wn ? W[umod(i, wn)] : K(1));                                   \
    if (has_gx) GX[i] = v;                                                       \
    if (has_gx2) GX2[i] = -v;                                                    \
  }

PW_LOSSES(PW_KERNELS)
