/* tests/test_losses.c - what the generic tests (golden fixtures, gradient
 * check, bad inputs) do not cover for the losses: the target, weight and
 * param checks (an error naming the offending index, value or shape, and
 * nothing written), the checks PyTorch does not make (so neither do we),
 * float32 reductions over 10^7 elements, and losses used as modules, with
 * one and with two inputs.  Expected module values are PyTorch 1.13's
 * (torch.nn.*Loss in float64, printed to 17 digits). */
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <nnrt/nnrt.h>

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

/* A tensor of dtype dt and shape dims (ndim of them) holding vals (doubles,
 * or int64 for NNRT_I64); vals NULL: zeros. */
static nnrt_tensor *mk(nnrt_dtype dt, int ndim, const int64_t *dims, const void *vals) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref(), dt, ndim, dims, &t), NNRT_OK, "%s", nnrt_last_error());
  int64_t n = nnrt_tensor_numel(t);
  if (vals && dt == NNRT_I64) cr_assert_eq(nnrt_tensor_write(t, vals, (size_t)n * 8), NNRT_OK);
  if (vals && dt == NNRT_F64) cr_assert_eq(nnrt_tensor_write(t, vals, (size_t)n * 8), NNRT_OK);
  if (vals && dt == NNRT_F32) {
    float *f = malloc(sizeof *f * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) f[i] = (float)((const double *)vals)[i];
    cr_assert_eq(nnrt_tensor_write(t, f, (size_t)n * 4), NNRT_OK);
    free(f);
  }
  return t;
}

/* xorshift64: the next value of *s in [0, 1) */
static double uniform(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return (double)(*s >> 11) * 0x1p-53;
}

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define V(...) ((const double[]){__VA_ARGS__})
#define I(...) ((const int64_t[]){__VA_ARGS__})

/* Runs op expecting failure; the message must contain each of the NULL-
 * ended strings, and every output must keep the sentinel it was filled with. */
static void expect_error(nnrt_op op, const void *params, nnrt_tensor *const *in, nnrt_tensor *const *out, int n_out,
                         ...) {
  for (int i = 0; i < n_out; i++)
    if (out[i]) nnrt_tensor_fill(out[i], 12345.0);
  nnrt_status st = nnrt_op_run(op, params, in, out);
  cr_assert_eq(st, NNRT_ERR_INVALID_ARGUMENT, "%s: expected an error, got %s", nnrt_op_name(op), nnrt_status_str(st));
  const char *msg = nnrt_last_error();
  cr_expect(strstr(msg, nnrt_op_name(op)) != NULL, "message does not name the op: %s", msg);
  va_list ap;
  va_start(ap, n_out);
  for (const char *s; (s = va_arg(ap, const char *));)
    cr_expect(strstr(msg, s) != NULL, "message lacks '%s': %s", s, msg);
  va_end(ap);
  for (int i = 0; i < n_out; i++) {
    if (!out[i]) continue;
    int64_t n = nnrt_tensor_numel(out[i]);
    bool f64 = nnrt_tensor_dtype(out[i]) == NNRT_F64;
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    cr_assert_eq(nnrt_tensor_read(out[i], v, (size_t)n * (f64 ? 8 : 4)), NNRT_OK, "%s", nnrt_last_error());
    for (int64_t e = 0; e < n; e++) {
      double got = f64 ? v[e] : ((const float *)v)[e];
      cr_expect_eq(got, 12345.0, "%s wrote output %d[%lld] on error", nnrt_op_name(op), i, (long long)e);
    }
    free(v);
  }
}

static void free_all(nnrt_tensor **t, int n) {
  for (int i = 0; i < n; i++) nnrt_tensor_free(t[i]);
}

/* ---- class targets ---- */
Test(losses, nll_target_out_of_range_named) {
  nnrt_tensor *x = mk(NNRT_F32, 2, D(3, 4), NULL), *y = mk(NNRT_F32, 0, NULL, NULL);
  nnrt_tensor *t = mk(NNRT_I64, 1, D(3), I(0, 3, 4));
  nnrt_tensor *in[] = {x, t, NULL}, *out[] = {y};
  expect_error(NNRT_OP_nll_loss, NULL, in, out, 1, "target[2]=4", "[0, 4)", NULL);
  nnrt_tensor_write(t, I(0, -3, 1), 24);
  expect_error(NNRT_OP_nll_loss, NULL, in, out, 1, "target[1]=-3", NULL);
  /* ignore_index itself is fine, wherever it lies */
  nnrt_nll_loss_params p;
  nnrt_params_init(NNRT_OP_nll_loss, &p);
  p.ignore_index = -3;
  cr_expect_eq(nnrt_op_run(NNRT_OP_nll_loss, &p, in, out), NNRT_OK, "%s", nnrt_last_error());
  /* the backward checks its targets too */
  nnrt_tensor *gy = mk(NNRT_F32, 0, NULL, V(1)), *gx = mk(NNRT_F32, 2, D(3, 4), NULL);
  nnrt_tensor *bin[] = {gy, x, t, NULL}, *bout[] = {gx};
  expect_error(NNRT_OP_nll_loss_backward, NULL, bin, bout, 1, "target[1]=-3", NULL);
  nnrt_tensor *all[] = {x, y, t, gy, gx};
  free_all(all, 5);
}

