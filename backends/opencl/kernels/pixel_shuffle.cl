/* backends/opencl/kernels/pixel_shuffle.cl - moves between the deep layout
 * (B, C r^2, H, W) and the wide one (B, C, H r, W r), as
 * backends/ref/pixel_shuffle.c:
 *   wide[b, c, h r + i, w r + j] = deep[b, c r^2 + i r + j, h, w].
 * 2-D ranges over the destination (COLS_GUARD / FOR_ROWS): columns are its
 * last dim, so writes coalesce; `rows` is the number of its rows. */

/* destination wide: rows (bc, hh) of W r columns */
__kernel void to_wide(__global const T *D, __global T *Wd, ulong H, ulong W, ulong r, ulong rows) {
  COLS_GUARD(ww, W * r)
  size_t w = udiv(ww, r), j = umod(ww, r), Hr = H * r;
  FOR_ROWS(row, rows) {
    size_t hh = umod(row, Hr), bc = udiv(row, Hr), h = udiv(hh, r), i = umod(hh, r);
    Wd[row * W * r + ww] = D[((bc * r * r + i * r + j) * H + h) * W + w];
  }
}

/* destination deep: rows (q, h) of W columns, q = bc r^2 + i r + j */
__kernel void to_deep(__global const T *Wd, __global T *D, ulong H, ulong W, ulong r, ulong rows) {
  COLS_GUARD(w, W)
  FOR_ROWS(row, rows) {
    size_t h = umod(row, H), q = udiv(row, H);
    size_t ij = umod(q, r * r), bc = udiv(q, r * r), i = udiv(ij, r), j = umod(ij, r);
    D[row * W + w] = Wd[((bc * H + h) * r + i) * W * r + w * r + j];
  }
}
