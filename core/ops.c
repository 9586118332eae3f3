/* core/ops.c - the op table (names, signatures, params) generated from
 * ops.def, and the one validation and dispatch path every op goes through:
 *   generic checks -> the op's rule -> output checks -> kernel or fallback. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "core.h"

#define NNRT_ID_(...) __VA_ARGS__

/* ---- signatures ---- */
#define PF(n, d) {#n, NNRT_PARAM_F64, offsetof(cur_t, n), (d), NULL, 1},
#define PI(n, d) {#n, NNRT_PARAM_I64, offsetof(cur_t, n), (double)(d), NULL, 1},
#define PB(n, d) {#n, NNRT_PARAM_BOOL, offsetof(cur_t, n), (double)(d), NULL, 1},
#define PE(n, d, ch) {#n, NNRT_PARAM_ENUM, offsetof(cur_t, n), (double)(d), ch, 1},
#define PIA(n, k) {#n, NNRT_PARAM_I64_ARRAY, offsetof(cur_t, n), 0, NULL, k},
#define PFA(n, k) {#n, NNRT_PARAM_F64_ARRAY, offsetof(cur_t, n), 0, NULL, k},
#define TI(n, f) {#n, f},
#define TO(n, f) {#n, f},
/* A local typedef gives offsetof() the op's struct; the leading sentinel
 * keeps the array of an op without params non-empty. */
#define NNRT_OP(name, rule, params, inputs, outputs)                             \
  static const nnrt_param_desc *name##_pdesc(int *n) {                          \
    typedef nnrt_##name##_params cur_t __attribute__((unused));                  \
    static const nnrt_param_desc d[] = {{NULL, 0, 0, 0, NULL, 0}, NNRT_ID_ params}; \
    *n = (int)(sizeof d / sizeof d[0]) - 1;                                      \
    return d + 1;                                                                \
  }                                                                              \
  static const nnrt_arg_desc name##_idesc[] = {NNRT_ID_ inputs};                 \
  static const nnrt_arg_desc name##_odesc[] = {NNRT_ID_ outputs};
#include "nnrt/ops.def"
#undef NNRT_OP
#undef PF
#undef PI
#undef PB
#undef PE
#undef PIA
#undef PFA
#undef TI
#undef TO

/* Room for the params of any op. */
typedef union params_any {
#define NNRT_OP(name, rule, params, inputs, outputs) nnrt_##name##_params name;
#include "nnrt/ops.def"
#undef NNRT_OP
} params_any;

static nnrt_op_signature signatures[NNRT_OP_COUNT];
static const nnrt_rule_fn rules[NNRT_OP_COUNT] = {
#define NNRT_OP(name, rule, params, inputs, outputs) nnrt_rule_##rule,
#include "nnrt/ops.def"
#undef NNRT_OP
};

static void signatures_build(void) {
  int n;
#define NNRT_OP(name, rule, params, inputs, outputs)                             \
  signatures[NNRT_OP_##name] = (nnrt_op_signature){                              \
      #name, #rule, sizeof(nnrt_##name##_params), 0, name##_pdesc(&n),           \
      (int)(sizeof name##_idesc / sizeof name##_idesc[0]), name##_idesc,         \
      (int)(sizeof name##_odesc / sizeof name##_odesc[0]), name##_odesc};        \
  signatures[NNRT_OP_##name].n_params = n;
#include "nnrt/ops.def"
#undef NNRT_OP
}

static const nnrt_op_signature *sig(nnrt_op op) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, signatures_build);
  return &signatures[op];
}

const nnrt_op_signature *nnrt_op_signature_of(nnrt_op op) {
  if ((unsigned)op >= NNRT_OP_COUNT) return NULL;
  return sig(op);
}

const char *nnrt_op_name(nnrt_op op) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  return s ? s->name : NULL;
}

nnrt_op nnrt_op_from_name(const char *name) {
  if (!name) return NNRT_OP_COUNT;
  for (int i = 0; i < NNRT_OP_COUNT; i++)
    if (!strcmp(sig((nnrt_op)i)->name, name)) return (nnrt_op)i;
  return NNRT_OP_COUNT;
}

/* ---- params ---- */
nnrt_status nnrt_params_init(nnrt_op op, void *params) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!s) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_params_init: no op %d", (int)op);
  if (!params) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: params is NULL", s->name);
  memset(params, 0, s->params_size);
  for (int i = 0; i < s->n_params; i++) {
    const nnrt_param_desc *p = &s->params[i];
    char *at = (char *)params + p->offset;
    switch (p->type) {
    case NNRT_PARAM_F64: *(double *)at = p->def; break;
    case NNRT_PARAM_I64: *(int64_t *)at = (int64_t)p->def; break;
    case NNRT_PARAM_BOOL: *(bool *)at = p->def != 0; break;
    case NNRT_PARAM_ENUM: *(int *)at = (int)p->def; break;
    case NNRT_PARAM_I64_ARRAY:
    case NNRT_PARAM_F64_ARRAY: break; /* zeros: unset */
    }
  }
  return NNRT_OK;
}

