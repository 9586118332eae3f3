/* tests/test_golden.c - every op against the PyTorch 1.13 fixtures of
 * tests/golden (written by tools/golden/gen.py; format in its README).
 *
 * One parameterized test per op: one worker process runs all its cases
 * (a process per case would pay for starting every backend 500 times).
 * Each case runs through the generic API (nnrt_op_from_name,
 * nnrt_params_set, nnrt_op_run) on `ref` in float64 and float32, and in float32 (and float64 where the device
 * computes it) on every device of every other usable backend.  Outputs
 * that are overwritten start as NaN so an element a kernel forgets to
 * write shows up.  A mismatch names the case, op, device, dtype, output,
 * worst index and values, and prints a reproducer.
 *
 * Environment:
 *   NNRT_GOLDEN_FILTER   only cases whose id starts with this text
 *   NNRT_GOLDEN_DEVICES  ','-separated device names instead of every device
 *
 * Limits: expected values of float outputs are float64; the comparison is
 * elementwise, |got - want| <= atol + rtol*|want|, NaN matching NaN and inf
 * matching inf of the same sign.  Default tolerances: f64 1e-10 rel +
 * 1e-12 abs, f32 1e-5 rel + 1e-6 abs; a case may override them
 * (tol:f32=RTOL,ATOL).  Outputs whose dtype nnrt_op_infer() gives as int64
 * (batch_sizes, sorted_indices, lengths ...) are int64 in the fixture too
 * and must match exactly, whatever the run's float dtype.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnrt/nnrt.h>

#include "npy.h"

#define GOLDEN_DIR NNRT_SOURCE_DIR "/tests/golden"
#define MANIFEST GOLDEN_DIR "/manifest.txt"

#define MAX_ARGS 16
#define MAX_DEVICES 16

enum { DT_F32 = 0, DT_F64 = 1 };
static const double default_rtol[2] = {1e-5, 1e-10};
static const double default_atol[2] = {1e-6, 1e-12};

/* ---- the manifest ---- */
typedef struct golden_arg {
  char name[64];
  char file[192];
} golden_arg;

typedef struct golden_case {
  char id[128];
  char op[64];
  char params[MAX_ARGS][160];
  int n_params;
  golden_arg in[MAX_ARGS], out[MAX_ARGS], upd[MAX_ARGS];
  int n_in, n_out, n_upd;
  double rtol[2], atol[2];
  bool skip[2];
} golden_case;

/* What a test worker is handed: the op whose cases it runs. */
typedef struct golden_param {
  char op[64];
} golden_param;

/* The manifest as a malloc'ed string; NULL if unreadable. */
static char *manifest_text(void) {
  FILE *f = fopen(MANIFEST, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  char chunk[8192];
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
    }
    memcpy(buf + len, chunk, n);
    len += n;
  }
  fclose(f);
  if (!buf) buf = calloc(1, 1);
  else buf[len] = 0;
  return buf;
}

/* Iterates over the case lines: *line is the 1-based line number. */
static char *next_case_line(char **cursor, int *line) {
  while (**cursor) {
    char *s = *cursor;
    char *e = strchr(s, '\n');
    if (e) {
      *e = 0;
      *cursor = e + 1;
    } else {
      *cursor = s + strlen(s);
    }
    (*line)++;
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (*s && *s != '#') return s;
  }
  return NULL;
}

static bool copy_str(char *dst, size_t len, const char *src, size_t n) {
  if (n >= len) return false;
  memcpy(dst, src, n);
  dst[n] = 0;
  return true;
}

