/* tools/nnrt-bench.c - the cross-vendor benchmark: every op of a suite,
 * forward and backward, on every chosen device, side by side.
 *
 *   nnrt-bench [--backend LIST] [--op PATTERN]... [--suite canonical|full]
 *              [--reps N] [--warmup N] [--scale F] [--quick] [--json FILE]
 *              [--csv FILE] [--md FILE] [--plot FILE.png] [--baseline FILE.json]
 *
 * Each case is timed as median and min of --reps runs after --warmup runs,
 * nnrt_device_sync() before the clock stops.  Memory-bound cases report
 * GB/s with bytes = inputs read + outputs written (UPDATE outputs count
 * twice); GEMM-bound ones (linear, rnn, lstm, gru) GFLOP/s with 2 flops per
 * multiply-add of their weights over the input's rows (backward = 2x the
 * forward).  Each figure is also given as a fraction of the machine's
 * roofline, measured at start: memory copy bandwidth by the same OpenMP
 * threads (the better of memcpy and a STREAM-style copy loop, at the size
 * of the largest input and at least 64 MiB, so that ops and copy see the
 * same caches and any subset of cases the same figure; also given at
 * 1 GiB) and the sgemm rate of OpenBLAS (cblas_sgemm, 2048^2).  Also
 * printed: the speed-up against ref, fallbacks to ref per iteration
 * (nnrt_device_fallback_count), library and driver versions, and with
 * --baseline the PyTorch time (tools/bench/pytorch_baseline.py) and ratio.
 *
 * Ops are looked up by name at run time: a case whose op is not in ops.def
 * prints "n/a".  Inputs are built from the op's signature: a per-case spec
 * table ("input=n[4096,1000] target=i[4096](0,1000)", the syntax of
 * tools/common/cases.def) gives shapes and values by tensor name; names the
 * op does not have are ignored, so one table line can serve signatures
 * still being written.  A backward takes the forward's outputs by name,
 * grad_<output> random, other inputs by name (as cases.def derives them).
 * Limits: float32 only; one device per backend unless named; the roofline
 * figures are those of the host CPU even for an accelerator.
 */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include "bench/json.h"
#include "bench/plot.h"
#include "cases.h"

/* ---- the suites ---- */
typedef enum { MODE_FWD, MODE_BWD, MODE_FWDBWD } bench_mode;
static const char *const mode_names[] = {"fwd", "bwd", "fwd+bwd"};
typedef enum { BOUND_MEM, BOUND_GEMM } bench_bound;

typedef struct bench_template {
  const char *label; /* unique in its suite; pytorch_baseline.py uses the same */
  const char *group;
  const char *op;    /* the forward op; the backward is <op>_backward */
  bench_mode mode;
  bench_bound bound;
  const char *specs;
  const char *params; /* "name=value ...": names the op lacks are skipped */
} bench_template;

#define EW(name, params)                                                         \
  {name, "activation", name, MODE_FWD, BOUND_MEM, "input=n[4096,4096]", params},  \
  {name "_backward", "activation", name, MODE_BWD, BOUND_MEM, "input=n[4096,4096]", params},
#define CE_SPECS "input=n[4096,1000] target=i[4096](0,1000)"
#define BN_SPECS "input=n[32,64,56,56] weight=u[64](0.5,1.5) bias=n[64] running_mean=n[64] running_var=u[64](0.5,1.5)"
#define BN_PARAMS "eps=1e-5 momentum=0.1"
/* PyTorch's initialisation range 1/sqrt(hidden).  ops.def takes one flat
 * `weights` of G*H*(I + H + 2) elements for one layer with biases. */
#define RNN_W(N) "weights=u[" N "](-0.0442,0.0442)"
#define RNN_PARAMS "input_size=512 hidden_size=512 num_layers=1"
#define RNN(name, N, extra)                                                      \
  {name, "rnn", name, MODE_FWD, BOUND_GEMM, "input=n[50,64,512] " RNN_W(N), RNN_PARAMS " training=false" extra}, \
  {name " fwd+bwd", "rnn", name, MODE_FWDBWD, BOUND_GEMM, "input=n[50,64,512] " RNN_W(N),                       \
   RNN_PARAMS " training=true" extra},
#define UP_PARAMS "scale_factor=2,2"

static const bench_template canonical[] = {
    EW("relu", "") EW("sigmoid", "") EW("tanh", "") EW("elu", "") EW("softplus", "")
    EW("leaky_relu", "negative_slope=0.1") EW("hardtanh", "")
    {"softmax", "softmax", "softmax", MODE_FWD, BOUND_MEM, "input=n[4096,1000]", "dim=1"},
    {"log_softmax", "softmax", "log_softmax", MODE_FWD, BOUND_MEM, "input=n[4096,1000]", "dim=1"},
    {"cross_entropy", "loss", "cross_entropy", MODE_FWD, BOUND_MEM, CE_SPECS, ""},
    {"cross_entropy fwd+bwd", "loss", "cross_entropy", MODE_FWDBWD, BOUND_MEM, CE_SPECS, ""},
    {"batch_norm train", "batch_norm", "batch_norm", MODE_FWD, BOUND_MEM, BN_SPECS, BN_PARAMS " training=true"},
    {"batch_norm eval", "batch_norm", "batch_norm", MODE_FWD, BOUND_MEM, BN_SPECS, BN_PARAMS " training=false"},
    {"batch_norm train fwd+bwd", "batch_norm", "batch_norm", MODE_FWDBWD, BOUND_MEM, BN_SPECS, BN_PARAMS " training=true"},
    RNN("lstm", "2101248", "") RNN("gru", "1575936", "") RNN("rnn", "525312", " nonlinearity=tanh")
    {"upsample_nearest2d", "vision", "upsample_nearest2d", MODE_FWD, BOUND_MEM, "input=n[16,64,128,128]", UP_PARAMS},
    {"upsample_bilinear2d", "vision", "upsample_bilinear2d", MODE_FWD, BOUND_MEM, "input=n[16,64,128,128]",
     UP_PARAMS " align_corners=true"},
    {"pixel_shuffle", "vision", "pixel_shuffle", MODE_FWD, BOUND_MEM, "input=n[16,256,64,64]", "upscale_factor=2"},
};

/* Ops whose cost is their GEMMs. */
static bool gemm_op(const char *op) {
  static const char *const pats[] = {"linear*", "rnn*", "lstm*", "gru*"};
  for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
    if (!fnmatch(pats[i], op, 0)) return true;
  return false;
}

/* A case as run: the template's text with its specs scaled. */
typedef struct bench_entry {
  char label[96];
  char group[32];
  char op[64];
  bench_mode mode;
  bench_bound bound;
  char specs[CASE_DESC_LEN];
  char params[256];
  /* filled while running */
  char size[64];       /* lead tensor's shape, "4096x1000" */
  double bytes, flops; /* per iteration; 0 when unknown */
  double pytorch_ms;   /* from --baseline; NaN when none */
  char status[CASE_ERR_LEN + 160]; /* "": runnable, else why not (same on every device) */
} bench_entry;

/* ---- options and state ---- */
typedef struct options {
  const char *backends, *suite, *json, *csv, *md, *plot, *baseline;
  const char *patterns[64];
  int n_patterns;
  int reps, warmup;
  double scale;
  bool quick, verbose, list;
} options;

typedef enum { RES_OK, RES_NA, RES_ERROR } res_status;

typedef struct bench_result {
  res_status status;
  char msg[CASE_ERR_LEN];
  double median_ms, min_ms;
  double fallbacks; /* calls that fell back to ref, per iteration */
  bool native;      /* every op of the case has a kernel on the device */
} bench_result;

#define MAX_DEVICES 16
typedef struct machine {
  char cpu[128];
  int cores, threads;
  double mem_gib;
  double copy_gbs, copy_big_gbs; /* at the roofline size, at 1 GiB: the better of */
  double memcpy_gbs, loop_gbs;   /* memcpy and the copy loop (at the roofline size) */
  double copy_mib;               /* the roofline size per buffer */
  double sgemm_gflops;
  int sgemm_n;
  char blas[160];
  double load_before[3], load_after[3];
} machine;

static void die_oom(void) {
  fprintf(stderr, "nnrt-bench: out of memory\n");
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the machine and its roofline ---- */
static void read_loadavg(double l[3]) {
  l[0] = l[1] = l[2] = NAN;
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return;
  if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) l[0] = l[1] = l[2] = NAN;
  fclose(f);
}