static int enum_index(const char *choices, const char *v) {
  size_t vl = strlen(v);
  int idx = 0;
  for (const char *c = choices; *c; idx++) {
    const char *e = strchr(c, '|');
    size_t l = e ? (size_t)(e - c) : strlen(c);
    if (l == vl && !strncmp(c, v, l)) return idx;
    if (!e) break;
    c = e + 1;
  }
  return -1;
}

static const char *enum_name(const char *choices, int idx, char *buf, size_t len) {
  const char *c = choices;
  for (int i = 0; i < idx && c; i++) {
    c = strchr(c, '|');
    if (c) c++;
  }
  if (!c) return "?";
  const char *e = strchr(c, '|');
  size_t l = e ? (size_t)(e - c) : strlen(c);
  if (l >= len) l = len - 1;
  memcpy(buf, c, l);
  buf[l] = 0;
  return buf;
}

static bool parse_f64(const char *v, double *out) {
  if (!strcmp(v, "none")) { *out = NAN; return true; }
  if (!strcmp(v, "inf")) { *out = INFINITY; return true; }
  if (!strcmp(v, "-inf")) { *out = -INFINITY; return true; }
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (end == v || *end || errno == ERANGE) return false;
  *out = d;
  return true;
}

static bool parse_i64(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long l = strtoll(v, &end, 10);
  if (end == v || *end || errno == ERANGE) return false;
  *out = l;
  return true;
}

nnrt_status nnrt_params_set(nnrt_op op, void *params, const char *assignment) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!s) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_params_set: no op %d", (int)op);
  if (!params || !assignment)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: params or assignment is NULL", s->name);
  const char *eq = strchr(assignment, '=');
  if (!eq) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: '%s' is not name=value", s->name, assignment);
  size_t nl = (size_t)(eq - assignment);
  const char *v = eq + 1;
  for (int i = 0; i < s->n_params; i++) {
    const nnrt_param_desc *p = &s->params[i];
    if (strlen(p->name) != nl || strncmp(p->name, assignment, nl)) continue;
    char *at = (char *)params + p->offset;
    switch (p->type) {
    case NNRT_PARAM_F64:
      if (!parse_f64(v, (double *)at)) goto bad;
      return NNRT_OK;
    case NNRT_PARAM_I64:
      if (!parse_i64(v, (int64_t *)at)) goto bad;
      return NNRT_OK;
    case NNRT_PARAM_BOOL:
      if (!strcmp(v, "true") || !strcmp(v, "1")) *(bool *)at = true;
      else if (!strcmp(v, "false") || !strcmp(v, "0")) *(bool *)at = false;
      else goto bad;
      return NNRT_OK;
    case NNRT_PARAM_ENUM: {
      int k = enum_index(p->choices, v);
      if (k < 0)
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s='%s' is not one of %s", s->name,
                          p->name, v, p->choices);
      *(int *)at = k;
      return NNRT_OK;
    }
    case NNRT_PARAM_I64_ARRAY:
    case NNRT_PARAM_F64_ARRAY: {
      char tmp[256];
      if (strlen(v) >= sizeof tmp) goto bad;
      strcpy(tmp, v);
      int k = 0;
      int64_t iv[16] = {0};
      double fv[16] = {0};
      for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (k >= p->count) goto bad;
        if (p->type == NNRT_PARAM_I64_ARRAY ? !parse_i64(tok, &iv[k]) : !parse_f64(tok, &fv[k])) goto bad;
        k++;
      }
      if (k == 0) goto bad;
      for (int j = 0; j < p->count; j++) {
        if (p->type == NNRT_PARAM_I64_ARRAY) ((int64_t *)at)[j] = j < k ? iv[j] : iv[k - 1];
        else ((double *)at)[j] = j < k ? fv[j] : fv[k - 1];
      }
      return NNRT_OK;
    }
    }
  bad:
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: cannot parse %s='%s'", s->name, p->name, v);
  }
  return nnrt_error(NNRT_ERR_NOT_FOUND, "%s: no param named '%.*s'", s->name, (int)nl, assignment);
}

