/* core/module_io.c - nnrt_module_save and nnrt_module_load: a module's
 * parameters and buffers by full name, in the small binary format that
 * include/nnrt/nnrt.h documents (magic, version, entries, CRC-32).
 *
 * Load reads the whole file into host memory and checks all of it (its
 * structure, its checksum, and every entry against the module) before it
 * writes the first tensor, so a bad file changes nothing.  Limits: the
 * file must fit in host memory; only whole modules (no partial or
 * non-strict loading); gradients and optimizer state are not saved. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "module.h"

#define IO_MAGIC "NNRTWTS\0"
#define IO_VERSION 1u
#define IO_NAME_MAX 255u
/* the smallest entry: name_len, a 1-byte name, dtype, ndim, nbytes */
#define IO_MIN_ENTRY (4u + 1u + 4u + 4u + 8u)

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib's crc32) ---- */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

/* crc is the running value, starting from 0 (the pre/post inversion is inside). */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
  pthread_once(&crc_once, crc_init);
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static bool host_is_little_endian(void) {
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 1;
}

/* Reverses each elem-byte element of buf in place (big-endian hosts). */
static void swap_elements(unsigned char *buf, size_t bytes, size_t elem) {
  for (size_t o = 0; o + elem <= bytes; o += elem)
    for (size_t a = 0, b = elem - 1; a < b; a++, b--) {
      unsigned char t = buf[o + a];
      buf[o + a] = buf[o + b];
      buf[o + b] = t;
    }
}

static void put_le(unsigned char *at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) at[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)at[i] << (8 * i);
  return v;
}

/* ---- the module's entries: parameters then buffers, children after ---- */
typedef struct io_entry {
  char name[IO_NAME_MAX + 1];
  nnrt_tensor *t;
  const char *kind; /* "parameter" or "buffer" */
} io_entry;

typedef struct io_list {
  io_entry *v;
  size_t n, cap;
} io_list;

static nnrt_status list_add(io_list *l, const char *fn, const char *prefix, const char *name, nnrt_tensor *t,
                            const char *kind) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    io_entry *v = realloc(l->v, cap * sizeof *v);
    if (!v) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    l->v = v;
    l->cap = cap;
  }
  io_entry *e = &l->v[l->n];
  int len = snprintf(e->name, sizeof e->name, "%s%s", prefix, name);
  if (len < 1 || (unsigned)len > IO_NAME_MAX)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: the name '%s%s' is longer than %u bytes", fn, prefix, name,
                      IO_NAME_MAX);
  e->t = t;
  e->kind = kind;
  l->n++;
  return NNRT_OK;
}

static nnrt_status collect(const nnrt_module *m, const char *fn, const char *prefix, io_list *l) {
  nnrt_status st = NNRT_OK;
  for (size_t i = 0; i < m->n_params && !st; i++) st = list_add(l, fn, prefix, m->params[i].name, m->params[i].param, "parameter");
  for (size_t i = 0; i < m->n_buffers && !st; i++) st = list_add(l, fn, prefix, m->buffers[i].name, m->buffers[i].t, "buffer");
  for (size_t c = 0; c < m->n_children && !st; c++) {
    char sub[IO_NAME_MAX + 1];
    int len = snprintf(sub, sizeof sub, "%s%zu.", prefix, c);
    if (len < 0 || (unsigned)len >= sizeof sub)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: module nesting too deep for %u-byte names", fn, IO_NAME_MAX);
    st = collect(m->children[c], fn, sub, l);
  }
  return st;
}

/* ---- save ---- */
typedef struct writer {
  FILE *f;
  uint32_t crc;
  bool failed;
} writer;

static void w_bytes(writer *w, const void *p, size_t n) {
  if (w->failed || !n) return;
  w->crc = crc32_update(w->crc, p, n);
  if (fwrite(p, 1, n, w->f) != n) w->failed = true;
}

static void w_int(writer *w, uint64_t v, int bytes) {
  unsigned char b[8];
  put_le(b, v, bytes);
  w_bytes(w, b, (size_t)bytes);
}