static void machine_describe(machine *m) {
  snprintf(m->cpu, sizeof m->cpu, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  if (f) {
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10)) continue;
      char *c = strchr(line, ':');
      if (!c) continue;
      c++;
      while (*c == ' ') c++;
      c[strcspn(c, "\n")] = 0;
      snprintf(m->cpu, sizeof m->cpu, "%s", c);
      break;
    }
    fclose(f);
  }
  m->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  m->threads = omp_get_max_threads();
  m->mem_gib = NAN;
  if ((f = fopen("/proc/meminfo", "r"))) {
    long long kb;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) m->mem_gib = (double)kb / (1024.0 * 1024.0);
    fclose(f);
  }
  snprintf(m->blas, sizeof m->blas, "%s", openblas_get_config());
}

/* Best (read + write) rates of copying bytes with the OpenMP threads:
 * memcpy of one share per thread, and a STREAM-style copy loop. */
static void copy_rates(size_t bytes, int reps, double *memcpy_gbs, double *loop_gbs) {
  *memcpy_gbs = *loop_gbs = NAN;
  size_t n = bytes / sizeof(float);
  float *src = aligned_alloc(64, n * sizeof(float)), *dst = aligned_alloc(64, n * sizeof(float));
  if (!src || !dst) {
    free(src);
    free(dst);
    return;
  }
#pragma omp parallel for schedule(static) /* first touch by the threads that copy */
  for (size_t i = 0; i < n; i++) src[i] = 1.0f, dst[i] = 0.0f;
  double best_m = INFINITY, best_l = INFINITY;
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
#pragma omp parallel
    {
      size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
      size_t chunk = (n + nt - 1) / nt, lo = t * chunk < n ? t * chunk : n, hi = lo + chunk < n ? lo + chunk : n;
      memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float));
    }
    double t1 = now_s();
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
    double t2 = now_s();
    if (t1 - t0 < best_m) best_m = t1 - t0;
    if (t2 - t1 < best_l) best_l = t2 - t1;
  }
  free(src);
  free(dst);
  *memcpy_gbs = 2.0 * (double)(n * sizeof(float)) / best_m / 1e9;
  *loop_gbs = 2.0 * (double)(n * sizeof(float)) / best_l / 1e9;
}

static double sgemm_rate(int n, int reps) {
  size_t nn = (size_t)n * (size_t)n;
  float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
  if (!a || !b || !c) {
    free(a), free(b), free(c);
    return NAN;
  }
  for (size_t i = 0; i < nn; i++) a[i] = (float)(i % 13) * 0.01f, b[i] = (float)(i % 7) * 0.02f, c[i] = 0;
  double best = INFINITY;
  for (int r = -1; r < reps; r++) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double t = now_s() - t0;
    if (r >= 0 && t < best) best = t;
  }
  free(a), free(b), free(c);
  return 2.0 * (double)n * n * n / best / 1e9;
}

/* ---- entries ---- */
static void copy_text(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src ? src : ""); }

static bool matches(const options *o, const char *label, const char *op) {
  if (!o->n_patterns) return true;
  for (int i = 0; i < o->n_patterns; i++)
    if (!strcmp(o->patterns[i], label) || !fnmatch(o->patterns[i], label, 0) || !fnmatch(o->patterns[i], op, 0))
      return true;
  return false;
}

static void add_entry(bench_entry **list, size_t *n, size_t *cap, const bench_template *t) {
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    bench_entry *nl = realloc(*list, *cap * sizeof **list);
    if (!nl) die_oom();
    *list = nl;
  }
  bench_entry *e = &(*list)[(*n)++];
  memset(e, 0, sizeof *e);
  copy_text(e->label, sizeof e->label, t->label);
  copy_text(e->group, sizeof e->group, t->group);
  copy_text(e->op, sizeof e->op, t->op);
  e->mode = t->mode;
  e->bound = t->bound;
  copy_text(e->specs, sizeof e->specs, t->specs);
  copy_text(e->params, sizeof e->params, t->params);
  e->pytorch_ms = NAN;
}

/* --suite full: the first cases.def line of each op, forward and backward. */
static void full_suite(bench_entry **list, size_t *n, size_t *cap) {
  for (size_t i = 0; i < cases_def_count(); i++) {
    const case_def *d = cases_def_get(i);
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++) seen = !strcmp(cases_def_get(k)->op, d->op);
    if (seen) continue;
    nnrt_op op = nnrt_op_from_name(d->op);
    const nnrt_op_signature *s = nnrt_op_signature_of(op);
    char bname[128];
    snprintf(bname, sizeof bname, "%s_backward", d->op);
    bench_template t = {d->op, s ? s->rule : "?", d->op, MODE_FWD, gemm_op(d->op) ? BOUND_GEMM : BOUND_MEM,
                        d->specs, d->params};
    add_entry(list, n, cap, &t);
    if (nnrt_op_from_name(bname) != NNRT_OP_COUNT) {
      t.label = bname;
      t.mode = MODE_BWD;
      add_entry(list, n, cap, &t);
      /* label points into bname: copied by add_entry */
    }
  }
}

/* ---- specs and params, filtered by the op's signature ---- */
static bool op_has_tensor(nnrt_op op, const char *name) {
  return op != NNRT_OP_COUNT && (case_input_index(op, name) >= 0 || case_output_index(op, name) >= 0);
}

static bool op_has_param(nnrt_op op, const char *name, size_t len) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  for (int i = 0; s && i < s->n_params; i++)
    if (strlen(s->params[i].name) == len && !strncmp(s->params[i].name, name, len)) return true;
  return false;
}

/* Appends a space-separated token to dst (of size len), truncating. */
static void cat(char *dst, size_t len, const char *tok) {
  size_t o = strlen(dst);
  snprintf(dst + o, len - o, "%s%s", o ? " " : "", tok);
}

/* Keeps the spec tokens naming a tensor of fwd or bwd. */
static void filter_specs(const char *in, nnrt_op fwd, nnrt_op bwd, char *out, size_t len) {
  char buf[CASE_DESC_LEN];
  copy_text(buf, sizeof buf, in);
  out[0] = 0;
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char name[64];
    size_t n = strcspn(tok, "=");
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), tok);
    if (op_has_tensor(fwd, name) || op_has_tensor(bwd, name)) cat(out, len, tok);
  }
}

/* Keeps the params fwd (or bwd) has. */
static void filter_params(const char *in, nnrt_op fwd, nnrt_op bwd, char *out, size_t len) {
  char buf[256];
  copy_text(buf, sizeof buf, in);
  out[0] = 0;
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    size_t n = strcspn(tok, "=");
    if (op_has_param(fwd, tok, n) || op_has_param(bwd, tok, n)) cat(out, len, tok);
  }
}

/* Tensors whose dim 0 is never the batch: parameters, statistics, and
 * the initial states of rnn layers (layers first; a cell's hx is batch
 * first and scales). */