void nnrt_params_format(nnrt_op op, const void *params, char *buf, size_t len) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!len) return;
  buf[0] = 0;
  if (!s || !params) return;
  size_t o = 0;
  for (int i = 0; i < s->n_params && o < len; i++) {
    const nnrt_param_desc *p = &s->params[i];
    const char *at = (const char *)params + p->offset;
    char v[160], e[64];
    switch (p->type) {
    case NNRT_PARAM_F64: snprintf(v, sizeof v, "%.17g", *(const double *)at); break;
    case NNRT_PARAM_I64: snprintf(v, sizeof v, "%lld", (long long)*(const int64_t *)at); break;
    case NNRT_PARAM_BOOL: snprintf(v, sizeof v, "%s", *(const bool *)at ? "true" : "false"); break;
    case NNRT_PARAM_ENUM: snprintf(v, sizeof v, "%s", enum_name(p->choices, *(const int *)at, e, sizeof e)); break;
    case NNRT_PARAM_I64_ARRAY:
    case NNRT_PARAM_F64_ARRAY: {
      size_t vo = 0;
      for (int j = 0; j < p->count && vo < sizeof v; j++) {
        if (p->type == NNRT_PARAM_I64_ARRAY)
          vo += (size_t)snprintf(v + vo, sizeof v - vo, "%s%lld", j ? "," : "", (long long)((const int64_t *)at)[j]);
        else
          vo += (size_t)snprintf(v + vo, sizeof v - vo, "%s%.17g", j ? "," : "", ((const double *)at)[j]);
      }
      break;
    }
    }
    if (!strcmp(v, "nan")) strcpy(v, "none");
    o += (size_t)snprintf(buf + o, len - o, "%s%s=%s", o ? " " : "", p->name, v);
  }
}

/* ---- validation ---- */
void nnrt_shape_of(const nnrt_tensor *t, nnrt_shape *s) {
  s->dtype = t->dtype;
  s->ndim = t->ndim;
  memcpy(s->dims, t->shape, sizeof s->dims);
}

bool nnrt_same_shape(const nnrt_tensor *a, const nnrt_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

nnrt_status nnrt_err_shapes(const nnrt_call *c, const char *an, const nnrt_tensor *a,
                            const char *bn, const nnrt_tensor *b) {
  char sa[NNRT_SHAPE_STR_LEN], sb[NNRT_SHAPE_STR_LEN];
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: %s and %s shapes do not match: %s %s, %s %s",
                    c->op_name, an, bn, an, nnrt_shape_str(a->ndim, a->shape, sa, sizeof sa), bn,
                    nnrt_shape_str(b->ndim, b->shape, sb, sizeof sb));
}

nnrt_status nnrt_check_dim(const nnrt_call *c, int64_t dim, int ndim, int *out) {
  int64_t lo = ndim ? -ndim : -1, hi = ndim ? ndim - 1 : 0;
  if (dim < lo || dim > hi)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: dim=%lld out of range [%lld, %lld] for a %d-d input",
                      c->op_name, (long long)dim, (long long)lo, (long long)hi, ndim);
  *out = (int)(dim < 0 ? dim + (ndim ? ndim : 1) : dim);
  return NNRT_OK;
}

nnrt_dtype nnrt_call_dtype(const nnrt_call *c) {
  const nnrt_op_signature *s = sig(c->op);
  for (int i = 0; i < c->n_inputs; i++)
    if (c->inputs[i] && !(s->inputs[i].flags & NNRT_ARG_INDEX)) return c->inputs[i]->dtype;
  return NNRT_F32;
}

/* The value of the op's `inplace` param, false if it has none. */
static bool call_inplace(const nnrt_op_signature *s, const void *params) {
  for (int i = 0; i < s->n_params; i++)
    if (s->params[i].type == NNRT_PARAM_BOOL && !strcmp(s->params[i].name, "inplace"))
      return *(const bool *)((const char *)params + s->params[i].offset);
  return false;
}

