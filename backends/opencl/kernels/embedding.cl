/* backends/opencl/kernels/embedding.cl - embedding lookup and its dense
 * backward, as backends/ref/embedding.c.  Forward: one work-item per
 * output element copies weight[idx[i], j].  Backward: the host groups the
 * positions by the row they hit (a stable counting sort, START/POS in
 * scratch); one work-item per (hit row, j) sums that row's gradients in
 * that fixed order - deterministic, no atomics - and adds them to
 * grad_weight.  Nothing goes to the padding row (the host leaves it out). */

__kernel void emb_fwd(__global const long *IDX, __global const T *W, __global T *Y, ulong D, ulong n) {
  size_t e = get_global_id(0);
  if (e >= n) return;
  Y[e] = W[IDX[udiv(e, D)] * D + umod(e, D)];
}

/* in one buffer L: ROWS = L + ro (nrows hit rows), START = L + so
 * (nrows + 1), POS = L + po: row k's positions are POS[START[k] ..
 * START[k + 1]) */
__kernel void emb_bwd(__global const T *G, __global const long *L, ulong ro, ulong so, ulong po, __global T *GW,
                      ulong D, ulong nrows) {
  size_t e = get_global_id(0);
  if (e >= nrows * D) return;
  __global const long *ROWS = L + ro, *START = L + so, *POS = L + po;
  size_t k = udiv(e, D), j = umod(e, D);
  ACC acc = 0;
  for (long q = START[k]; q < START[k + 1]; q++) acc += G[POS[q] * D + j];
  GW[ROWS[k] * D + j] += acc;
}