/* Parses one case line; false with err filled on a malformed line. */
static bool parse_case(char *text, golden_case *c, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  for (int d = 0; d < 2; d++) {
    c->rtol[d] = default_rtol[d];
    c->atol[d] = default_atol[d];
  }
  int field = 0;
  for (char *save = NULL, *tok = strtok_r(text, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save), field++) {
    if (field == 0) {
      if (!copy_str(c->id, sizeof c->id, tok, strlen(tok))) goto too_long;
      continue;
    }
    if (field == 1) {
      if (!copy_str(c->op, sizeof c->op, tok, strlen(tok))) goto too_long;
      continue;
    }
    golden_arg *list = NULL;
    int *count = NULL;
    const char *rest = tok;
    if (!strncmp(tok, "in:", 3)) list = c->in, count = &c->n_in, rest = tok + 3;
    else if (!strncmp(tok, "out:", 4)) list = c->out, count = &c->n_out, rest = tok + 4;
    else if (!strncmp(tok, "upd:", 4)) list = c->upd, count = &c->n_upd, rest = tok + 4;
    if (list) {
      const char *eq = strchr(rest, '=');
      if (!eq || eq == rest || !eq[1] || *count >= MAX_ARGS) {
        snprintf(err, errlen, "%s: bad token '%s'", c->id, tok);
        return false;
      }
      golden_arg *a = &list[(*count)++];
      if (!copy_str(a->name, sizeof a->name, rest, (size_t)(eq - rest)) ||
          !copy_str(a->file, sizeof a->file, eq + 1, strlen(eq + 1)))
        goto too_long;
      continue;
    }
    if (!strncmp(tok, "tol:", 4)) {
      int d = !strncmp(tok + 4, "f32=", 4) ? DT_F32 : !strncmp(tok + 4, "f64=", 4) ? DT_F64 : -1;
      char *end;
      double r = d < 0 ? 0 : strtod(tok + 8, &end);
      if (d < 0 || *end != ',' || !(r >= 0)) goto bad;
      double a = strtod(end + 1, &end);
      if (*end || !(a >= 0)) goto bad;
      c->rtol[d] = r;
      c->atol[d] = a;
      continue;
    }
    if (!strcmp(tok, "skip:f32")) {
      c->skip[DT_F32] = true;
      continue;
    }
    if (!strcmp(tok, "skip:f64")) {
      c->skip[DT_F64] = true;
      continue;
    }
    if (strchr(tok, '=') && c->n_params < MAX_ARGS) {
      if (!copy_str(c->params[c->n_params], sizeof c->params[0], tok, strlen(tok))) goto too_long;
      c->n_params++;
      continue;
    }
  bad:
    snprintf(err, errlen, "%s: bad token '%s'", c->id, tok);
    return false;
  }
  if (field < 2) {
    snprintf(err, errlen, "line '%s' has no op", c->id);
    return false;
  }
  return true;
too_long:
  snprintf(err, errlen, "%s: token too long", c->id[0] ? c->id : "(case)");
  return false;
}

/* ---- devices ---- */
typedef struct device_list {
  int n;
  char names[MAX_DEVICES][80];
} device_list;

static void devices_find(device_list *dl) {
  dl->n = 0;
  const char *env = getenv("NNRT_GOLDEN_DEVICES");
  if (env && *env) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", env);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t && dl->n < MAX_DEVICES; t = strtok_r(NULL, ",", &save))
      snprintf(dl->names[dl->n++], sizeof dl->names[0], "%s", t);
    return;
  }
  snprintf(dl->names[dl->n++], sizeof dl->names[0], "ref");
  nnrt_init();
  size_t nb = nnrt_backend_count();
  for (size_t i = 0; i < nb; i++) {
    nnrt_backend_info bi;
    if (nnrt_backend_info_get(i, &bi) || !bi.usable || !strcmp(bi.name, "ref")) continue;
    for (int d = 0; d < bi.device_count && dl->n < MAX_DEVICES; d++)
      snprintf(dl->names[dl->n++], sizeof dl->names[0], "%s:%d", bi.name, d);
  }
}

/* ---- running one case ---- */
typedef struct report {
  char *buf;
  size_t len, cap;
  int failures;
} report;

static void say(report *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t n = strlen(line);
  if (r->len + n + 2 > r->cap) {
    size_t cap = (r->len + n + 2) * 2;
    char *nb = realloc(r->buf, cap);
    if (!nb) return;
    r->buf = nb;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, line, n);
  r->len += n;
  r->buf[r->len++] = '\n';
  r->buf[r->len] = 0;
}

static int arg_index(const nnrt_arg_desc *args, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(args[i].name, name)) return i;
  return -1;
}

static const golden_arg *find_arg(const golden_arg *list, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(list[i].name, name)) return &list[i];
  return NULL;
}

static bool load(const golden_case *c, const char *file, npy_array *a, report *r) {
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, file);
  if (npy_read(path, a, err, sizeof err)) {
    say(r, "[%s] cannot read fixture: %s", c->id, err);
    r->failures++;
    return false;
  }
  return true;
}

