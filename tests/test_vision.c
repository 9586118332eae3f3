/* tests/test_vision.c - pixel_(un)shuffle, the upsamplings, dropout,
 * embedding and the distances beyond the PyTorch fixtures of test_golden:
 * the seed's bilinear example, properties of dropout (PyTorch's RNG cannot
 * be reproduced, so the mask is checked by its law and its determinism),
 * determinism of the scattering backward ops, the modules, and bad inputs
 * (clear error naming the value, nothing written).  Runs on ref. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnrt/nnrt.h>

#include "npy.h"

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

static nnrt_tensor *new_t(nnrt_dtype dt, int ndim, const int64_t *shape, const void *vals) {
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(ref(), dt, ndim, shape, &t), NNRT_OK, "%s", nnrt_last_error());
  if (vals) cr_assert_eq(nnrt_tensor_write(t, vals, nnrt_dtype_size(dt) * (size_t)nnrt_tensor_numel(t)), NNRT_OK);
  return t;
}

static nnrt_tensor *new_f32(int ndim, const int64_t *shape, const float *vals) {
  return new_t(NNRT_F32, ndim, shape, vals);
}

/* A float32 tensor of n pseudo-random values in [-1, 1). */
static nnrt_tensor *random_f32(int ndim, const int64_t *shape, uint64_t seed) {
  nnrt_tensor *t = new_f32(ndim, shape, NULL);
  int64_t n = nnrt_tensor_numel(t);
  float *v = malloc(sizeof(float) * (size_t)n + 1);
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = (float)((double)(seed >> 11) / 4503599627370496.0 - 1.0);
  }
  nnrt_tensor_write(t, v, sizeof(float) * (size_t)n);
  free(v);
  return t;
}

static float *read_f32(const nnrt_tensor *t) {
  int64_t n = nnrt_tensor_numel(t);
  float *v = malloc(sizeof(float) * (size_t)n + 1);
  cr_assert_eq(nnrt_tensor_read(t, v, sizeof(float) * (size_t)n), NNRT_OK);
  return v;
}

static void expect_error(nnrt_status st, const char *needle) {
  cr_assert_eq(st, NNRT_ERR_INVALID_ARGUMENT, "status %s (%s)", nnrt_status_str(st), nnrt_last_error());
  cr_assert(strstr(nnrt_last_error(), needle), "error '%s' lacks '%s'", nnrt_last_error(), needle);
}

/* Every element still holds the fill value 42. */
static void untouched(const nnrt_tensor *t) {
  float *v = read_f32(t);
  for (int64_t i = 0; i < nnrt_tensor_numel(t); i++) cr_assert_eq(v[i], 42.0f, "written at %lld", (long long)i);
  free(v);
}

/* ---- pixel shuffle ---- */
/* pixel_shuffle of an (N, C r^2, H, W) tensor of dtype dt against its
 * definition, out[n, c, h r + i, w r + j] = in[n, c r^2 + i r + j, h, w],
 * element by element (bit patterns compared); pixel_unshuffle_backward
 * (the same movement) likewise; pixel_unshuffle and
 * pixel_shuffle_backward of the result give the input back bit for bit. */
static void shuffle_case(nnrt_dtype dt, int64_t N, int64_t C, int64_t H, int64_t W, int64_t r) {
  int64_t s[] = {N, C * r * r, H, W}, w[] = {N, C, H * r, W * r}, n = N * C * r * r * H * W;
  size_t es = nnrt_dtype_size(dt);
  unsigned char *xv = malloc(es * (size_t)n), *yv = malloc(es * (size_t)n), *zv = malloc(es * (size_t)n);
  cr_assert(xv && yv && zv);
  uint64_t seed = 7;
  for (int64_t k = 0; k < n; k++) { /* arbitrary bits: NaN payloads and -0 must survive */
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    memcpy(xv + es * (size_t)k, &seed, es);
  }
  nnrt_tensor *x = new_t(dt, 4, s, xv), *y = new_t(dt, 4, w, NULL), *z = new_t(dt, 4, s, NULL);
  nnrt_pixel_shuffle_params p = {.upscale_factor = r};
  nnrt_pixel_unshuffle_params q = {.downscale_factor = r};
  nnrt_pixel_shuffle_backward_params pb = {.upscale_factor = r};
  nnrt_pixel_unshuffle_backward_params qb = {.downscale_factor = r};
  for (int pass = 0; pass < 2; pass++) {
    const char *fwd = pass ? "pixel_unshuffle_backward" : "pixel_shuffle";
    nnrt_status st = pass ? nnrt_pixel_unshuffle_backward(x, y, &qb) : nnrt_pixel_shuffle(x, y, &p);
    cr_assert_eq(st, NNRT_OK, "%s: %s", fwd, nnrt_last_error());
    st = pass ? nnrt_pixel_shuffle_backward(y, z, &pb) : nnrt_pixel_unshuffle(y, z, &q);
    cr_assert_eq(st, NNRT_OK, "%s", nnrt_last_error());
    cr_assert_eq(nnrt_tensor_read(y, yv, es * (size_t)n), NNRT_OK);
    cr_assert_eq(nnrt_tensor_read(z, zv, es * (size_t)n), NNRT_OK);
    cr_assert_eq(memcmp(xv, zv, es * (size_t)n), 0, "%s: the inverse did not give the input back", fwd);
    for (int64_t b = 0; b < N; b++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t h = 0; h < H; h++)
          for (int64_t i = 0; i < r; i++)
            for (int64_t ww = 0; ww < W; ww++)
              for (int64_t j = 0; j < r; j++) {
                int64_t o = ((b * C + c) * H * r + h * r + i) * W * r + ww * r + j;
                int64_t from = ((b * C * r * r + c * r * r + i * r + j) * H + h) * W + ww;
                if (memcmp(yv + es * (size_t)o, xv + es * (size_t)from, es))
                  cr_assert_fail("%s %s (%lld,%lld,%lld,%lld) r=%lld: out[%lld,%lld,%lld,%lld] wrong", fwd,
                                 nnrt_dtype_name(dt), (long long)N, (long long)C, (long long)H, (long long)W,
                                 (long long)r, (long long)b, (long long)c, (long long)(h * r + i),
                                 (long long)(ww * r + j));
              }
  }
  free(xv);
  free(yv);
  free(zv);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnrt_tensor_free(z);
}

