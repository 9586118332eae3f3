/* tests/test_module_io.c - nnrt_module_save and nnrt_module_load: a round
 * trip of every parameter and buffer; a file PyTorch wrote (through
 * tools/golden/optim.py, in the format of include/nnrt/nnrt.h) loads with
 * PyTorch's names and values; and every bad file (wrong shape or dtype,
 * missing or extra name, each possible truncation, each flipped byte, not
 * a file, no file) is refused with an error naming the problem while the
 * module stays exactly as it was.  Files go to a fresh mkdtemp folder. */
#include <criterion/criterion.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nnrt/nnrt.h>

#include "npy.h"

#define FIX NNRT_SOURCE_DIR "/tests/fixtures/optim/"
#define OK(call) cr_assert_eq((call), NNRT_OK, "%s: %s", #call, nnrt_last_error())

static nnrt_device *ref(void) {
  nnrt_device *d;
  cr_assert_eq(nnrt_device_get("ref", &d), NNRT_OK, "%s", nnrt_last_error());
  return d;
}

/* Sequential(Linear(4, out), BatchNorm1d(out), ReLU()), as optim.py's. */
static nnrt_module *build(int64_t out, uint64_t seed) {
  nnrt_device *dev = ref();
  nnrt_module *net, *m;
  OK(nnrt_module_sequential(dev, &net));
  OK(nnrt_module_linear(dev, 4, out, true, seed, &m));
  OK(nnrt_sequential_add(net, m));
  OK(nnrt_module_batch_norm(dev, 1, out, 1e-5, 0.1, true, true, &m));
  OK(nnrt_sequential_add(net, m));
  OK(nnrt_module_activation(dev, NNRT_OP_relu, NULL, &m));
  OK(nnrt_sequential_add(net, m));
  return net;
}

/* One training forward, so the running statistics move off their start. */
static void train_once(nnrt_module *net, uint64_t salt) {
  int64_t shape[2] = {6, 4};
  float xv[24];
  for (int i = 0; i < 24; i++) xv[i] = (float)sin(0.7 * i + (double)salt);
  nnrt_tensor *x, *y;
  OK(nnrt_tensor_new(ref(), NNRT_F32, 2, shape, &x));
  OK(nnrt_tensor_write(x, xv, sizeof xv));
  OK(nnrt_module_forward(net, x, &y));
  nnrt_tensor_free(x);
}

/* ---- every entry's bytes, to prove nothing changed ---- */
static const char *entry_names[] = {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                    "1.num_batches_tracked"};
#define N_ENTRIES 7

typedef struct snapshot {
  unsigned char *bytes[N_ENTRIES];
  size_t len[N_ENTRIES];
} snapshot;

static nnrt_tensor *entry(const nnrt_module *net, int i) {
  nnrt_tensor *t = NULL;
  if (i < 4) {
    const char *name;
    OK(nnrt_module_param(net, (size_t)i, &name, &t, NULL));
    cr_assert_str_eq(name, entry_names[i]);
  } else {
    OK(nnrt_module_buffer(net, entry_names[i], &t));
  }
  return t;
}

static snapshot snap(const nnrt_module *net) {
  snapshot s;
  for (int i = 0; i < N_ENTRIES; i++) {
    nnrt_tensor *t = entry(net, i);
    s.len[i] = (size_t)nnrt_tensor_numel(t) * nnrt_dtype_size(nnrt_tensor_dtype(t));
    s.bytes[i] = malloc(s.len[i] + 1);
    OK(nnrt_tensor_read(t, s.bytes[i], s.len[i]));
  }
  return s;
}

static bool snap_equal(const snapshot *a, const snapshot *b) {
  for (int i = 0; i < N_ENTRIES; i++)
    if (a->len[i] != b->len[i] || memcmp(a->bytes[i], b->bytes[i], a->len[i])) return false;
  return true;
}

static void snap_free(snapshot *s) {
  for (int i = 0; i < N_ENTRIES; i++) free(s->bytes[i]);
}

/* ---- a scratch folder and raw files ---- */
static char dir[256];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/nnrt-module-io-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  char pat[300];
  snprintf(pat, sizeof pat, "%s/*", dir);
  glob_t g;
  if (!glob(pat, 0, NULL, &g)) {
    for (size_t i = 0; i < g.gl_pathc; i++) remove(g.gl_pathv[i]);
    globfree(&g);
  }
  rmdir(dir);
}