/* A tensor on dev holding a (converted to dt unless it is an index). */
static nnrt_tensor *tensor_from(nnrt_device *dev, npy_array *a, nnrt_dtype dt, bool index, const char *what,
                                const golden_case *c, report *r) {
  char err[256];
  if (index ? a->dtype != NNRT_I64 : a->dtype == NNRT_I64) {
    say(r, "[%s] %s: fixture is %s, the op wants %s", c->id, what, nnrt_dtype_name(a->dtype), index ? "i64" : "a float");
    r->failures++;
    return NULL;
  }
  if (!index && npy_convert(a, dt, err, sizeof err)) {
    say(r, "[%s] %s: %s", c->id, what, err);
    r->failures++;
    return NULL;
  }
  nnrt_tensor *t = NULL;
  nnrt_status st = nnrt_tensor_new(dev, a->dtype, a->ndim, a->shape, &t);
  if (!st) st = nnrt_tensor_write(t, a->data, a->bytes);
  if (st) {
    say(r, "[%s] %s: cannot make the tensor on %s: %s", c->id, what, nnrt_device_name(dev), nnrt_last_error());
    r->failures++;
    nnrt_tensor_free(t);
    return NULL;
  }
  return t;
}

static void index_str(const npy_array *a, int64_t flat, char *buf, size_t len) {
  int64_t idx[NNRT_MAX_DIMS];
  for (int d = a->ndim - 1; d >= 0; d--) {
    idx[d] = a->shape[d] ? flat % a->shape[d] : 0;
    flat = a->shape[d] ? flat / a->shape[d] : 0;
  }
  size_t o = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < a->ndim && o < len; d++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? "," : "", (long long)idx[d]);
  if (o < len) snprintf(buf + o, len - o, "]");
}

/* Compares got (int64, numel of want) with want (int64): exactly. */
static void compare_i64(const golden_case *c, const char *dev, nnrt_dtype dt, const char *name, const npy_array *want,
                        const int64_t *got, report *r) {
  int64_t n = npy_numel(want), bad = 0, first = -1;
  const int64_t *w = want->data;
  for (int64_t i = 0; i < n; i++)
    if (got[i] != w[i] && !bad++) first = i;
  if (!bad) return;
  char at[128];
  index_str(want, first, at, sizeof at);
  say(r, "[%s] %s on %s %s: int64 output '%s' differs at %lld of %lld elements; first at %s: got %lld, expected %lld"
         "\n  reproduce: NNRT_GOLDEN_FILTER=%s NNRT_GOLDEN_DEVICES=%s test_golden",
      c->id, c->op, dev, nnrt_dtype_name(dt), name, (long long)bad, (long long)n, at, (long long)got[first],
      (long long)w[first], c->id, dev);
  r->failures++;
}

/* Compares got (dtype dt, numel of want) with want (f64). */
static void compare(const golden_case *c, const char *dev, nnrt_dtype dt, const char *name, const npy_array *want,
                    const void *got, double rtol, double atol, report *r) {
  int64_t n = npy_numel(want), bad = 0, worst = -1;
  double worst_score = -1;
  const double *w = want->data;
  for (int64_t i = 0; i < n; i++) {
    double g = dt == NNRT_F32 ? ((const float *)got)[i] : ((const double *)got)[i];
    double e = w[i], score;
    if (isnan(e)) score = isnan(g) ? 0 : INFINITY;
    else if (isinf(e)) score = g == e ? 0 : INFINITY;
    else if (!isfinite(g)) score = INFINITY;
    else score = fabs(g - e) / (atol + rtol * fabs(e));
    if (!(score <= 1)) bad++;
    if (score > worst_score) worst_score = score, worst = i;
  }
  if (!bad) return;
  double g = dt == NNRT_F32 ? ((const float *)got)[worst] : ((const double *)got)[worst];
  char at[128];
  index_str(want, worst, at, sizeof at);
  say(r, "[%s] %s on %s %s: output '%s' differs at %lld of %lld elements; worst at %s: got %.17g, expected %.17g "
         "(|diff| %.3g, tolerance %.3g + %.3g*|expected|)\n  reproduce: NNRT_GOLDEN_FILTER=%s NNRT_GOLDEN_DEVICES=%s test_golden",
      c->id, c->op, dev, nnrt_dtype_name(dt), name, (long long)bad, (long long)n, at, g, w[worst], fabs(g - w[worst]),
      atol, rtol, c->id, dev);
  r->failures++;
}

/* Runs the case on dev in dt.  Returns false if the device declined the
 * dtype (NNRT_ERR_UNIMPLEMENTED off ref): the caller skips it. */