/* Writes every entry of l to w; data read from each tensor's device. */
static nnrt_status write_entries(writer *w, const io_list *l) {
  const char *fn = "nnrt_module_save";
  w_bytes(w, IO_MAGIC, 8);
  w_int(w, IO_VERSION, 4);
  w_int(w, l->n, 4);
  for (size_t i = 0; i < l->n && !w->failed; i++) {
    const io_entry *e = &l->v[i];
    const nnrt_tensor *t = e->t;
    size_t nl = strlen(e->name), bytes = (size_t)nnrt_tensor_numel(t) * nnrt_dtype_size(nnrt_tensor_dtype(t));
    w_int(w, nl, 4);
    w_bytes(w, e->name, nl);
    w_int(w, (uint64_t)nnrt_tensor_dtype(t), 4);
    w_int(w, (uint64_t)nnrt_tensor_ndim(t), 4);
    for (int d = 0; d < nnrt_tensor_ndim(t); d++) w_int(w, (uint64_t)nnrt_tensor_shape(t)[d], 8);
    w_int(w, bytes, 8);
    unsigned char *buf = malloc(bytes ? bytes : 1);
    if (!buf) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: no host buffer of %zu bytes for '%s'", fn, bytes, e->name);
    nnrt_status st = nnrt_tensor_read(t, buf, bytes);
    if (st) {
      free(buf);
      return nnrt_error(st, "%s: reading '%s': %s", fn, e->name, nnrt_last_error());
    }
    if (!host_is_little_endian()) swap_elements(buf, bytes, nnrt_dtype_size(nnrt_tensor_dtype(t)));
    w_bytes(w, buf, bytes);
    free(buf);
  }
  uint32_t crc = w->crc;
  w_int(w, crc, 4);
  return NNRT_OK;
}

nnrt_status nnrt_module_save(const nnrt_module *m, const char *path) {
  const char *fn = "nnrt_module_save";
  if (!m || !path || !*path) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: module or path is NULL or empty", fn);
  io_list l = {0};
  nnrt_status st = collect(m, fn, "", &l);
  if (st) {
    free(l.v);
    return st;
  }
  /* a temporary beside the target, renamed over it once complete, so a
   * failed save never leaves a half-written weights file behind */
  static atomic_uint counter;
  size_t tl = strlen(path) + 64;
  char *tmp = malloc(tl);
  if (!tmp) {
    free(l.v);
    return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  }
  snprintf(tmp, tl, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
  writer w = {fopen(tmp, "wb"), 0, false};
  if (!w.f) {
    st = nnrt_error(errno == ENOENT ? NNRT_ERR_NOT_FOUND : NNRT_ERR_RUNTIME,
                    "%s: cannot create '%s' (written first, then renamed to '%s'): %s", fn, tmp, path, strerror(errno));
  } else {
    st = write_entries(&w, &l);
    int werr = w.failed ? errno : 0;
    if (fclose(w.f) && !werr) werr = errno ? errno : EIO;
    if (!st && (w.failed || werr))
      st = nnrt_error(NNRT_ERR_RUNTIME, "%s: writing '%s': %s", fn, tmp, strerror(werr ? werr : EIO));
    if (!st && rename(tmp, path))
      st = nnrt_error(NNRT_ERR_RUNTIME, "%s: cannot rename '%s' to '%s': %s", fn, tmp, path, strerror(errno));
    if (st) remove(tmp);
  }
  free(tmp);
  free(l.v);
  return st;
}

/* ---- load ---- */
typedef struct file_entry {
  const char *name; /* not NUL-terminated: name_len bytes */
  uint32_t name_len;
  uint32_t dtype;
  int ndim;
  int64_t dims[NNRT_MAX_DIMS];
  unsigned char *data;
  size_t bytes;
  size_t match; /* index in the module's list */
} file_entry;

typedef struct reader {
  const unsigned char *buf;
  size_t size, at;
} reader;

static bool r_has(const reader *r, size_t n) { return r->size - r->at >= n; }

/* Parses and checks the file's structure into *out (count entries).  Each
 * error names the file and where in it things went wrong. */
static nnrt_status parse(const char *path, unsigned char *buf, size_t size, file_entry **out, size_t *count) {
  const char *fn = "nnrt_module_load";
  reader r = {buf, size, 0};
  *out = NULL;
  *count = 0;
  if (size < 8 && !memcmp(buf, IO_MAGIC, size))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' is truncated: %zu bytes, inside the magic", fn, path, size);
  if (size < 8 || memcmp(buf, IO_MAGIC, 8))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' is not an nnrt weights file (no \"NNRTWTS\" magic)", fn, path);
  r.at = 8;
  if (!r_has(&r, 8))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' is truncated: it ends inside the header (%zu bytes)", fn,
                      path, size);
  uint32_t version = (uint32_t)get_le(buf + 8, 4), n = (uint32_t)get_le(buf + 12, 4);
  r.at = 16;
  if (version != IO_VERSION)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' is format version %u; this library reads version %u", fn,
                      path, version, IO_VERSION);
  if (n > (size - r.at) / IO_MIN_ENTRY)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: '%s' is truncated or corrupt: it claims %u entries but holds only %zu bytes", fn, path, n,
                      size);
  file_entry *v = calloc((size_t)n + 1, sizeof *v);
  if (!v) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  nnrt_status st = NNRT_OK;