static bool is_param_tensor(const char *name) {
  static const char *const prefixes[] = {"weight", "bias", "running_", "h0", "c0"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (!strncmp(name, prefixes[i], strlen(prefixes[i]))) return true;
  return false;
}

/* Scales dim 0 of the lead (first) spec and of every other non-parameter
 * spec that shares it (targets of a loss, the other operands).  full:
 * grow the lead to about scale Mi elements; else multiply by scale. */
static void scale_specs(nnrt_case *c, double scale, bool full, bool gemm) {
  if (c->n_specs == 0 || c->specs[0].ndim == 0 || c->specs[0].shape[0] == 0) return;
  case_spec *lead = &c->specs[0];
  int64_t d0 = lead->shape[0], nd0;
  if (full) {
    int64_t numel = 1;
    for (int i = 0; i < lead->ndim; i++) numel *= lead->shape[i] ? lead->shape[i] : 1;
    double f = ceil(scale * 1048576.0 / (double)numel);
    if (f < 1) f = 1;
    if (gemm && f > 16) f = 16; /* recurrent ops loop over dim 0 (time) */
    nd0 = d0 * (int64_t)f;
  } else {
    nd0 = (int64_t)llround((double)d0 * scale);
  }
  if (nd0 < 1) nd0 = 1;
  for (int i = 0; i < c->n_specs; i++)
    if (i == 0 || (c->specs[i].ndim > 0 && c->specs[i].shape[0] == d0 && !is_param_tensor(c->specs[i].name)))
      c->specs[i].shape[0] = nd0;
}

/* The specs of a case as text, after scaling. */
static void specs_text(const nnrt_case *c, char *out, size_t len) {
  out[0] = 0;
  for (int i = 0; i < c->n_specs; i++) {
    const case_spec *s = &c->specs[i];
    size_t o = strlen(out);
    snprintf(out + o, len - o, "%s%s=%c[", i ? " " : "", s->name, s->kind);
    for (int d = 0; d < s->ndim; d++) {
      o = strlen(out);
      snprintf(out + o, len - o, "%s%lld", d ? "," : "", (long long)s->shape[d]);
    }
    o = strlen(out);
    if (s->kind == 'u' || s->kind == 'i') snprintf(out + o, len - o, "](%g,%g)", s->lo, s->hi);
    else snprintf(out + o, len - o, "]");
  }
}

/* Parses an entry: its forward (and backward) op, filtered and scaled.
 * Returns 0, or sets e->status. */
static int entry_prepare(bench_entry *e, double scale, bool full, case_def *def, nnrt_case *c) {
  nnrt_op fwd = nnrt_op_from_name(e->op), bwd = NNRT_OP_COUNT;
  char bname[128];
  snprintf(bname, sizeof bname, "%s_backward", e->op);
  if (fwd == NNRT_OP_COUNT) {
    snprintf(e->status, sizeof e->status, "not available: no op '%s' in ops.def", e->op);
    return -1;
  }
  if (e->mode != MODE_FWD && (bwd = nnrt_op_from_name(bname)) == NNRT_OP_COUNT) {
    snprintf(e->status, sizeof e->status, "not available: no op '%s' in ops.def", bname);
    return -1;
  }
  static char specs[CASE_DESC_LEN], params[256];
  filter_specs(e->specs, fwd, bwd, specs, sizeof specs);
  filter_params(e->params, fwd, bwd, params, sizeof params);
  *def = (case_def){e->op, specs, params};
  if (case_parse(def, 0, e->mode != MODE_FWD, c) != 0) {
    snprintf(e->status, sizeof e->status, "error: %s", c->error[0] ? c->error : "cannot parse the case");
    return -1;
  }
  if (scale > 0) scale_specs(c, scale, full, e->bound == BOUND_GEMM);
  e->size[0] = 0;
  if (c->n_specs) {
    const case_spec *s = &c->specs[0];
    for (int i = 0; i < s->ndim; i++) {
      size_t n = strlen(e->size);
      snprintf(e->size + n, sizeof e->size - n, "%s%lld", i ? "x" : "", (long long)s->shape[i]);
    }
    if (!s->ndim) copy_text(e->size, sizeof e->size, "scalar");
  }
  return 0;
}

/* ---- host values, generated once per entry and shared by the devices ---- */
typedef struct host_value {
  char name[64];
  case_spec spec;
  void *data;
  size_t bytes;
} host_value;

typedef struct host_cache {
  host_value v[2 * CASE_MAX_ARGS];
  int n;
  const char *seed;
} host_cache;

static void host_cache_clear(host_cache *h) {
  for (int i = 0; i < h->n; i++) free(h->v[i].data);
  h->n = 0;
}

static const host_value *host_get(host_cache *h, const char *name, const case_spec *sp) {
  for (int i = 0; i < h->n; i++)
    if (!strcmp(h->v[i].name, name) && h->v[i].spec.ndim == sp->ndim &&
        !memcmp(h->v[i].spec.shape, sp->shape, sizeof(int64_t) * (size_t)sp->ndim))
      return &h->v[i];
  if (h->n == (int)(sizeof h->v / sizeof h->v[0])) return NULL;
  host_value *v = &h->v[h->n];
  int64_t numel = 1;
  for (int i = 0; i < sp->ndim; i++) numel *= sp->shape[i];
  bool index = sp->kind == 'i';
  v->bytes = (size_t)numel * (index ? sizeof(int64_t) : sizeof(float));
  v->data = malloc(v->bytes ? v->bytes : 1);
  if (!v->data) return NULL;
  copy_text(v->name, sizeof v->name, name);
  v->spec = *sp;
  case_rng r = case_rng_seed(h->seed, name);
  float *f = v->data;
  int64_t *ix = v->data;
  for (int64_t k = 0; k < numel; k++) {
    switch (sp->kind) {
    case 'n':
      if (k + 1 < numel) { /* both values of a Box-Muller pair */
        double u = 1.0 - case_rng_uniform(&r), w = 6.283185307179586 * case_rng_uniform(&r), m = sqrt(-2.0 * log(u));
        f[k] = (float)(m * cos(w));
        f[++k] = (float)(m * sin(w));
      } else {
        f[k] = (float)case_rng_normal(&r);
      }
      break;
    case 'u': f[k] = (float)(sp->lo + (sp->hi - sp->lo) * case_rng_uniform(&r)); break;
    case 's': f[k] = case_rng_uniform(&r) < 0.5 ? -1.0f : 1.0f; break;
    default: {
      int64_t lo = (int64_t)sp->lo, span = (int64_t)sp->hi - lo;
      ix[k] = lo + (int64_t)(case_rng_next(&r) % (uint64_t)span);
    }
    }
  }
  h->n++;
  return v;
}

/* ---- the tensors of one entry on one device ---- */
typedef struct op_call {
  nnrt_op op;
  const case_params *params;
  int n_in, n_out;
  nnrt_tensor *in[CASE_MAX_ARGS], *out[CASE_MAX_ARGS];
} op_call;

typedef struct bench_run {
  op_call fwd, bwd;
  bool need_fwd_values; /* the backward reads a forward output */
  nnrt_tensor *owned[4 * CASE_MAX_ARGS];
  int n_owned;
} bench_run;

static void run_free(bench_run *r) {
  for (int i = 0; i < r->n_owned; i++) nnrt_tensor_free(r->owned[i]);
  r->n_owned = 0;
}

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return -1;
}

static nnrt_tensor *new_tensor(bench_run *r, nnrt_device *dev, nnrt_dtype dt, int ndim, const int64_t *shape,
                               char *err, size_t len) {
  nnrt_tensor *t = NULL;
  if (nnrt_tensor_new(dev, dt, ndim, shape, &t)) {
    fail(err, len, "cannot allocate a %s tensor: %s", nnrt_dtype_name(dt), nnrt_last_error());
    return NULL;
  }
  r->owned[r->n_owned++] = t;
  return t;
}

static nnrt_tensor *spec_tensor(bench_run *r, host_cache *h, nnrt_device *dev, const char *name,
                                const case_spec *sp, char *err, size_t len) {
  const host_value *hv = host_get(h, name, sp);
  if (!hv) return fail(err, len, "out of memory for the values of '%s'", name), NULL;
  nnrt_tensor *t = new_tensor(r, dev, sp->kind == 'i' ? NNRT_I64 : NNRT_F32, sp->ndim, sp->shape, err, len);
  if (t && nnrt_tensor_write(t, hv->data, hv->bytes)) {
    fail(err, len, "cannot write '%s': %s", name, nnrt_last_error());
    return NULL;
  }
  return t;
}

static const case_spec *find_spec(const nnrt_case *c, const char *name) {
  for (int i = 0; i < c->n_specs; i++)
    if (!strcmp(c->specs[i].name, name)) return &c->specs[i];
  return NULL;
}

/* Whether op's backward takes the forward output `name` itself (a saved
 * state such as a workspace), not only its gradient. */
static bool backward_reads(nnrt_op fwd, const char *name) {
  char bname[128];
  snprintf(bname, sizeof bname, "%s_backward", nnrt_op_name(fwd));
  nnrt_op bwd = nnrt_op_from_name(bname);
  return bwd != NNRT_OP_COUNT && case_input_index(bwd, name) >= 0;
}

/* Outputs of a call: UPDATE ones from their spec, optional UPDATE ones of
 * a forward without a spec left NULL, the rest zeros of the inferred shape.
 * A forward timed alone (inference) leaves out the optional outputs only
 * its backward reads (the rnn workspace). */
static int make_outputs(bench_run *r, host_cache *h, nnrt_device *dev, const nnrt_case *c, op_call *k,
                        bool forward, bool alone, char *err, size_t len) {
  const nnrt_op_signature *s = nnrt_op_signature_of(k->op);
  nnrt_shape shapes[CASE_MAX_ARGS];
  bool need_infer = false;
  for (int i = 0; i < s->n_outputs; i++) need_infer |= !find_spec(c, s->outputs[i].name);
  /* (infer is skipped when every output has a spec: some rules read the
   * UPDATE outputs infer does not have) */
  if (need_infer && nnrt_op_infer(k->op, k->params, k->in, shapes))
    return fail(err, len, "%s: %s", nnrt_op_name(k->op), nnrt_last_error());
  k->n_out = s->n_outputs;
  for (int i = 0; i < s->n_outputs; i++) {
    unsigned fl = s->outputs[i].flags;
    const char *name = s->outputs[i].name;
    const case_spec *sp = find_spec(c, name);
    k->out[i] = NULL;
    if ((fl & NNRT_ARG_UPDATE) && sp) k->out[i] = spec_tensor(r, h, dev, name, sp, err, len);
    else if (forward && (fl & NNRT_ARG_UPDATE) && (fl & NNRT_ARG_OPTIONAL)) continue;
    else if (forward && alone && (fl & NNRT_ARG_OPTIONAL) && backward_reads(k->op, name)) continue;
    else k->out[i] = new_tensor(r, dev, shapes[i].dtype, shapes[i].ndim, shapes[i].dims, err, len);
    if (!k->out[i]) return -1;
  }
  return 0;
}

