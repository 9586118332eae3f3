/* tools/nnrt-info.c - what nnrt finds here: backends loaded and rejected
 * (with reasons), their devices, which ops each runs natively and which
 * fall back to ref, the environment in effect; --ops prints every op's
 * signature.  Text or --json (hand-written, escaped).  Public API only.
 *
 *   nnrt-info [--json]
 *   nnrt-info --ops [--json]
 *
 * Coverage is per backend, from its first device (devices of one backend
 * share a kernel table).  Opening a device may take a moment on GPUs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

static const char *env_vars[] = {"NNRT_BACKEND", "NNRT_PLUGIN_PATH", "NNRT_LOG", "NNRT_FALLBACK", "OMP_NUM_THREADS"};
#define N_ENV (sizeof env_vars / sizeof env_vars[0])
#define MAX_BACKENDS 64

/* ---- JSON output ---- */
static void json_str(FILE *f, const char *s) {
  if (!s) {
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    case '\b': fputs("\\b", f); break;
    case '\f': fputs("\\f", f); break;
    default:
      if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
      else fputc(*p, f);
    }
  }
  fputc('"', f);
}

static void json_flags(FILE *f, unsigned flags) {
  const char *sep = "";
  fputc('[', f);
  if (flags & NNRT_ARG_OPTIONAL) fprintf(f, "%s\"optional\"", sep), sep = ", ";
  if (flags & NNRT_ARG_INDEX) fprintf(f, "%s\"index\"", sep), sep = ", ";
  if (flags & NNRT_ARG_UPDATE) fprintf(f, "%s\"update\"", sep);
  fputc(']', f);
}

/* A param default as a JSON value: numbers, booleans, enum names, and the
 * strings "none"/"inf"/"-inf" where JSON has no number. */
static void json_default(FILE *f, const nnrt_param_desc *p) {
  char buf[64];
  switch (p->type) {
  case NNRT_PARAM_F64:
    if (!isfinite(p->def)) json_str(f, case_param_default(p, buf, sizeof buf));
    else fprintf(f, "%.17g", p->def);
    break;
  case NNRT_PARAM_I64: fprintf(f, "%lld", (long long)p->def); break;
  case NNRT_PARAM_BOOL: fputs(p->def != 0 ? "true" : "false", f); break;
  case NNRT_PARAM_ENUM: json_str(f, case_param_default(p, buf, sizeof buf)); break;
  case NNRT_PARAM_I64_ARRAY:
  case NNRT_PARAM_F64_ARRAY: fputs("null", f); break;
  }
}

static void json_args(FILE *f, int n, const nnrt_arg_desc *a) {
  fputc('[', f);
  for (int i = 0; i < n; i++) {
    fprintf(f, "%s{\"name\": ", i ? ", " : "");
    json_str(f, a[i].name);
    fputs(", \"flags\": ", f);
    json_flags(f, a[i].flags);
    fputc('}', f);
  }
  fputc(']', f);
}

static void ops_json(FILE *f) {
  fputs("[\n", f);
  for (int op = 0; op < NNRT_OP_COUNT; op++) {
    const nnrt_op_signature *s = nnrt_op_signature_of((nnrt_op)op);
    fputs("  {\"name\": ", f);
    json_str(f, s->name);
    fputs(", \"rule\": ", f);
    json_str(f, s->rule);
    fputs(",\n   \"params\": [", f);
    for (int i = 0; i < s->n_params; i++) {
      const nnrt_param_desc *p = &s->params[i];
      char t[32];
      fprintf(f, "%s{\"name\": ", i ? ", " : "");
      json_str(f, p->name);
      fputs(", \"type\": ", f);
      json_str(f, case_param_type_name(p, t, sizeof t));
      fputs(", \"default\": ", f);
      json_default(f, p);
      if (p->type == NNRT_PARAM_I64_ARRAY || p->type == NNRT_PARAM_F64_ARRAY) fprintf(f, ", \"count\": %d", p->count);
      if (p->choices) {
        fputs(", \"choices\": [", f);
        const char *c = p->choices;
        for (int k = 0; *c || k == 0; k++) {
          size_t l = strcspn(c, "|");
          char name[64];
          snprintf(name, sizeof name, "%.*s", (int)l, c);
          fputs(k ? ", " : "", f);
          json_str(f, name);
          c += l;
          if (*c != '|') break;
          c++;
        }
        fputc(']', f);
      }
      fputc('}', f);
    }
    fputs("],\n   \"inputs\": ", f);
    json_args(f, s->n_inputs, s->inputs);
    fputs(",\n   \"outputs\": ", f);
    json_args(f, s->n_outputs, s->outputs);
    fprintf(f, "}%s\n", op + 1 < NNRT_OP_COUNT ? "," : "");
  }
  fputs("]\n", f);
}