Test(losses, nll_weight_and_shapes) {
  nnrt_tensor *x = mk(NNRT_F32, 4, D(2, 3, 4, 5), NULL), *y = mk(NNRT_F32, 0, NULL, NULL);
  nnrt_tensor *t = mk(NNRT_I64, 3, D(2, 4, 5), NULL), *w = mk(NNRT_F32, 1, D(4), NULL);
  nnrt_tensor *in[] = {x, t, w}, *out[] = {y};
  expect_error(NNRT_OP_nll_loss, NULL, in, out, 1, "weight", "(3)", "[4]", NULL);
  nnrt_tensor *t2 = mk(NNRT_I64, 3, D(2, 5, 4), NULL);
  nnrt_tensor *in2[] = {x, t2, NULL};
  expect_error(NNRT_OP_nll_loss, NULL, in2, out, 1, "[2,5,4]", "[2,3,4,5]", NULL);
  nnrt_tensor *all[] = {x, y, t, w, t2};
  free_all(all, 5);
}

Test(losses, multi_margin_checks) {
  nnrt_tensor *x = mk(NNRT_F32, 2, D(2, 5), NULL), *y = mk(NNRT_F32, 0, NULL, NULL);
  nnrt_tensor *t = mk(NNRT_I64, 1, D(2), I(1, 5)), *w = mk(NNRT_F32, 1, D(4), NULL);
  nnrt_tensor *in[] = {x, t, NULL}, *out[] = {y};
  expect_error(NNRT_OP_multi_margin_loss, NULL, in, out, 1, "target[1]=5", "[0, 5)", NULL);
  nnrt_tensor_write(t, I(1, 2), 16);
  /* PyTorch 1.13 reads weight[target] without checking its length: we do */
  nnrt_tensor *inw[] = {x, t, w};
  expect_error(NNRT_OP_multi_margin_loss, NULL, inw, out, 1, "weight", "(5)", NULL);
  nnrt_multi_margin_loss_params p;
  nnrt_params_init(NNRT_OP_multi_margin_loss, &p);
  p.p = 3;
  expect_error(NNRT_OP_multi_margin_loss, &p, in, out, 1, "p=3", NULL);
  nnrt_tensor *all[] = {x, y, t, w};
  free_all(all, 4);
}