#define BAD(...) (st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, __VA_ARGS__))
#define TRUNC(what)                                                                                          \
  (e->name ? BAD("%s: '%s' is truncated: it ends after %zu bytes, in %s of entry %u of %u ('%.*s')", fn, path, \
                 size, what, i + 1, n, (int)e->name_len, e->name)                                            \
           : BAD("%s: '%s' is truncated: it ends after %zu bytes, in %s of entry %u of %u", fn, path, size, what,  \
                 i + 1, n))
  for (uint32_t i = 0; i < n && !st; i++) {
    file_entry *e = &v[i];
    if (!r_has(&r, 4)) {
      TRUNC("the name length");
      break;
    }
    e->name_len = (uint32_t)get_le(buf + r.at, 4);
    r.at += 4;
    if (e->name_len < 1 || e->name_len > IO_NAME_MAX) {
      BAD("%s: '%s' is corrupt: entry %u of %u has a name of %u bytes (1..%u allowed)", fn, path, i + 1, n,
          e->name_len, IO_NAME_MAX);
      break;
    }
    if (!r_has(&r, e->name_len)) {
      TRUNC("the name");
      break;
    }
    e->name = (const char *)buf + r.at;
    r.at += e->name_len;
    if (memchr(e->name, 0, e->name_len)) {
      BAD("%s: '%s' is corrupt: the name of entry %u of %u holds a NUL byte", fn, path, i + 1, n);
      break;
    }
    if (!r_has(&r, 8)) {
      TRUNC("the dtype and ndim");
      break;
    }
    e->dtype = (uint32_t)get_le(buf + r.at, 4);
    uint32_t ndim = (uint32_t)get_le(buf + r.at + 4, 4);
    r.at += 8;
    if (e->dtype >= NNRT_DTYPE_COUNT || ndim > NNRT_MAX_DIMS) {
      BAD("%s: '%s' is corrupt: entry '%.*s' has dtype %u (0..%d allowed) and ndim %u (0..%d allowed)", fn, path,
          (int)e->name_len, e->name, e->dtype, NNRT_DTYPE_COUNT - 1, ndim, NNRT_MAX_DIMS);
      break;
    }
    e->ndim = (int)ndim;
    if (!r_has(&r, 8 * (size_t)ndim + 8)) {
      TRUNC("the shape");
      break;
    }
    uint64_t numel = 1;
    bool ok = true;
    for (int d = 0; d < e->ndim; d++) {
      uint64_t dim = get_le(buf + r.at + 8 * (size_t)d, 8);
      e->dims[d] = (int64_t)dim;
      if (dim > (uint64_t)INT64_MAX) ok = false;
      else if (dim && numel > (uint64_t)INT64_MAX / 16 / dim) ok = false;
      else numel *= dim;
    }
    r.at += 8 * (size_t)ndim;
    uint64_t nbytes = get_le(buf + r.at, 8);
    r.at += 8;
    char sh[NNRT_SHAPE_STR_LEN];
    if (!ok || nbytes != numel * nnrt_dtype_size((nnrt_dtype)e->dtype)) {
      BAD("%s: '%s' is corrupt: entry '%.*s' (%s %s) claims %llu bytes of data", fn, path, (int)e->name_len, e->name,
          nnrt_dtype_name((nnrt_dtype)e->dtype), ok ? nnrt_shape_str(e->ndim, e->dims, sh, sizeof sh) : "[too large]",
          (unsigned long long)nbytes);
      break;
    }
    if (nbytes > (uint64_t)(r.size - r.at)) { /* compared in 64 bits: size_t may be narrower */
      TRUNC("the data");
      break;
    }
    e->data = buf + r.at;
    e->bytes = (size_t)nbytes;
    r.at += e->bytes;
    for (uint32_t j = 0; j < i; j++)
      if (v[j].name_len == e->name_len && !memcmp(v[j].name, e->name, e->name_len)) {
        BAD("%s: '%s' is corrupt: it holds '%.*s' twice (entries %u and %u)", fn, path, (int)e->name_len, e->name,
            j + 1, i + 1);
        break;
      }
  }
  if (!st && !r_has(&r, 4))
    BAD("%s: '%s' is truncated: it ends before the checksum (%zu bytes)", fn, path, size);
  if (!st && r.size - r.at > 4)
    BAD("%s: '%s' is corrupt: %zu bytes follow the checksum", fn, path, r.size - r.at - 4);
  if (!st) {
    uint32_t want = (uint32_t)get_le(buf + r.at, 4), got = crc32_update(0, buf, r.at);
    if (want != got)
      BAD("%s: '%s' is corrupt: its CRC-32 is %08x, the file says %08x", fn, path, (unsigned)got, (unsigned)want);
  }
