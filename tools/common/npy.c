/* tools/common/npy.c - the .npy reader and writer of npy.h.
 *
 * The format: "\x93NUMPY", major and minor version bytes, the header length
 * (2 bytes little-endian in v1, 4 in v2 and v3), then an ASCII (v3: UTF-8)
 * Python dict literal such as
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a newline, then the raw elements.  The header is
 * parsed from a bounded buffer by a small scanner that accepts exactly that
 * dict shape (keys in any order, either quote style); every length and
 * product is checked before use, so truncated or garbage files give an
 * error and never a crash.
 */
#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Headers we write are < 256 bytes; real ones stay far below this cap,
 * which keeps a garbage v2 length from asking for gigabytes. */
#define NPY_MAX_HEADER (1u << 20)

static size_t dtype_size(nnrt_dtype t) {
  return t == NNRT_F32 ? 4 : t == NNRT_F64 || t == NNRT_I64 ? 8 : 0;
}

static const char *dtype_name(nnrt_dtype t) {
  return t == NNRT_F32 ? "f32" : t == NNRT_F64 ? "f64" : t == NNRT_I64 ? "i64" : "?";
}

static int fail(char *err, size_t errlen, const char *path, const char *fmt, ...) {
  if (err && errlen) {
    int n = snprintf(err, errlen, "%s: ", path ? path : "(null)");
    if (n < 0) n = 0;
    if ((size_t)n < errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return -1;
}

static bool host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

static void byteswap(void *data, size_t n, size_t size) {
  unsigned char *p = data;
  for (size_t i = 0; i < n; i++, p += size)
    for (size_t j = 0; j < size / 2; j++) {
      unsigned char t = p[j];
      p[j] = p[size - 1 - j];
      p[size - 1 - j] = t;
    }
}

int64_t npy_numel(const npy_array *a) {
  int64_t n = 1;
  for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
  return n;
}

void npy_free(npy_array *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

/* ---- header scanner ---- */
typedef struct scan {
  const char *p, *end;
} scan;

static void skip_ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static bool eat(scan *s, char c) {
  skip_ws(s);
  if (s->p < s->end && *s->p == c) {
    s->p++;
    return true;
  }
  return false;
}

/* A quoted string into buf (truncated to len-1); false if malformed. */
static bool scan_string(scan *s, char *buf, size_t len) {
  skip_ws(s);
  if (s->p >= s->end || (*s->p != '\'' && *s->p != '"')) return false;
  char q = *s->p++;
  size_t n = 0;
  while (s->p < s->end && *s->p != q) {
    if (n + 1 < len) buf[n++] = *s->p;
    s->p++;
  }
  if (s->p >= s->end) return false;
  s->p++;
  buf[n] = 0;
  return true;
}

static bool scan_word(scan *s, const char *w) {
  skip_ws(s);
  size_t l = strlen(w);
  if ((size_t)(s->end - s->p) < l || memcmp(s->p, w, l)) return false;
  s->p += l;
  return true;
}

/* A non-negative integer, optionally with Python 2's 'L' suffix. */
static bool scan_dim(scan *s, int64_t *v) {
  skip_ws(s);
  if (s->p >= s->end || *s->p < '0' || *s->p > '9') return false;
  int64_t x = 0;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
    if (x > (INT64_MAX - 9) / 10) return false;
    x = x * 10 + (*s->p++ - '0');
  }
  if (s->p < s->end && *s->p == 'L') s->p++;
  *v = x;
  return true;
}

typedef struct header {
  char descr[32];
  bool fortran;
  int ndim;
  int64_t shape[NNRT_MAX_DIMS];
  bool has_descr, has_fortran, has_shape;
} header;

static int parse_header(const char *path, const char *text, size_t len, header *h, char *err,
                        size_t errlen) {
  scan s = {text, text + len};
  memset(h, 0, sizeof *h);
  if (!eat(&s, '{')) return fail(err, errlen, path, "header is not a dict");
  for (;;) {
    if (eat(&s, '}')) break;
    char key[32];
    if (!scan_string(&s, key, sizeof key) || !eat(&s, ':'))
      return fail(err, errlen, path, "malformed header dict");
    if (!strcmp(key, "descr")) {
      if (!scan_string(&s, h->descr, sizeof h->descr))
        return fail(err, errlen, path, "'descr' is not a simple type string (structured dtypes are not supported)");
      h->has_descr = true;
    } else if (!strcmp(key, "fortran_order")) {
      if (scan_word(&s, "True")) h->fortran = true;
      else if (scan_word(&s, "False")) h->fortran = false;
      else return fail(err, errlen, path, "'fortran_order' is not True or False");
      h->has_fortran = true;
    } else if (!strcmp(key, "shape")) {
      if (!eat(&s, '(')) return fail(err, errlen, path, "'shape' is not a tuple");
      h->ndim = 0;
      while (!eat(&s, ')')) {
        int64_t d;
        if (h->ndim >= NNRT_MAX_DIMS)
          return fail(err, errlen, path, "shape has more than %d dims", NNRT_MAX_DIMS);
        if (!scan_dim(&s, &d)) return fail(err, errlen, path, "malformed 'shape' tuple");
        h->shape[h->ndim++] = d;
        if (!eat(&s, ',')) {
          if (!eat(&s, ')')) return fail(err, errlen, path, "malformed 'shape' tuple");
          break;
        }
      }
      h->has_shape = true;
    } else {
      return fail(err, errlen, path, "unknown header key '%s'", key);
    }
    if (!eat(&s, ',')) {
      if (!eat(&s, '}')) return fail(err, errlen, path, "malformed header dict");
      break;
    }
  }
  if (!h->has_descr || !h->has_fortran || !h->has_shape)
    return fail(err, errlen, path, "header lacks '%s'",
                !h->has_descr ? "descr" : !h->has_fortran ? "fortran_order" : "shape");
  return 0;
}

/* ---- reading ---- */
typedef enum { K_F4, K_F8, K_I8, K_I4, K_I1, K_U1, K_B1 } elem_kind;

static bool descr_kind(const char *d, elem_kind *k, size_t *size, bool *swap) {
  static const struct { const char *name; elem_kind kind; size_t size; } tab[] = {
      {"f4", K_F4, 4}, {"f8", K_F8, 8}, {"i8", K_I8, 8}, {"i4", K_I4, 4},
      {"i1", K_I1, 1}, {"u1", K_U1, 1}, {"b1", K_B1, 1}};
  char order = d[0];
  if (order != '<' && order != '|' && order != '=' && order != '>') return false;
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (!strcmp(d + 1, tab[i].name)) {
      /* '=' is native order of the writer, which we cannot know: refuse it
       * for multi-byte types rather than guess. */
      if (tab[i].size > 1 && (order == '|' || order == '=' || order == '>')) return false;
      *k = tab[i].kind;
      *size = tab[i].size;
      *swap = tab[i].size > 1 && !host_little_endian();
      return true;
    }
  return false;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!out) return fail(err, errlen, path, "output array is NULL");
  memset(out, 0, sizeof *out);
  if (!path) return fail(err, errlen, path, "path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f) return fail(err, errlen, path, "cannot open: %s", strerror(errno));
  unsigned char pre[12];
  char *hdr = NULL;
  void *raw = NULL;
  int rc = -1;
  size_t got = fread(pre, 1, 10, f);
  if (got < 10 || memcmp(pre, "\x93NUMPY", 6)) {
    fail(err, errlen, path, "not a .npy file (bad magic or shorter than 10 bytes)");
    goto done;
  }
  unsigned major = pre[6];
  size_t hlen;
  if (major == 1) {
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  } else if (major == 2 || major == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      fail(err, errlen, path, "truncated header length");
      goto done;
    }
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    fail(err, errlen, path, "unsupported format version %u.%u", major, (unsigned)pre[7]);
    goto done;
  }
  if (hlen == 0 || hlen > NPY_MAX_HEADER) {
    fail(err, errlen, path, "implausible header length %zu", hlen);
    goto done;
  }
  hdr = malloc(hlen);
  if (!hdr) {
    fail(err, errlen, path, "out of memory for a %zu-byte header", hlen);
    goto done;
  }
  if (fread(hdr, 1, hlen, f) != hlen) {
    fail(err, errlen, path, "truncated header (%zu bytes announced)", hlen);
    goto done;
  }
  header h;
  if (parse_header(path, hdr, hlen, &h, err, errlen)) goto done;

  elem_kind kind;
  size_t esize;
  bool swap;
  if (!descr_kind(h.descr, &kind, &esize, &swap)) {
    fail(err, errlen, path, "unsupported dtype '%s'", h.descr);
    goto done;
  }
  if (h.fortran && h.ndim > 1) {
    fail(err, errlen, path, "fortran_order arrays are not supported");
    goto done;
  }
  /* numel and byte counts, checked against overflow */
  uint64_t numel = 1;
  for (int i = 0; i < h.ndim; i++) {
    if (h.shape[i] != 0 && numel > (uint64_t)INT64_MAX / (uint64_t)h.shape[i]) {
      fail(err, errlen, path, "shape is too large");
      goto done;
    }
    numel *= (uint64_t)h.shape[i];
  }
  if (numel > SIZE_MAX / 8) {
    fail(err, errlen, path, "shape is too large");
    goto done;
  }
  size_t raw_bytes = (size_t)numel * esize;
  /* the file must hold exactly the elements: compare with its size before
   * allocating, so a garbage shape cannot ask for a huge buffer */
  long here = ftell(f);
  if (here < 0 || fseek(f, 0, SEEK_END) != 0) {
    fail(err, errlen, path, "cannot seek");
    goto done;
  }
  long fsize = ftell(f);
  if (fsize < here || fseek(f, here, SEEK_SET) != 0) {
    fail(err, errlen, path, "cannot seek");
    goto done;
  }
  size_t avail = (size_t)(fsize - here);
  if (avail < raw_bytes) {
    fail(err, errlen, path, "truncated data: %zu bytes for %llu elements of '%s' (%zu needed)", avail,
         (unsigned long long)numel, h.descr, raw_bytes);
    goto done;
  }
  if (avail > raw_bytes) {
    fail(err, errlen, path, "%zu trailing bytes after the data", avail - raw_bytes);
    goto done;
  }
  raw = malloc(raw_bytes ? raw_bytes : 1);
  if (!raw) {
    fail(err, errlen, path, "out of memory for %zu bytes", raw_bytes);
    goto done;
  }
  if (fread(raw, 1, raw_bytes, f) != raw_bytes) {
    fail(err, errlen, path, "read error");
    goto done;
  }
  if (swap) byteswap(raw, (size_t)numel, esize);

  out->ndim = h.ndim;
  memcpy(out->shape, h.shape, sizeof h.shape);
  if (kind == K_F4 || kind == K_F8 || kind == K_I8) {
    out->dtype = kind == K_F4 ? NNRT_F32 : kind == K_F8 ? NNRT_F64 : NNRT_I64;
    out->data = raw;
    out->bytes = raw_bytes;
    raw = NULL;
  } else {
    int64_t *w = malloc(numel ? (size_t)numel * sizeof *w : 1);
    if (!w) {
      fail(err, errlen, path, "out of memory for %llu elements", (unsigned long long)numel);
      memset(out, 0, sizeof *out);
      goto done;
    }
    for (size_t i = 0; i < (size_t)numel; i++) {
      if (kind == K_I4) {
        int32_t v;
        memcpy(&v, (char *)raw + 4 * i, 4);
        w[i] = v;
      } else if (kind == K_I1) {
        w[i] = ((const int8_t *)raw)[i];
      } else if (kind == K_U1) {
        w[i] = ((const uint8_t *)raw)[i];
      } else {
        w[i] = ((const uint8_t *)raw)[i] != 0;
      }
    }
    out->dtype = NNRT_I64;
    out->data = w;
    out->bytes = (size_t)numel * sizeof *w;
  }
  rc = 0;
done:
  free(hdr);
  free(raw);
  fclose(f);
  return rc;
}

/* ---- writing ---- */
int npy_write(const char *path, const npy_array *a, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!path) return fail(err, errlen, path, "path is NULL");
  if (!a) return fail(err, errlen, path, "array is NULL");
  const char *descr = a->dtype == NNRT_F32 ? "<f4" : a->dtype == NNRT_F64 ? "<f8" : a->dtype == NNRT_I64 ? "<i8" : NULL;
  if (!descr) return fail(err, errlen, path, "cannot write dtype %d", (int)a->dtype);
  if (a->ndim < 0 || a->ndim > NNRT_MAX_DIMS) return fail(err, errlen, path, "bad ndim %d", a->ndim);
  int64_t numel = 1;
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] < 0) return fail(err, errlen, path, "negative dim %lld", (long long)a->shape[i]);
    numel *= a->shape[i];
  }
  size_t esize = dtype_size(a->dtype);
  if ((uint64_t)numel * esize != a->bytes)
    return fail(err, errlen, path, "bytes (%zu) does not match the shape (%lld elements of %zu bytes)", a->bytes,
                (long long)numel, esize);
  if (a->bytes && !a->data) return fail(err, errlen, path, "data is NULL");

  char dict[256];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < a->ndim; i++)
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)a->shape[i],
                  a->ndim == 1 ? "," : i + 1 < a->ndim ? ", " : "");
  n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
  /* pad with spaces so that magic + length + header ends on a 64-byte
   * boundary, ending in '\n', as NumPy does */
  size_t total = 10 + (size_t)n + 1;
  size_t padded = (total + 63) / 64 * 64;
  size_t hlen = padded - 10;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  char hdr[320];
  memcpy(hdr, dict, (size_t)n);
  memset(hdr + n, ' ', hlen - (size_t)n - 1);
  hdr[hlen - 1] = '\n';

  FILE *f = fopen(path, "wb");
  if (!f) return fail(err, errlen, path, "cannot create: %s", strerror(errno));
  bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, hlen, f) == hlen;
  if (ok && a->bytes) {
    if (host_little_endian() || esize == 1) {
      ok = fwrite(a->data, 1, a->bytes, f) == a->bytes;
    } else {
      void *tmp = malloc(a->bytes);
      ok = tmp != NULL;
      if (ok) {
        memcpy(tmp, a->data, a->bytes);
        byteswap(tmp, (size_t)numel, esize);
        ok = fwrite(tmp, 1, a->bytes, f) == a->bytes;
        free(tmp);
      }
    }
  }
  if (fclose(f) != 0) ok = false;
  if (!ok) return fail(err, errlen, path, "write error: %s", strerror(errno));
  return 0;
}