static int build_run(bench_run *r, host_cache *h, nnrt_device *dev, const bench_entry *e, const nnrt_case *c,
                     char *err, size_t len) {
  memset(r, 0, sizeof *r);
  r->fwd.op = c->fwd_op;
  r->fwd.params = &c->fwd_params;
  const nnrt_op_signature *fs = nnrt_op_signature_of(c->fwd_op);
  r->fwd.n_in = fs->n_inputs;
  for (int i = 0; i < fs->n_inputs; i++) {
    const case_spec *sp = find_spec(c, fs->inputs[i].name);
    if (sp) {
      if (!(r->fwd.in[i] = spec_tensor(r, h, dev, fs->inputs[i].name, sp, err, len))) return -1;
    } else if (!(fs->inputs[i].flags & NNRT_ARG_OPTIONAL)) {
      return fail(err, len, "required input '%s' of %s has no spec in the bench table", fs->inputs[i].name,
                  fs->name);
    }
  }
  if (make_outputs(r, h, dev, c, &r->fwd, true, e->mode == MODE_FWD, err, len)) return -1;
  if (e->mode == MODE_FWD) return 0;
  r->bwd.op = c->op;
  r->bwd.params = &c->params;
  const nnrt_op_signature *bs = nnrt_op_signature_of(c->op);
  r->bwd.n_in = bs->n_inputs;
  for (int i = 0; i < bs->n_inputs; i++) {
    const char *name = bs->inputs[i].name;
    int k;
    const case_spec *sp;
    nnrt_tensor *t = NULL;
    if (!strncmp(name, "grad_", 5) && (k = case_output_index(c->fwd_op, name + 5)) >= 0 && r->fwd.out[k]) {
      const nnrt_tensor *o = r->fwd.out[k];
      case_spec g = {.kind = 'n', .ndim = nnrt_tensor_ndim(o)};
      memcpy(g.shape, nnrt_tensor_shape(o), sizeof(int64_t) * (size_t)g.ndim);
      if (!(t = spec_tensor(r, h, dev, name, &g, err, len))) return -1;
    } else if ((k = case_output_index(c->fwd_op, name)) >= 0 && r->fwd.out[k]) {
      t = r->fwd.out[k];
      r->need_fwd_values = true;
    } else if ((k = case_input_index(c->fwd_op, name)) >= 0 && r->fwd.in[k]) {
      t = r->fwd.in[k];
    } else if ((sp = find_spec(c, name))) {
      if (!(t = spec_tensor(r, h, dev, name, sp, err, len))) return -1;
    } else if (!(bs->inputs[i].flags & NNRT_ARG_OPTIONAL)) {
      return fail(err, len, "required input '%s' of %s has no source", name, bs->name);
    }
    r->bwd.in[i] = t;
  }
  return make_outputs(r, h, dev, c, &r->bwd, false, false, err, len);
}

static double call_bytes(const op_call *k) {
  const nnrt_op_signature *s = nnrt_op_signature_of(k->op);
  double b = 0;
  for (int i = 0; i < k->n_in; i++)
    if (k->in[i]) b += (double)nnrt_tensor_numel(k->in[i]) * (double)nnrt_dtype_size(nnrt_tensor_dtype(k->in[i]));
  for (int i = 0; i < k->n_out; i++)
    if (k->out[i])
      b += (double)nnrt_tensor_numel(k->out[i]) * (double)nnrt_dtype_size(nnrt_tensor_dtype(k->out[i])) *
           ((s->outputs[i].flags & NNRT_ARG_UPDATE) ? 2 : 1);
  return b;
}

/* Forward GEMM flops: 2 per weight element per row of the input (for rnn
 * ops every layer and direction sees each row once; biases, a fraction of
 * a percent of the weights, are counted too). */
static double call_flops(const op_call *k) {
  const nnrt_op_signature *s = nnrt_op_signature_of(k->op);
  const nnrt_tensor *x = k->in[0];
  double weights = 0;
  for (int i = 0; i < k->n_in; i++)
    if (k->in[i] && !strncmp(s->inputs[i].name, "weight", 6) && nnrt_tensor_dtype(k->in[i]) != NNRT_I64)
      weights += (double)nnrt_tensor_numel(k->in[i]);
  if (!x || !nnrt_tensor_ndim(x)) return 0;
  int64_t last = nnrt_tensor_shape(x)[nnrt_tensor_ndim(x) - 1];
  double rows = last ? (double)nnrt_tensor_numel(x) / (double)last : 0;
  return 2.0 * rows * weights;
}

static nnrt_status run_once(bench_run *r, bench_mode m, nnrt_device *dev) {
  nnrt_status st = NNRT_OK;
  if (m != MODE_BWD) st = nnrt_op_run(r->fwd.op, r->fwd.params, r->fwd.in, r->fwd.out);
  if (!st && m != MODE_FWD) st = nnrt_op_run(r->bwd.op, r->bwd.params, r->bwd.in, r->bwd.out);
  if (!st) st = nnrt_device_sync(dev);
  return st;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t fallbacks_of(nnrt_device *dev, const bench_run *r, bench_mode m) {
  uint64_t n = 0;
  if (m != MODE_BWD) n += nnrt_device_fallback_count(dev, r->fwd.op);
  if (m != MODE_FWD) n += nnrt_device_fallback_count(dev, r->bwd.op);
  return n;
}

static void bench_one(bench_entry *e, const nnrt_case *c, host_cache *h, nnrt_device *dev, const options *o,
                      bench_result *res) {
  bench_run r;
  memset(res, 0, sizeof *res);
  if (build_run(&r, h, dev, e, c, res->msg, sizeof res->msg)) {
    res->status = RES_ERROR;
    run_free(&r);
    return;
  }
  res->native = (e->mode == MODE_BWD || nnrt_device_has_op(dev, r.fwd.op)) &&
                (e->mode == MODE_FWD || nnrt_device_has_op(dev, r.bwd.op));
  if (e->bytes == 0) {
    e->bytes = (e->mode != MODE_BWD ? call_bytes(&r.fwd) : 0) + (e->mode != MODE_FWD ? call_bytes(&r.bwd) : 0);
    double f = call_flops(&r.fwd);
    e->flops = e->mode == MODE_FWD ? f : e->mode == MODE_BWD ? 2 * f : 3 * f;
  }
  nnrt_status st = NNRT_OK;
  /* the backward alone still needs the forward's outputs once */
  if (e->mode == MODE_BWD && r.need_fwd_values) st = run_once(&r, MODE_FWD, dev);
  uint64_t fb0 = fallbacks_of(dev, &r, e->mode);
  double *t = malloc(sizeof *t * (size_t)o->reps);
  if (!t) die_oom();
  for (int i = 0; !st && i < o->warmup; i++) st = run_once(&r, e->mode, dev);
  for (int i = 0; !st && i < o->reps; i++) {
    double t0 = now_s();
    st = run_once(&r, e->mode, dev);
    t[i] = now_s() - t0;
  }
  if (st) {
    res->status = st == NNRT_ERR_UNIMPLEMENTED ? RES_NA : RES_ERROR;
    snprintf(res->msg, sizeof res->msg, "%s: %s", nnrt_status_str(st), nnrt_last_error());
  } else {
    qsort(t, (size_t)o->reps, sizeof *t, cmp_double);
    res->min_ms = 1e3 * t[0];
    res->median_ms = 1e3 * (o->reps % 2 ? t[o->reps / 2] : 0.5 * (t[o->reps / 2 - 1] + t[o->reps / 2]));
    res->fallbacks = (double)(fallbacks_of(dev, &r, e->mode) - fb0) / (double)(o->warmup + o->reps);
  }
  free(t);
  run_free(&r);
}

/* Whether an entry's tensors can be built (on ref, a host device). */
static bool probe(const bench_entry *e, const nnrt_case *c, nnrt_device *ref) {
  host_cache h = {.n = 0, .seed = e->label};
  bench_run r;
  char err[CASE_ERR_LEN];
  bool ok = build_run(&r, &h, ref, e, c, err, sizeof err) == 0;
  run_free(&r);
  host_cache_clear(&h);
  return ok;
}

/* ---- figures ---- */
static double rate_of(const bench_entry *e, double ms) {
  if (!(ms > 0)) return NAN;
  double v = e->bound == BOUND_GEMM ? e->flops : e->bytes;
  return v > 0 ? v / (ms * 1e-3) / 1e9 : NAN;
}

static double roof_of(const bench_entry *e, const machine *m, double ms) {
  double r = rate_of(e, ms), peak = e->bound == BOUND_GEMM ? m->sgemm_gflops : m->copy_gbs;
  return r / peak;
}

/* ---- output ---- */
static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void json_num(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, "%.6g", v);
  else fputs("null", f);
}

