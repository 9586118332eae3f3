/* tools/nnrt-check.c - the conformance suite: every case of cases.def
 * (forward and derived backward) on every chosen backend, compared with
 * ref computed in float64 on the same inputs.
 *
 *   nnrt-check [--backend LIST] [--op PATTERN]... [--dtype f32|f64] [--tol X] [-v] [--list]
 *
 * Per output: normalized max error max|got-want| / max|want| against a
 * per-op tolerance; NaN where ref has none fails, Inf must match in place
 * and sign; outputs start as a sentinel NaN (UPDATE outputs as their start
 * value, compared as the change from it) so an unwritten element is caught.
 * An output that is almost all zeros is "mistrusted" (-v): the comparison
 * proved little.  Each failure prints a reproducer that reruns that case
 * alone.  Limits: one device per backend unless named ("cuda:1"); no guard
 * bytes around outputs (tensors are opaque in the public API).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fnmatch.h>

#include "cases.h"

/* Normalized max error allowed, by op-name glob; first match wins.  f32
 * bounds leave room for float accumulation and fast math on devices; ref
 * f32 (double accumulation) stays far below them. */
static const struct {
  const char *pattern;
  double f32, f64;
} tolerances[] = {
    {"linear*", 1e-4, 1e-12},        /* sums over in_features in float on devices */
    {"cross_entropy*", 5e-5, 1e-12}, /* sums over classes and positions */
    {"*", 1e-5, 1e-12},
};

static double tolerance_override = -1; /* --tol */

static double tolerance_of(const char *op, nnrt_dtype dt) {
  if (tolerance_override >= 0) return tolerance_override;
  for (size_t i = 0; i < sizeof tolerances / sizeof tolerances[0]; i++)
    if (!fnmatch(tolerances[i].pattern, op, 0)) return dt == NNRT_F32 ? tolerances[i].f32 : tolerances[i].f64;
  return dt == NNRT_F32 ? 1e-5 : 1e-12;
}