static bool tensor_alive(const nnrt_tensor *t) { return t->size == sizeof(struct nnrt_tensor); }

/* Generic input checks: present, alive, dtype, one device, dtype supported. */
static nnrt_status check_inputs(const nnrt_call *c, const nnrt_op_signature *s, nnrt_device **dev) {
  nnrt_dtype fdt = NNRT_DTYPE_COUNT;
  *dev = NULL;
  for (int i = 0; i < s->n_inputs; i++) {
    const nnrt_tensor *t = c->inputs[i];
    const nnrt_arg_desc *a = &s->inputs[i];
    if (!t) {
      if (a->flags & NNRT_ARG_OPTIONAL) continue;
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input '%s' is NULL", s->name, a->name);
    }
    if (!tensor_alive(t))
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input '%s' is not a live tensor", s->name, a->name);
    if (a->flags & NNRT_ARG_INDEX) {
      if (t->dtype != NNRT_I64)
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input '%s' must be i64, got %s", s->name,
                          a->name, nnrt_dtype_name(t->dtype));
    } else {
      if (t->dtype == NNRT_I64)
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input '%s' must be a float tensor, got i64",
                          s->name, a->name);
      if (fdt == NNRT_DTYPE_COUNT) fdt = t->dtype;
      else if (t->dtype != fdt)
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input '%s' is %s but earlier inputs are %s",
                          s->name, a->name, nnrt_dtype_name(t->dtype), nnrt_dtype_name(fdt));
    }
    if (!*dev) *dev = t->device;
    else if (t->device != *dev)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input '%s' is on %s, others on %s", s->name,
                        a->name, nnrt_device_name(t->device), nnrt_device_name(*dev));
  }
  if (!*dev) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: no input tensor given", s->name);
  return NNRT_OK;
}

static nnrt_status infer(nnrt_call *c, const nnrt_op_signature *s, nnrt_shape *outs, nnrt_device **dev) {
  nnrt_status st = check_inputs(c, s, dev);
  if (st) return st;
  nnrt_dtype dt = nnrt_call_dtype(c);
  for (int i = 0; i < s->n_outputs; i++) outs[i] = (nnrt_shape){.dtype = dt};
  return rules[c->op](c, outs);
}

nnrt_status nnrt_op_infer(nnrt_op op, const void *params, nnrt_tensor *const *inputs, nnrt_shape *out_shapes) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!s) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_op_infer: no op %d", (int)op);
  if (!inputs || !out_shapes) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: inputs or out_shapes is NULL", s->name);
  params_any defaults;
  if (!params) {
    nnrt_params_init(op, &defaults);
    params = &defaults;
  }
  /* no outputs: rules that look at them skip those checks */
  nnrt_call c = {sizeof c, op, s->name, params, s->n_inputs, inputs, s->n_outputs, NULL};
  nnrt_device *dev;
  return infer(&c, s, out_shapes, &dev);
}

static bool aliases(const nnrt_tensor *a, const nnrt_tensor *b) {
  return a && b && (a == b || a->data == b->data);
}

/* ---- dispatch ---- */
typedef enum { FALLBACK_ALLOW, FALLBACK_WARN, FALLBACK_ERROR } fallback_mode;

static fallback_mode fallback_policy(void) {
  const char *e = getenv("NNRT_FALLBACK");
  if (e && !strcmp(e, "error")) return FALLBACK_ERROR;
  if (e && !strcmp(e, "allow")) return FALLBACK_ALLOW;
  return FALLBACK_WARN;
}

/* Runs the call on ref: directly on host-memory devices, else through
 * host copies of every tensor (inputs and updated outputs in, outputs out). */