#undef TRUNC
#undef BAD
  if (st) {
    free(v);
    return st;
  }
  *out = v;
  *count = n;
  return NNRT_OK;
}

/* Every file entry names a module entry of the same dtype and shape, and
 * every module entry is in the file. */
static nnrt_status match(const char *path, file_entry *fe, size_t nf, const io_list *l) {
  const char *fn = "nnrt_module_load";
  bool *seen = calloc(l->n + 1, sizeof *seen);
  if (!seen) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  nnrt_status st = NNRT_OK;
  for (size_t i = 0; i < nf && !st; i++) {
    file_entry *e = &fe[i];
    size_t k = 0;
    while (k < l->n && !(strlen(l->v[k].name) == e->name_len && !memcmp(l->v[k].name, e->name, e->name_len))) k++;
    if (k == l->n) {
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' holds '%.*s', which the module has no parameter or buffer of",
                      fn, path, (int)e->name_len, e->name);
      break;
    }
    const nnrt_tensor *t = l->v[k].t;
    bool same = (uint32_t)nnrt_tensor_dtype(t) == e->dtype && nnrt_tensor_ndim(t) == e->ndim;
    for (int d = 0; same && d < e->ndim; d++) same = nnrt_tensor_shape(t)[d] == e->dims[d];
    if (!same) {
      char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s': entry '%s' is %s %s in the file but %s %s in the module", fn,
                      path, l->v[k].name, nnrt_dtype_name((nnrt_dtype)e->dtype),
                      nnrt_shape_str(e->ndim, e->dims, a, sizeof a), nnrt_dtype_name(nnrt_tensor_dtype(t)),
                      nnrt_shape_str(nnrt_tensor_ndim(t), nnrt_tensor_shape(t), b, sizeof b));
      break;
    }
    e->match = k;
    seen[k] = true;
  }
  for (size_t k = 0; k < l->n && !st; k++)
    if (!seen[k])
      st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' has no entry '%s' (a %s of the module)", fn, path,
                      l->v[k].name, l->v[k].kind);
  free(seen);
  return st;
}

/* The whole file into a new host buffer. */
static nnrt_status slurp(const char *path, unsigned char **buf, size_t *size) {
  const char *fn = "nnrt_module_load";
  FILE *f = fopen(path, "rb");
  if (!f)
    return nnrt_error(errno == ENOENT ? NNRT_ERR_NOT_FOUND : NNRT_ERR_RUNTIME, "%s: cannot open '%s': %s", fn, path,
                      strerror(errno));
  struct stat sb;
  nnrt_status st = NNRT_OK;
  if (fstat(fileno(f), &sb))
    st = nnrt_error(NNRT_ERR_RUNTIME, "%s: cannot stat '%s': %s", fn, path, strerror(errno));
  else if (!S_ISREG(sb.st_mode))
    st = nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' is not a regular file", fn, path);
  else if ((uintmax_t)sb.st_size > SIZE_MAX - 1)
    st = nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: '%s' is too large for host memory", fn, path);
  *buf = NULL;
  *size = 0;
  if (!st) {
    size_t n = (size_t)sb.st_size;
    *buf = malloc(n ? n : 1);
    if (!*buf) st = nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: no host buffer of %zu bytes for '%s'", fn, n, path);
    else if (fread(*buf, 1, n, f) != n || ferror(f))
      st = nnrt_error(NNRT_ERR_RUNTIME, "%s: reading '%s' failed (%zu bytes expected)", fn, path, n);
    else *size = n;
  }
  fclose(f);
  if (st) {
    free(*buf);
    *buf = NULL;
  }
  return st;
}

nnrt_status nnrt_module_load(nnrt_module *m, const char *path) {
  const char *fn = "nnrt_module_load";
  if (!m || !path || !*path) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: module or path is NULL or empty", fn);
  io_list l = {0};
  unsigned char *buf = NULL;
  size_t size = 0, nf = 0;
  file_entry *fe = NULL;
  nnrt_status st = collect(m, fn, "", &l);
  if (!st) st = slurp(path, &buf, &size);
  if (!st) st = parse(path, buf, size, &fe, &nf);
  if (!st) st = match(path, fe, nf, &l);
  /* everything checked: only now touch the module */
  for (size_t i = 0; i < nf && !st; i++) {
    if (!host_is_little_endian()) swap_elements(fe[i].data, fe[i].bytes, nnrt_dtype_size((nnrt_dtype)fe[i].dtype));
    st = nnrt_tensor_write(l.v[fe[i].match].t, fe[i].data, fe[i].bytes);
    if (st) st = nnrt_error(st, "%s: writing '%s' from '%s': %s", fn, l.v[fe[i].match].name, path, nnrt_last_error());
  }
  free(fe);
  free(buf);
  free(l.v);
  return st;
}