/* A growing text for the detail lines of a case. */
typedef struct text {
  char buf[4096];
  size_t len;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...) {
  if (t->len >= sizeof t->buf - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
  va_end(ap);
  if (n > 0) t->len += (size_t)n;
  if (t->len > sizeof t->buf - 1) t->len = sizeof t->buf - 1;
}

typedef enum { R_PASSED, R_FAILED, R_SKIPPED, R_FALLBACK } result;
static const char *result_names[] = {"PASSED", "FAILED", "SKIPPED", "FALLBACK"};

/* Reads a tensor's raw bytes; counts sentinel elements. */
static int read_checked(const nnrt_tensor *t, double **vals, int64_t *unwritten, int64_t *first, text *d) {
  char err[CASE_ERR_LEN];
  nnrt_dtype dt = nnrt_tensor_dtype(t);
  int64_t n = nnrt_tensor_numel(t);
  size_t es = nnrt_dtype_size(dt);
  unsigned char *raw = malloc(n > 0 ? (size_t)n * es : 1);
  if (!raw || nnrt_tensor_read(t, raw, (size_t)n * es)) {
    add(d, "    cannot read output: %s\n", raw ? nnrt_last_error() : "out of memory");
    free(raw);
    return -1;
  }
  *unwritten = 0;
  *first = -1;
  if (dt != NNRT_I64)
    for (int64_t k = 0; k < n; k++)
      if (case_is_sentinel(dt, raw + (size_t)k * es) && !(*unwritten)++) *first = k;
  free(raw);
  if (case_read_f64(t, vals, err, sizeof err)) {
    add(d, "    cannot read output: %s\n", err);
    return -1;
  }
  return 0;
}

/* Compares one output; returns true when it passes. */
static bool compare_output(const char *name, const nnrt_tensor *got_t, const nnrt_tensor *want_t,
                           const case_buf *start, double tol, bool verbose, bool *mistrusted, text *d) {
  double *got = NULL, *want = NULL;
  int64_t unw_got, first_got, unw_want, first_want;
  if (read_checked(got_t, &got, &unw_got, &first_got, d) || read_checked(want_t, &want, &unw_want, &first_want, d)) {
    free(got);
    free(want);
    return false;
  }
  bool ok = true;
  int64_t n = nnrt_tensor_numel(want_t);
  if (unw_want) {
    add(d, "    %s: ref left %lld of %lld elements unwritten (first at %lld)\n", name, (long long)unw_want,
        (long long)n, (long long)first_want);
    ok = false;
  }
  if (unw_got) {
    add(d, "    %s: %lld of %lld elements unwritten (first at %lld)\n", name, (long long)unw_got, (long long)n,
        (long long)first_got);
    ok = false;
  }
  double max_err = 0, max_ref = 0;
  int64_t worst = -1, zeros = 0, bad_reported = 0;
  for (int64_t k = 0; ok && k < n; k++) {
    double a = got[k], r = want[k];
    if (start && start->present && !start->index) {
      a -= start->f[k];
      r -= start->f[k];
    }
    if (isnan(a) != isnan(r) || ((isinf(a) || isinf(r)) && a != r)) {
      if (bad_reported++ < 3)
        add(d, "    %s[%lld]: got %.9g, want %.9g (%s)\n", name, (long long)k, got[k], want[k],
            isnan(a) ? "unexpected NaN" : isnan(r) ? "NaN expected" : "Inf must match in place and sign");
      continue;
    }
    if (isnan(r) || isinf(r)) continue;
    if (r == 0) zeros++;
    double e = fabs(a - r);
    if (worst < 0 || e > max_err) {
      max_err = e;
      worst = k;
    }
    if (fabs(r) > max_ref) max_ref = fabs(r);
  }
  if (bad_reported) {
    if (bad_reported > 3) add(d, "    %s: %lld such elements in all\n", name, (long long)bad_reported);
    ok = false;
  }
  if (ok) {
    double nerr = max_err / fmax(max_ref, 1e-30);
    if (!(nerr <= tol)) {
      add(d, "    %s: normalized max error %.3g > %.3g at [%lld]: got %.9g, want %.9g (max |want| %.3g%s)\n", name,
          nerr, tol, (long long)worst, got[worst], want[worst], max_ref,
          start && start->present ? "; compared as change from the start value" : "");
      ok = false;
    } else if (verbose) {
      add(d, "    %s: normalized max error %.3g (tolerance %.3g)%s\n", name, nerr, tol,
          start && start->present ? ", as change from its start value" : "");
    }
    if (n > 0 && zeros * 10 >= n * 9) {
      *mistrusted = true;
      if (verbose)
        add(d, "    %s: mistrusted: %lld of %lld reference values are zero\n", name, (long long)zeros, (long long)n);
    }
  }
  free(got);
  free(want);
  return ok;
}

static bool fallback_is_error(void) {
  const char *e = getenv("NNRT_FALLBACK");
  return e && !strcmp(e, "error");
}

static result run_case(nnrt_device *dev, const nnrt_case *c, nnrt_dtype dt, bool verbose, text *d) {
  char err[CASE_ERR_LEN];
  if (c->error[0]) {
    add(d, "    broken case in cases.def: %s\n", c->error);
    return R_FAILED;
  }
  nnrt_device *ref;
  if (nnrt_device_get("ref", &ref)) {
    add(d, "    %s\n", nnrt_last_error());
    return R_FAILED;
  }
  case_values v;
  if (case_generate(c, dt, &v, err, sizeof err)) {
    add(d, "    cannot generate the case: %s\n", err);
    return R_FAILED;
  }
  nnrt_tensor *rin[CASE_MAX_ARGS] = {0}, *rout[CASE_MAX_ARGS] = {0};
  nnrt_tensor *din[CASE_MAX_ARGS] = {0}, *dout[CASE_MAX_ARGS] = {0};
  result res = R_PASSED;
  nnrt_status st;
  const char *opname = nnrt_op_name(c->op);
  if (case_make_inputs(&v, ref, NNRT_F64, rin, NULL, err, sizeof err) ||
      case_make_outputs(c, &v, ref, NNRT_F64, rin, true, rout, NULL, err, sizeof err)) {
    add(d, "    cannot make ref tensors: %s\n", err);
    res = R_FAILED;
    goto done;
  }
  if (nnrt_op_run(c->op, &c->params, rin, rout)) {
    add(d, "    ref f64 failed: %s\n", nnrt_last_error());
    res = R_FAILED;
    goto done;
  }
  if (case_make_inputs(&v, dev, dt, din, &st, err, sizeof err) ||
      case_make_outputs(c, &v, dev, dt, din, true, dout, &st, err, sizeof err)) {
    add(d, "    %s\n", err);
    res = st == NNRT_ERR_UNIMPLEMENTED ? R_SKIPPED : R_FAILED;
    goto done;
  }
  bool native = nnrt_device_has_op(dev, c->op);
  uint64_t fb_before = nnrt_device_fallback_count(dev, c->op);
  st = nnrt_op_run(c->op, &c->params, din, dout);
  if (!st) st = nnrt_device_sync(dev);
  if (st) {
    const char *msg = nnrt_last_error();
    add(d, "    %s: %s\n", nnrt_status_str(st), msg);
    if (st == NNRT_ERR_UNIMPLEMENTED && !(fallback_is_error() && (!native || strstr(msg, "NNRT_FALLBACK"))))
      res = R_SKIPPED;
    else
      res = R_FAILED;
    goto done;
  }
  bool fell_back = !native || nnrt_device_fallback_count(dev, c->op) > fb_before;
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  double tol = tolerance_of(opname, dt);
  bool all_ok = true, mistrusted = false;
  for (int i = 0; i < s->n_outputs; i++) {
    if (!v.out_wanted[i]) continue;
    bool upd = (s->outputs[i].flags & NNRT_ARG_UPDATE) != 0;
    all_ok &= compare_output(s->outputs[i].name, dout[i], rout[i], upd ? &v.upd[i] : NULL, tol, verbose,
                             &mistrusted, d);
  }
  if (fell_back && verbose) add(d, "    ran on ref by fallback (%s)\n", native ? "declined by supports" : "no kernel");
  res = !all_ok ? R_FAILED : fell_back ? R_FALLBACK : R_PASSED;
done:
  case_free_outputs(dout, v.n_outputs, din, v.n_inputs);
  case_free_tensors(din, v.n_inputs);
  case_free_outputs(rout, v.n_outputs, rin, v.n_inputs);
  case_free_tensors(rin, v.n_inputs);
  case_values_free(&v);
  return res;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: nnrt-check [--backend LIST] [--op PATTERN]... [--dtype f32|f64] [--tol X] [-v] [--list]\n"
          "Runs every case of cases.def (forward and derived backward) on each backend and\n"
          "compares with ref in float64 on the same inputs.\n"
          "  --backend LIST  comma-separated devices (ref, onednn, cuda:1); default: every usable backend\n"
          "  --op PATTERN    a case's exact descriptor, or a glob on its op name or descriptor;\n"
          "                  repeatable (any match selects)\n"
          "  --dtype T       f32 (default) or f64\n"
          "  --tol X         use X as every op's tolerance (normalized max error)\n"
          "  -v              details of passing cases, mistrusted outputs\n"
          "  --list          print the selected cases' descriptors and exit\n"
          "Prints one line per case: PASSED|FAILED|SKIPPED|FALLBACK descriptor, a reproducer for\n"
          "each failure, and 'N passed, N failed[, N skipped]'.  Exit 1 if any failed.\n");
}