Test(vision, pixel_shuffle_roundtrip_and_layout) {
  shuffle_case(NNRT_F32, 2, 3, 2, 3, 2);
  shuffle_case(NNRT_F64, 3, 2, 5, 7, 3);
  /* outputs of 32 MiB and more take ref's float32 streaming path; rows of
   * 258 and 513 elements start at every alignment; float64 that large
   * must not take it */
  shuffle_case(NNRT_F32, 2, 64, 128, 129, 2);
  shuffle_case(NNRT_F32, 1, 32, 171, 171, 3);
  shuffle_case(NNRT_F64, 2, 32, 128, 129, 2);
}

Test(vision, pixel_shuffle_bad_inputs) {
  int64_t s[] = {1, 6, 2, 2}, o[] = {1, 1, 4, 4}, s2[] = {6, 2};
  nnrt_tensor *x = random_f32(4, s, 2), *y = new_f32(4, o, NULL), *x2 = random_f32(2, s2, 3);
  nnrt_tensor_fill(y, 42);
  nnrt_pixel_shuffle_params p = {.upscale_factor = 2};
  expect_error(nnrt_pixel_shuffle(x, y, &p), "not divisible by upscale_factor^2=4");
  p.upscale_factor = 0;
  expect_error(nnrt_pixel_shuffle(x, y, &p), "upscale_factor=0");
  p.upscale_factor = 2;
  expect_error(nnrt_pixel_shuffle(x2, y, &p), "at least 3 dims");
  nnrt_pixel_unshuffle_params q = {.downscale_factor = 3};
  expect_error(nnrt_pixel_unshuffle(x, y, &q), "must be divisible by downscale_factor=3");
  untouched(y);
  nnrt_tensor_free(x);
  nnrt_tensor_free(x2);
  nnrt_tensor_free(y);
}

/* ---- upsampling ---- */
/* The seed's example: UpsamplingBilinear2d(scale_factor=2) of [[1,2],[3,4]]
 * has first row 1, 1.3333, 1.6667, 2. */
Test(vision, bilinear_seed_example) {
  double sf[2] = {2, 2};
  nnrt_module *m;
  cr_assert_eq(nnrt_module_upsampling_bilinear2d(ref(), NULL, sf, &m), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_str_eq(nnrt_module_kind(m), "UpsamplingBilinear2d");
  int64_t s[] = {1, 1, 2, 2};
  float v[] = {1, 2, 3, 4};
  nnrt_tensor *x = new_f32(4, s, v), *y;
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_shape(y)[2], 4);
  cr_assert_eq(nnrt_tensor_shape(y)[3], 4);
  float *yv = read_f32(y);
  const double want[4][4] = {{1, 4 / 3., 5 / 3., 2}, {5 / 3., 2, 7 / 3., 8 / 3.}, {7 / 3., 8 / 3., 3, 10 / 3.}, {3, 10 / 3., 11 / 3., 4}};
  for (int i = 0; i < 16; i++)
    cr_assert(fabs(yv[i] - want[i / 4][i % 4]) < 1e-6, "[%d]: %.8f vs %.8f", i, yv[i], want[i / 4][i % 4]);
  cr_assert_eq(yv[0], 1.0f);
  cr_assert_eq(yv[3], 2.0f);
  cr_assert_eq(yv[15], 4.0f);
  /* backward: every output gradient lands somewhere, weights sum to 1 */
  int64_t os[] = {1, 1, 4, 4};
  nnrt_tensor *g = new_f32(4, os, NULL), *gx;
  nnrt_tensor_fill(g, 1.0);
  cr_assert_eq(nnrt_module_backward(m, g, &gx), NNRT_OK, "%s", nnrt_last_error());
  float *gv = read_f32(gx);
  cr_assert(fabs(gv[0] + gv[1] + gv[2] + gv[3] - 16) < 1e-5);
  free(yv);
  free(gv);
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_module_free(m);
}