static void ops_text(FILE *f) {
  printf("%d ops (params: name: type = default {choices}; inputs and outputs with their flags)\n", NNRT_OP_COUNT);
  for (int op = 0; op < NNRT_OP_COUNT; op++) case_print_signature(f, (nnrt_op)op);
}

/* ---- backends ---- */
typedef struct backend_view {
  nnrt_backend_info info;
  nnrt_device *dev0; /* NULL when unusable or it would not open */
  char open_error[512];
} backend_view;

static size_t collect(backend_view *v) {
  size_t n = nnrt_backend_count();
  if (n > MAX_BACKENDS) n = MAX_BACKENDS;
  for (size_t i = 0; i < n; i++) {
    memset(&v[i], 0, sizeof v[i]);
    if (nnrt_backend_info_get(i, &v[i].info)) {
      v[i].info.name = "?";
      v[i].info.reason = nnrt_last_error();
      continue;
    }
    if (v[i].info.usable && nnrt_device_get(v[i].info.name, &v[i].dev0))
      snprintf(v[i].open_error, sizeof v[i].open_error, "%s", nnrt_last_error());
  }
  return n;
}

/* Device i of a backend, or NULL with err. */
static nnrt_device *device_of(const backend_view *b, int i, char *err, size_t len) {
  char name[128];
  nnrt_device *d;
  snprintf(name, sizeof name, "%s:%d", b->info.name, i);
  if (nnrt_device_get(name, &d)) {
    snprintf(err, len, "%s", nnrt_last_error());
    return NULL;
  }
  return d;
}

static void info_text(backend_view *v, size_t n) {
  printf("nnrt %d.%d\n\nbackends:\n", NNRT_VERSION_MAJOR, NNRT_VERSION_MINOR);
  for (size_t i = 0; i < n; i++) {
    const nnrt_backend_info *b = &v[i].info;
    if (!b->usable) {
      printf("  %-10s REJECTED  %s\n             reason: %s\n", b->name, b->path, b->reason ? b->reason : "");
      continue;
    }
    printf("  %-10s %s  version %s, %d device(s)%s\n", b->name, b->path, b->version && b->version[0] ? b->version : "?",
           b->device_count, b->host_memory ? ", host memory" : "");
    for (int d = 0; d < b->device_count; d++) {
      char err[512];
      nnrt_device *dev = device_of(&v[i], d, err, sizeof err);
      if (dev) printf("    %-12s %s\n", nnrt_device_name(dev), nnrt_device_description(dev));
      else printf("    device %d: cannot open: %s\n", d, err);
    }
  }

  printf("\nop coverage (+ native kernel, . falls back to ref):\n  %-32s", "op");
  for (size_t i = 0; i < n; i++)
    if (v[i].dev0) printf(" %8.8s", v[i].info.name);
  printf("\n");
  int native[MAX_BACKENDS] = {0};
  for (int op = 0; op < NNRT_OP_COUNT; op++) {
    printf("  %-32s", nnrt_op_name((nnrt_op)op));
    for (size_t i = 0; i < n; i++) {
      if (!v[i].dev0) continue;
      bool has = nnrt_device_has_op(v[i].dev0, (nnrt_op)op);
      native[i] += has;
      printf(" %8s", has ? "+" : ".");
    }
    printf("\n");
  }
  printf("  %-32s", "native / total");
  for (size_t i = 0; i < n; i++) {
    if (!v[i].dev0) continue;
    char t[32];
    snprintf(t, sizeof t, "%d/%d", native[i], NNRT_OP_COUNT);
    printf(" %8s", t);
  }
  printf("\n");
  for (size_t i = 0; i < n; i++)
    if (v[i].info.usable && !v[i].dev0) printf("  (%s: no coverage, %s)\n", v[i].info.name, v[i].open_error);

  printf("\nenvironment:\n");
  for (size_t e = 0; e < N_ENV; e++) {
    const char *val = getenv(env_vars[e]);
    printf("  %-17s %s\n", env_vars[e], val ? val : "(unset)");
  }
  nnrt_device *def;
  if (nnrt_device_default(&def)) printf("\ndefault device: none: %s\n", nnrt_last_error());
  else printf("\ndefault device: %s\n", nnrt_device_name(def));
}

