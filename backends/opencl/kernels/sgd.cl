/* backends/opencl/kernels/sgd.cl - one step of torch.optim.SGD, as
 * backends/ref/sgd.c: d = g + wd p; with momentum, b = first ? d :
 * mom b + (1 - damp) d and d = nesterov ? d + mom b : b; p -= lr d. */

__kernel void sgd_step(__global const T *G, __global T *P, __global T *B, ulong n, T lr, T mom, T damp, T wd,
                       int nesterov, int first) {
  size_t i = get_global_id(0);
  if (i >= n) return;
  T p = P[i], d = G[i] + wd * p;
  if (mom != 0) {
    T b = first ? d : mom * B[i] + (K(1) - damp) * d;
    B[i] = b;
    d = nesterov ? d + mom * b : b;
  }
  P[i] = p - lr * d;
}