/* nearest: each output gradient goes to exactly one input */
Test(vision, nearest_module_and_backward_sum) {
  int64_t size[2] = {7, 5};
  nnrt_module *m;
  cr_assert_eq(nnrt_module_upsampling_nearest2d(ref(), size, NULL, &m), NNRT_OK, "%s", nnrt_last_error());
  int64_t s[] = {2, 3, 3, 4}, os[] = {2, 3, 7, 5};
  nnrt_tensor *x = random_f32(4, s, 4), *g = random_f32(4, os, 5), *y, *gx;
  cr_assert_eq(nnrt_module_forward(m, x, &y), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_module_backward(m, g, &gx), NNRT_OK, "%s", nnrt_last_error());
  float *gv = read_f32(g), *gxv = read_f32(gx);
  for (int pl = 0; pl < 6; pl++) {
    double a = 0, b = 0;
    for (int i = 0; i < 35; i++) a += gv[pl * 35 + i];
    for (int i = 0; i < 12; i++) b += gxv[pl * 12 + i];
    cr_assert(fabs(a - b) < 1e-5, "plane %d: %g vs %g", pl, a, b);
  }
  free(gv);
  free(gxv);
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_module_free(m);
}

/* the scattering backward gives the same bits on every run */
Test(vision, bilinear_backward_is_deterministic) {
  int64_t s[] = {4, 16, 13, 11}, os[] = {4, 16, 29, 31}; /* big enough for threads */
  nnrt_tensor *x = random_f32(4, s, 6), *g = random_f32(4, os, 7), *a = new_f32(4, s, NULL), *b = new_f32(4, s, NULL);
  nnrt_upsample_bilinear2d_backward_params p;
  nnrt_params_init(NNRT_OP_upsample_bilinear2d_backward, &p);
  p.size[0] = 29;
  p.size[1] = 31;
  p.align_corners = false;
  cr_assert_eq(nnrt_upsample_bilinear2d_backward(g, x, a, &p), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_upsample_bilinear2d_backward(g, x, b, &p), NNRT_OK, "%s", nnrt_last_error());
  float *av = read_f32(a), *bv = read_f32(b);
  cr_assert_eq(memcmp(av, bv, sizeof(float) * (size_t)nnrt_tensor_numel(a)), 0);
  free(av);
  free(bv);
  nnrt_tensor *all[] = {x, g, a, b};
  for (int i = 0; i < 4; i++) nnrt_tensor_free(all[i]);
}

Test(vision, upsample_bad_inputs) {
  int64_t s[] = {1, 1, 1, 10}, s3[] = {1, 4, 4}, o[] = {1, 1, 2, 20};
  nnrt_tensor *x = random_f32(4, s, 8), *x3 = random_f32(3, s3, 9), *y = new_f32(4, o, NULL);
  nnrt_tensor_fill(y, 42);
  nnrt_upsample_nearest2d_params p;
  nnrt_params_init(NNRT_OP_upsample_nearest2d, &p);
  expect_error(nnrt_upsample_nearest2d(x, y, &p), "exactly one of size or scale_factor (got neither)");
  cr_assert_eq(nnrt_params_set(NNRT_OP_upsample_nearest2d, &p, "scale_factor=0.5"), NNRT_OK);
  expect_error(nnrt_upsample_nearest2d(x, y, &p), "gives an empty output");
  cr_assert_eq(nnrt_params_set(NNRT_OP_upsample_nearest2d, &p, "size=2,20"), NNRT_OK);
  expect_error(nnrt_upsample_nearest2d(x, y, &p), "(got both)");
  p.scale_factor[0] = p.scale_factor[1] = 0;
  expect_error(nnrt_upsample_nearest2d(x3, y, &p), "input must be 4-d");
  p.size[1] = -3;
  expect_error(nnrt_upsample_nearest2d(x, y, &p), "must be positive");
  nnrt_upsample_bilinear2d_params b;
  nnrt_params_init(NNRT_OP_upsample_bilinear2d, &b);
  b.scale_factor[0] = NAN;
  b.scale_factor[1] = 2;
  expect_error(nnrt_upsample_bilinear2d(x, y, &b), "scale_factor");
  untouched(y);
  nnrt_module *m;
  int64_t sz[2] = {2, 2};
  double sf[2] = {2, 2};
  expect_error(nnrt_module_upsampling_nearest2d(ref(), sz, sf, &m), "exactly one");
  expect_error(nnrt_module_upsampling_bilinear2d(ref(), NULL, NULL, &m), "exactly one");
  nnrt_tensor_free(x);
  nnrt_tensor_free(x3);
  nnrt_tensor_free(y);
}