static bool run_case(const golden_case *c, nnrt_device *dev, const char *devname, nnrt_dtype dt, report *r) {
  nnrt_op op = nnrt_op_from_name(c->op);
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!s) {
    say(r, "[%s] unknown op '%s' (fixtures newer than the library?)", c->id, c->op);
    r->failures++;
    return true;
  }
  /* params: union-sized scratch; every params struct is far smaller */
  _Alignas(max_align_t) unsigned char params[4096];
  if (s->params_size > sizeof params) {
    say(r, "[%s] params struct of %s is larger than the test's buffer", c->id, c->op);
    r->failures++;
    return true;
  }
  nnrt_params_init(op, params);
  for (int i = 0; i < c->n_params; i++)
    if (nnrt_params_set(op, params, c->params[i])) {
      say(r, "[%s] %s", c->id, nnrt_last_error());
      r->failures++;
      return true;
    }
  bool inplace = false;
  for (int i = 0; i < s->n_params; i++)
    if (s->params[i].type == NNRT_PARAM_BOOL && !strcmp(s->params[i].name, "inplace"))
      inplace = *(const bool *)(params + s->params[i].offset);

  nnrt_tensor *ins[MAX_ARGS] = {0}, *outs[MAX_ARGS] = {0};
  npy_array want[MAX_ARGS];
  memset(want, 0, sizeof want);
  bool declined = false, ok = true;
  if (s->n_inputs > MAX_ARGS || s->n_outputs > MAX_ARGS) {
    say(r, "[%s] %s has more tensors than the test handles", c->id, c->op);
    r->failures++;
    return true;
  }
  for (int i = 0; i < c->n_in && ok; i++) {
    int k = arg_index(s->inputs, s->n_inputs, c->in[i].name);
    npy_array a;
    if (k < 0) {
      say(r, "[%s] %s has no input '%s'", c->id, c->op, c->in[i].name);
      r->failures++;
      ok = false;
    } else if ((ok = load(c, c->in[i].file, &a, r))) {
      ins[k] = tensor_from(dev, &a, dt, s->inputs[k].flags & NNRT_ARG_INDEX, c->in[i].name, c, r);
      ok = ins[k] != NULL;
      npy_free(&a);
    }
  }
  /* each output's dtype as the op's rule gives it: int64 outputs stay
   * int64 in a float32 run; a rule that refuses the inputs leaves the run
   * to report it */
  nnrt_shape inferred[MAX_ARGS];
  nnrt_dtype out_dt[MAX_ARGS];
  bool have_inferred = ok && nnrt_op_infer(op, params, ins, inferred) == NNRT_OK;
  for (int k = 0; k < s->n_outputs; k++)
    out_dt[k] = have_inferred && inferred[k].dtype == NNRT_I64 ? NNRT_I64 : dt;
  for (int i = 0; i < c->n_out && ok; i++) {
    int k = arg_index(s->outputs, s->n_outputs, c->out[i].name);
    if (k < 0) {
      say(r, "[%s] %s has no output '%s'", c->id, c->op, c->out[i].name);
      r->failures++;
      ok = false;
      break;
    }
    if (!(ok = load(c, c->out[i].file, &want[k], r))) break;
    if (want[k].dtype != (out_dt[k] == NNRT_I64 ? NNRT_I64 : NNRT_F64)) {
      say(r, "[%s] expected '%s' is %s, the op's output is %s (the fixture must be %s)", c->id, c->out[i].name,
          nnrt_dtype_name(want[k].dtype), out_dt[k] == NNRT_I64 ? "int64" : "a float",
          out_dt[k] == NNRT_I64 ? "i64" : "f64");
      r->failures++;
      ok = false;
      break;
    }
    if (inplace && k == 0) continue; /* read back from input 0 */
    const golden_arg *u = find_arg(c->upd, c->n_upd, c->out[i].name);
    if (u) {
      npy_array b;
      if (!(ok = load(c, u->file, &b, r))) break;
      outs[k] = tensor_from(dev, &b, dt, out_dt[k] == NNRT_I64, u->name, c, r);
      npy_free(&b);
      ok = outs[k] != NULL;
    } else if ((s->outputs[k].flags & NNRT_ARG_UPDATE)) {
      say(r, "[%s] update output '%s' has no upd: starting value", c->id, c->out[i].name);
      r->failures++;
      ok = false;
    } else {
      /* NaN (int64: a value no index output holds) shows an unwritten element */
      nnrt_status st = nnrt_tensor_new(dev, out_dt[k], want[k].ndim, want[k].shape, &outs[k]);
      if (!st) st = nnrt_tensor_fill(outs[k], out_dt[k] == NNRT_I64 ? -7777 : NAN);
      if (st) {
        say(r, "[%s] cannot make output '%s' on %s: %s", c->id, c->out[i].name, devname, nnrt_last_error());
        r->failures++;
        ok = false;
      }
    }
  }
  if (ok) {
    nnrt_status st = nnrt_op_run(op, params, ins, outs);
    if (st == NNRT_ERR_UNIMPLEMENTED && strcmp(devname, "ref")) {
      declined = true;
    } else if (st) {
      say(r, "[%s] %s on %s %s failed: %s: %s\n  reproduce: NNRT_GOLDEN_FILTER=%s NNRT_GOLDEN_DEVICES=%s test_golden",
          c->id, c->op, devname, nnrt_dtype_name(dt), nnrt_status_str(st), nnrt_last_error(), c->id, devname);
      r->failures++;
    } else {
      for (int k = 0; k < s->n_outputs; k++) {
        if (!want[k].data) continue;
        nnrt_tensor *t = inplace && k == 0 ? ins[0] : outs[k];
        int64_t n = npy_numel(&want[k]);
        size_t esz = nnrt_dtype_size(out_dt[k]);
        void *got = malloc(n ? (size_t)n * esz : 1);
        if (!got) continue;
        if (nnrt_tensor_numel(t) != n || nnrt_tensor_read(t, got, (size_t)n * esz)) {
          say(r, "[%s] cannot read back '%s' (%lld elements, expected %lld): %s", c->id, s->outputs[k].name,
              (long long)nnrt_tensor_numel(t), (long long)n, nnrt_last_error());
          r->failures++;
        } else if (out_dt[k] == NNRT_I64) {
          compare_i64(c, devname, dt, s->outputs[k].name, &want[k], got, r);
        } else {
          compare(c, devname, dt, s->outputs[k].name, &want[k], got, c->rtol[dt == NNRT_F64], c->atol[dt == NNRT_F64], r);
        }
        free(got);
      }
    }
  }
  for (int i = 0; i < MAX_ARGS; i++) {
    nnrt_tensor_free(ins[i]);
    nnrt_tensor_free(outs[i]);
    npy_free(&want[i]);
  }
  return !declined;
}