static const char *status_name(res_status s) { return s == RES_OK ? "ok" : s == RES_NA ? "not available" : "error"; }

typedef struct report {
  const options *o;
  const machine *m;
  bench_entry *e;
  size_t n_e;
  nnrt_device **devs;
  int n_devs;
  bench_result *res; /* n_e * n_devs */
  const char *pt_version;
  int ref_col;       /* column of ref, -1 if not run */
} report;

static const bench_result *res_at(const report *rp, size_t i, int d) { return &rp->res[i * (size_t)rp->n_devs + (size_t)d]; }

static double speedup_vs_ref(const report *rp, size_t i, int d) {
  if (rp->ref_col < 0) return NAN;
  const bench_result *r = res_at(rp, i, d), *ref = res_at(rp, i, rp->ref_col);
  return r->status == RES_OK && ref->status == RES_OK ? ref->median_ms / r->median_ms : NAN;
}

static int best_dev(const report *rp, size_t i) {
  int best = -1;
  for (int d = 0; d < rp->n_devs; d++) {
    const bench_result *r = res_at(rp, i, d);
    if (r->status == RES_OK && (best < 0 || r->median_ms < res_at(rp, i, best)->median_ms)) best = d;
  }
  return best;
}

static const char *backend_version(const char *backend) {
  for (size_t b = 0; b < nnrt_backend_count(); b++) {
    nnrt_backend_info info;
    if (!nnrt_backend_info_get(b, &info) && !strcmp(info.name, backend)) return info.version ? info.version : "";
  }
  return "";
}

static int write_json(const report *rp, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return fprintf(stderr, "nnrt-bench: cannot create %s: %s\n", path, strerror(errno)), -1;
  const machine *m = rp->m;
  fprintf(f, "{\n  \"schema\": \"nnrt-bench/1\",\n  \"tool\": \"nnrt-bench\",\n  \"suite\": ");
  json_str(f, rp->o->suite);
  fprintf(f, ",\n  \"dtype\": \"f32\",\n  \"scale\": %g,\n  \"reps\": %d,\n  \"warmup\": %d,\n  \"threads\": %d,\n",
          rp->o->scale, rp->o->reps, rp->o->warmup, m->threads);
  fprintf(f, "  \"machine\": {\"cpu\": ");
  json_str(f, m->cpu);
  fprintf(f, ", \"cores\": %d, \"memory_gib\": ", m->cores);
  json_num(f, m->mem_gib);
  fprintf(f, ", \"copy_gbs\": ");
  json_num(f, m->copy_gbs);
  fprintf(f, ", \"memcpy_gbs\": ");
  json_num(f, m->memcpy_gbs);
  fprintf(f, ", \"copy_loop_gbs\": ");
  json_num(f, m->loop_gbs);
  fprintf(f, ", \"copy_mib\": ");
  json_num(f, m->copy_mib);
  fprintf(f, ", \"copy_1gib_gbs\": ");
  json_num(f, m->copy_big_gbs);
  fprintf(f, ", \"sgemm_gflops\": ");
  json_num(f, m->sgemm_gflops);
  fprintf(f, ", \"sgemm_n\": %d, \"blas\": ", m->sgemm_n);
  json_str(f, m->blas);
  fprintf(f, ",\n              \"loadavg_before\": [");
  for (int k = 0; k < 3; k++) json_num(f, m->load_before[k]), fputs(k < 2 ? ", " : "", f);
  fprintf(f, "], \"loadavg_after\": [");
  for (int k = 0; k < 3; k++) json_num(f, m->load_after[k]), fputs(k < 2 ? ", " : "", f);
  fprintf(f, "]},\n  \"devices\": [");
  for (int d = 0; d < rp->n_devs; d++) {
    fprintf(f, "%s\n    {\"name\": ", d ? "," : "");
    json_str(f, nnrt_device_name(rp->devs[d]));
    fprintf(f, ", \"backend\": ");
    json_str(f, nnrt_device_backend(rp->devs[d]));
    fprintf(f, ", \"version\": ");
    json_str(f, backend_version(nnrt_device_backend(rp->devs[d])));
    fprintf(f, ", \"description\": ");
    json_str(f, nnrt_device_description(rp->devs[d]));
    fputc('}', f);
  }
  fprintf(f, "\n  ],\n  \"cases\": [");
  for (size_t i = 0; i < rp->n_e; i++) {
    const bench_entry *e = &rp->e[i];
    fprintf(f, "%s\n    {\"label\": ", i ? "," : "");
    json_str(f, e->label);
    fprintf(f, ", \"group\": ");
    json_str(f, e->group);
    fprintf(f, ", \"op\": ");
    json_str(f, e->op);
    fprintf(f, ", \"mode\": \"%s\", \"bound\": \"%s\", \"size\": ", mode_names[e->mode],
            e->bound == BOUND_GEMM ? "gemm" : "memory");
    json_str(f, e->size);
    fprintf(f, ", \"specs\": ");
    json_str(f, e->specs);
    fprintf(f, ", \"params\": ");
    json_str(f, e->params);
    fprintf(f, ", \"bytes\": ");
    json_num(f, e->bytes > 0 ? e->bytes : NAN);
    fprintf(f, ", \"flops\": ");
    json_num(f, e->flops > 0 ? e->flops : NAN);
    fprintf(f, ", \"pytorch_ms\": ");
    json_num(f, e->pytorch_ms);
    fputc('}', f);
  }
  fprintf(f, "\n  ],\n  \"results\": [");
  bool first = true;
  for (size_t i = 0; i < rp->n_e; i++)
    for (int d = 0; d < rp->n_devs; d++) {
      const bench_entry *e = &rp->e[i];
      const bench_result *r = res_at(rp, i, d);
      bool ok = r->status == RES_OK;
      fprintf(f, "%s\n    {\"label\": ", first ? "" : ",");
      first = false;
      json_str(f, e->label);
      fprintf(f, ", \"device\": ");
      json_str(f, nnrt_device_name(rp->devs[d]));
      fprintf(f, ", \"status\": \"%s\", \"message\": ", status_name(r->status));
      json_str(f, r->msg);
      fprintf(f, ", \"median_ms\": ");
      json_num(f, ok ? r->median_ms : NAN);
      fprintf(f, ", \"min_ms\": ");
      json_num(f, ok ? r->min_ms : NAN);
      fprintf(f, ", \"gbs\": ");
      json_num(f, ok && e->bytes > 0 ? e->bytes / r->median_ms / 1e6 : NAN);
      fprintf(f, ", \"gflops\": ");
      json_num(f, ok && e->flops > 0 ? e->flops / r->median_ms / 1e6 : NAN);
      fprintf(f, ", \"roofline\": ");
      json_num(f, ok ? roof_of(e, rp->m, r->median_ms) : NAN);
      fprintf(f, ", \"speedup_vs_ref\": ");
      json_num(f, speedup_vs_ref(rp, i, d));
      fprintf(f, ", \"fallbacks_per_iter\": ");
      json_num(f, ok ? r->fallbacks : NAN);
      fprintf(f, ", \"native\": %s, \"vs_pytorch\": ", r->native ? "true" : "false");
      json_num(f, ok ? e->pytorch_ms / r->median_ms : NAN);
      fputc('}', f);
    }
  fprintf(f, "\n  ]\n}\n");
  if (fclose(f)) return fprintf(stderr, "nnrt-bench: cannot write %s\n", path), -1;
  return 0;
}