/* ---- dropout ---- */
static nnrt_dropout_params drop_params(double p, bool training, int64_t seed) {
  nnrt_dropout_params d;
  nnrt_params_init(NNRT_OP_dropout, &d);
  d.p = p;
  d.training = training;
  d.seed = seed;
  return d;
}

Test(vision, dropout_mask_law) {
  enum { N = 100000 };
  int64_t s[] = {N};
  nnrt_tensor *x = new_f32(1, s, NULL), *y = new_f32(1, s, NULL), *y2 = new_f32(1, s, NULL);
  nnrt_tensor_fill(x, 1.0);
  const double p = 0.3;
  nnrt_dropout_params d = drop_params(p, true, 77);
  cr_assert_eq(nnrt_dropout(x, y, &d), NNRT_OK, "%s", nnrt_last_error());
  float *v = read_f32(y);
  float scale = 1.0f / (float)(1 - p);
  int64_t zeros = 0;
  for (int64_t i = 0; i < N; i++) {
    cr_assert(v[i] == 0 || v[i] == scale, "y[%lld] = %g", (long long)i, v[i]);
    zeros += v[i] == 0;
  }
  /* the rate within 7 standard deviations (0.0014 each) of p */
  cr_assert(fabs((double)zeros / N - p) < 0.01, "dropped %lld of %d", (long long)zeros, N);
  /* same seed: same mask; another seed: another mask */
  cr_assert_eq(nnrt_dropout(x, y2, &d), NNRT_OK);
  float *v2 = read_f32(y2);
  cr_assert_eq(memcmp(v, v2, sizeof(float) * N), 0);
  free(v2);
  d.seed = 78;
  cr_assert_eq(nnrt_dropout(x, y2, &d), NNRT_OK);
  v2 = read_f32(y2);
  int64_t differ = 0;
  for (int64_t i = 0; i < N; i++) differ += v[i] != v2[i];
  cr_assert(differ > N / 4, "seeds 77 and 78 differ at %lld elements only", (long long)differ);
  free(v2);
  /* backward recomputes the same mask: g * mask * scale */
  nnrt_tensor *g = new_f32(1, s, NULL), *gx = new_f32(1, s, NULL);
  nnrt_tensor_fill(g, 2.0);
  nnrt_dropout_backward_params b = {.p = p, .training = true, .seed = 77};
  cr_assert_eq(nnrt_dropout_backward(g, gx, &b), NNRT_OK, "%s", nnrt_last_error());
  float *gv = read_f32(gx);
  for (int64_t i = 0; i < N; i++) cr_assert_eq(gv[i], 2.0f * v[i], "grad_input[%lld]", (long long)i);
  free(gv);
  /* the f64 mask is the same */
  nnrt_tensor *xd = new_t(NNRT_F64, 1, s, NULL), *yd = new_t(NNRT_F64, 1, s, NULL);
  nnrt_tensor_fill(xd, 1.0);
  d.seed = 77;
  cr_assert_eq(nnrt_dropout(xd, yd, &d), NNRT_OK);
  double *dv = malloc(sizeof(double) * N);
  nnrt_tensor_read(yd, dv, sizeof(double) * N);
  for (int64_t i = 0; i < N; i++) cr_assert_eq(dv[i] == 0, v[i] == 0, "f64 mask differs at %lld", (long long)i);
  free(dv);
  free(v);
  nnrt_tensor *all[] = {x, y, y2, g, gx, xd, yd};
  for (int i = 0; i < 7; i++) nnrt_tensor_free(all[i]);
}