/* ---- tests ---- */
static void free_params(struct criterion_test_params *crp) { cr_free(crp->params); }

static bool filter_match(const char *id) {
  const char *f = getenv("NNRT_GOLDEN_FILTER");
  return !f || !*f || !strncmp(id, f, strlen(f));
}

/* The first two tokens of a case line: id and op (truncated to fit). */
static void line_id_op(const char *l, char *id, size_t idlen, char *op, size_t oplen) {
  size_t n = strcspn(l, " \t\r");
  snprintf(id, idlen, "%.*s", (int)n, l);
  l += n;
  l += strspn(l, " \t\r");
  snprintf(op, oplen, "%.*s", (int)strcspn(l, " \t\r"), l);
}

/* One parameter per op of the manifest (in its order): a worker process
 * per op keeps the cost of starting workers and backends small. */
ParameterizedTestParameters(golden, cases) {
  golden_param *ps = NULL;
  size_t n = 0, k = 0;
  char *text = manifest_text();
  char *copy = text ? strdup(text) : NULL;
  char *cur = copy, *l;
  int line = 0;
  while (copy && (l = next_case_line(&cur, &line))) n++;
  if (n) ps = cr_malloc(sizeof *ps * n);
  cur = text;
  line = 0;
  while (ps && (l = next_case_line(&cur, &line))) {
    char id[128], op[64];
    line_id_op(l, id, sizeof id, op, sizeof op);
    if (!filter_match(id)) continue;
    size_t j = 0;
    while (j < k && strcmp(ps[j].op, op)) j++;
    if (j < k) continue;
    snprintf(ps[k].op, sizeof ps[k].op, "%s", op);
    k++;
  }
  free(copy);
  free(text);
  return cr_make_param_array(golden_param, ps, ps ? k : 0, free_params);
}