static int write_csv(const report *rp, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return fprintf(stderr, "nnrt-bench: cannot create %s: %s\n", path, strerror(errno)), -1;
  fprintf(f, "label,group,op,mode,bound,size,device,status,median_ms,min_ms,gbs,gflops,roofline,speedup_vs_ref,"
             "fallbacks_per_iter,pytorch_ms,vs_pytorch\n");
  for (size_t i = 0; i < rp->n_e; i++)
    for (int d = 0; d < rp->n_devs; d++) {
      const bench_entry *e = &rp->e[i];
      const bench_result *r = res_at(rp, i, d);
      bool ok = r->status == RES_OK;
      double nan = NAN;
      fprintf(f, "\"%s\",%s,%s,%s,%s,%s,%s,%s,%.6g,%.6g,%.6g,%.6g,%.4g,%.4g,%.3g,%.6g,%.4g\n", e->label, e->group,
              e->op, mode_names[e->mode], e->bound == BOUND_GEMM ? "gemm" : "memory", e->size,
              nnrt_device_name(rp->devs[d]), status_name(r->status), ok ? r->median_ms : nan, ok ? r->min_ms : nan,
              ok && e->bytes > 0 ? e->bytes / r->median_ms / 1e6 : nan,
              ok && e->flops > 0 ? e->flops / r->median_ms / 1e6 : nan, ok ? roof_of(e, rp->m, r->median_ms) : nan,
              speedup_vs_ref(rp, i, d), ok ? r->fallbacks : nan, e->pytorch_ms,
              ok ? e->pytorch_ms / r->median_ms : nan);
    }
  if (fclose(f)) return fprintf(stderr, "nnrt-bench: cannot write %s\n", path), -1;
  return 0;
}

/* A time in ms with about 3 significant digits, in width 8. */
static void fmt_ms(char *buf, size_t len, double ms) {
  if (!isfinite(ms)) snprintf(buf, len, "%8s", "-");
  else snprintf(buf, len, ms < 1 ? "%8.4f" : ms < 100 ? "%8.3f" : "%8.1f", ms);
}

static void fmt_num(char *buf, size_t len, const char *fmt, double v, int width) {
  if (isfinite(v)) snprintf(buf, len, fmt, v);
  else snprintf(buf, len, "%*s", width, "-");
}

/* One device cell of the terminal table: 28 characters. */
#define CELL_W 28
static void cell(char *buf, size_t len, const report *rp, size_t i, int d) {
  const bench_entry *e = &rp->e[i];
  const bench_result *r = res_at(rp, i, d);
  if (e->status[0] || r->status == RES_NA) {
    snprintf(buf, len, "%*s", CELL_W, "n/a");
    return;
  }
  if (r->status == RES_ERROR) {
    snprintf(buf, len, "%*s", CELL_W, "error (notes)");
    return;
  }
  char ms[32], rate[32], roof[32], x[32];
  fmt_ms(ms, sizeof ms, r->median_ms);
  fmt_num(rate, sizeof rate, "%6.1f", rate_of(e, r->median_ms), 6);
  fmt_num(roof, sizeof roof, "%4.0f%%", 100 * roof_of(e, rp->m, r->median_ms), 5);
  fmt_num(x, sizeof x, "%4.2fx", speedup_vs_ref(rp, i, d), 5);
  snprintf(buf, len, "%s %s %s %s%c", ms, rate, roof, x, r->fallbacks > 0 ? '*' : ' ');
}

static void print_table(const report *rp) {
  bool pt = rp->pt_version != NULL;
  printf("\n%-25s %-17s", "case", "size");
  for (int d = 0; d < rp->n_devs; d++) printf(" | %-*.*s", CELL_W - 1, CELL_W - 1, nnrt_device_name(rp->devs[d]));
  if (pt) printf(" | %-15s", "pytorch");
  printf("\n%-25s %-17s", "", "");
  for (int d = 0; d < rp->n_devs; d++) printf(" |%8s %6s %5s %5s ", "ms", "rate", "roof", "x ref");
  if (pt) printf(" |%8s %6s", "ms", "x pt");
  printf("\n");
  const char *group = "";
  for (size_t i = 0; i < rp->n_e; i++) {
    const bench_entry *e = &rp->e[i];
    if (strcmp(group, e->group)) {
      printf("-- %s\n", e->group);
      group = e->group;
    }
    char size[96];
    snprintf(size, sizeof size, "%s %s", e->size, e->bound == BOUND_GEMM ? "GF/s" : "GB/s");
    printf("%-25.25s %-17.17s", e->label, e->status[0] ? "" : size);
    for (int d = 0; d < rp->n_devs; d++) {
      char c[160];
      cell(c, sizeof c, rp, i, d);
      printf(" |%s", c);
    }
    if (pt) {
      int b = best_dev(rp, i);
      char ms[32], x[32];
      fmt_ms(ms, sizeof ms, e->pytorch_ms);
      fmt_num(x, sizeof x, "%5.2fx", b >= 0 ? e->pytorch_ms / res_at(rp, i, b)->median_ms : NAN, 6);
      printf(" |%s %s", ms, x);
    }
    printf("\n");
  }
  printf("\nrate: GB/s (bytes = inputs read + outputs written) or GFLOP/s (GEMM flops), by the size column's unit;\n"
         "roof: rate / copy bandwidth (%.1f GB/s) or / sgemm rate (%.1f GFLOP/s); vs ref: ref time / this time;\n"
         "*: some calls fell back to ref (counts in the notes below)%s\n",
         rp->m->copy_gbs, rp->m->sgemm_gflops, pt ? "; x pt: PyTorch time / best nnrt time" : "");
  int notes = 0;
  for (size_t i = 0; i < rp->n_e; i++) {
    const bench_entry *e = &rp->e[i];
    if (e->status[0]) {
      if (!notes++) printf("\nnotes:\n");
      printf("  %s: %s\n", e->label, e->status);
      continue;
    }
    for (int d = 0; d < rp->n_devs; d++) {
      const bench_result *r = res_at(rp, i, d);
      if (r->status != RES_OK) {
        if (!notes++) printf("\nnotes:\n");
        printf("  %s on %s: %s%s\n", e->label, nnrt_device_name(rp->devs[d]),
               r->status == RES_NA ? "not available: " : "", r->msg);
      } else if (r->fallbacks > 0) {
        if (!notes++) printf("\nnotes:\n");
        printf("  %s on %s: %.3g call(s) per iteration fell back to ref\n", e->label, nnrt_device_name(rp->devs[d]),
               r->fallbacks);
      }
    }
  }
}

static int write_md(const report *rp, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return fprintf(stderr, "nnrt-bench: cannot create %s: %s\n", path, strerror(errno)), -1;
  bool pt = rp->pt_version != NULL;
  fprintf(f, "| case | size | unit |");
  for (int d = 0; d < rp->n_devs; d++) fprintf(f, " %s ms | rate (roof) |", nnrt_device_name(rp->devs[d]));
  if (pt) fprintf(f, " pytorch ms | rate (roof) | best nnrt vs pytorch |");
  fprintf(f, "\n|---|---|---|");
  for (int d = 0; d < rp->n_devs; d++) fprintf(f, "---:|---:|");
  if (pt) fprintf(f, "---:|---:|---:|");
  fprintf(f, "\n");
  for (size_t i = 0; i < rp->n_e; i++) {
    const bench_entry *e = &rp->e[i];
    fprintf(f, "| %s | %s | %s |", e->label, e->size, e->bound == BOUND_GEMM ? "GFLOP/s" : "GB/s");
    int b = best_dev(rp, i);
    for (int d = 0; d < rp->n_devs; d++) {
      const bench_result *r = res_at(rp, i, d);
      if (e->status[0] || r->status != RES_OK) {
        fprintf(f, " %s | |", e->status[0] || r->status == RES_NA ? "n/a" : "error");
        continue;
      }
      double x = speedup_vs_ref(rp, i, d);
      fprintf(f, " %s%.2f%s", d == b ? "**" : "", r->median_ms, d == b ? "**" : "");
      if (isfinite(x) && d != rp->ref_col) fprintf(f, " (%.2fx ref)", x);
      if (r->fallbacks > 0) fprintf(f, " fb");
      fprintf(f, " | %.1f (%.0f%%) |", rate_of(e, r->median_ms), 100 * roof_of(e, rp->m, r->median_ms));
    }
    if (pt && isfinite(e->pytorch_ms)) {
      fprintf(f, " %.2f | %.1f (%.0f%%) |", e->pytorch_ms, rate_of(e, e->pytorch_ms),
              100 * roof_of(e, rp->m, e->pytorch_ms));
      if (b >= 0) fprintf(f, " %.2fx |", e->pytorch_ms / res_at(rp, i, b)->median_ms);
      else fprintf(f, " |");
    } else if (pt) {
      fprintf(f, " n/a | | |");
    }
    fprintf(f, "\n");
  }
  if (fclose(f)) return fprintf(stderr, "nnrt-bench: cannot write %s\n", path), -1;
  return 0;
}