static void info_json(backend_view *v, size_t n) {
  FILE *f = stdout;
  fprintf(f, "{\n  \"version\": \"%d.%d\",\n  \"backends\": [", NNRT_VERSION_MAJOR, NNRT_VERSION_MINOR);
  for (size_t i = 0; i < n; i++) {
    const nnrt_backend_info *b = &v[i].info;
    fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
    json_str(f, b->name);
    fputs(", \"path\": ", f);
    json_str(f, b->path);
    fputs(", \"version\": ", f);
    json_str(f, b->version ? b->version : "");
    fprintf(f, ", \"usable\": %s, \"reason\": ", b->usable ? "true" : "false");
    json_str(f, b->usable ? NULL : b->reason ? b->reason : "");
    fprintf(f, ", \"host_memory\": %s,\n     \"devices\": [", b->host_memory ? "true" : "false");
    for (int d = 0; b->usable && d < b->device_count; d++) {
      char err[512];
      nnrt_device *dev = device_of(&v[i], d, err, sizeof err);
      fprintf(f, "%s{\"index\": %d, \"name\": ", d ? ", " : "", d);
      if (dev) {
        json_str(f, nnrt_device_name(dev));
        fputs(", \"description\": ", f);
        json_str(f, nnrt_device_description(dev));
      } else {
        fputs("null, \"error\": ", f);
        json_str(f, err);
      }
      fputc('}', f);
    }
    fputs("]", f);
    if (v[i].dev0) {
      for (int pass = 0; pass < 2; pass++) {
        fprintf(f, ",\n     \"%s\": [", pass ? "fallback_ops" : "native_ops");
        int k = 0;
        for (int op = 0; op < NNRT_OP_COUNT; op++)
          if (nnrt_device_has_op(v[i].dev0, (nnrt_op)op) == !pass) {
            fputs(k++ ? ", " : "", f);
            json_str(f, nnrt_op_name((nnrt_op)op));
          }
        fputc(']', f);
      }
    } else if (b->usable) {
      fputs(", \"error\": ", f);
      json_str(f, v[i].open_error);
    }
    fputc('}', f);
  }
  fputs("\n  ],\n  \"environment\": {", f);
  for (size_t e = 0; e < N_ENV; e++) {
    fprintf(f, "%s\n    ", e ? "," : "");
    json_str(f, env_vars[e]);
    fputs(": ", f);
    json_str(f, getenv(env_vars[e]));
  }
  fputs("\n  },\n  \"default_device\": ", f);
  nnrt_device *def;
  if (nnrt_device_default(&def)) {
    fputs("null,\n  \"default_device_error\": ", f);
    json_str(f, nnrt_last_error());
  } else {
    json_str(f, nnrt_device_name(def));
  }
  fputs("\n}\n", f);
}

int main(int argc, char **argv) {
  bool json = false, ops = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = true;
    else if (!strcmp(argv[i], "--ops")) ops = true;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      printf("usage: nnrt-info [--json]       backends, devices, op coverage, environment\n"
             "       nnrt-info --ops [--json] every op's signature\n");
      return 0;
    } else {
      fprintf(stderr, "nnrt-info: unknown argument '%s' (--help for usage)\n", argv[i]);
      return 2;
    }
  }
  if (ops) {
    if (json) ops_json(stdout);
    else ops_text(stdout);
    return 0;
  }
  static backend_view views[MAX_BACKENDS];
  size_t n = collect(views);
  if (json) info_json(views, n);
  else info_text(views, n);
  return 0;
}