ParameterizedTest(golden_param *gp, golden, cases, .timeout = 120) {
  char *text = manifest_text();
  cr_assert(text != NULL, "cannot read %s", MANIFEST);
  device_list dl;
  devices_find(&dl);
  nnrt_device *devs[MAX_DEVICES] = {0};
  report r = {0};
  for (int d = 0; d < dl.n; d++)
    if (nnrt_device_get(dl.names[d], &devs[d])) {
      say(&r, "device %s: %s", dl.names[d], nnrt_last_error());
      r.failures++;
    }
  char *cur = text, *l, failed[2048] = "";
  int line = 0, cases = 0, bad_cases = 0;
  size_t fo = 0;
  while ((l = next_case_line(&cur, &line))) {
    char id[128], op[64];
    line_id_op(l, id, sizeof id, op, sizeof op);
    if (strcmp(op, gp->op) || !filter_match(id)) continue;
    cases++;
    golden_case c;
    char err[512];
    int before = r.failures, runs = 0;
    if (!parse_case(l, &c, err, sizeof err)) {
      say(&r, "%s:%d: %s", MANIFEST, line, err);
      r.failures++;
    } else {
      for (int d = 0; d < dl.n; d++)
        for (int k = 0; k < 2 && devs[d]; k++)
          if (!c.skip[k] && run_case(&c, devs[d], dl.names[d], k == DT_F64 ? NNRT_F64 : NNRT_F32, &r)) runs++;
      /* a case skipped in both dtypes documents a value PyTorch gives that
       * we do not reproduce (gen.py says why): not a failure */
      if (!runs && r.failures == before && !(c.skip[DT_F32] && c.skip[DT_F64])) {
        say(&r, "[%s] no device ran it", c.id);
        r.failures++;
      }
    }
    if (r.failures > before) {
      bad_cases++;
      if (fo < sizeof failed) fo += (size_t)snprintf(failed + fo, sizeof failed - fo, " %s", id);
    }
  }
  free(text);
  if (r.failures) cr_log_error("%s", r.buf);
  cr_expect(cases > 0, "op %s: no cases left in %s", gp->op, MANIFEST);
  cr_expect(eq(int, bad_cases, 0), "op %s: %d of %d golden cases failed (details above):%s", gp->op, bad_cases,
            cases, failed);
  free(r.buf);
}

/* The manifest parses, names only ops the library has, and logs which ops
 * have no fixture yet (as info: a Criterion warning fails the run). */
Test(golden, manifest) {
  char *text = manifest_text();
  cr_assert(text != NULL, "cannot read %s: run /usr/bin/python3 tools/golden/gen.py", MANIFEST);
  bool covered[NNRT_OP_COUNT] = {0};
  char *cur = text, *l;
  int line = 0, cases = 0;
  golden_case c;
  char err[512];
  while ((l = next_case_line(&cur, &line))) {
    if (!parse_case(l, &c, err, sizeof err)) {
      cr_expect(0, "%s:%d: %s", MANIFEST, line, err);
      continue;
    }
    cases++;
    nnrt_op op = nnrt_op_from_name(c.op);
    cr_expect(op != NNRT_OP_COUNT, "%s:%d: unknown op '%s'", MANIFEST, line, c.op);
    if (op != NNRT_OP_COUNT) covered[op] = true;
  }
  free(text);
  cr_expect(cases > 0, "%s has no cases", MANIFEST);
  char missing[4096] = "";
  size_t o = 0;
  for (int i = 0; i < NNRT_OP_COUNT; i++)
    if (!covered[i] && o < sizeof missing)
      o += (size_t)snprintf(missing + o, sizeof missing - o, " %s", nnrt_op_name((nnrt_op)i));
  if (o) cr_log_info("ops without golden cases (add them to tools/golden/gen.py):%s", missing);
}

/* Which devices the cases run on, and which of them compute float64. */
Test(golden, devices) {
  device_list dl;
  devices_find(&dl);
  for (int d = 0; d < dl.n; d++) {
    nnrt_device *dev;
    if (nnrt_device_get(dl.names[d], &dev)) {
      cr_log_info("golden: device %s unavailable: %s", dl.names[d], nnrt_last_error());
      continue;
    }
    /* a one-element relu tells whether the device takes float64 */
    int64_t one = 1;
    nnrt_tensor *x = NULL, *y = NULL;
    bool f64 = !nnrt_tensor_new(dev, NNRT_F64, 1, &one, &x) && !nnrt_tensor_new(dev, NNRT_F64, 1, &one, &y) &&
               nnrt_op_run(NNRT_OP_relu, NULL, (nnrt_tensor *const[]){x}, (nnrt_tensor *const[]){y}) == NNRT_OK;
    nnrt_tensor_free(x);
    nnrt_tensor_free(y);
    cr_log_info("golden: device %s: f32%s", dl.names[d], f64 ? " and f64" : " only (f64 cases skipped)");
  }
}
