/* tests/test_softmax.c - the float32 paths of ref's softmax, softmin and
 * log_softmax (backends/ref/softmax.c picks one by layout: long rows,
 * short rows in tiles, lanes across the inner dim, a long D split among
 * threads), forward and backward, at sizes the golden fixtures do not
 * reach, against a float64 reference computed here from the formulas.
 * Lines with a NaN, a +inf (softmin: -inf), only -inf, -inf over whole
 * ranges of a split D, finite values whose sum overflows, or finite but
 * huge negative (masked) values must give
 * PyTorch's results (the rules the golden `nonfinite` cases pin down on
 * small shapes): NaN for the first three, exact zeros and -inf where an
 * element is -inf, ordinary values otherwise.  Limits: float32 only (the
 * float64 loops are the golden fixtures' business); tolerances are a few
 * times the worst error measured, not ulp bounds. */
#include <math.h>
#include <stdlib.h>

#include <criterion/criterion.h>
#include <nnrt/nnrt.h>

typedef enum { SM, SMIN, LSM } mode;

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

static nnrt_tensor *mk(int ndim, const int64_t *dims) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, ndim, dims, &t), NNRT_OK, "%s", nnrt_last_error());
  return t;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static double uniform(void) { /* [0, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) * 0x1p-53;
}

/* Element d of line l of an (outer, D, inner) tensor. */
static int64_t at(int64_t l, int64_t d, int64_t D, int64_t inner) {
  return l / inner * D * inner + d * inner + l % inner;
}

/* Random values, and with `special` in the first half of the lines, one
 * line in two of a kind that takes a slow path (the other half keeps whole
 * blocks and chunks finite, for the fast paths). */
static void fill(float *x, int64_t lines, int64_t D, int64_t inner, bool special, float sign) {
  for (int64_t l = 0; l < lines; l++) {
    for (int64_t d = 0; d < D; d++) x[at(l, d, D, inner)] = (float)(8 * uniform() - 4);
    if (!special || l >= lines / 2 || l % 2) continue;
    int64_t k = (l / 2) % 8, d = (int64_t)(uniform() * (double)D);
    if (k == 0) x[at(l, d, D, inner)] = NAN;
    if (k == 1) x[at(l, d, D, inner)] = sign * INFINITY;
    if (k == 2)
      for (int64_t e = 0; e < D; e++) x[at(l, e, D, inner)] = -sign * INFINITY;
    if (k == 3)
      for (int64_t e = 0; e < D; e += 3) x[at(l, e, D, inner)] = -sign * INFINITY;
    if (k == 4)
      for (int64_t e = 0; e < D / 2; e++) x[at(l, e, D, inner)] = -sign * INFINITY;
    if (k == 5) /* finite, but the sum of the values overflows */
      for (int64_t e = 0; e < D; e++) x[at(l, e, D, inner)] = e % 2 ? 3e38f : -1e30f;
    if (k == 6) x[at(l, D - 1, D, inner)] = sign * INFINITY;
    if (k == 7) /* finite masks (attention style), the sum of x still finite */
      for (int64_t e = 0; e < D; e++)
        if (e % 3 != 1) x[at(l, e, D, inner)] = -sign * (e % 3 ? 1e30f : 3e7f);
  }
}

/* PyTorch's forward of one line, in double: NaN if any element is NaN or
 * the maximum is +inf or -inf; else e^(v - max) / sum or v - max - log(sum)
 * for v = sign x (-inf giving 0 or -inf). */
static void ref_line(const float *x, double *y, int64_t D, int64_t inner, int64_t l, mode m) {
  double sign = m == SMIN ? -1 : 1, mx = -INFINITY, sum = 0;
  bool nan = false;
  for (int64_t d = 0; d < D; d++) {
    double v = sign * x[at(l, d, D, inner)];
    nan |= isnan(v);
    mx = v > mx ? v : mx;
  }
  for (int64_t d = 0; d < D; d++) sum += exp(sign * x[at(l, d, D, inner)] - mx);
  for (int64_t d = 0; d < D; d++) {
    double v = sign * x[at(l, d, D, inner)] - mx;
    y[at(l, d, D, inner)] = nan || isinf(mx) ? NAN : m == LSM ? v - log(sum) : exp(v) / sum;
  }
}

static void expect_close(const char *what, int64_t i, float got, double want, double tol) {
  if (isnan(want)) cr_expect(isnan(got), "%s[%lld]: %g, want NaN", what, (long long)i, (double)got);
  else if (isinf(want)) cr_expect(got == want, "%s[%lld]: %g, want %g", what, (long long)i, (double)got, want);
  else cr_expect(fabs(got - want) <= tol, "%s[%lld]: %.9g, want %.9g (tol %.3g)", what, (long long)i, (double)got,
                 want, tol);
}

/* Runs mode m along dim of a float32 tensor of shape dims and checks the
 * forward, then the backward of a random gradient at that output. */
static void check(mode m, int ndim, const int64_t *dims, int dim, bool special) {
  int64_t outer = 1, D = dims[dim], inner = 1;
  for (int i = 0; i < dim; i++) outer *= dims[i];
  for (int i = dim + 1; i < ndim; i++) inner *= dims[i];
  int64_t n = outer * D * inner, lines = outer * inner;
  nnrt_tensor *x = mk(ndim, dims), *y = mk(ndim, dims), *g = mk(ndim, dims), *gx = mk(ndim, dims);
  float *X = nnrt_tensor_data(x), *Y = nnrt_tensor_data(y), *G = nnrt_tensor_data(g), *GX = nnrt_tensor_data(gx);
  double *want = malloc(sizeof *want * (size_t)n);
  cr_assert(want);
  fill(X, lines, D, inner, special, m == SMIN ? -1.0f : 1.0f);
  for (int64_t i = 0; i < n; i++) G[i] = (float)(2 * uniform() - 1);
  nnrt_softmax_params p = {.dim = dim}; /* the three ops' params are alike */
  nnrt_op fwd = m == SM ? NNRT_OP_softmax : m == SMIN ? NNRT_OP_softmin : NNRT_OP_log_softmax;
  nnrt_op bwd = m == SM     ? NNRT_OP_softmax_backward
                : m == SMIN ? NNRT_OP_softmin_backward
                            : NNRT_OP_log_softmax_backward;
  cr_assert_eq(nnrt_op_run(fwd, &p, (nnrt_tensor *[]){x}, (nnrt_tensor *[]){y}), NNRT_OK, "%s", nnrt_last_error());
  for (int64_t l = 0; l < lines; l++) ref_line(X, want, D, inner, l, m);
  for (int64_t i = 0; i < n; i++)
    expect_close("forward", i, Y[i], want[i], m == LSM ? 1e-6 * (1 + fabs(want[i])) : 4e-6 * fabs(want[i]) + 1e-38);

  cr_assert_eq(nnrt_op_run(bwd, &p, (nnrt_tensor *[]){g, y}, (nnrt_tensor *[]){gx}), NNRT_OK, "%s", nnrt_last_error());
  for (int64_t l = 0; l < lines; l++) {
    /* s = sum g y (log_softmax: sum g); the tolerance scales with the
     * magnitudes summed and subtracted */
    double s = 0, a = 0;
    for (int64_t d = 0; d < D; d++) {
      int64_t i = at(l, d, D, inner);
      s += m == LSM ? G[i] : (double)G[i] * Y[i];
      a += fabs(m == LSM ? G[i] : (double)G[i] * Y[i]);
    }
    for (int64_t d = 0; d < D; d++) {
      int64_t i = at(l, d, D, inner);
      double w, tol;
      if (m == LSM) w = G[i] - exp((double)Y[i]) * s, tol = 1e-5 * (fabs(G[i]) + exp((double)Y[i]) * a);
      else w = (m == SMIN ? -1 : 1) * Y[i] * (G[i] - s), tol = 1e-5 * fabs(Y[i]) * (fabs(G[i]) + a) + 1e-38;
      expect_close("backward", i, GX[i], w, tol);
    }
  }
  free(want);
  nnrt_tensor_free(x), nnrt_tensor_free(y), nnrt_tensor_free(g), nnrt_tensor_free(gx);
}

static void check_all(int ndim, const int64_t *dims, int dim) {
  for (mode m = SM; m <= LSM; m++) {
    check(m, ndim, dims, dim, false);
    check(m, ndim, dims, dim, true);
  }
}

#define DIMS(...) (sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((const int64_t[]){__VA_ARGS__})

/* inner = 1: short rows in 64-row tiles (a partial last tile; D = 1);
 * either side of the short-row limits (backward 15, forward 64); long rows
 * (sums over blocks of 512 and a tail) */
Test(softmax, short_rows) {
  check_all(DIMS(1000, 10), 1);
  check_all(DIMS(333, 3), 1);
  check_all(DIMS(3, 43, 13), 2);
  check_all(DIMS(7, 1), 1);
}
Test(softmax, rows_at_the_thresholds) {
  check_all(DIMS(130, 15), 1);
  check_all(DIMS(130, 16), 1);
  check_all(DIMS(130, 64), 1);
  check_all(DIMS(100, 65), 1);
}
Test(softmax, long_rows) {
  check_all(DIMS(40, 1000), 1);
}

/* inner > 1: lanes of 2, of 16 (four steps of d at a time), full chunks
 * of 64 with a tail, a 4-d tensor along dim 0 */
Test(softmax, across_inner) {
  check_all(DIMS(7, 37, 2), 1);
  check_all(DIMS(64, 300, 16), 1);
  check_all(DIMS(5, 10, 3, 70), 1);
  check_all(DIMS(6, 4, 5, 6), 0);
}

/* few lines, long D: D split into ranges (two chunks of lanes, one; a
 * narrow chunk of 3 lanes with 39 ranges) */
Test(softmax, split_d) {
  check_all(DIMS(1, 4096, 77), 1);
  check_all(DIMS(2, 3000, 20), 1);
  check_all(DIMS(40000, 3), 0);
}