static int write_plot(const report *rp, const char *path) {
  bool pt = rp->pt_version != NULL;
  int ns = rp->n_devs + (pt ? 1 : 0);
  const char **series = calloc((size_t)ns, sizeof *series);
  plot_panel *panels = calloc(rp->n_e + 1, sizeof *panels);
  const char **labels = calloc(rp->n_e + 1, sizeof *labels);
  double *values = calloc((rp->n_e + 1) * (size_t)ns, sizeof *values);
  if (!series || !panels || !labels || !values) die_oom();
  for (int d = 0; d < rp->n_devs; d++) series[d] = nnrt_device_name(rp->devs[d]);
  if (pt) series[rp->n_devs] = "pytorch";
  int np = 0;
  for (size_t i = 0; i < rp->n_e; i++) {
    const bench_entry *e = &rp->e[i];
    if (!np || strcmp(panels[np - 1].title, e->group)) {
      panels[np] = (plot_panel){e->group, 0, labels + i, values + i * (size_t)ns};
      np++;
    }
    panels[np - 1].n_bars++;
    labels[i] = e->label;
    for (int d = 0; d < rp->n_devs; d++) {
      const bench_result *r = res_at(rp, i, d);
      values[i * (size_t)ns + (size_t)d] =
          !e->status[0] && r->status == RES_OK ? roof_of(e, rp->m, r->median_ms) : NAN;
    }
    if (pt) values[i * (size_t)ns + (size_t)rp->n_devs] = roof_of(e, rp->m, e->pytorch_ms);
  }
  char err[256], title[256];
  snprintf(title, sizeof title, "nnrt-bench %s: fraction of roofline (copy %.1f GB/s, sgemm %.0f GFLOP/s), %d threads",
           rp->o->suite, rp->m->copy_gbs, rp->m->sgemm_gflops, rp->m->threads);
  int rc = plot_write_png(path, title, ns, series, np, panels, 1.0, err, sizeof err);
  if (rc) fprintf(stderr, "nnrt-bench: --plot: %s\n", err);
  free(series);
  free(panels);
  free(labels);
  free(values);
  return rc;
}

/* --baseline: PyTorch times by label. */
static int read_baseline(const char *path, bench_entry *e, size_t n_e, char *version, size_t vlen) {
  char err[512];
  json_value *doc = json_parse_file(path, err, sizeof err);
  if (!doc) return fprintf(stderr, "nnrt-bench: --baseline: %s\n", err), -1;
  const json_value *res = json_get(doc, "results"), *devs = json_get(doc, "devices");
  if (!res || res->type != JSON_ARRAY) {
    json_free(doc);
    return fprintf(stderr, "nnrt-bench: --baseline: %s has no \"results\" array\n", path), -1;
  }
  /* the "pytorch" device, else the file's first */
  const char *dev = "pytorch";
  bool found = false;
  for (size_t k = 0; devs && devs->type == JSON_ARRAY && k < devs->count; k++)
    if (!strcmp(json_get_string(&devs->items[k], "name", ""), "pytorch")) {
      found = true;
      snprintf(version, vlen, "%s", json_get_string(&devs->items[k], "version", "?"));
    }
  if (!found && devs && devs->type == JSON_ARRAY && devs->count) {
    dev = json_get_string(&devs->items[0], "name", "pytorch");
    snprintf(version, vlen, "%s %s", dev, json_get_string(&devs->items[0], "version", "?"));
  }
  for (size_t k = 0; k < res->count; k++) {
    const json_value *r = &res->items[k];
    if (strcmp(json_get_string(r, "device", ""), dev)) continue;
    const char *label = json_get_string(r, "label", "");
    for (size_t i = 0; i < n_e; i++)
      if (!strcmp(e[i].label, label)) e[i].pytorch_ms = json_get_number(r, "median_ms", NAN);
  }
  json_free(doc);
  return 0;
}

/* ---- main ---- */
static void usage(FILE *f) {
  fprintf(f,
          "usage: nnrt-bench [--backend LIST] [--op PATTERN]... [--suite canonical|full] [--reps N]\n"
          "                  [--warmup N] [--scale F] [--quick] [--json FILE] [--csv FILE] [--md FILE]\n"
          "                  [--plot FILE.png] [--baseline FILE.json] [--list] [-v]\n"
          "Times every op of a suite, forward and backward, float32, on each device side by side.\n"
          "  --backend LIST    comma-separated devices (ref,onednn,opencl:0); default: every usable device\n"
          "  --op PATTERN      a case label or op name, or an fnmatch glob on either; repeatable\n"
          "  --suite S         canonical (default: the fixed sizes of docs/PERFORMANCE.md) or full\n"
          "                    (every op of ops.def, first cases.def line scaled to about 1 Mi elements)\n"
          "  --reps N          timed runs per case (default 10); median and min are reported\n"
          "  --warmup N        untimed runs first (default 2)\n"
          "  --scale F         multiply the batch dimension of every case by F (full: its target size)\n"
          "  --quick           --scale 1/64 --reps 1 --warmup 1 and a short roofline measurement\n"
          "  --json/--csv/--md FILE  write the results (the JSON is what --baseline reads)\n"
          "  --plot FILE.png   bar charts of the roofline fraction, one panel per op group\n"
          "  --baseline FILE   JSON of tools/bench/pytorch_baseline.py: adds a PyTorch column and ratio\n"
          "  --list            print the selected cases and exit\n"
          "  -v                print each case's filtered specs and params\n"
          "Threads: OMP_NUM_THREADS (default: all cores), also for the roofline measurement.\n");
}