Test(vision, dropout_eval_p0_p1_inplace) {
  int64_t s[] = {5, 7};
  nnrt_tensor *x = random_f32(2, s, 10), *y = new_f32(2, s, NULL);
  float *xv = read_f32(x);
  nnrt_dropout_params d = drop_params(0.5, false, 1);
  cr_assert_eq(nnrt_dropout(x, y, &d), NNRT_OK);
  float *yv = read_f32(y);
  cr_assert_eq(memcmp(xv, yv, sizeof(float) * 35), 0, "eval is the identity");
  free(yv);
  d = drop_params(0.0, true, 1);
  cr_assert_eq(nnrt_dropout(x, y, &d), NNRT_OK);
  yv = read_f32(y);
  cr_assert_eq(memcmp(xv, yv, sizeof(float) * 35), 0, "p = 0 is the identity");
  free(yv);
  d = drop_params(1.0, true, 1);
  cr_assert_eq(nnrt_dropout(x, y, &d), NNRT_OK);
  yv = read_f32(y);
  for (int i = 0; i < 35; i++) cr_assert_eq(yv[i], 0.0f, "p = 1 gives zeros");
  free(yv);
  /* in place: the same values as out of place */
  d = drop_params(0.4, true, 9);
  cr_assert_eq(nnrt_dropout(x, y, &d), NNRT_OK);
  d.inplace = true;
  cr_assert_eq(nnrt_dropout(x, NULL, &d), NNRT_OK, "%s", nnrt_last_error());
  float *a = read_f32(y), *b = read_f32(x);
  cr_assert_eq(memcmp(a, b, sizeof(float) * 35), 0);
  free(a);
  free(b);
  free(xv);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}

/* Every plane of `plane` elements is all zero or all scaled, and about a
 * fraction p of them is zero. */
static void channel_law(nnrt_op op, int ndim, const int64_t *shape, int64_t plane, double p) {
  nnrt_tensor *x = new_f32(ndim, shape, NULL), *y = new_f32(ndim, shape, NULL);
  nnrt_tensor_fill(x, 1.0);
  nnrt_dropout_params d = drop_params(p, true, 5);
  nnrt_tensor *ins[] = {x}, *outs[] = {y};
  cr_assert_eq(nnrt_op_run(op, &d, ins, outs), NNRT_OK, "%s", nnrt_last_error());
  float *v = read_f32(y);
  int64_t planes = nnrt_tensor_numel(x) / plane, dropped = 0;
  for (int64_t q = 0; q < planes; q++) {
    for (int64_t i = 1; i < plane; i++)
      cr_assert_eq(v[q * plane + i], v[q * plane], "%s: plane %lld is mixed", nnrt_op_name(op), (long long)q);
    dropped += v[q * plane] == 0;
  }
  double sd = sqrt(p * (1 - p) / (double)planes);
  cr_assert(fabs((double)dropped / (double)planes - p) < 6 * sd + 1e-9, "%s: dropped %lld of %lld planes",
            nnrt_op_name(op), (long long)dropped, (long long)planes);
  free(v);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
}

Test(vision, dropout_channels) {
  int64_t d2[] = {40, 50, 3, 2}, d2_3[] = {40, 50, 5}, d3[] = {20, 30, 2, 2, 3}, d3_4[] = {900, 2, 1, 3};
  channel_law(NNRT_OP_dropout2d, 4, d2, 6, 0.5);
  channel_law(NNRT_OP_dropout2d, 3, d2_3, 5, 0.2); /* (N, C, L), as PyTorch 1.13 */
  channel_law(NNRT_OP_dropout3d, 5, d3, 12, 0.5);
  channel_law(NNRT_OP_dropout3d, 4, d3_4, 6, 0.7); /* (C, D, H, W) */
}

Test(vision, dropout_bad_inputs) {
  int64_t s[] = {3, 4}, s5[] = {1, 2, 1, 1, 2};
  nnrt_tensor *x = random_f32(2, s, 11), *y = new_f32(2, s, NULL), *x5 = random_f32(5, s5, 12), *y5 = new_f32(5, s5, NULL);
  nnrt_tensor_fill(y, 42);
  nnrt_tensor_fill(y5, 42);
  nnrt_dropout_params d = drop_params(1.5, true, 1);
  expect_error(nnrt_dropout(x, y, &d), "p=1.5 is not a probability");
  d.p = -0.1;
  expect_error(nnrt_dropout(x, y, &d), "p=-0.1");
  d.p = NAN;
  expect_error(nnrt_dropout(x, y, &d), "p=nan");
  d.p = 0.5;
  nnrt_dropout2d_params d2;
  memcpy(&d2, &d, sizeof d2);
  expect_error(nnrt_dropout2d(x, y, &d2), "3-d (N, C, L) or 4-d");
  expect_error(nnrt_dropout2d(x5, y5, &d2), "3-d (N, C, L) or 4-d");
  nnrt_dropout3d_params d3;
  memcpy(&d3, &d, sizeof d3);
  expect_error(nnrt_dropout3d(x, y, &d3), "4-d (C, D, H, W) or 5-d");
  untouched(y);
  untouched(y5);
  nnrt_module *m;
  expect_error(nnrt_module_dropout(ref(), NNRT_OP_dropout, 2.0, 0, &m), "p=2");
  expect_error(nnrt_module_dropout(ref(), NNRT_OP_relu, 0.5, 0, &m), "relu is not dropout");
  nnrt_tensor *all[] = {x, y, x5, y5};
  for (int i = 0; i < 4; i++) nnrt_tensor_free(all[i]);
}