/* ---- conversion ---- */
int npy_convert(npy_array *a, nnrt_dtype to, char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  if (!a) return fail(err, errlen, "npy_convert", "array is NULL");
  if (a->dtype == to) return 0;
  if ((a->dtype != NNRT_F32 && a->dtype != NNRT_F64) || (to != NNRT_F32 && to != NNRT_F64))
    return fail(err, errlen, "npy_convert", "cannot convert %s to %s", dtype_name(a->dtype),
                dtype_name(to));
  size_t n = (size_t)npy_numel(a);
  if (to == NNRT_F32) {
    /* narrowing in place, front to back: element i is written at byte 4i,
     * below every source element not yet read (memcpy keeps it free of
     * aliasing assumptions) */
    unsigned char *p = a->data;
    for (size_t i = 0; i < n; i++) {
      double v;
      memcpy(&v, p + 8 * i, 8);
      float w = (float)v;
      memcpy(p + 4 * i, &w, 4);
    }
    a->bytes = n * sizeof(float);
    if (n) {
      void *shrunk = realloc(a->data, a->bytes);
      if (shrunk) a->data = shrunk;
    }
  } else {
    double *d = malloc(n ? n * sizeof(double) : 1);
    if (!d) return fail(err, errlen, "npy_convert", "out of memory for %zu elements", n);
    const float *s = a->data;
    for (size_t i = 0; i < n; i++) d[i] = s[i];
    free(a->data);
    a->data = d;
    a->bytes = n * sizeof(double);
  }
  a->dtype = to;
  return 0;
}