static int parse_int(const char *opt, const char *v, int lo, int *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (end == v || *end || errno || x < lo || x > 1000000) {
    fprintf(stderr, "nnrt-bench: %s must be an integer >= %d, got '%s'\n", opt, lo, v);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static int open_devices(const options *o, nnrt_device **devs, int *n) {
  *n = 0;
  if (o->backends) {
    char *copy = strdup(o->backends);
    if (!copy) die_oom();
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (*n >= MAX_DEVICES) break;
      if (nnrt_device_get(t, &devs[*n])) {
        fprintf(stderr, "nnrt-bench: %s\n", nnrt_last_error());
        free(copy);
        return -1;
      }
      (*n)++;
    }
    free(copy);
    return 0;
  }
  for (size_t b = 0; b < nnrt_backend_count(); b++) {
    nnrt_backend_info info;
    if (nnrt_backend_info_get(b, &info) || !info.usable) continue;
    for (int k = 0; k < info.device_count && *n < MAX_DEVICES; k++) {
      char name[96];
      snprintf(name, sizeof name, "%s:%d", info.name, k);
      if (nnrt_device_get(name, &devs[*n])) {
        fprintf(stderr, "nnrt-bench: skipping %s: %s\n", name, nnrt_last_error());
        continue;
      }
      (*n)++;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  options o = {.suite = "canonical", .reps = -1, .warmup = -1, .scale = NAN};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    static const char *const with_value[] = {"--backend", "--op",   "--suite", "--reps",     "--warmup", "--scale",
                                             "--json",    "--csv",  "--md",    "--plot",     "--baseline"};
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
      if (!strcmp(a, with_value[k])) {
        if (i + 1 >= argc) {
          fprintf(stderr, "nnrt-bench: %s needs a value\n", a);
          return 2;
        }
        v = argv[++i];
      }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "-v")) o.verbose = true;
    else if (!strcmp(a, "--list")) o.list = true;
    else if (!strcmp(a, "--quick")) o.quick = true;
    else if (!strcmp(a, "--backend")) o.backends = v;
    else if (!strcmp(a, "--op")) {
      if (o.n_patterns >= 64) return fprintf(stderr, "nnrt-bench: at most 64 --op patterns\n"), 2;
      o.patterns[o.n_patterns++] = v;
    } else if (!strcmp(a, "--suite")) {
      if (strcmp(v, "canonical") && strcmp(v, "full"))
        return fprintf(stderr, "nnrt-bench: --suite must be canonical or full, got '%s'\n", v), 2;
      o.suite = v;
    } else if (!strcmp(a, "--reps")) {
      if (parse_int(a, v, 1, &o.reps)) return 2;
    } else if (!strcmp(a, "--warmup")) {
      if (parse_int(a, v, 0, &o.warmup)) return 2;
    } else if (!strcmp(a, "--scale")) {
      double num, den = 1;
      char tail;
      int k = sscanf(v, "%lf/%lf%c", &num, &den, &tail);
      if (!((k == 1 || k == 2) && num > 0 && den > 0 && num / den <= 1e6) || (k == 1 && strchr(v, '/'))) {
        fprintf(stderr, "nnrt-bench: --scale must be a number > 0 or a fraction n/d, got '%s'\n", v);
        return 2;
      }
      char *end;
      if (k == 1 && (strtod(v, &end), *end)) {
        fprintf(stderr, "nnrt-bench: --scale must be a number > 0 or a fraction n/d, got '%s'\n", v);
        return 2;
      }
      o.scale = num / den;
    } else if (!strcmp(a, "--json")) o.json = v;
    else if (!strcmp(a, "--csv")) o.csv = v;
    else if (!strcmp(a, "--md")) o.md = v;
    else if (!strcmp(a, "--plot")) o.plot = v;
    else if (!strcmp(a, "--baseline")) o.baseline = v;
    else return fprintf(stderr, "nnrt-bench: unknown argument '%s' (--help for usage)\n", a), 2;
  }
  if (o.reps < 0) o.reps = o.quick ? 1 : 10;
  if (o.warmup < 0) o.warmup = o.quick ? 1 : 2;
  if (isnan(o.scale)) o.scale = o.quick ? 1.0 / 64 : 1.0;
  bool full = !strcmp(o.suite, "full");

  /* the cases */
  bench_entry *all = NULL, *e;
  size_t n_all = 0, cap = 0, n_e = 0;
  if (full) full_suite(&all, &n_all, &cap);
  else
    for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) add_entry(&all, &n_all, &cap, &canonical[i]);
  e = all;
  for (size_t i = 0; i < n_all; i++)
    if (matches(&o, all[i].label, all[i].op)) e[n_e++] = all[i];
  if (!n_e) {
    fprintf(stderr, "nnrt-bench: no case matches");
    for (int p = 0; p < o.n_patterns; p++) fprintf(stderr, " '%s'", o.patterns[p]);
    fprintf(stderr, " (--list shows the cases)\n");
    free(all);
    return 2;
  }
  nnrt_case *cs = calloc(n_e, sizeof *cs);
  case_def *defs = calloc(n_e, sizeof *defs);
  char (*spec_text)[CASE_DESC_LEN] = calloc(n_e, sizeof *spec_text);
  char (*param_text)[256] = calloc(n_e, sizeof *param_text);
  if (!cs || !defs || !spec_text || !param_text) die_oom();
  nnrt_device *ref = NULL;
  if (full && nnrt_device_get("ref", &ref)) return fprintf(stderr, "nnrt-bench: %s\n", nnrt_last_error()), 1;
  for (size_t i = 0; i < n_e; i++) {
    if (entry_prepare(&e[i], o.scale, full, &defs[i], &cs[i])) continue;
    if (full && !probe(&e[i], &cs[i], ref)) {
      /* the line's shapes do not survive scaling (index values that must
       * match a size, ...): run it as cases.def has it */
      entry_prepare(&e[i], 0, full, &defs[i], &cs[i]);
      if (!e[i].status[0]) strcat(e[i].label, " (unscaled)");
    }
    /* entry_prepare's texts are static: keep a copy per case, the specs
     * as scaled */
    specs_text(&cs[i], spec_text[i], sizeof spec_text[i]);
    copy_text(param_text[i], sizeof param_text[i], defs[i].params);
    defs[i].specs = spec_text[i];
    defs[i].params = param_text[i];
    cs[i].def = &defs[i];
  }
  if (o.list) {
    for (size_t i = 0; i < n_e; i++)
      printf("%-26s %-8s %-18s %s%s%s\n", e[i].label, mode_names[e[i].mode], e[i].size[0] ? e[i].size : "-",
             e[i].status[0] ? e[i].status : defs[i].specs, e[i].status[0] ? "" : "  ",
             e[i].status[0] ? "" : defs[i].params);
    free(all), free(cs), free(defs), free(spec_text), free(param_text);
    return 0;
  }

  char pt_version[128] = "";
  if (o.baseline && read_baseline(o.baseline, e, n_e, pt_version, sizeof pt_version)) return 2;

  if (nnrt_init()) return fprintf(stderr, "nnrt-bench: %s\n", nnrt_last_error()), 1;
  nnrt_device *devs[MAX_DEVICES];
  int n_devs;
  if (open_devices(&o, devs, &n_devs)) return 2;
  if (!n_devs) return fprintf(stderr, "nnrt-bench: no usable device\n"), 2;

  /* the machine and its roofline: copy at the size of the largest input */
  machine m = {0};
  read_loadavg(m.load_before);
  machine_describe(&m);
  double biggest = 0;
  for (size_t i = 0; i < n_e; i++)
    for (int k = 0; !e[i].status[0] && k < cs[i].n_specs; k++) {
      double n = 4;
      for (int d = 0; d < cs[i].specs[k].ndim; d++) n *= (double)cs[i].specs[k].shape[d];
      if (n > biggest) biggest = n;
    }
  /* at least the 64 MiB of the canonical elementwise tensors, so runs of
   * any subset of cases share one roofline (--quick: 1 MiB) */
  if (biggest < (o.quick ? 1 << 20 : 64 << 20)) biggest = o.quick ? 1 << 20 : 64 << 20;
  m.copy_mib = biggest / (1 << 20);
  copy_rates((size_t)biggest, o.quick ? 2 : 20, &m.memcpy_gbs, &m.loop_gbs);
  m.copy_gbs = fmax(m.memcpy_gbs, m.loop_gbs);
  m.copy_big_gbs = NAN;
  if (!o.quick) {
    double a, b;
    copy_rates((size_t)1 << 30, 3, &a, &b);
    m.copy_big_gbs = fmax(a, b);
  }
  m.sgemm_n = o.quick ? 512 : 2048;
  m.sgemm_gflops = sgemm_rate(m.sgemm_n, o.quick ? 2 : 5);

  printf("nnrt-bench: suite %s, %zu case(s), %d rep(s) after %d warm-up, %d thread(s), f32%s\n", o.suite, n_e, o.reps,
         o.warmup, m.threads, o.scale != 1 ? " (scaled)" : "");
  printf("machine: %s, %d cores, %.1f GiB; load average %.2f %.2f %.2f\n", m.cpu, m.cores, m.mem_gib, m.load_before[0],
         m.load_before[1], m.load_before[2]);
  printf("roofline: copy of %.0f MiB %.1f GB/s (memcpy %.1f, copy loop %.1f)", m.copy_mib, m.copy_gbs, m.memcpy_gbs,
         m.loop_gbs);
  if (!isnan(m.copy_big_gbs)) printf(", of 1 GiB %.1f GB/s", m.copy_big_gbs);
  printf(", read+write, %d threads;\n          sgemm %d^2 %.1f GFLOP/s (%s)\n", m.threads, m.sgemm_n,
         m.sgemm_gflops, m.blas);
  printf("devices:\n");
  for (int d = 0; d < n_devs; d++)
    printf("  %-10s %s; %s\n", nnrt_device_name(devs[d]), backend_version(nnrt_device_backend(devs[d])),
           nnrt_device_description(devs[d]));
  if (o.baseline) printf("  %-10s %s (from %s)\n", "pytorch", pt_version, o.baseline);
  fflush(stdout);

  bench_result *res = calloc(n_e * (size_t)n_devs, sizeof *res);
  if (!res) die_oom();
  host_cache hc = {.n = 0};
  for (size_t i = 0; i < n_e; i++) {
    if (o.verbose) {
      if (e[i].status[0]) printf("# %s: %s\n", e[i].label, e[i].status);
      else printf("# %s: %s  %s\n", e[i].label, defs[i].specs, defs[i].params);
      fflush(stdout);
    }
    if (e[i].status[0]) continue;
    hc.seed = e[i].label;
    for (int d = 0; d < n_devs; d++) bench_one(&e[i], &cs[i], &hc, devs[d], &o, &res[i * (size_t)n_devs + (size_t)d]);
    host_cache_clear(&hc);
  }
  read_loadavg(m.load_after);

  report rp = {&o, &m, e, n_e, devs, n_devs, res, o.baseline ? pt_version : NULL, -1};
  for (int d = 0; d < n_devs; d++)
    if (!strcmp(nnrt_device_backend(devs[d]), "ref")) rp.ref_col = d;
  print_table(&rp);
  printf("load average after: %.2f %.2f %.2f\n", m.load_after[0], m.load_after[1], m.load_after[2]);
  int rc = 0;
  if (o.json && write_json(&rp, o.json)) rc = 1;
  if (o.csv && write_csv(&rp, o.csv)) rc = 1;
  if (o.md && write_md(&rp, o.md)) rc = 1;
  if (o.plot && write_plot(&rp, o.plot)) rc = 1;
  for (size_t i = 0; i < n_e; i++)
    for (int d = 0; d < n_devs; d++)
      if (res[i * (size_t)n_devs + (size_t)d].status == RES_ERROR) rc = 1;
  free(res), free(all), free(cs), free(defs), free(spec_text), free(param_text);
  return rc;
}