/* each training forward draws a new mask; the same seed repeats the run;
 * backward follows the last forward's mask; eval is the identity */
Test(vision, dropout_module_steps) {
  nnrt_module *a, *b;
  cr_assert_eq(nnrt_module_dropout(ref(), NNRT_OP_dropout, 0.5, 1234, &a), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_module_dropout(ref(), NNRT_OP_dropout, 0.5, 1234, &b), NNRT_OK);
  cr_assert_str_eq(nnrt_module_kind(a), "Dropout");
  int64_t s[] = {64, 32};
  nnrt_tensor *x = new_f32(2, s, NULL), *g = new_f32(2, s, NULL), *y, *gx;
  nnrt_tensor_fill(x, 1.0);
  nnrt_tensor_fill(g, 3.0);
  float *steps[2];
  for (int k = 0; k < 2; k++) {
    cr_assert_eq(nnrt_module_forward(a, x, &y), NNRT_OK, "%s", nnrt_last_error());
    steps[k] = read_f32(y);
    cr_assert_eq(nnrt_module_backward(a, g, &gx), NNRT_OK, "%s", nnrt_last_error());
    float *gv = read_f32(gx);
    for (int i = 0; i < 64 * 32; i++) cr_assert_eq(gv[i], 3.0f * steps[k][i]);
    free(gv);
  }
  cr_assert_neq(memcmp(steps[0], steps[1], sizeof(float) * 64 * 32), 0, "two steps drew the same mask");
  for (int k = 0; k < 2; k++) {
    cr_assert_eq(nnrt_module_forward(b, x, &y), NNRT_OK);
    float *v = read_f32(y);
    cr_assert_eq(memcmp(v, steps[k], sizeof(float) * 64 * 32), 0, "step %d does not repeat", k);
    free(v);
    free(steps[k]);
  }
  nnrt_module_train(a, false);
  cr_assert_eq(nnrt_module_forward(a, x, &y), NNRT_OK);
  float *v = read_f32(y);
  for (int i = 0; i < 64 * 32; i++) cr_assert_eq(v[i], 1.0f);
  free(v);
  cr_assert_eq(nnrt_module_backward(a, g, &gx), NNRT_OK);
  v = read_f32(gx);
  for (int i = 0; i < 64 * 32; i++) cr_assert_eq(v[i], 3.0f);
  free(v);
  nnrt_tensor_free(x);
  nnrt_tensor_free(g);
  nnrt_module_free(a);
  nnrt_module_free(b);
}

/* ---- embedding ---- */
Test(vision, embedding_bad_inputs) {
  int64_t ws[] = {5, 3}, is[] = {2, 2}, os[] = {2, 2, 3}, w1[] = {5};
  int64_t iv[] = {0, 4, 10, 1}, neg[] = {0, -1, 2, 1};
  nnrt_tensor *w = random_f32(2, ws, 13), *idx = new_t(NNRT_I64, 2, is, iv), *y = new_f32(3, os, NULL);
  nnrt_tensor *nidx = new_t(NNRT_I64, 2, is, neg), *wbad = random_f32(1, w1, 14);
  nnrt_tensor_fill(y, 42);
  nnrt_embedding_params p;
  nnrt_params_init(NNRT_OP_embedding, &p);
  cr_assert_eq(p.padding_idx, NNRT_PADDING_IDX_NONE);
  expect_error(nnrt_embedding(idx, w, y, &p), "input[2]=10 is out of range [0, 5)");
  expect_error(nnrt_embedding(nidx, w, y, &p), "input[1]=-1 is out of range");
  expect_error(nnrt_embedding(nidx, wbad, y, &p), "weight must be 2-d");
  p.padding_idx = 5;
  expect_error(nnrt_embedding(nidx, w, y, &p), "padding_idx=5");
  p.padding_idx = -6;
  expect_error(nnrt_embedding(nidx, w, y, &p), "padding_idx=-6");
  untouched(y);
  /* the backward checks its indices too and leaves grad_weight alone */
  nnrt_tensor *gw = new_f32(2, ws, NULL);
  nnrt_tensor_fill(gw, 42);
  nnrt_embedding_backward_params bp;
  nnrt_params_init(NNRT_OP_embedding_backward, &bp);
  nnrt_tensor *g = random_f32(3, os, 15);
  expect_error(nnrt_embedding_backward(g, idx, w, gw, &bp), "input[2]=10");
  untouched(gw);
  nnrt_module *m;
  expect_error(nnrt_module_embedding(ref(), 4, 3, 4, 1, &m), "padding_idx=4");
  expect_error(nnrt_module_embedding(ref(), 0, 3, NNRT_PADDING_IDX_NONE, 1, &m), "num_embeddings=0");
  nnrt_tensor *all[] = {w, idx, y, nidx, wbad, gw, g};
  for (int i = 0; i < 7; i++) nnrt_tensor_free(all[i]);
}

