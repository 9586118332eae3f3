/* tests/test_npy.c - tools/common/npy.c: round trips, the files NumPy
 * writes (the golden fixtures), and clean errors on bad files.  Scratch
 * files go to the build directory. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"

static void scratch(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/test_npy.%d.%s", NNRT_BINARY_DIR, (int)getpid(), name);
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f != NULL, "cannot create %s", path);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void expect_error(const char *name, const void *data, size_t n, const char *needle) {
  char path[512], err[256];
  scratch(path, sizeof path, name);
  write_bytes(path, data, n);
  npy_array a;
  memset(&a, 0x55, sizeof a);
  cr_expect_eq(npy_read(path, &a, err, sizeof err), -1, "%s: read should fail", name);
  cr_expect(strstr(err, needle) != NULL, "%s: error '%s' should mention '%s'", name, err, needle);
  cr_expect(strstr(err, path) == err, "%s: error '%s' should start with the path", name, err);
  cr_expect(a.data == NULL && a.bytes == 0, "%s: output should be zeroed", name);
  unlink(path);
}

Test(npy, round_trip_every_dtype) {
  double d[6] = {1.5, -2, 0, INFINITY, NAN, 1e-300};
  float f[6] = {1.5f, -2, 0, -INFINITY, 3, 1e-30f};
  int64_t i[6] = {0, -100, 7, INT64_MAX, INT64_MIN, 1};
  void *datas[3] = {f, d, i};
  nnrt_dtype dts[3] = {NNRT_F32, NNRT_F64, NNRT_I64};
  for (int k = 0; k < 3; k++) {
    npy_array a = {.dtype = dts[k], .ndim = 2, .shape = {2, 3}, .data = datas[k], .bytes = 6 * (k ? 8 : 4)};
    char path[512], err[256];
    scratch(path, sizeof path, "rt.npy");
    cr_assert_eq(npy_write(path, &a, err, sizeof err), 0, "%s", err);
    npy_array b;
    cr_assert_eq(npy_read(path, &b, err, sizeof err), 0, "%s", err);
    cr_expect_eq(b.dtype, a.dtype);
    cr_expect_eq(b.ndim, 2);
    cr_expect(b.shape[0] == 2 && b.shape[1] == 3 && b.shape[2] == 0);
    cr_expect_eq(b.bytes, a.bytes);
    cr_expect_eq(npy_numel(&b), 6);
    cr_expect(memcmp(a.data, b.data, a.bytes) == 0, "dtype %d: data differs", (int)dts[k]);
    npy_free(&b);
    cr_expect(b.data == NULL);
    unlink(path);
  }
}

Test(npy, scalar_and_empty) {
  char path[512], err[256];
  scratch(path, sizeof path, "s.npy");
  double v = 3.25;
  npy_array s = {.dtype = NNRT_F64, .ndim = 0, .data = &v, .bytes = 8}, b;
  cr_assert_eq(npy_write(path, &s, err, sizeof err), 0, "%s", err);
  cr_assert_eq(npy_read(path, &b, err, sizeof err), 0, "%s", err);
  cr_expect_eq(b.ndim, 0);
  cr_expect_eq(npy_numel(&b), 1);
  cr_expect_eq(*(double *)b.data, 3.25);
  npy_free(&b);
  npy_array e = {.dtype = NNRT_F32, .ndim = 2, .shape = {0, 3}, .data = NULL, .bytes = 0};
  cr_assert_eq(npy_write(path, &e, err, sizeof err), 0, "%s", err);
  cr_assert_eq(npy_read(path, &b, err, sizeof err), 0, "%s", err);
  cr_expect(b.ndim == 2 && b.shape[0] == 0 && b.shape[1] == 3 && b.bytes == 0 && b.data != NULL);
  npy_free(&b);
  unlink(path);
}

/* Exactly the bytes np.save writes for np.arange(3, dtype='<i4') and for a
 * bool array: widened to int64. */
Test(npy, numpy_small_ints_and_bools) {
  static const char hdr_i4[] = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }";
  static const char hdr_b1[] = "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }";
  const char *hdrs[2] = {hdr_i4, hdr_b1};
  unsigned char file[256];
  for (int k = 0; k < 2; k++) {
    size_t hl = 118; /* 10 + 118 = 128, as NumPy pads */
    memcpy(file, "\x93NUMPY\x01\x00", 8);
    file[8] = (unsigned char)hl;
    file[9] = 0;
    memset(file + 10, ' ', hl);
    memcpy(file + 10, hdrs[k], strlen(hdrs[k]));
    file[10 + hl - 1] = '\n';
    size_t n = 10 + hl;
    if (k == 0) {
      int32_t v[3] = {-1, 0, 2147483647};
      memcpy(file + n, v, sizeof v);
      n += sizeof v;
    } else {
      unsigned char v[4] = {1, 0, 0, 1};
      memcpy(file + n, v, sizeof v);
      n += sizeof v;
    }
    char path[512], err[256];
    scratch(path, sizeof path, "small.npy");
    write_bytes(path, file, n);
    npy_array a;
    cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.dtype, NNRT_I64);
    const int64_t *w = a.data;
    if (k == 0) cr_expect(a.ndim == 1 && w[0] == -1 && w[1] == 0 && w[2] == 2147483647);
    else cr_expect(a.ndim == 2 && w[0] == 1 && w[1] == 0 && w[2] == 0 && w[3] == 1);
    npy_free(&a);
    unlink(path);
  }
}