static nnrt_status run_fallback(nnrt_device *dev, nnrt_call *c, const nnrt_op_signature *s) {
  nnrt_device *ref = nnrt_ref_device();
  nnrt_kernel_fn k = core_dev(ref)->backend->kernels[c->op];
  if (!k) return nnrt_error(NNRT_ERR_UNIMPLEMENTED, "%s: no kernel on %s nor on ref", s->name, nnrt_device_name(dev));
  if (nnrt_device_is_host_memory(dev)) return k(ref, c);
  nnrt_tensor *in[16] = {0}, *out[16] = {0};
  nnrt_status st = NNRT_OK;
  for (int i = 0; i < c->n_inputs && !st; i++)
    if (c->inputs[i] && !(st = nnrt_tensor_new_like(ref, c->inputs[i], &in[i])))
      st = nnrt_tensor_copy(in[i], c->inputs[i]);
  for (int i = 0; i < c->n_outputs && !st; i++) {
    if (!c->outputs[i]) continue;
    /* an in-place output shares the host copy of its input */
    for (int j = 0; j < c->n_inputs; j++)
      if (c->inputs[j] == c->outputs[i]) out[i] = in[j];
    if (out[i]) continue;
    if (!(st = nnrt_tensor_new_like(ref, c->outputs[i], &out[i])) && (s->outputs[i].flags & NNRT_ARG_UPDATE))
      st = nnrt_tensor_copy(out[i], c->outputs[i]);
  }
  if (!st) {
    nnrt_call hc = *c;
    hc.inputs = in;
    hc.outputs = out;
    st = k(ref, &hc);
  }
  for (int i = 0; i < c->n_outputs && !st; i++)
    if (out[i]) st = nnrt_tensor_copy(c->outputs[i], out[i]);
  for (int i = 0; i < c->n_outputs; i++) {
    bool shared = false;
    for (int j = 0; j < c->n_inputs; j++) shared |= out[i] && out[i] == in[j];
    if (!shared) nnrt_tensor_free(out[i]);
  }
  for (int i = 0; i < c->n_inputs; i++) nnrt_tensor_free(in[i]);
  return st;
}

nnrt_status nnrt_op_run(nnrt_op op, const void *params, nnrt_tensor *const *inputs, nnrt_tensor *const *outputs) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!s) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_op_run: no op %d", (int)op);
  if (!inputs || !outputs) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: inputs or outputs array is NULL", s->name);
  params_any defaults;
  if (!params) {
    nnrt_params_init(op, &defaults);
    params = &defaults;
  }
  nnrt_tensor *out[16];
  memcpy(out, outputs, sizeof(nnrt_tensor *) * (size_t)s->n_outputs);
  bool inplace = call_inplace(s, params);
  if (inplace) {
    if (!inputs[0]) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: input '%s' is NULL", s->name, s->inputs[0].name);
    if (out[0] && out[0] != inputs[0])
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: inplace=true needs %s NULL or the input tensor itself",
                        s->name, s->outputs[0].name);
    out[0] = inputs[0];
  }
  nnrt_call c = {sizeof c, op, s->name, params, s->n_inputs, inputs, s->n_outputs, out};
  nnrt_shape want[16];
  nnrt_device *dev;
  nnrt_status st = infer(&c, s, want, &dev);
  if (st) return st;
  for (int i = 0; i < s->n_outputs; i++) {
    const nnrt_tensor *t = out[i];
    const nnrt_arg_desc *a = &s->outputs[i];
    char sa[NNRT_SHAPE_STR_LEN], sb[NNRT_SHAPE_STR_LEN];
    if (!t) {
      if (a->flags & NNRT_ARG_OPTIONAL) continue;
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: output '%s' is NULL", s->name, a->name);
    }
    if (!tensor_alive(t))
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: output '%s' is not a live tensor", s->name, a->name);
    if (t->device != dev)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: output '%s' is on %s, inputs on %s", s->name,
                        a->name, nnrt_device_name(t->device), nnrt_device_name(dev));
    if (t->dtype != want[i].dtype)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: output '%s' must be %s, got %s", s->name, a->name,
                        nnrt_dtype_name(want[i].dtype), nnrt_dtype_name(t->dtype));
    bool ok = t->ndim == want[i].ndim;
    for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == want[i].dims[d];
    if (!ok)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: output '%s' has shape %s, expected %s", s->name,
                        a->name, nnrt_shape_str(t->ndim, t->shape, sa, sizeof sa),
                        nnrt_shape_str(want[i].ndim, want[i].dims, sb, sizeof sb));
    for (int j = 0; j < s->n_inputs; j++)
      if (aliases(t, inputs[j]) && !(inplace && i == 0 && j == 0))
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: output '%s' aliases input '%s'%s", s->name,
                          a->name, s->inputs[j].name, i == 0 && j == 0 && s->n_params ? " (use inplace=true)" : "");
    for (int j = 0; j < i; j++)
      if (aliases(t, out[j]))
        return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: outputs '%s' and '%s' alias", s->name,
                          s->outputs[j].name, a->name);
  }
  nnrt_backend *b = core_dev(dev)->backend;
  bool dtype_ok = (b->plugin->dtypes & (1u << nnrt_call_dtype(&c))) != 0;
  if (!dtype_ok && !nnrt_device_is_host_memory(dev))
    return nnrt_error(NNRT_ERR_UNIMPLEMENTED, "%s: device %s does not compute %s", s->name,
                      nnrt_device_name(dev), nnrt_dtype_name(nnrt_call_dtype(&c)));
  nnrt_kernel_fn k = b->kernels[op];
  bool (*supports)(nnrt_device *, const nnrt_call *) = NNRT_PLUGIN_FN(b, supports);
  if (k && dtype_ok && (!supports || supports(dev, &c))) return k(dev, &c);

  /* fallback to ref */
  core_device *cd = core_dev(dev);
  fallback_mode mode = fallback_policy();
  if (mode == FALLBACK_ERROR)
    return nnrt_error(NNRT_ERR_UNIMPLEMENTED, "%s: no kernel on %s for this call and NNRT_FALLBACK=error",
                      s->name, nnrt_device_name(dev));
  atomic_fetch_add(&cd->fallbacks[op], 1);
  /* warned once: a fallback through copies is a performance cliff; one in
   * place on host memory costs nothing, so it is only logged at info */
  bool copies = !nnrt_device_is_host_memory(dev);
  if (!atomic_flag_test_and_set(&cd->warned[op]))
    nnrt_log(mode == FALLBACK_WARN && copies ? NNRT_LOG_WARN : mode == FALLBACK_WARN ? NNRT_LOG_INFO : NNRT_LOG_DEBUG,
             "%s: %s has no kernel for this call (%s); running on ref%s", s->name,
             nnrt_device_name(dev), !k ? "op missing" : !dtype_ok ? "dtype" : "declined by supports",
             copies ? " with copies" : " in place");
  return run_fallback(dev, &c, s);
}