static const char *path_of(const char *name) {
  static char p[400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return p;
}

static unsigned char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void write_all(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* CRC-32 as zlib's, bit by bit: an independent check of the trailer. */
static uint32_t crc32_bits(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

static void put_u32(unsigned char *at, uint32_t v) {
  for (int i = 0; i < 4; i++) at[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *at) {
  return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

/* Loading path into net fails with status want and an error holding each
 * of the NULL-ended texts; net is unchanged. */
static void expect_refused(nnrt_module *net, const char *path, nnrt_status want, const char *what, ...) {
  snapshot before = snap(net);
  nnrt_status st = nnrt_module_load(net, path);
  cr_expect_eq(st, want, "%s: status %s, want %s (%s)", what, nnrt_status_str(st), nnrt_status_str(want),
               nnrt_last_error());
  va_list ap;
  va_start(ap, what);
  for (const char *s; (s = va_arg(ap, const char *));)
    cr_expect_not_null(strstr(nnrt_last_error(), s), "%s: the error does not say '%s': %s", what, s,
                       nnrt_last_error());
  va_end(ap);
  snapshot after = snap(net);
  cr_expect(snap_equal(&before, &after), "%s: the module changed", what);
  snap_free(&before);
  snap_free(&after);
}

/* ---- tests ---- */
Test(module_io, round_trip_keeps_every_parameter_and_buffer) {
  make_dir();
  nnrt_module *a = build(3, 11), *b = build(3, 12);
  train_once(a, 1);
  train_once(a, 2);
  snapshot sa = snap(a), sb = snap(b);
  cr_assert_not(snap_equal(&sa, &sb), "two seeds gave the same module: the test proves nothing");
  OK(nnrt_module_save(a, path_of("a.nnrtw")));
  OK(nnrt_module_load(b, path_of("a.nnrtw")));
  snapshot sb2 = snap(b);
  cr_expect(snap_equal(&sa, &sb2), "the loaded module differs from the saved one");
  int64_t nbt;
  memcpy(&nbt, sb2.bytes[6], sizeof nbt);
  cr_expect_eq(nbt, 2, "num_batches_tracked %lld", (long long)nbt);
  /* the checksum is zlib's CRC-32, and saving again gives the same bytes */
  size_t n, n2;
  unsigned char *f = read_all(path_of("a.nnrtw"), &n);
  cr_expect_eq(memcmp(f, "NNRTWTS\0", 8), 0);
  cr_expect_eq(get_u32(f + 12), N_ENTRIES);
  cr_expect_eq(crc32_bits(f, n - 4), get_u32(f + n - 4));
  OK(nnrt_module_save(b, path_of("b.nnrtw")));
  unsigned char *f2 = read_all(path_of("b.nnrtw"), &n2);
  cr_expect(n == n2 && !memcmp(f, f2, n), "save(load(file)) differs from file");
  /* saving over an existing file replaces it and leaves no temporary */
  OK(nnrt_module_save(b, path_of("a.nnrtw")));
  glob_t g;
  char pat[300];
  snprintf(pat, sizeof pat, "%s/*tmp*", dir);
  cr_expect_eq(glob(pat, 0, NULL, &g), GLOB_NOMATCH, "a temporary file was left behind");
  if (g.gl_pathc) globfree(&g);
  free(f);
  free(f2);
  snap_free(&sa);
  snap_free(&sb);
  snap_free(&sb2);
  nnrt_module_free(a);
  nnrt_module_free(b);
  remove_dir();
}

Test(module_io, loads_a_file_pytorch_wrote) {
  nnrt_module *net = build(3, 5);
  OK(nnrt_module_load(net, FIX "bn_state.nnrtw"));
  for (int i = 0; i < N_ENTRIES; i++) {
    char file[512], err[256];
    snprintf(file, sizeof file, FIX "bn_%s.npy", entry_names[i]);
    for (char *c = file + strlen(FIX) + 3; *c; c++)
      if (*c == '.' && strcmp(c, ".npy")) *c = '_';
    npy_array want;
    cr_assert_eq(npy_read(file, &want, err, sizeof err), 0, "%s", err);
    nnrt_tensor *t = entry(net, i);
    int64_t n = nnrt_tensor_numel(t);
    cr_assert_eq(npy_numel(&want), n, "%s", entry_names[i]);
    if (nnrt_tensor_dtype(t) == NNRT_I64) {
      int64_t got;
      OK(nnrt_tensor_read(t, &got, sizeof got));
      cr_expect_eq(got, ((int64_t *)want.data)[0], "%s", entry_names[i]);
    } else {
      float got[16];
      OK(nnrt_tensor_read(t, got, sizeof(float) * (size_t)n));
      for (int64_t k = 0; k < n; k++)
        cr_expect_eq((double)got[k], ((double *)want.data)[k], "%s[%lld]", entry_names[i], (long long)k);
    }
    npy_free(&want);
  }
  nnrt_module_free(net);
}

Test(module_io, mismatched_files_change_nothing) {
  make_dir();
  nnrt_module *net = build(3, 21);
  train_once(net, 3);
  /* wrong shape: Linear(4, 5) and BatchNorm1d(5) */
  nnrt_module *wide = build(5, 22);
  OK(nnrt_module_save(wide, path_of("wide.nnrtw")));
  expect_refused(net, path_of("wide.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "wrong shape", "0.weight", "[5,4]", "[3,4]",
                 NULL);
  /* missing names: a file of the Linear alone, as child 0 of a Sequential */
  nnrt_device *dev = ref();
  nnrt_module *small, *lin;
  OK(nnrt_module_sequential(dev, &small));
  OK(nnrt_module_linear(dev, 4, 3, true, 23, &lin));
  OK(nnrt_sequential_add(small, lin));
  OK(nnrt_module_save(small, path_of("small.nnrtw")));
  expect_refused(net, path_of("small.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "missing entry", "1.weight", "no entry",
                 NULL);
  /* extra names: the whole network's file into the Linear alone */
  OK(nnrt_module_save(net, path_of("net.nnrtw")));
  snapshot s0 = snap(net);
  float lw[12], lw2[12];
  nnrt_tensor *lt;
  OK(nnrt_module_param(small, 0, NULL, &lt, NULL));
  OK(nnrt_tensor_read(lt, lw, sizeof lw));
  cr_expect_eq(nnrt_module_load(small, path_of("net.nnrtw")), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(nnrt_last_error(), "1.weight"), "%s", nnrt_last_error());
  OK(nnrt_tensor_read(lt, lw2, sizeof lw2));
  cr_expect_arr_eq(lw, lw2, sizeof lw, "the Linear changed");
  /* wrong dtype: entry 0 ("0.weight", name_len 8) made f64, sizes and
   * checksum fixed up so that only the dtype is wrong */
  size_t n;
  unsigned char *f = read_all(path_of("net.nnrtw"), &n);
  size_t at = 16 + 4 + 8; /* header, name_len, name */
  cr_assert_eq(get_u32(f + at), 0u);
  size_t data_at = at + 8 + 2 * 8 + 8, data_len = 12 * 4;
  unsigned char *g = malloc(n + data_len + 1);
  memcpy(g, f, data_at);
  put_u32(g + at, 1); /* f64 */
  unsigned char nb[8] = {96, 0, 0, 0, 0, 0, 0, 0};
  memcpy(g + data_at - 8, nb, 8);
  memset(g + data_at, 0, 2 * data_len);
  memcpy(g + data_at + 2 * data_len, f + data_at + data_len, n - data_at - data_len);
  size_t gn = n + data_len;
  put_u32(g + gn - 4, crc32_bits(g, gn - 4));
  write_all(path_of("f64.nnrtw"), g, gn);
  expect_refused(net, path_of("f64.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "wrong dtype", "0.weight", "f64", "f32", NULL);
  free(g);
  snapshot s1 = snap(net);
  cr_expect(snap_equal(&s0, &s1));
  snap_free(&s0);
  snap_free(&s1);
  free(f);
  nnrt_module_free(wide);
  nnrt_module_free(small);
  nnrt_module_free(net);
  remove_dir();
}

Test(module_io, corrupt_and_truncated_files_change_nothing) {
  make_dir();
  nnrt_module *net = build(3, 31), *other = build(3, 32);
  train_once(other, 4);
  OK(nnrt_module_save(other, path_of("good.nnrtw")));
  size_t n;
  unsigned char *f = read_all(path_of("good.nnrtw"), &n);
  snapshot s0 = snap(net);
  /* every truncation, from the empty file to one byte short */
  for (size_t len = 0; len < n; len++) {
    write_all(path_of("cut.nnrtw"), f, len);
    nnrt_status st = nnrt_module_load(net, path_of("cut.nnrtw"));
    cr_expect_eq(st, NNRT_ERR_INVALID_ARGUMENT, "a file cut to %zu of %zu bytes: %s", len, n, nnrt_last_error());
    cr_expect(strstr(nnrt_last_error(), "truncated") != NULL, "cut to %zu: %s", len, nnrt_last_error());
  }
  /* every single flipped bit pattern in one byte, at every position */
  unsigned char *g = malloc(n);
  for (size_t i = 0; i < n; i++) {
    memcpy(g, f, n);
    g[i] ^= 0x5a;
    write_all(path_of("flip.nnrtw"), g, n);
    cr_expect_neq(nnrt_module_load(net, path_of("flip.nnrtw")), NNRT_OK, "byte %zu flipped was accepted", i);
  }
  /* one byte too many */
  write_all(path_of("long.nnrtw"), f, n);
  FILE *fp = fopen(path_of("long.nnrtw"), "ab");
  fputc(0, fp);
  fclose(fp);
  snapshot s1 = snap(net);
  cr_expect(snap_equal(&s0, &s1), "a bad file changed the module");
  snap_free(&s0);
  snap_free(&s1);
  expect_refused(net, path_of("long.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "trailing byte", "follow the checksum", NULL);
  /* a data byte flipped with the header intact: the checksum catches it */
  memcpy(g, f, n);
  g[n - 10] ^= 1;
  write_all(path_of("crc.nnrtw"), g, n);
  expect_refused(net, path_of("crc.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "data flip", "CRC-32", NULL);
  /* a future version, and something that is not a weights file at all */
  memcpy(g, f, n);
  put_u32(g + 8, 2);
  write_all(path_of("v2.nnrtw"), g, n);
  expect_refused(net, path_of("v2.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "version 2", "version 2", NULL);
  expect_refused(net, FIX "x.npy", NNRT_ERR_INVALID_ARGUMENT, "npy file", "not an nnrt weights file", NULL);
  /* a duplicate name: "0.weight" as entry 0 and, renamed, entry 2
   * ("1.weight" has the same length); checksum fixed up */
  memcpy(g, f, n);
  unsigned char *hit = NULL;
  for (size_t i = 20; i + 8 <= n && !hit; i++)
    if (!memcmp(g + i, "1.weight", 8) && get_u32(g + i - 4) == 8) hit = g + i;
  cr_assert_not_null(hit);
  hit[0] = '0';
  put_u32(g + n - 4, crc32_bits(g, n - 4));
  write_all(path_of("dup.nnrtw"), g, n);
  expect_refused(net, path_of("dup.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "duplicate", "0.weight", "twice", NULL);
  /* not a file, and no file */
  expect_refused(net, dir, NNRT_ERR_INVALID_ARGUMENT, "a directory", "not a regular file", NULL);
  expect_refused(net, path_of("absent.nnrtw"), NNRT_ERR_NOT_FOUND, "no such file", "absent.nnrtw", NULL);
  cr_expect_eq(nnrt_module_load(net, NULL), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_eq(nnrt_module_load(NULL, path_of("good.nnrtw")), NNRT_ERR_INVALID_ARGUMENT);
  /* the good file still loads after all that */
  OK(nnrt_module_load(net, path_of("good.nnrtw")));
  snapshot so = snap(other), sn = snap(net);
  cr_expect(snap_equal(&so, &sn));
  snap_free(&so);
  snap_free(&sn);
  free(g);
  free(f);
  nnrt_module_free(net);
  nnrt_module_free(other);
  remove_dir();
}

Test(module_io, save_errors) {
  make_dir();
  nnrt_module *net = build(3, 41);
  char p[400];
  snprintf(p, sizeof p, "%s/no/such/dir/w.nnrtw", dir);
  cr_expect_neq(nnrt_module_save(net, p), NNRT_OK);
  cr_expect_not_null(strstr(nnrt_last_error(), "no/such/dir"), "%s", nnrt_last_error());
  cr_expect_eq(nnrt_module_save(NULL, path_of("x")), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_eq(nnrt_module_save(net, NULL), NNRT_ERR_INVALID_ARGUMENT);
  cr_expect_eq(nnrt_module_save(net, ""), NNRT_ERR_INVALID_ARGUMENT);
  /* a module without parameters or buffers saves and loads too */
  nnrt_module *relu;
  OK(nnrt_module_activation(ref(), NNRT_OP_relu, NULL, &relu));
  OK(nnrt_module_save(relu, path_of("relu.nnrtw")));
  OK(nnrt_module_load(relu, path_of("relu.nnrtw")));
  expect_refused(net, path_of("relu.nnrtw"), NNRT_ERR_INVALID_ARGUMENT, "empty file into a network", "0.weight",
                 NULL);
  nnrt_module_free(relu);
  nnrt_module_free(net);
  remove_dir();
}