Test(npy, convert) {
  double d[3] = {0.1, -2.5, 1e10};
  npy_array a = {.dtype = NNRT_F64, .ndim = 1, .shape = {3}, .bytes = sizeof d};
  a.data = malloc(sizeof d);
  memcpy(a.data, d, sizeof d);
  char err[256];
  cr_assert_eq(npy_convert(&a, NNRT_F32, err, sizeof err), 0, "%s", err);
  cr_expect(a.dtype == NNRT_F32 && a.bytes == 12);
  cr_expect_eq(((float *)a.data)[0], 0.1f);
  cr_expect_eq(((float *)a.data)[2], 1e10f);
  cr_assert_eq(npy_convert(&a, NNRT_F64, err, sizeof err), 0, "%s", err);
  cr_expect(a.dtype == NNRT_F64 && a.bytes == 24);
  cr_expect_eq(((double *)a.data)[1], -2.5);
  cr_expect_eq(npy_convert(&a, NNRT_I64, err, sizeof err), -1);
  cr_expect(strstr(err, "cannot convert") != NULL, "%s", err);
  npy_free(&a);
}

Test(npy, bad_files) {
  char good[128 + 24];
  static const char hdr[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
  memcpy(good, "\x93NUMPY\x01\x00\x76\x00", 10);
  memset(good + 10, ' ', 118);
  memcpy(good + 10, hdr, strlen(hdr));
  good[127] = '\n';
  memset(good + 128, 0, 24);

  expect_error("empty.npy", "", 0, "not a .npy");
  expect_error("magic.npy", "\x93NUMPX\x01\x00\x10\x00{}", 12, "not a .npy");
  expect_error("trunc_header.npy", good, 60, "truncated header");
  expect_error("trunc_data.npy", good, sizeof good - 5, "truncated data");
  char trailing[sizeof good + 3];
  memcpy(trailing, good, sizeof good);
  expect_error("trailing.npy", trailing, sizeof trailing, "trailing");
  char v9[sizeof good];
  memcpy(v9, good, sizeof good);
  v9[6] = 9;
  expect_error("version.npy", v9, sizeof v9, "version");

  char c8[sizeof good];
  memcpy(c8, good, sizeof good);
  memcpy(c8 + 10 + 11, "<c8", 3);
  expect_error("c8.npy", c8, sizeof c8, "unsupported dtype '<c8'");
  char be[sizeof good];
  memcpy(be, good, sizeof good);
  memcpy(be + 10 + 11, ">f8", 3);
  expect_error("be.npy", be, sizeof be, "unsupported dtype '>f8'");
  char fo[sizeof good];
  memcpy(fo, good, sizeof good);
  memcpy(fo + 10 + 34, "True, ", 6); /* "False," -> "True, " */
  /* 1-d in Fortran order is the same bytes: accepted */
  char path[512], err[256];
  scratch(path, sizeof path, "fo.npy");
  write_bytes(path, fo, sizeof fo);
  npy_array a;
  cr_expect_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
  npy_free(&a);
  unlink(path);

  static const char huge[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }";
  char hf[10 + 118];
  memcpy(hf, "\x93NUMPY\x01\x00\x76\x00", 10);
  memset(hf + 10, ' ', 118);
  memcpy(hf + 10, huge, strlen(huge));
  hf[127] = '\n';
  expect_error("huge.npy", hf, sizeof hf, "too large");
  static const char dims9[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }";
  memcpy(hf + 10, dims9, strlen(dims9));
  expect_error("dims9.npy", hf, sizeof hf, "more than 8 dims");
  static const char garbage[] = "{'descr' '<f8' 'shape': (3,), }";
  memset(hf + 10, ' ', 117);
  memcpy(hf + 10, garbage, strlen(garbage));
  expect_error("garbage.npy", hf, sizeof hf, "malformed");
  static const char nokey[] = "{'descr': '<f8', 'shape': (3,), }";
  memset(hf + 10, ' ', 117);
  memcpy(hf + 10, nokey, strlen(nokey));
  expect_error("nokey.npy", hf, sizeof hf, "lacks 'fortran_order'");

  cr_expect_eq(npy_read(NNRT_BINARY_DIR "/no/such/file.npy", &a, err, sizeof err), -1);
  cr_expect(strstr(err, "cannot open") != NULL, "%s", err);
}

Test(npy, write_rejects_inconsistent_arrays) {
  char path[512], err[256];
  scratch(path, sizeof path, "w.npy");
  double v[2] = {1, 2};
  npy_array a = {.dtype = NNRT_F64, .ndim = 1, .shape = {3}, .data = v, .bytes = sizeof v};
  cr_expect_eq(npy_write(path, &a, err, sizeof err), -1);
  cr_expect(strstr(err, "does not match") != NULL, "%s", err);
  a.dtype = (nnrt_dtype)7;
  cr_expect_eq(npy_write(path, &a, err, sizeof err), -1);
  unlink(path);
}
