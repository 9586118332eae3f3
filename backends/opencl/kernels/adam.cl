/* backends/opencl/kernels/adam.cl - one step of torch.optim.Adam, as
 * backends/ref/adam.c (PyTorch 1.13's order of operations); the bias
 * corrections step_size = lr / (1 - beta1^t) and sqrt(1 - beta2^t) come
 * from the host.  max_exp_avg_sq is touched only with amsgrad.  The state
 * moves by tiny steps, so the arithmetic is done in double where the device
 * has it (-DADAM_F64, as ref does) and rounded once per stored value. */
#ifdef ADAM_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double AT;
#else
typedef T AT;
#endif

__kernel void adam_step(__global const T *G, __global T *P, __global T *M, __global T *V, __global T *VM, ulong n,
                        AT sign, AT wd, AT beta1, AT beta2, AT step_size, AT bc2_sqrt, AT eps, int amsgrad) {
  size_t i = get_global_id(0);
  if (i >= n) return;
  AT p = P[i];
  AT g = sign * (AT)G[i] + wd * p;
  T m = (T)(beta1 * (AT)M[i] + (1 - beta1) * g);
  T v = (T)(beta2 * (AT)V[i] + (1 - beta2) * g * g);
  /* the rounded state, as a later step reads it */
  M[i] = m;
  V[i] = v;
  if (amsgrad) {
    T vm = VM[i];
    if (v > vm || isnan(v)) VM[i] = vm = v; /* NaN wins, as torch.maximum */
    v = vm;
  }
  P[i] = (T)(p - step_size * ((AT)m / (sqrt((AT)v) / bc2_sqrt + eps)));
}