Test(losses, multilabel_margin_targets) {
  nnrt_tensor *x = mk(NNRT_F32, 2, D(2, 3), NULL), *y = mk(NNRT_F32, 1, D(2), NULL);
  nnrt_tensor *t = mk(NNRT_I64, 2, D(2, 3), I(0, -1, 1, 2, -2, 0));
  nnrt_multilabel_margin_loss_params p;
  nnrt_params_init(NNRT_OP_multilabel_margin_loss, &p);
  p.reduction = 0;
  nnrt_tensor *in[] = {x, t}, *out[] = {y};
  expect_error(NNRT_OP_multilabel_margin_loss, &p, in, out, 1, "target[4]=-2", "[-1, 3)", NULL);
  /* entries after the ending -1 are checked too, as PyTorch does */
  nnrt_tensor_write(t, I(0, -1, 3, 2, -1, 0), 48);
  expect_error(NNRT_OP_multilabel_margin_loss, &p, in, out, 1, "target[2]=3", NULL);
  nnrt_tensor_write(t, I(0, -1, 2, 2, -1, 0), 48);
  cr_expect_eq(nnrt_op_run(NNRT_OP_multilabel_margin_loss, &p, in, out), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *all[] = {x, y, t};
  free_all(all, 3);
}

/* ---- elementwise ---- */
Test(losses, same_shape_required) {
  nnrt_tensor *x = mk(NNRT_F32, 2, D(3, 4), NULL), *t = mk(NNRT_F32, 1, D(4), NULL), *y = mk(NNRT_F32, 0, NULL, NULL);
  nnrt_tensor *in[] = {x, t}, *out[] = {y};
  /* PyTorch broadcasts mse/l1 targets with a warning; we refuse and say so */
  expect_error(NNRT_OP_mse_loss, NULL, in, out, 1, "target", "[4]", "[3,4]", "no broadcasting", NULL);
  expect_error(NNRT_OP_l1_loss, NULL, in, out, 1, "no broadcasting", NULL);
  nnrt_tensor *x2 = mk(NNRT_F32, 2, D(4, 3), NULL), *t3 = mk(NNRT_F32, 2, D(3, 4), NULL);
  nnrt_tensor *in3[] = {x, x2, t3};
  expect_error(NNRT_OP_margin_ranking_loss, NULL, in3, out, 1, "input2", "[4,3]", NULL);
  nnrt_tensor *all[] = {x, t, y, x2, t3};
  free_all(all, 5);
}

Test(losses, bce_input_range_and_weights) {
  nnrt_tensor *x = mk(NNRT_F32, 2, D(2, 3), V(0.1, 0.2, 0.3, 1.5, 0.5, 0.5)), *t = mk(NNRT_F32, 2, D(2, 3), NULL);
  nnrt_tensor *y = mk(NNRT_F32, 0, NULL, NULL);
  nnrt_tensor *in[] = {x, t, NULL}, *out[] = {y};
  expect_error(NNRT_OP_bce_loss, NULL, in, out, 1, "input[3]=1.5", "[0, 1]", NULL);
  nnrt_tensor_write(x, (const float[]){0.1f, 0.2f, NAN, 0.5f, 0.5f, 0.5f}, 24);
  expect_error(NNRT_OP_bce_loss, NULL, in, out, 1, "input[2]=nan", NULL);
  /* the target is not checked, as in PyTorch 1.13: -(2 log 0.5 - log 0.5) */
  nnrt_tensor_write(x, (const float[]){0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, 24);
  nnrt_tensor_fill(t, 2.0);
  cr_assert_eq(nnrt_op_run(NNRT_OP_bce_loss, NULL, in, out), NNRT_OK, "%s", nnrt_last_error());
  float v;
  nnrt_tensor_read(y, &v, 4);
  cr_expect_float_eq(v, (float)log(2.0), 1e-6);
  /* weights: input's shape, or 1-d of the last dim; nothing else */
  nnrt_tensor *w2 = mk(NNRT_F32, 1, D(2), NULL), *wc = mk(NNRT_F32, 2, D(2, 1), NULL), *w3 = mk(NNRT_F32, 1, D(3), NULL);
  nnrt_tensor *inw[] = {x, t, w2};
  expect_error(NNRT_OP_bce_loss, NULL, inw, out, 1, "weight", "[2]", "(3)", NULL);
  inw[2] = wc;
  expect_error(NNRT_OP_bce_loss, NULL, inw, out, 1, "weight", "[2,1]", NULL);
  inw[2] = w3;
  cr_expect_eq(nnrt_op_run(NNRT_OP_bce_loss, NULL, inw, out), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *inl[] = {x, t, NULL, w2}, *inl_ok[] = {x, t, NULL, w3};
  expect_error(NNRT_OP_bce_with_logits, NULL, inl, out, 1, "pos_weight", "[2]", NULL);
  cr_expect_eq(nnrt_op_run(NNRT_OP_bce_with_logits, NULL, inl_ok, out), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *all[] = {x, t, y, w2, wc, w3};
  free_all(all, 6);
}

/* Rows of equal logits far from 0: a softmax of 1/C whatever their size.
 * PyTorch 1.13 (float32 and float64) gives loss log C and gradient
 * (1/C - [c == t]) / N; computing log p as x - (max + log sum) lost the
 * log sum next to a max of 1e16 or more and gave loss 0. */
Test(losses, cross_entropy_huge_logits) {
  static const double big[] = {1e20, -1e20, 3e38, 1e17};
  for (int d = 0; d < 2; d++) {
    nnrt_dtype dt = d ? NNRT_F64 : NNRT_F32;
    for (int k = 0; k < 4; k++) {
      double v = big[k], xv[10] = {v, v, v, v, v, v, v, v, v, v};
      nnrt_tensor *x = mk(dt, 2, D(2, 5), xv), *t = mk(NNRT_I64, 1, D(2), I(0, 3));
      nnrt_tensor *y = mk(dt, 0, NULL, NULL), *gy = mk(dt, 0, NULL, V(1)), *gx = mk(dt, 2, D(2, 5), NULL);
      nnrt_cross_entropy_params p;
      nnrt_params_init(NNRT_OP_cross_entropy, &p);
      nnrt_cross_entropy_backward_params pb;
      nnrt_params_init(NNRT_OP_cross_entropy_backward, &pb);
      cr_assert_eq(nnrt_cross_entropy(x, t, NULL, y, &p), NNRT_OK, "%s", nnrt_last_error());
      cr_assert_eq(nnrt_cross_entropy_backward(gy, x, t, NULL, gx, &pb), NNRT_OK, "%s", nnrt_last_error());
      double loss, g[10];
      if (d) {
        nnrt_tensor_read(y, &loss, 8);
        nnrt_tensor_read(gx, g, 80);
      } else {
        float lf, gf[10];
        nnrt_tensor_read(y, &lf, 4);
        nnrt_tensor_read(gx, gf, 40);
        loss = lf;
        for (int i = 0; i < 10; i++) g[i] = gf[i];
      }
      cr_expect_float_eq(loss, log(5.0), 1e-6, "%s x = %g: loss %g", nnrt_dtype_name(dt), v, loss);
      for (int i = 0; i < 10; i++) {
        double want = (0.2 - (i == 0 || i == 8)) / 2;
        cr_expect_float_eq(g[i], want, 1e-6, "%s x = %g: grad[%d] = %g, want %g", nnrt_dtype_name(dt), v, i, g[i],
                           want);
      }
      nnrt_tensor *all[] = {x, t, y, gy, gx};
      free_all(all, 5);
    }
  }
}

/* bce_with_logits with an input-shaped weight and a pos_weight of period
 * 7 on 490007 elements (threads; ref's chunked weight layout crosses
 * periods at every offset), reduction none and sum, against the formula
 * in float64: (1 - t) x + ((pw - 1) t + 1) softplus(-x), times w. */
Test(losses, weighted_bce_with_logits_large) {
  enum { N = 70001, C = 7 };
  double *x = malloc(sizeof(double) * N * C), *t = malloc(sizeof(double) * N * C), *w = malloc(sizeof(double) * N * C);
  double pw[C] = {0.5, 1, 1.5, 2, 2.5, 3, 0.75};
  cr_assert(x && t && w);
  uint64_t s = 0x2545f4914f6cdd1du;
  for (int64_t i = 0; i < N * C; i++) {
    double u = uniform(&s);
    x[i] = 16 * u - 8, t[i] = u * u, w[i] = 0.5 + (double)(i % 5) / 4;
  }
  nnrt_tensor *X = mk(NNRT_F32, 2, D(N, C), x), *T = mk(NNRT_F32, 2, D(N, C), t), *W = mk(NNRT_F32, 2, D(N, C), w);
  nnrt_tensor *P = mk(NNRT_F32, 1, D(C), pw), *Y = mk(NNRT_F32, 2, D(N, C), NULL), *S = mk(NNRT_F32, 0, NULL, NULL);
  nnrt_tensor *G = mk(NNRT_F32, 0, NULL, V(1)), *GX = mk(NNRT_F32, 2, D(N, C), NULL);
  float *xf = nnrt_tensor_data(X), *tf = nnrt_tensor_data(T), *wf = nnrt_tensor_data(W);
  nnrt_bce_with_logits_params p;
  nnrt_params_init(NNRT_OP_bce_with_logits, &p);
  p.reduction = 0;
  cr_assert_eq(nnrt_bce_with_logits(X, T, W, P, Y, &p), NNRT_OK, "%s", nnrt_last_error());
  p.reduction = 2;
  cr_assert_eq(nnrt_bce_with_logits(X, T, W, P, S, &p), NNRT_OK, "%s", nnrt_last_error());
  nnrt_bce_with_logits_backward_params pb;
  nnrt_params_init(NNRT_OP_bce_with_logits_backward, &pb);
  pb.reduction = 2;
  cr_assert_eq(nnrt_bce_with_logits_backward(G, X, T, W, P, GX, &pb), NNRT_OK, "%s", nnrt_last_error());
  const float *y = nnrt_tensor_data(Y), *gx = nnrt_tensor_data(GX);
  double sum = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < N * C; i++) {
    double xi = xf[i], ti = tf[i], wi = wf[i], pwi = (float)pw[i % C], k = (pwi - 1) * ti + 1;
    double sp = (xi < 0 ? -xi : 0) + log1p(exp(-fabs(xi))), l = ((1 - ti) * xi + k * sp) * wi;
    double dg = (k / (1 + exp(-xi)) - pwi * ti) * wi;
    sum += l;
    if (fabs(y[i] - l) > 1e-6 * fabs(l) + 1e-7 || fabs(gx[i] - dg) > 1e-6 * fabs(dg) + 1e-7)
      if (bad++ == 0)
        cr_expect_fail("element %lld: loss %.9g want %.9g, grad %.9g want %.9g", (long long)i, y[i], l, gx[i], dg);
  }
  cr_expect_eq(bad, 0, "%lld elements off", (long long)bad);
  float sf;
  nnrt_tensor_read(S, &sf, 4);
  cr_expect(fabs(sf - sum) <= 1e-6 * fabs(sum), "sum %.9g want %.9g", sf, sum);
  nnrt_tensor *all[] = {X, T, W, P, Y, S, G, GX};
  free_all(all, 8);
  free(x), free(t), free(w);
}

/* cross_entropy on 70001 x 10 float32 logits (ref's short-row path, 16
 * rows per vector, threads), with ignored rows, reduction none and the
 * backward of sum, against log-softmax in float64: loss (x_t - lse) and
 * gradient softmax - onehot.  The absolute 1e-6 is float32's sum of
 * exps near 1 (PyTorch's float loss and gradient are off by as much). */
Test(losses, cross_entropy_short_rows_large) {
  enum { N = 70001, C = 10 };
  double *x = malloc(sizeof(double) * N * C);
  int64_t *t = malloc(sizeof(int64_t) * N);
  cr_assert(x && t);
  uint64_t s = 0x9e3779b97f4a7c15u;
  for (int64_t i = 0; i < N * C; i++) {
    x[i] = uniform(&s) * 24 - 12;
  }
  for (int64_t n = 0; n < N; n++) t[n] = n % 17 == 3 ? -100 : (n * 7) % C;
  nnrt_tensor *X = mk(NNRT_F32, 2, D(N, C), x), *T = mk(NNRT_I64, 1, D(N), t), *Y = mk(NNRT_F32, 1, D(N), NULL);
  nnrt_tensor *G = mk(NNRT_F32, 0, NULL, V(1)), *GX = mk(NNRT_F32, 2, D(N, C), NULL);
  nnrt_cross_entropy_params p;
  nnrt_params_init(NNRT_OP_cross_entropy, &p);
  p.reduction = 0;
  cr_assert_eq(nnrt_cross_entropy(X, T, NULL, Y, &p), NNRT_OK, "%s", nnrt_last_error());
  nnrt_cross_entropy_backward_params pb;
  nnrt_params_init(NNRT_OP_cross_entropy_backward, &pb);
  pb.reduction = 2;
  cr_assert_eq(nnrt_cross_entropy_backward(G, X, T, NULL, GX, &pb), NNRT_OK, "%s", nnrt_last_error());
  const float *xf = nnrt_tensor_data(X), *y = nnrt_tensor_data(Y), *gx = nnrt_tensor_data(GX);
  int64_t bad = 0;
  for (int64_t n = 0; n < N; n++) {
    const float *r = xf + n * C;
    double mx = r[0], sum = 0;
    for (int c = 1; c < C; c++) mx = r[c] > mx ? r[c] : mx;
    for (int c = 0; c < C; c++) sum += exp(r[c] - mx);
    double lse = mx + log(sum), want = t[n] < 0 ? 0 : lse - r[t[n]];
    bool ok = fabs(y[n] - want) <= 2e-6 * fabs(want) + 1e-6;
    for (int c = 0; c < C; c++) {
      double g = t[n] < 0 ? 0 : exp(r[c] - lse) - (c == t[n]);
      ok = ok && fabs(gx[n * C + c] - g) <= 2e-6 * fabs(g) + 1e-6;
    }
    if (!ok && bad++ == 0) cr_expect_fail("row %lld: loss %.9g, want %.9g", (long long)n, y[n], want);
  }
  cr_expect_eq(bad, 0, "%lld rows off", (long long)bad);
  nnrt_tensor *all[] = {X, T, Y, G, GX};
  free_all(all, 5);
  free(x), free(t);
}

/* cross_entropy with the classes along dim 1 of (3, 7, 20001) (ref's
 * lanes path: 64 neighbouring positions per vector, threads), with
 * ignored positions, class weights and label smoothing, reduction none
 * and the backward of sum, against float64: loss (1 - ls) w_t (lse - x_t)
 * + ls/C sum_c w_c (lse - x_c), gradient (1 - ls) w_t (p - [c == t]) +
 * ls/C (p sum w - w_c).  1e-6 absolute: float32's sum of exps near 1. */
Test(losses, cross_entropy_classes_along_dim1_large) {
  enum { N = 3, C = 7, I = 20001 };
  const double ls = 0.1, w[C] = {0.5, 1, 1.5, 2, 0.75, 1.25, 1};
  double *x = malloc(sizeof(double) * N * C * I);
  int64_t *t = malloc(sizeof(int64_t) * N * I);
  cr_assert(x && t);
  uint64_t s = 0x2545f4914f6cdd1du;
  for (int64_t i = 0; i < N * C * I; i++) {
    x[i] = uniform(&s) * 16 - 8;
  }
  for (int64_t p = 0; p < N * I; p++) t[p] = p % 11 == 5 ? -100 : (p * 5) % C;
  nnrt_tensor *X = mk(NNRT_F32, 3, D(N, C, I), x), *T = mk(NNRT_I64, 2, D(N, I), t), *W = mk(NNRT_F32, 1, D(C), w);
  nnrt_tensor *Y = mk(NNRT_F32, 2, D(N, I), NULL), *G = mk(NNRT_F32, 0, NULL, V(1)), *GX = mk(NNRT_F32, 3, D(N, C, I), NULL);
  nnrt_cross_entropy_params p;
  nnrt_params_init(NNRT_OP_cross_entropy, &p);
  p.reduction = 0, p.label_smoothing = ls;
  cr_assert_eq(nnrt_cross_entropy(X, T, W, Y, &p), NNRT_OK, "%s", nnrt_last_error());
  nnrt_cross_entropy_backward_params pb;
  nnrt_params_init(NNRT_OP_cross_entropy_backward, &pb);
  pb.reduction = 2, pb.label_smoothing = ls;
  cr_assert_eq(nnrt_cross_entropy_backward(G, X, T, W, GX, &pb), NNRT_OK, "%s", nnrt_last_error());
  const float *xf = nnrt_tensor_data(X), *y = nnrt_tensor_data(Y), *gx = nnrt_tensor_data(GX);
  double wall = 0;
  for (int c = 0; c < C; c++) wall += w[c];
  int64_t bad = 0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < I; i++) {
      const float *r = xf + n * C * I + i;
      int64_t tt = t[n * I + i];
      double mx = r[0], sum = 0, sm = 0;
      for (int c = 1; c < C; c++) mx = r[c * I] > mx ? r[c * I] : mx;
      for (int c = 0; c < C; c++) sum += exp(r[c * I] - mx);
      double lse = mx + log(sum);
      for (int c = 0; c < C; c++) sm += w[c] * (lse - r[c * I]);
      double want = tt < 0 ? 0 : (1 - ls) * w[tt] * (lse - r[tt * I]) + ls / C * sm;
      bool ok = fabs(y[n * I + i] - want) <= 2e-6 * fabs(want) + 1e-6;
      for (int c = 0; c < C; c++) {
        double pc = exp(r[c * I] - lse);
        double g = tt < 0 ? 0 : (1 - ls) * w[tt] * (pc - (c == tt)) + ls / C * (pc * wall - w[c]);
        ok = ok && fabs(gx[n * C * I + c * I + i] - g) <= 2e-6 * fabs(g) + 1e-6;
      }
      if (!ok && bad++ == 0)
        cr_expect_fail("position (%lld, %lld): loss %.9g, want %.9g", (long long)n, (long long)i, y[n * I + i], want);
    }
  cr_expect_eq(bad, 0, "%lld positions off", (long long)bad);
  nnrt_tensor *all[] = {X, T, W, Y, G, GX};
  free_all(all, 6);
  free(x), free(t);
}

/* nll_loss on (3, 7, 20001) and (70001, 7) (ref's blocked tasks, threads),
 * with class weights and ignored positions, reduction none and the
 * backward of mean: -w_t x_t and -w_t / sum(w_t) at the target, 0
 * elsewhere, exactly. */
static void nll_large_case(int64_t N, int64_t C, int64_t I) {
  const double w[7] = {0.5, 1, 1.5, 2, 0.75, 1.25, 1};
  int ndim = I > 1 ? 3 : 2;
  int64_t xs[3] = {N, C, I}, ts[2] = {N, I};
  double *x = malloc(sizeof(double) * (size_t)(N * C * I));
  int64_t *t = malloc(sizeof(int64_t) * (size_t)(N * I));
  cr_assert(x && t);
  for (int64_t i = 0; i < N * C * I; i++) x[i] = (double)((i * 2654435761u) % 1024) / 64 - 8;
  double wsum = 0;
  for (int64_t p = 0; p < N * I; p++) {
    t[p] = p % 13 == 4 ? -100 : (p * 3) % C;
    wsum += t[p] < 0 ? 0 : w[t[p]];
  }
  nnrt_tensor *X = mk(NNRT_F32, ndim, xs, x), *T = mk(NNRT_I64, ndim - 1, I > 1 ? ts : xs, t), *W = mk(NNRT_F32, 1, D(C), w);
  nnrt_tensor *Y = mk(NNRT_F32, ndim - 1, I > 1 ? ts : xs, NULL), *G = mk(NNRT_F32, 0, NULL, V(1));
  nnrt_tensor *GX = mk(NNRT_F32, ndim, xs, NULL);
  nnrt_tensor_fill(GX, 42);
  nnrt_nll_loss_params p;
  nnrt_params_init(NNRT_OP_nll_loss, &p);
  p.reduction = 0;
  cr_assert_eq(nnrt_nll_loss(X, T, W, Y, &p), NNRT_OK, "%s", nnrt_last_error());
  nnrt_nll_loss_backward_params pb;
  nnrt_params_init(NNRT_OP_nll_loss_backward, &pb);
  cr_assert_eq(nnrt_nll_loss_backward(G, X, T, W, GX, &pb), NNRT_OK, "%s", nnrt_last_error());
  const float *xf = nnrt_tensor_data(X), *y = nnrt_tensor_data(Y), *gx = nnrt_tensor_data(GX);
  int64_t bad = 0;
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < I; i++) {
      int64_t pos = n * I + i, tt = t[pos];
      bool ok = y[pos] == (float)(tt < 0 ? 0 : -w[tt] * xf[(n * C + tt) * I + i]);
      for (int64_t c = 0; c < C; c++)
        ok = ok && gx[(n * C + c) * I + i] == (float)(c == tt ? -w[tt] / wsum : 0);
      if (!ok && bad++ == 0) cr_expect_fail("(%lld x %lld x %lld) position %lld wrong", (long long)N, (long long)C,
                                            (long long)I, (long long)pos);
    }
  cr_expect_eq(bad, 0, "%lld positions off", (long long)bad);
  nnrt_tensor *all[] = {X, T, W, Y, G, GX};
  free_all(all, 6);
  free(x), free(t);
}

Test(losses, nll_loss_large) {
  nll_large_case(3, 7, 20001);
  nll_large_case(70001, 7, 1);
}

Test(losses, unchecked_pm1_targets_follow_pytorch) {
  /* hinge: t = 3 is neither 1 nor -1, so both terms apply: max(0, 1 - x) + x */
  nnrt_tensor *x = mk(NNRT_F64, 1, D(2), V(0.25, 2.0)), *t = mk(NNRT_F64, 1, D(2), V(3, 3));
  nnrt_tensor *y = mk(NNRT_F64, 1, D(2), NULL);
  nnrt_hinge_embedding_loss_params p;
  nnrt_params_init(NNRT_OP_hinge_embedding_loss, &p);
  p.reduction = 0;
  cr_assert_eq(nnrt_hinge_embedding_loss(x, t, y, &p), NNRT_OK, "%s", nnrt_last_error());
  double v[2];
  nnrt_tensor_read(y, v, sizeof v);
  cr_expect_float_eq(v[0], 1.0, 1e-15);
  cr_expect_float_eq(v[1], 2.0, 1e-15);
  /* cosine_embedding: a target of 0 selects no term: loss 0 */
  nnrt_tensor *a = mk(NNRT_F64, 2, D(1, 2), V(1, 0)), *b = mk(NNRT_F64, 2, D(1, 2), V(0, 1));
  nnrt_tensor *ct = mk(NNRT_F64, 1, D(1), V(0)), *cy = mk(NNRT_F64, 0, NULL, NULL);
  cr_assert_eq(nnrt_cosine_embedding_loss(a, b, ct, cy, NULL), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor_read(cy, v, 8);
  cr_expect_eq(v[0], 0.0);
  nnrt_tensor *all[] = {x, t, y, a, b, ct, cy};
  free_all(all, 7);
}

Test(losses, params_and_grad_output) {
  nnrt_tensor *x = mk(NNRT_F32, 2, D(2, 3), NULL), *t = mk(NNRT_F32, 2, D(2, 3), NULL), *y = mk(NNRT_F32, 0, NULL, NULL);
  nnrt_tensor *in[] = {x, t}, *out[] = {y};
  nnrt_smooth_l1_loss_params p;
  nnrt_params_init(NNRT_OP_smooth_l1_loss, &p);
  p.beta = -1;
  expect_error(NNRT_OP_smooth_l1_loss, &p, in, out, 1, "beta=-1", NULL);
  nnrt_l1_loss_params r;
  nnrt_params_init(NNRT_OP_l1_loss, &r);
  cr_expect_neq(nnrt_params_set(NNRT_OP_l1_loss, &r, "reduction=batchmean"), NNRT_OK);
  r.reduction = 3;
  expect_error(NNRT_OP_l1_loss, &r, in, out, 1, "reduction=3", NULL);
  nnrt_kl_div_params k;
  nnrt_params_init(NNRT_OP_kl_div, &k);
  cr_expect_eq(nnrt_params_set(NNRT_OP_kl_div, &k, "reduction=batchmean"), NNRT_OK);
  cr_expect_eq(nnrt_op_run(NNRT_OP_kl_div, &k, in, out), NNRT_OK, "%s", nnrt_last_error());
  /* backward: grad_output must have the loss's shape */
  nnrt_tensor *gy = mk(NNRT_F32, 2, D(2, 3), NULL), *gx = mk(NNRT_F32, 2, D(2, 3), NULL);
  nnrt_tensor *bin[] = {gy, x, t}, *bout[] = {gx};
  expect_error(NNRT_OP_mse_loss_backward, NULL, bin, bout, 1, "grad_output", "[2,3]", "[]", NULL);
  nnrt_tensor *all[] = {x, t, y, gy, gx};
  free_all(all, 5);
}

/* ---- accuracy of reductions ---- */
Test(losses, mean_of_1e7_float32_elements) {
  const int64_t n = 10000000;
  nnrt_tensor *x, *t, *y = mk(NNRT_F32, 0, NULL, NULL);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 1, &n, &x), NNRT_OK);
  cr_assert_eq(nnrt_tensor_new(ref(), NNRT_F32, 1, &n, &t), NNRT_OK);
  float *xv = nnrt_tensor_data(x), *tv = nnrt_tensor_data(t);
  uint64_t s = 0x2545f4914f6cdd1dull;
  for (int64_t i = 0; i < n; i++) { /* xorshift: values in [0, 4), a sum far past float's 2^24 */
    xv[i] = (float)(uniform(&s) * 4.0);
    tv[i] = (float)uniform(&s);
  }
  /* the float64 answer from the same float32 data */
  double mse = 0, l1 = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)xv[i] - (double)tv[i];
    mse += d * d;
    l1 += fabs(d);
  }
  mse /= (double)n;
  l1 /= (double)n;
  float got;
  cr_assert_eq(nnrt_mse_loss(x, t, y, NULL), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor_read(y, &got, 4);
  cr_expect(fabs(got - mse) <= 1e-6 * mse, "mse_loss: %.9g, float64 %.9g (rel %.3g)", got, mse, fabs(got - mse) / mse);
  cr_assert_eq(nnrt_l1_loss(x, t, y, NULL), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor_read(y, &got, 4);
  cr_expect(fabs(got - l1) <= 1e-6 * l1, "l1_loss: %.9g, float64 %.9g (rel %.3g)", got, l1, fabs(got - l1) / l1);
  nnrt_tensor *all[] = {x, t, y};
  free_all(all, 3);
}

/* ---- modules ---- */
static void expect_values(nnrt_tensor *t, const double *want, int64_t n, double tol, const char *what) {
  cr_assert_eq(nnrt_tensor_numel(t), n, "%s: %lld elements, want %lld", what, (long long)nnrt_tensor_numel(t), (long long)n);
  double v[16];
  cr_assert(n <= 16);
  cr_assert_eq(nnrt_tensor_read(t, v, (size_t)n * 8), NNRT_OK, "%s", nnrt_last_error());
  for (int64_t i = 0; i < n; i++)
    cr_expect(fabs(v[i] - want[i]) <= tol * fmax(1, fabs(want[i])), "%s[%lld]: %.17g, want %.17g", what, (long long)i, v[i], want[i]);
}

Test(losses, module_one_input_bce_with_logits_pos_weight) {
  nnrt_module *m;
  cr_assert_eq(nnrt_module_loss(ref(), NNRT_OP_bce_with_logits, NULL, NULL, &m), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_str_eq(nnrt_module_kind(m), "BCEWithLogitsLoss");
  nnrt_tensor *x = mk(NNRT_F64, 2, D(2, 3), V(0.5, -1, 2, -3, 0.25, 1));
  nnrt_tensor *t = mk(NNRT_F64, 2, D(2, 3), V(1, 0, 0.5, 0, 1, 1));
  nnrt_tensor *pw = mk(NNRT_F64, 1, D(3), V(2, 0.5, 3)), *loss, *gx;
  cr_assert_eq(nnrt_loss_set_tensor(m, "pos_weight", pw), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor_fill(pw, 100.0); /* the module keeps a copy */
  cr_expect_neq(nnrt_loss_set_tensor(m, "target", pw), NNRT_OK);
  cr_expect_neq(nnrt_loss_set_tensor(m, "bias", pw), NNRT_OK);
  cr_assert_eq(nnrt_loss_forward(m, x, t, &loss), NNRT_OK, "%s", nnrt_last_error());
  expect_values(loss, V(0.6319356336720356), 1, 1e-12, "BCEWithLogitsLoss");
  cr_assert_eq(nnrt_loss_backward(m, &gx), NNRT_OK, "%s", nnrt_last_error());
  expect_values(gx, V(-0.1258468895993818, 0.04482357022833252, 0.04359902599262744, 0.00790431219626113,
                      -0.03648529159285016, -0.13447071068499752), 6, 1e-12, "grad_input");
  /* two-input entry points are refused */
  nnrt_tensor *g2;
  cr_expect_neq(nnrt_loss_forward2(m, x, x, t, &loss), NNRT_OK);
  cr_expect_neq(nnrt_loss_backward2(m, &gx, &g2), NNRT_OK);
  /* a bad pos_weight is the op's error, at forward */
  nnrt_tensor *bad = mk(NNRT_F64, 1, D(2), NULL);
  cr_assert_eq(nnrt_loss_set_tensor(m, "pos_weight", bad), NNRT_OK);
  cr_expect_neq(nnrt_loss_forward(m, x, t, &loss), NNRT_OK);
  cr_expect(strstr(nnrt_last_error(), "pos_weight") != NULL, "%s", nnrt_last_error());
  nnrt_module_free(m);
  nnrt_tensor *all[] = {x, t, pw, bad};
  free_all(all, 4);
}

Test(losses, module_nll_with_weight) {
  nnrt_module *m;
  nnrt_tensor *w = mk(NNRT_F64, 1, D(3), V(2, 1, 0.5));
  cr_assert_eq(nnrt_module_loss(ref(), NNRT_OP_nll_loss, NULL, w, &m), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_str_eq(nnrt_module_kind(m), "NLLLoss");
  nnrt_tensor *x = mk(NNRT_F64, 2, D(2, 3), V(-1, -2, -0.5, -0.25, -3, -1.5)), *t = mk(NNRT_I64, 1, D(2), I(2, 0));
  nnrt_tensor *loss, *gx;
  cr_assert_eq(nnrt_loss_forward(m, x, t, &loss), NNRT_OK, "%s", nnrt_last_error());
  expect_values(loss, V(0.3), 1, 1e-15, "NLLLoss");
  cr_assert_eq(nnrt_loss_backward(m, &gx), NNRT_OK, "%s", nnrt_last_error());
  expect_values(gx, V(0, 0, -0.2, -0.8, 0, 0), 6, 1e-15, "grad_input");
  nnrt_module_free(m);
  /* kinds of the other losses, and what is not a loss */
  static const struct { nnrt_op op; const char *kind; } kinds[] = {
      {NNRT_OP_cross_entropy, "CrossEntropyLoss"}, {NNRT_OP_l1_loss, "L1Loss"}, {NNRT_OP_mse_loss, "MSELoss"},
      {NNRT_OP_kl_div, "KLDivLoss"}, {NNRT_OP_bce_loss, "BCELoss"}, {NNRT_OP_smooth_l1_loss, "SmoothL1Loss"},
      {NNRT_OP_multi_margin_loss, "MultiMarginLoss"}, {NNRT_OP_cosine_embedding_loss, "CosineEmbeddingLoss"}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    cr_assert_eq(nnrt_module_loss(ref(), kinds[i].op, NULL, NULL, &m), NNRT_OK, "%s", nnrt_last_error());
    cr_expect_str_eq(nnrt_module_kind(m), kinds[i].kind);
    nnrt_module_free(m);
  }
  cr_expect_neq(nnrt_module_loss(ref(), NNRT_OP_prelu, NULL, NULL, &m), NNRT_OK);
  cr_expect_neq(nnrt_module_loss(ref(), NNRT_OP_l1_loss, NULL, w, &m), NNRT_OK); /* takes no weight */
  cr_expect(strstr(nnrt_last_error(), "no weight") != NULL, "%s", nnrt_last_error());
  nnrt_tensor *all[] = {x, t, w};
  free_all(all, 3);
}

Test(losses, module_two_inputs) {
  nnrt_module *m;
  nnrt_margin_ranking_loss_params p;
  nnrt_params_init(NNRT_OP_margin_ranking_loss, &p);
  p.margin = 0.5;
  cr_assert_eq(nnrt_module_loss(ref(), NNRT_OP_margin_ranking_loss, &p, NULL, &m), NNRT_OK, "%s", nnrt_last_error());
  cr_expect_str_eq(nnrt_module_kind(m), "MarginRankingLoss");
  nnrt_tensor *x1 = mk(NNRT_F64, 1, D(3), V(1, 2, 3)), *x2 = mk(NNRT_F64, 1, D(3), V(2, 2, 1));
  nnrt_tensor *y = mk(NNRT_F64, 1, D(3), V(1, -1, 1)), *loss, *g1, *g2;
  cr_expect_neq(nnrt_loss_forward(m, x1, y, &loss), NNRT_OK);
  cr_expect(strstr(nnrt_last_error(), "nnrt_loss_forward2") != NULL, "%s", nnrt_last_error());
  cr_expect_neq(nnrt_loss_backward2(m, &g1, &g2), NNRT_OK); /* no forward yet */
  cr_assert_eq(nnrt_loss_forward2(m, x1, x2, y, &loss), NNRT_OK, "%s", nnrt_last_error());
  expect_values(loss, V(0.6666666666666666), 1, 1e-15, "MarginRankingLoss");
  cr_expect_neq(nnrt_loss_backward(m, &g1), NNRT_OK);
  cr_assert_eq(nnrt_loss_backward2(m, &g1, &g2), NNRT_OK, "%s", nnrt_last_error());
  expect_values(g1, V(-1.0 / 3, 1.0 / 3, 0), 3, 1e-15, "grad_input1");
  expect_values(g2, V(1.0 / 3, -1.0 / 3, 0), 3, 1e-15, "grad_input2");
  nnrt_module_free(m);

  nnrt_cosine_embedding_loss_params c;
  nnrt_params_init(NNRT_OP_cosine_embedding_loss, &c);
  cr_assert_eq(nnrt_params_set(NNRT_OP_cosine_embedding_loss, &c, "reduction=sum"), NNRT_OK);
  c.margin = -0.25;
  cr_assert_eq(nnrt_module_loss(ref(), NNRT_OP_cosine_embedding_loss, &c, NULL, &m), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *a = mk(NNRT_F64, 2, D(2, 3), V(1, 2, 0.5, 0, -1, 2)), *b = mk(NNRT_F64, 2, D(2, 3), V(0.5, 1, 1, 1, -1, 2));
  nnrt_tensor *ct = mk(NNRT_F64, 1, D(2), V(1, -1));
  cr_assert_eq(nnrt_loss_forward2(m, a, b, ct, &loss), NNRT_OK, "%s", nnrt_last_error());
  expect_values(loss, V(1.2899993682314173), 1, 1e-12, "CosineEmbeddingLoss");
  cr_assert_eq(nnrt_loss_backward2(m, &g1, &g2), NNRT_OK, "%s", nnrt_last_error());
  expect_values(g1, V(0.020782656212913392, 0.041565312425826784, -0.2078265621294664, 0.18257418583502188, 0, 0), 6,
                1e-12, "grad_input1");
  expect_values(g2, V(-0.09698572899382982, -0.19397145798765963, 0.24246432248418656, -0.1521451548624929,
                      -0.030429030972528998, 0.060858061945057995), 6, 1e-12, "grad_input2");
  nnrt_module_free(m);
  nnrt_tensor *all[] = {x1, x2, y, a, b, ct};
  free_all(all, 6);
}