/* ---- typed entry points ----
 * The tensor lists become sequences "(input)(weight)" that two ping-pong
 * macros walk, once for the parameter list and once for the arrays. */
#define NNRT_CAT_(a, b) NNRT_CAT2_(a, b)
#define NNRT_CAT2_(a, b) a##b
/* the comma is deferred so that NNRT_CAT_ sees one argument */
#define NNRT_EMPTY_()
#define NNRT_COMMA_() ,
#define NNRT_DECL_A(n) nnrt_tensor *n NNRT_COMMA_ NNRT_EMPTY_() () NNRT_DECL_B
#define NNRT_DECL_B(n) nnrt_tensor *n NNRT_COMMA_ NNRT_EMPTY_() () NNRT_DECL_A
#define NNRT_DECL_A_END
#define NNRT_DECL_B_END
#define NNRT_NAME_A(n) n NNRT_COMMA_ NNRT_EMPTY_() () NNRT_NAME_B
#define NNRT_NAME_B(n) n NNRT_COMMA_ NNRT_EMPTY_() () NNRT_NAME_A
#define NNRT_NAME_A_END
#define NNRT_NAME_B_END
#define NNRT_DECLS_(seq) NNRT_CAT_(NNRT_DECL_A seq, _END)
#define NNRT_NAMES_(seq) NNRT_CAT_(NNRT_NAME_A seq, _END)
#define TI(n, f) (n)
#define TO(n, f) (n)
#define NNRT_OP(name, rule, params, inputs, outputs)                             \
  nnrt_status nnrt_##name(NNRT_DECLS_(NNRT_ID_ inputs) NNRT_DECLS_(NNRT_ID_ outputs) \
                              const nnrt_##name##_params *params_) {             \
    nnrt_tensor *const ins_[] = {NNRT_NAMES_(NNRT_ID_ inputs)};                  \
    nnrt_tensor *const outs_[] = {NNRT_NAMES_(NNRT_ID_ outputs)};                \
    return nnrt_op_run(NNRT_OP_##name, params_, ins_, outs_);                    \
  }
#include "nnrt/ops.def"
#undef NNRT_OP
#undef TI
#undef TO