/* Many repeated indices: grad_weight equals a serial float64 sum, the
 * padding row gets nothing, and runs repeat bit for bit. */
Test(vision, embedding_module_and_duplicates) {
  enum { NUM = 7, D = 33, B = 4000 };
  nnrt_module *m;
  cr_assert_eq(nnrt_module_embedding(ref(), NUM, D, -2, 99, &m), NNRT_OK, "%s", nnrt_last_error());
  nnrt_tensor *w, *gw;
  cr_assert_eq(nnrt_module_param(m, 0, NULL, &w, &gw), NNRT_OK);
  float *wv = read_f32(w);
  for (int j = 0; j < D; j++) cr_assert_eq(wv[5 * D + j], 0.0f, "padding row (-2 = 5) is not zero");
  double s = 0, s2 = 0;
  for (int i = 0; i < NUM * D; i++) {
    s += wv[i];
    s2 += (double)wv[i] * wv[i];
  }
  cr_assert(s2 / (NUM * D - D) > 0.5 && s2 / (NUM * D - D) < 1.6, "N(0,1) init: mean square %g", s2 / (NUM * D - D));
  int64_t *iv = malloc(sizeof(int64_t) * B);
  for (int i = 0; i < B; i++) iv[i] = (i * 37 + i / 3) % NUM;
  int64_t is[] = {B}, gs[] = {B, D};
  nnrt_tensor *idx = new_t(NNRT_I64, 1, is, iv), *g = random_f32(2, gs, 16), *y, *gx = (nnrt_tensor *)1;
  cr_assert_eq(nnrt_module_forward(m, idx, &y), NNRT_OK, "%s", nnrt_last_error());
  float *yv = read_f32(y);
  for (int i = 0; i < B; i += 97)
    for (int j = 0; j < D; j++) cr_assert_eq(yv[i * D + j], wv[iv[i] * D + j]);
  cr_assert_eq(nnrt_module_backward(m, g, &gx), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_null(gx, "indices have no gradient");
  float *gv = read_f32(g), *first = read_f32(gw);
  for (int r = 0; r < NUM; r++)
    for (int j = 0; j < D; j++) {
      double want = 0;
      for (int i = 0; i < B; i++)
        if (iv[i] == r && r != 5) want += gv[i * D + j];
      cr_assert(fabs(first[r * D + j] - want) <= 1e-5 * (1 + fabs(want)), "gw[%d,%d] %.9g vs %.9g", r, j,
                first[r * D + j], want);
    }
  /* accumulate: a second backward doubles it exactly as twice the sum */
  cr_assert_eq(nnrt_module_zero_grad(m), NNRT_OK);
  cr_assert_eq(nnrt_module_backward(m, g, &gx), NNRT_OK);
  float *again = read_f32(gw);
  cr_assert_eq(memcmp(first, again, sizeof(float) * NUM * D), 0, "not deterministic");
  free(again);
  cr_assert_eq(nnrt_module_backward(m, g, &gx), NNRT_OK);
  again = read_f32(gw);
  for (int i = 0; i < NUM * D; i++) cr_assert(fabs(again[i] - 2 * first[i]) <= 1e-5 * (1 + fabs(first[i])));
  free(again);
  free(first);
  free(gv);
  free(yv);
  free(wv);
  free(iv);
  nnrt_tensor_free(idx);
  nnrt_tensor_free(g);
  nnrt_module_free(m);
}

/* ---- distances ---- */
Test(vision, distance_bad_inputs) {
  int64_t a[] = {3, 4}, b[] = {3, 5}, o[] = {3};
  nnrt_tensor *x1 = random_f32(2, a, 17), *x2 = random_f32(2, b, 18), *x3 = random_f32(2, a, 19), *y = new_f32(1, o, NULL);
  nnrt_tensor_fill(y, 42);
  nnrt_pairwise_distance_params p;
  nnrt_params_init(NNRT_OP_pairwise_distance, &p);
  expect_error(nnrt_pairwise_distance(x1, x2, y, &p), "x1 and x2 shapes do not match");
  p.p = -1;
  expect_error(nnrt_pairwise_distance(x1, x3, y, &p), "p=-1");
  nnrt_cosine_similarity_params c;
  nnrt_params_init(NNRT_OP_cosine_similarity, &c);
  c.dim = 2;
  expect_error(nnrt_cosine_similarity(x1, x3, y, &c), "dim=2 out of range");
  c.dim = 1;
  c.eps = -1;
  expect_error(nnrt_cosine_similarity(x1, x3, y, &c), "eps=-1");
  untouched(y);
  nnrt_tensor *all[] = {x1, x2, x3, y};
  for (int i = 0; i < 4; i++) nnrt_tensor_free(all[i]);
}

/* ---- PairwiseDistance and CosineSimilarity modules, against the PyTorch
 * fixtures of their ops (tests/golden) ---- */

static nnrt_tensor *golden_tensor(nnrt_device *dev, const char *file) {
  char path[512], err[256];
  snprintf(path, sizeof path, NNRT_SOURCE_DIR "/tests/golden/%s", file);
  npy_array a;
  cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(npy_convert(&a, NNRT_F64, err, sizeof err), 0, "%s", err);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_new(dev, NNRT_F64, a.ndim, a.shape, &t), NNRT_OK, "%s", nnrt_last_error());
  cr_assert_eq(nnrt_tensor_write(t, a.data, a.bytes), NNRT_OK);
  npy_free(&a);
  return t;
}

