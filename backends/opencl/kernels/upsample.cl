/* backends/opencl/kernels/upsample.cl - upsample_nearest2d and
 * upsample_bilinear2d for (N, C, H, W), with the index arithmetic of
 * backends/ref/upsample.c (PyTorch 1.13's), in the element type:
 *   nearest   src = min(floor(float(dst * scale)), in - 1)
 *   bilinear  src = align ? dst * scale : max((dst + 0.5) scale - 0.5, 0),
 *             i0 = (int)src, i1 = i0 + (i0 < in - 1), l1 = min(src - i0, 1),
 *             out == in copies.
 * The host passes each dim's scale in T.  Contraction to fma is off so the
 * coordinates round as the reference's do.  The backward gathers: each
 * input element sums the outputs that read it, found by binary search
 * (the maps are monotonic), so it needs no atomics and is deterministic.
 * 2-D ranges (COLS_GUARD / FOR_ROWS): columns are the last dim, rows the
 * (plane, row) pairs of the tensor written; n is the number of rows. */
#pragma OPENCL FP_CONTRACT OFF

long nearest_src(long o, long in, T scale) {
  long s = (long)floor((float)(scale * (T)o));
  return s < in - 1 ? s : in - 1;
}

/* taps of output o: returns i0, sets *i1, *l0, *l1 */
long lin_src(long o, long in, long out, T scale, int align, long *i1, T *l0, T *l1) {
  if (out == in) {
    *i1 = o;
    *l0 = 1;
    *l1 = 0;
    return o;
  }
  T src = align ? scale * (T)o : scale * ((T)o + (T)0.5) - (T)0.5;
  if (src < 0) src = 0;
  long i0 = (long)src;
  T w1 = src - (T)i0;
  if (w1 > 1) w1 = 1;
  *i1 = i0 + (i0 < in - 1 ? 1 : 0);
  *l0 = (T)1 - w1;
  *l1 = w1;
  return i0;
}

__kernel void nearest_fwd(__global const T *X, __global T *Y, ulong H, ulong W, ulong OH, ulong OW, T sh, T sw,
                          ulong n) {
  COLS_GUARD(ow, OW)
  long iw = nearest_src(ow, W, sw);
  FOR_ROWS(r, n) {
    size_t oh = umod(r, OH), pl = udiv(r, OH);
    Y[r * OW + ow] = X[(pl * H + nearest_src(oh, H, sh)) * W + iw];
  }
}

/* first output index in [0, out) whose nearest source is >= v */
long nearest_first(long v, long in, long out, T scale) {
  long lo = 0, hi = out;
  while (lo < hi) {
    long mid = (lo + hi) / 2;
    if (nearest_src(mid, in, scale) >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

__kernel void nearest_bwd(__global const T *G, __global T *GX, ulong H, ulong W, ulong OH, ulong OW, T sh, T sw,
                          ulong n) {
  COLS_GUARD(wc, W)
  long w = wc, w0 = nearest_first(w, W, OW, sw), w1 = nearest_first(w + 1, W, OW, sw);
  FOR_ROWS(r, n) {
    long h = umod(r, H), pl = udiv(r, H);
    long h0 = nearest_first(h, H, OH, sh), h1 = nearest_first(h + 1, H, OH, sh);
    ACC acc = 0;
    for (long oh = h0; oh < h1; oh++)
      for (long ow = w0; ow < w1; ow++) acc += G[(pl * OH + oh) * OW + ow];
    GX[r * W + w] = acc;
  }
}

__kernel void bilinear_fwd(__global const T *X, __global T *Y, ulong H, ulong W, ulong OH, ulong OW, T sh, T sw,
                           int align, ulong n) {
  COLS_GUARD(ow, OW)
  long ih1, iw1;
  T h0, h1, w0, w1;
  long iw0 = lin_src(ow, W, OW, sw, align, &iw1, &w0, &w1);
  FOR_ROWS(r, n) {
    size_t oh = umod(r, OH), pl = udiv(r, OH);
    long ih0 = lin_src(oh, H, OH, sh, align, &ih1, &h0, &h1);
    __global const T *x0 = X + (pl * H + ih0) * W, *x1 = X + (pl * H + ih1) * W;
    Y[r * OW + ow] = h0 * (w0 * x0[iw0] + w1 * x0[iw1]) + h1 * (w0 * x1[iw0] + w1 * x1[iw1]);
  }
}

/* first output index whose i0 is >= v */
long lin_first(long v, long in, long out, T scale, int align) {
  long lo = 0, hi = out, i1;
  T a, b;
  while (lo < hi) {
    long mid = (lo + hi) / 2;
    if (lin_src(mid, in, out, scale, align, &i1, &a, &b) >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/* weight of input index v in output o's taps (both taps may be v) */
T lin_weight(long o, long v, long in, long out, T scale, int align) {
  long i1;
  T l0, l1;
  long i0 = lin_src(o, in, out, scale, align, &i1, &l0, &l1);
  return (i0 == v ? l0 : (T)0) + (i1 == v ? l1 : (T)0);
}

__kernel void bilinear_bwd(__global const T *G, __global T *GX, ulong H, ulong W, ulong OH, ulong OW, T sh, T sw,
                           int align, ulong n) {
  COLS_GUARD(wc, W)
  long w = wc;
  /* outputs whose i0 is w - 1 or w can read w (and likewise for h) */
  long w0 = lin_first(w - 1, W, OW, sw, align), w1 = lin_first(w + 1, W, OW, sw, align);
  FOR_ROWS(r, n) {
    long h = umod(r, H), pl = udiv(r, H);
    long h0 = lin_first(h - 1, H, OH, sh, align), h1 = lin_first(h + 1, H, OH, sh, align);
    ACC acc = 0;
    for (long oh = h0; oh < h1; oh++) {
      ACC wh = lin_weight(oh, h, H, OH, sh, align);
      if (wh == 0) continue;
      ACC row = 0;
      for (long ow = w0; ow < w1; ow++) {
        T ww = lin_weight(ow, w, W, OW, sw, align);
        if (ww != 0) row += ww * G[(pl * OH + oh) * OW + ow];
      }
      acc += wh * row;
    }
    GX[r * W + w] = acc;
  }
}