#define MAX_DEVICES 32
#define MAX_PATTERNS 64

int main(int argc, char **argv) {
  const char *backends = NULL;
  const char *patterns[MAX_PATTERNS];
  int n_patterns = 0;
  nnrt_dtype dt = NNRT_F32;
  bool verbose = false, list_only = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
    bool takes = !strcmp(a, "--backend") || !strcmp(a, "--op") || !strcmp(a, "--dtype") || !strcmp(a, "--tol");
    if (takes) {
      if (i + 1 >= argc) {
        fprintf(stderr, "nnrt-check: %s needs a value\n", a);
        return 2;
      }
      val = argv[++i];
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      verbose = true;
    } else if (!strcmp(a, "--list")) {
      list_only = true;
    } else if (!strcmp(a, "--backend")) {
      backends = val;
    } else if (!strcmp(a, "--tol")) {
      char *end;
      tolerance_override = strtod(val, &end);
      if (end == val || *end || !(tolerance_override >= 0)) {
        fprintf(stderr, "nnrt-check: --tol must be a number >= 0, got '%s'\n", val);
        return 2;
      }
    } else if (!strcmp(a, "--op")) {
      if (n_patterns >= MAX_PATTERNS) {
        fprintf(stderr, "nnrt-check: at most %d --op patterns\n", MAX_PATTERNS);
        return 2;
      }
      patterns[n_patterns++] = val;
    } else if (!strcmp(a, "--dtype")) {
      if (!strcmp(val, "f32")) dt = NNRT_F32;
      else if (!strcmp(val, "f64")) dt = NNRT_F64;
      else {
        fprintf(stderr, "nnrt-check: --dtype must be f32 or f64, got '%s'\n", val);
        return 2;
      }
    } else {
      fprintf(stderr, "nnrt-check: unknown argument '%s' (--help for usage)\n", a);
      return 2;
    }
  }

  nnrt_case *cases;
  size_t n_cases;
  if (cases_list(&cases, &n_cases)) {
    fprintf(stderr, "nnrt-check: out of memory\n");
    return 1;
  }
  bool *selected = calloc(n_cases + 1, sizeof *selected);
  size_t n_selected = 0;
  for (size_t k = 0; k < n_cases; k++) {
    bool m = n_patterns == 0;
    for (int p = 0; p < n_patterns && !m; p++) m = case_matches(&cases[k], patterns[p]);
    selected[k] = m;
    n_selected += m;
  }
  if (!n_selected) {
    fprintf(stderr, "nnrt-check: no case matches%s", n_patterns ? "" : " (cases.def is empty)");
    for (int p = 0; p < n_patterns; p++) fprintf(stderr, " '%s'", patterns[p]);
    fprintf(stderr, " (--list shows the cases)\n");
    free(selected);
    cases_list_free(cases);
    return 2;
  }
  if (list_only) {
    for (size_t k = 0; k < n_cases; k++)
      if (selected[k]) printf("%s\n", cases[k].desc);
    free(selected);
    cases_list_free(cases);
    return 0;
  }

  nnrt_device *devs[MAX_DEVICES];
  int n_devs = 0;
  if (backends) {
    char *copy = strdup(backends);
    for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
      if (n_devs >= MAX_DEVICES) break;
      if (nnrt_device_get(t, &devs[n_devs])) {
        fprintf(stderr, "nnrt-check: %s\n", nnrt_last_error());
        free(copy);
        free(selected);
        cases_list_free(cases);
        return 2;
      }
      n_devs++;
    }
    free(copy);
  } else {
    for (size_t b = 0; b < nnrt_backend_count() && n_devs < MAX_DEVICES; b++) {
      nnrt_backend_info info;
      if (nnrt_backend_info_get(b, &info) || !info.usable) continue;
      if (nnrt_device_get(info.name, &devs[n_devs])) {
        fprintf(stderr, "nnrt-check: skipping backend %s: %s\n", info.name, nnrt_last_error());
        continue;
      }
      n_devs++;
    }
  }
  if (!n_devs) {
    fprintf(stderr, "nnrt-check: no device to check\n");
    free(selected);
    cases_list_free(cases);
    return 2;
  }

  int counts[4] = {0};
  for (int di = 0; di < n_devs; di++) {
    nnrt_device *dev = devs[di];
    const char *desc = nnrt_device_description(dev);
    printf("# %s%s%s, %s, against ref f64\n", nnrt_device_name(dev), desc[0] ? ": " : "", desc, nnrt_dtype_name(dt));
    for (size_t k = 0; k < n_cases; k++) {
      if (!selected[k]) continue;
      text d = {.len = 0};
      d.buf[0] = 0;
      result r = run_case(dev, &cases[k], dt, verbose, &d);
      counts[r]++;
      printf("%s %s\n", result_names[r], cases[k].desc);
      if (r != R_PASSED && r != R_FALLBACK) fputs(d.buf, stdout);
      else if (verbose) fputs(d.buf, stdout);
      if (r == R_FAILED)
        printf("    repro: %snnrt-check --backend %s --dtype %s --op '%s'\n", fallback_is_error() ? "NNRT_FALLBACK=error " : "", nnrt_device_name(dev),
               nnrt_dtype_name(dt), cases[k].desc);
      fflush(stdout);
    }
  }
  if (counts[R_FALLBACK])
    printf("# %d of the passed cases ran on ref by fallback\n", counts[R_FALLBACK]);
  printf("%d passed, %d failed", counts[R_PASSED] + counts[R_FALLBACK], counts[R_FAILED]);
  if (counts[R_SKIPPED]) printf(", %d skipped", counts[R_SKIPPED]);
  printf("\n");
  free(selected);
  cases_list_free(cases);
  return counts[R_FAILED] ? 1 : 0;
}