static void expect_golden(nnrt_tensor *got, const char *file) {
  nnrt_device *ref;
  cr_assert_eq(nnrt_device_get("ref", &ref), NNRT_OK);
  nnrt_tensor *want = golden_tensor(ref, file);
  int64_t n = nnrt_tensor_numel(want);
  cr_assert_eq(nnrt_tensor_numel(got), n, "%s: element count", file);
  double g[256], w[256];
  cr_assert(n <= 256);
  cr_assert_eq(nnrt_tensor_read(got, g, sizeof(double) * (size_t)n), NNRT_OK);
  cr_assert_eq(nnrt_tensor_read(want, w, sizeof(double) * (size_t)n), NNRT_OK);
  for (int64_t i = 0; i < n; i++)
    cr_expect(fabs(g[i] - w[i]) <= 1e-10 * (1 + fabs(w[i])), "%s[%lld]: got %.17g, PyTorch %.17g", file, (long long)i,
              g[i], w[i]);
  nnrt_tensor_free(want);
}

static void distance_module_case(nnrt_op op, const char *params, const char *fwd, const char *bwd) {
  nnrt_device *dev;
  cr_assert_eq(nnrt_device_get("ref", &dev), NNRT_OK);
  union { nnrt_pairwise_distance_params pd; nnrt_cosine_similarity_params cs; } p;
  cr_assert_eq(nnrt_params_init(op, &p), NNRT_OK);
  if (*params) cr_assert_eq(nnrt_params_set(op, &p, params), NNRT_OK, "%s", nnrt_last_error());
  nnrt_module *m;
  cr_assert_eq(nnrt_module_distance(dev, op, &p, &m), NNRT_OK, "%s", nnrt_last_error());
  char f[256];
  snprintf(f, sizeof f, "%s.x1.npy", fwd);
  nnrt_tensor *x1 = golden_tensor(dev, f);
  snprintf(f, sizeof f, "%s.x2.npy", fwd);
  nnrt_tensor *x2 = golden_tensor(dev, f);
  snprintf(f, sizeof f, "%s.grad_output.npy", bwd);
  nnrt_tensor *gy = golden_tensor(dev, f);
  nnrt_tensor *y, *g1, *g2;
  cr_assert_eq(nnrt_module_forward(m, x1, &y), NNRT_ERR_INVALID_ARGUMENT); /* two inputs */
  cr_assert_eq(nnrt_module_forward2(m, x1, x2, &y), NNRT_OK, "%s", nnrt_last_error());
  snprintf(f, sizeof f, "%s.output.npy", fwd);
  expect_golden(y, f);
  cr_assert_eq(nnrt_module_backward2(m, gy, &g1, &g2), NNRT_OK, "%s", nnrt_last_error());
  snprintf(f, sizeof f, "%s.grad_x1.npy", bwd);
  expect_golden(g1, f);
  snprintf(f, sizeof f, "%s.grad_x2.npy", bwd);
  expect_golden(g2, f);
  cr_expect_eq(nnrt_module_forward2(m, x1, gy, &y), NNRT_ERR_INVALID_ARGUMENT); /* shapes differ */
  nnrt_tensor_free(x1);
  nnrt_tensor_free(x2);
  nnrt_tensor_free(gy);
  nnrt_module_free(m);
}

Test(vision, pairwise_distance_module_matches_pytorch) {
  distance_module_case(NNRT_OP_pairwise_distance, "", "pairwise_distance.d1", "pairwise_distance_backward.d1");
  nnrt_module *m;
  nnrt_device *dev;
  cr_assert_eq(nnrt_device_get("ref", &dev), NNRT_OK);
  cr_expect_neq(nnrt_module_distance(dev, NNRT_OP_relu, NULL, &m), NNRT_OK);
  cr_expect_neq(nnrt_module_backward2(NULL, NULL, NULL, NULL), NNRT_OK);
}

Test(vision, cosine_similarity_module_matches_pytorch) {
  distance_module_case(NNRT_OP_cosine_similarity, "dim=0", "cosine_similarity.d1", "cosine_similarity_backward.d1");
}
