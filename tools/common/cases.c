/* tools/common/cases.c - cases.def parsed into runnable cases, their values
 * from a seeded generator, and their tensors on any device (cases.h).
 *
 * Only the public API is used: a derived backward case gets its forward's
 * outputs by running the forward on ref in float64, like any user would.
 */
#include "cases.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const case_def case_defs[] = {
#define NNRT_CASE(op, specs, params) {#op, specs, params},
#include "cases.def"
#undef NNRT_CASE
};

size_t cases_def_count(void) { return sizeof case_defs / sizeof case_defs[0]; }

const case_def *cases_def_get(size_t i) { return i < cases_def_count() ? &case_defs[i] : NULL; }

static int failf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t len, const char *fmt, ...) {
  if (err && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ---- the generator ---- */
static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

case_rng case_rng_seed(const char *a, const char *b) {
  uint64_t h = fnv1a(0xcbf29ce484222325ull, a);
  h = fnv1a(h ^ 0x2f, b); /* a separator, so ("ab","c") != ("a","bc") */
  return (case_rng){h};
}

uint64_t case_rng_next(case_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double case_rng_uniform(case_rng *r) { return (double)(case_rng_next(r) >> 11) * 0x1.0p-53; }

double case_rng_normal(case_rng *r) {
  /* Box-Muller; 1-u keeps the log argument in (0, 1] */
  double u = 1.0 - case_rng_uniform(r), v = case_rng_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- names ---- */
int case_input_index(nnrt_op op, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  for (int i = 0; s && i < s->n_inputs; i++)
    if (!strcmp(s->inputs[i].name, name)) return i;
  return -1;
}

int case_output_index(nnrt_op op, const char *name) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  for (int i = 0; s && i < s->n_outputs; i++)
    if (!strcmp(s->outputs[i].name, name)) return i;
  return -1;
}

static bool has_param(nnrt_op op, const char *name, size_t len) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  for (int i = 0; s && i < s->n_params; i++)
    if (strlen(s->params[i].name) == len && !strncmp(s->params[i].name, name, len)) return true;
  return false;
}

/* Copies src into dst with runs of white space made one space, trimmed. */
static void squeeze(char *dst, size_t len, const char *src) {
  size_t o = 0;
  bool space = false;
  for (; src && *src && o + 1 < len; src++) {
    if (isspace((unsigned char)*src)) {
      space = o > 0;
      continue;
    }
    if (space && o + 2 < len) dst[o++] = ' ';
    space = false;
    dst[o++] = *src;
  }
  dst[o] = 0;
}

/* Appends src to the NUL-terminated dst of size len, truncating. */
static void text_cat(char *dst, size_t len, const char *src) {
  size_t o = strlen(dst);
  while (*src && o + 1 < len) dst[o++] = *src++;
  dst[o] = 0;
}

/* ---- parsing ---- */
static int parse_number(const char **p, double *v) {
  char *end;
  errno = 0;
  *v = strtod(*p, &end);
  if (end == *p || errno == ERANGE) return -1;
  *p = end;
  return 0;
}

/* One spec token "NAME=KIND[d0,...](lo,hi)" (tok is NUL-terminated). */
static int parse_spec(const char *tok, case_spec *s, char *err, size_t len) {
  memset(s, 0, sizeof *s);
  const char *eq = strchr(tok, '=');
  if (!eq || eq == tok || (size_t)(eq - tok) >= sizeof s->name)
    return failf(err, len, "spec '%s': expected NAME=KIND[dims](lo,hi)", tok);
  memcpy(s->name, tok, (size_t)(eq - tok));
  const char *p = eq + 1;
  s->kind = *p;
  if (!s->kind || !strchr("nuis", s->kind))
    return failf(err, len, "spec '%s': unknown kind '%c' (n, u, i, s)", tok, s->kind ? s->kind : ' ');
  p++;
  if (*p != '[') return failf(err, len, "spec '%s': expected '[' after the kind", tok);
  p++;
  while (*p != ']') {
    if (s->ndim >= NNRT_MAX_DIMS) return failf(err, len, "spec '%s': more than %d dims", tok, NNRT_MAX_DIMS);
    char *end;
    errno = 0;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0 || errno) return failf(err, len, "spec '%s': bad dimension", tok);
    s->shape[s->ndim++] = d;
    p = end;
    if (*p == ',') p++;
    else if (*p != ']') return failf(err, len, "spec '%s': expected ',' or ']' in the shape", tok);
  }
  p++;
  bool range = false;
  s->lo = 0;
  s->hi = 1;
  if (*p == '(') {
    p++;
    if (parse_number(&p, &s->lo) || *p++ != ',' || parse_number(&p, &s->hi) || *p++ != ')')
      return failf(err, len, "spec '%s': bad range, expected (lo,hi)", tok);
    range = true;
  }
  if (*p) return failf(err, len, "spec '%s': unexpected '%s'", tok, p);
  if (s->kind == 'i' && !range) return failf(err, len, "spec '%s': kind i needs a range (lo,hi)", tok);
  if ((s->kind == 'u' || s->kind == 'i') && !(s->lo < s->hi))
    return failf(err, len, "spec '%s': empty range [%g, %g)", tok, s->lo, s->hi);
  if (s->kind == 'i' && (s->lo != floor(s->lo) || s->hi != floor(s->hi)))
    return failf(err, len, "spec '%s': kind i needs an integer range", tok);
  return 0;
}

/* The flags of a tensor named name among op's inputs and outputs; -1 if none. */
static int arg_flags(nnrt_op op, const char *name, bool *is_output) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  int k = case_input_index(op, name);
  if (k >= 0) {
    *is_output = false;
    return (int)s->inputs[k].flags;
  }
  k = case_output_index(op, name);
  if (k >= 0) {
    *is_output = true;
    return (int)s->outputs[k].flags;
  }
  return -1;
}

static int parse_specs(nnrt_case *c, nnrt_op bwd) {
  char buf[CASE_DESC_LEN];
  squeeze(buf, sizeof buf, c->def->specs);
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    if (c->n_specs >= CASE_MAX_ARGS) return failf(c->error, sizeof c->error, "more than %d specs", CASE_MAX_ARGS);
    case_spec *s = &c->specs[c->n_specs];
    if (parse_spec(tok, s, c->error, sizeof c->error)) return -1;
    for (int j = 0; j < c->n_specs; j++)
      if (!strcmp(c->specs[j].name, s->name)) return failf(c->error, sizeof c->error, "spec '%s' given twice", s->name);
    bool is_out;
    int fl = arg_flags(c->fwd_op, s->name, &is_out);
    if (fl < 0 && bwd != NNRT_OP_COUNT) fl = arg_flags(bwd, s->name, &is_out);
    if (fl < 0)
      return failf(c->error, sizeof c->error, "spec '%s': %s has no tensor named so", s->name, c->def->op);
    if (is_out && !(fl & NNRT_ARG_UPDATE))
      return failf(c->error, sizeof c->error, "spec '%s': only inputs and UPDATE outputs take a spec", s->name);
    if (((fl & NNRT_ARG_INDEX) != 0) != (s->kind == 'i'))
      return failf(c->error, sizeof c->error, "spec '%s': kind %c for a%s tensor", s->name, s->kind,
                   (fl & NNRT_ARG_INDEX) ? "n index" : " float");
    c->n_specs++;
  }
  return 0;
}

/* Sets params from "name=value ..."; for a backward, only names it has. */
static int parse_params(nnrt_case *c, nnrt_op op, void *params, bool only_known) {
  if (nnrt_params_init(op, params)) return failf(c->error, sizeof c->error, "%s", nnrt_last_error());
  char buf[CASE_DESC_LEN];
  squeeze(buf, sizeof buf, c->def->params);
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    const char *eq = strchr(tok, '=');
    if (only_known && (!eq || !has_param(op, tok, (size_t)(eq - tok)))) continue;
    if (nnrt_params_set(op, params, tok)) return failf(c->error, sizeof c->error, "%s", nnrt_last_error());
  }
  return 0;
}

int case_parse(const case_def *def, size_t index, bool backward, nnrt_case *c) {
  memset(c, 0, sizeof *c);
  c->def = def;
  c->def_index = index;
  c->backward = backward;
  c->op = c->fwd_op = NNRT_OP_COUNT;
  char specs[CASE_DESC_LEN], params[CASE_DESC_LEN];
  squeeze(specs, sizeof specs, def->specs);
  squeeze(params, sizeof params, def->params);
  /* the descriptor "op(specs params)", with room for "_backward" */
  bool too_long = strlen(def->op) + strlen(specs) + strlen(params) + 16 >= CASE_DESC_LEN;
  if (!too_long) {
    text_cat(c->fwd_desc, sizeof c->fwd_desc, def->op);
    text_cat(c->fwd_desc, sizeof c->fwd_desc, "(");
    text_cat(c->fwd_desc, sizeof c->fwd_desc, specs);
    text_cat(c->fwd_desc, sizeof c->fwd_desc, specs[0] && params[0] ? " " : "");
    text_cat(c->fwd_desc, sizeof c->fwd_desc, params);
    text_cat(c->fwd_desc, sizeof c->fwd_desc, ")");
  }
  char bname[128];
  snprintf(bname, sizeof bname, "%.100s_backward", def->op);
  nnrt_op fwd = nnrt_op_from_name(def->op), bwd = nnrt_op_from_name(bname);
  if (backward) {
    if (fwd == NNRT_OP_COUNT || bwd == NNRT_OP_COUNT) return 1;
    text_cat(c->desc, sizeof c->desc, bname);
    text_cat(c->desc, sizeof c->desc, c->fwd_desc + strlen(def->op));
  } else {
    text_cat(c->desc, sizeof c->desc, c->fwd_desc);
  }
  if (too_long) return failf(c->error, sizeof c->error, "case of %s: specs and params too long", def->op);
  if (fwd == NNRT_OP_COUNT) return failf(c->error, sizeof c->error, "no op named '%s' in ops.def", def->op);
  c->fwd_op = fwd;
  if (parse_specs(c, bwd)) return -1;
  if (parse_params(c, fwd, &c->fwd_params, false)) return -1;
  if (backward && parse_params(c, bwd, &c->params, true)) return -1;
  if (!backward) c->params = c->fwd_params;
  c->op = backward ? bwd : fwd;
  return 0;
}

int cases_list(nnrt_case **out, size_t *n) {
  size_t nd = cases_def_count(), k = 0;
  nnrt_case *list = calloc(2 * nd + 1, sizeof *list);
  if (!list) return -1;
  for (size_t i = 0; i < nd; i++) {
    case_parse(&case_defs[i], i, false, &list[k++]);
    if (case_parse(&case_defs[i], i, true, &list[k]) != 1) k++;
  }
  *out = list;
  *n = k;
  return 0;
}

void cases_list_free(nnrt_case *list) { free(list); }

bool case_matches(const nnrt_case *c, const char *pattern) {
  const char *name = c->op != NNRT_OP_COUNT ? nnrt_op_name(c->op) : c->def->op;
  return !strcmp(pattern, c->desc) || !fnmatch(pattern, name, 0) || !fnmatch(pattern, c->desc, 0);
}

bool case_inplace(const nnrt_case *c) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  for (int i = 0; s && i < s->n_params; i++)
    if (s->params[i].type == NNRT_PARAM_BOOL && !strcmp(s->params[i].name, "inplace"))
      return *(const bool *)((const char *)&c->params + s->params[i].offset);
  return false;
}

/* ---- values ---- */
static void buf_free(case_buf *b) {
  free(b->f);
  free(b->i);
  memset(b, 0, sizeof *b);
}

void case_values_free(case_values *v) {
  for (int i = 0; i < CASE_MAX_ARGS; i++) {
    buf_free(&v->in[i]);
    buf_free(&v->upd[i]);
  }
}

static int64_t numel_of(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

static int buf_alloc(case_buf *b, bool index, int ndim, const int64_t *shape, char *err, size_t len) {
  memset(b, 0, sizeof *b);
  b->present = true;
  b->index = index;
  b->ndim = ndim;
  memcpy(b->shape, shape, sizeof(int64_t) * (size_t)ndim);
  b->numel = numel_of(ndim, shape);
  size_t n = b->numel > 0 ? (size_t)b->numel : 1;
  if (index) b->i = calloc(n, sizeof *b->i);
  else b->f = calloc(n, sizeof *b->f);
  if (!b->i && !b->f) return failf(err, len, "out of memory for %lld values", (long long)b->numel);
  return 0;
}

static int buf_copy(case_buf *dst, const case_buf *src, char *err, size_t len) {
  if (!src->present) {
    memset(dst, 0, sizeof *dst);
    return 0;
  }
  if (buf_alloc(dst, src->index, src->ndim, src->shape, err, len)) return -1;
  if (src->index) memcpy(dst->i, src->i, sizeof *dst->i * (size_t)src->numel);
  else memcpy(dst->f, src->f, sizeof *dst->f * (size_t)src->numel);
  return 0;
}

static void round_to(case_buf *b, nnrt_dtype dt) {
  if (b->index || dt != NNRT_F32) return;
  for (int64_t k = 0; k < b->numel; k++) b->f[k] = (double)(float)b->f[k];
}

static int buf_from_spec(case_buf *b, const case_spec *s, const char *seed, nnrt_dtype dt, char *err, size_t len) {
  if (buf_alloc(b, s->kind == 'i', s->ndim, s->shape, err, len)) return -1;
  case_rng r = case_rng_seed(seed, s->name);
  for (int64_t k = 0; k < b->numel; k++) {
    switch (s->kind) {
    case 'n': b->f[k] = case_rng_normal(&r); break;
    case 'u': b->f[k] = s->lo + (s->hi - s->lo) * case_rng_uniform(&r); break;
    case 's': b->f[k] = case_rng_uniform(&r) < 0.5 ? -1.0 : 1.0; break;
    case 'i': {
      int64_t lo = (int64_t)s->lo, span = (int64_t)s->hi - lo;
      b->i[k] = lo + (int64_t)(case_rng_next(&r) % (uint64_t)span);
      break;
    }
    }
  }
  round_to(b, dt);
  return 0;
}

static int buf_random(case_buf *b, int ndim, const int64_t *shape, const char *seed, const char *name,
                      nnrt_dtype dt, char *err, size_t len) {
  if (buf_alloc(b, false, ndim, shape, err, len)) return -1;
  case_rng r = case_rng_seed(seed, name);
  for (int64_t k = 0; k < b->numel; k++) b->f[k] = case_rng_normal(&r);
  round_to(b, dt);
  return 0;
}

static const case_spec *find_spec(const nnrt_case *c, const char *name) {
  for (int i = 0; i < c->n_specs; i++)
    if (!strcmp(c->specs[i].name, name)) return &c->specs[i];
  return NULL;
}

/* Output shapes not yet known, from nnrt_op_infer on ref in f64. */
static int infer_missing(const nnrt_case *c, case_values *v, const bool *known, char *err, size_t len) {
  bool need = false;
  for (int i = 0; i < v->n_outputs; i++) need |= v->out_wanted[i] && !known[i];
  if (!need) return 0;
  nnrt_device *ref;
  if (nnrt_device_get("ref", &ref)) return failf(err, len, "%s", nnrt_last_error());
  nnrt_tensor *in[CASE_MAX_ARGS] = {0};
  nnrt_shape shapes[CASE_MAX_ARGS];
  int rc = case_make_inputs(v, ref, NNRT_F64, in, NULL, err, len);
  if (!rc && nnrt_op_infer(v->op, &c->params, in, shapes))
    rc = failf(err, len, "%s", nnrt_last_error());
  for (int i = 0; !rc && i < v->n_outputs; i++)
    if (v->out_wanted[i] && !known[i]) v->out_shape[i] = shapes[i];
  case_free_tensors(in, v->n_inputs);
  return rc;
}

static int generate_forward(const nnrt_case *c, nnrt_dtype dt, case_values *v, char *err, size_t len) {
  const nnrt_op_signature *s = nnrt_op_signature_of(c->op);
  bool known[CASE_MAX_ARGS] = {0};
  v->op = c->op;
  v->n_inputs = s->n_inputs;
  v->n_outputs = s->n_outputs;
  for (int i = 0; i < s->n_inputs; i++) {
    const case_spec *sp = find_spec(c, s->inputs[i].name);
    if (sp) {
      if (buf_from_spec(&v->in[i], sp, c->fwd_desc, dt, err, len)) return -1;
    } else if (!(s->inputs[i].flags & NNRT_ARG_OPTIONAL)) {
      return failf(err, len, "%s: required input '%s' has no spec", c->desc, s->inputs[i].name);
    }
  }
  for (int i = 0; i < s->n_outputs; i++) {
    unsigned fl = s->outputs[i].flags;
    const case_spec *sp = find_spec(c, s->outputs[i].name);
    v->out_wanted[i] = true;
    if (sp) {
      if (buf_from_spec(&v->upd[i], sp, c->fwd_desc, dt, err, len)) return -1;
      v->out_shape[i] = (nnrt_shape){.dtype = dt, .ndim = sp->ndim};
      memcpy(v->out_shape[i].dims, sp->shape, sizeof(int64_t) * (size_t)sp->ndim);
      known[i] = true;
    } else if ((fl & NNRT_ARG_UPDATE) && (fl & NNRT_ARG_OPTIONAL)) {
      v->out_wanted[i] = false;
    }
  }
  if (infer_missing(c, v, known, err, len)) return -1;
  for (int i = 0; i < s->n_outputs; i++)
    if (v->out_wanted[i] && (s->outputs[i].flags & NNRT_ARG_UPDATE) && !v->upd[i].present &&
        buf_random(&v->upd[i], v->out_shape[i].ndim, v->out_shape[i].dims, c->fwd_desc, s->outputs[i].name, dt, err, len))
      return -1;
  return 0;
}

/* Runs a forward case on ref in f64 and keeps its outputs' values. */
static int forward_outputs(const nnrt_case *fc, const case_values *fv, nnrt_dtype dt, case_buf *outs, char *err, size_t len) {
  nnrt_device *ref;
  if (nnrt_device_get("ref", &ref)) return failf(err, len, "%s", nnrt_last_error());
  nnrt_tensor *in[CASE_MAX_ARGS] = {0}, *out[CASE_MAX_ARGS] = {0};
  int rc = case_make_inputs(fv, ref, NNRT_F64, in, NULL, err, len);
  if (!rc) rc = case_make_outputs(fc, fv, ref, NNRT_F64, in, false, out, NULL, err, len);
  if (!rc && nnrt_op_run(fc->op, &fc->params, in, out))
    rc = failf(err, len, "forward %s: %s", fc->desc, nnrt_last_error());
  for (int i = 0; !rc && i < fv->n_outputs; i++) {
    if (!out[i]) continue;
    const nnrt_shape *sh = &fv->out_shape[i];
    bool index = nnrt_tensor_dtype(out[i]) == NNRT_I64;
    double *vals = NULL;
    rc = buf_alloc(&outs[i], index, sh->ndim, sh->dims, err, len);
    if (!rc) rc = case_read_f64(out[i], &vals, err, len);
    for (int64_t k = 0; !rc && k < outs[i].numel; k++) {
      if (index) outs[i].i[k] = (int64_t)vals[k];
      else outs[i].f[k] = vals[k];
    }
    free(vals);
    if (!rc) round_to(&outs[i], dt);
  }
  case_free_outputs(out, fv->n_outputs, in, fv->n_inputs);
  case_free_tensors(in, fv->n_inputs);
  return rc;
}

static int generate_backward(const nnrt_case *c, nnrt_dtype dt, case_values *v, char *err, size_t len) {
  nnrt_case fc = *c;
  fc.backward = false;
  fc.op = c->fwd_op;
  fc.params = c->fwd_params;
  memcpy(fc.desc, c->fwd_desc, sizeof fc.desc);
  case_values fv = {0};
  case_buf fout[CASE_MAX_ARGS] = {{0}};
  const nnrt_op_signature *bs = nnrt_op_signature_of(c->op);
  int rc = generate_forward(&fc, dt, &fv, err, len);
  if (!rc) rc = forward_outputs(&fc, &fv, dt, fout, err, len);
  v->op = c->op;
  v->n_inputs = bs->n_inputs;
  v->n_outputs = bs->n_outputs;
  for (int i = 0; !rc && i < bs->n_inputs; i++) {
    const char *name = bs->inputs[i].name;
    int k;
    const case_spec *sp;
    if (!strncmp(name, "grad_", 5) && (k = case_output_index(c->fwd_op, name + 5)) >= 0) {
      if (!fout[k].present) rc = failf(err, len, "%s: forward output '%s' was not computed", c->desc, name + 5);
      else rc = buf_random(&v->in[i], fout[k].ndim, fout[k].shape, c->fwd_desc, name, dt, err, len);
    } else if ((k = case_output_index(c->fwd_op, name)) >= 0) {
      rc = buf_copy(&v->in[i], &fout[k], err, len);
    } else if ((k = case_input_index(c->fwd_op, name)) >= 0) {
      rc = buf_copy(&v->in[i], &fv.in[k], err, len);
    } else if ((sp = find_spec(c, name))) {
      rc = buf_from_spec(&v->in[i], sp, c->fwd_desc, dt, err, len);
    }
    if (!rc && !v->in[i].present && !(bs->inputs[i].flags & NNRT_ARG_OPTIONAL))
      rc = failf(err, len, "%s: required input '%s' has no source", c->desc, name);
  }
  bool known[CASE_MAX_ARGS] = {0};
  for (int i = 0; !rc && i < bs->n_outputs; i++) {
    const case_spec *sp = find_spec(c, bs->outputs[i].name);
    v->out_wanted[i] = true;
    if (sp && (bs->outputs[i].flags & NNRT_ARG_UPDATE)) {
      rc = buf_from_spec(&v->upd[i], sp, c->fwd_desc, dt, err, len);
      v->out_shape[i] = (nnrt_shape){.dtype = dt, .ndim = sp->ndim};
      memcpy(v->out_shape[i].dims, sp->shape, sizeof(int64_t) * (size_t)sp->ndim);
      known[i] = true;
    }
  }
  if (!rc) rc = infer_missing(c, v, known, err, len);
  for (int i = 0; !rc && i < bs->n_outputs; i++)
    if ((bs->outputs[i].flags & NNRT_ARG_UPDATE) && !v->upd[i].present)
      rc = buf_random(&v->upd[i], v->out_shape[i].ndim, v->out_shape[i].dims, c->fwd_desc, bs->outputs[i].name, dt, err, len);
  for (int i = 0; i < CASE_MAX_ARGS; i++) buf_free(&fout[i]);
  case_values_free(&fv);
  return rc;
}

int case_generate(const nnrt_case *c, nnrt_dtype dt, case_values *v, char *err, size_t len) {
  memset(v, 0, sizeof *v);
  if (c->error[0]) return failf(err, len, "%s", c->error);
  int rc = c->backward ? generate_backward(c, dt, v, err, len) : generate_forward(c, dt, v, err, len);
  if (rc) case_values_free(v);
  return rc;
}

/* ---- tensors ---- */
void case_free_tensors(nnrt_tensor **t, int n) {
  for (int i = 0; i < n; i++) {
    nnrt_tensor_free(t[i]);
    t[i] = NULL;
  }
}

void case_free_outputs(nnrt_tensor **out, int n_out, nnrt_tensor *const *in, int n_in) {
  for (int i = 0; i < n_out; i++) {
    bool shared = false;
    for (int j = 0; j < n_in; j++) shared |= out[i] && out[i] == in[j];
    if (!shared) nnrt_tensor_free(out[i]);
    out[i] = NULL;
  }
}

static const uint32_t sentinel32 = 0x7fc5a5a5u;
static const uint64_t sentinel64 = 0x7ff8a5a5a5a5a5a5ull;

bool case_is_sentinel(nnrt_dtype dtype, const void *elem) {
  if (dtype == NNRT_F32) {
    uint32_t u;
    memcpy(&u, elem, 4);
    return u == sentinel32;
  }
  uint64_t u;
  memcpy(&u, elem, 8);
  return u == sentinel64;
}

nnrt_status case_write_f64(nnrt_tensor *t, const double *vals) {
  int64_t n = nnrt_tensor_numel(t);
  nnrt_dtype dt = nnrt_tensor_dtype(t);
  size_t es = nnrt_dtype_size(dt);
  void *host = malloc(n > 0 ? (size_t)n * es : 1);
  if (!host) return NNRT_ERR_OUT_OF_MEMORY;
  for (int64_t k = 0; k < n; k++) {
    if (dt == NNRT_F32) ((float *)host)[k] = (float)vals[k];
    else if (dt == NNRT_F64) ((double *)host)[k] = vals[k];
    else ((int64_t *)host)[k] = (int64_t)vals[k];
  }
  nnrt_status st = nnrt_tensor_write(t, host, (size_t)n * es);
  free(host);
  return st;
}

int case_read_f64(const nnrt_tensor *t, double **out, char *err, size_t len) {
  int64_t n = nnrt_tensor_numel(t);
  nnrt_dtype dt = nnrt_tensor_dtype(t);
  size_t es = nnrt_dtype_size(dt);
  void *host = malloc(n > 0 ? (size_t)n * es : 1);
  double *v = malloc(n > 0 ? (size_t)n * sizeof *v : 1);
  if (!host || !v) {
    free(host);
    free(v);
    return failf(err, len, "out of memory reading %lld values", (long long)n);
  }
  if (nnrt_tensor_read(t, host, (size_t)n * es)) {
    free(host);
    free(v);
    return failf(err, len, "%s", nnrt_last_error());
  }
  for (int64_t k = 0; k < n; k++)
    v[k] = dt == NNRT_F32 ? (double)((float *)host)[k] : dt == NNRT_F64 ? ((double *)host)[k] : (double)((int64_t *)host)[k];
  free(host);
  *out = v;
  return 0;
}

static int new_tensor(nnrt_device *dev, nnrt_dtype dt, int ndim, const int64_t *shape, nnrt_tensor **t,
                      nnrt_status *st, char *err, size_t len) {
  nnrt_status s = nnrt_tensor_new(dev, dt, ndim, shape, t);
  if (st) *st = s;
  return s ? failf(err, len, "%s", nnrt_last_error()) : 0;
}

static int write_buf(nnrt_tensor *t, const case_buf *b, nnrt_status *st, char *err, size_t len) {
  nnrt_status s = b->index ? nnrt_tensor_write(t, b->i, sizeof(int64_t) * (size_t)b->numel) : case_write_f64(t, b->f);
  if (st) *st = s;
  return s ? failf(err, len, "%s", nnrt_last_error()) : 0;
}

int case_make_inputs(const case_values *v, nnrt_device *dev, nnrt_dtype dt, nnrt_tensor **in, nnrt_status *st,
                     char *err, size_t len) {
  if (st) *st = NNRT_OK;
  for (int i = 0; i < v->n_inputs; i++) {
    in[i] = NULL;
    const case_buf *b = &v->in[i];
    if (!b->present) continue;
    if (new_tensor(dev, b->index ? NNRT_I64 : dt, b->ndim, b->shape, &in[i], st, err, len) ||
        write_buf(in[i], b, st, err, len)) {
      case_free_tensors(in, i + 1);
      return -1;
    }
  }
  return 0;
}

int case_make_outputs(const nnrt_case *c, const case_values *v, nnrt_device *dev, nnrt_dtype dt,
                      nnrt_tensor *const *in, bool sentinel, nnrt_tensor **out, nnrt_status *st, char *err,
                      size_t len) {
  const nnrt_op_signature *s = nnrt_op_signature_of(v->op);
  bool inplace = c && case_inplace(c);
  if (st) *st = NNRT_OK;
  for (int i = 0; i < v->n_outputs; i++) out[i] = NULL;
  for (int i = 0; i < v->n_outputs; i++) {
    if (!v->out_wanted[i]) continue;
    if (inplace && i == 0) {
      out[0] = in[0];
      continue;
    }
    const nnrt_shape *sh = &v->out_shape[i];
    nnrt_dtype odt = (s->outputs[i].flags & NNRT_ARG_INDEX) ? NNRT_I64 : dt;
    int rc = new_tensor(dev, odt, sh->ndim, sh->dims, &out[i], st, err, len);
    if (!rc && v->upd[i].present) rc = write_buf(out[i], &v->upd[i], st, err, len);
    else if (!rc && sentinel && odt != NNRT_I64) {
      int64_t n = nnrt_tensor_numel(out[i]);
      size_t es = nnrt_dtype_size(odt);
      unsigned char *host = malloc(n > 0 ? (size_t)n * es : 1);
      if (!host) rc = failf(err, len, "out of memory");
      for (int64_t k = 0; !rc && k < n; k++) memcpy(host + (size_t)k * es, odt == NNRT_F32 ? (const void *)&sentinel32 : (const void *)&sentinel64, es);
      nnrt_status s2 = rc ? NNRT_OK : nnrt_tensor_write(out[i], host, (size_t)n * es);
      if (s2) {
        if (st) *st = s2;
        rc = failf(err, len, "%s", nnrt_last_error());
      }
      free(host);
    }
    if (rc) {
      case_free_outputs(out, v->n_outputs, in, v->n_inputs);
      return -1;
    }
  }
  return 0;
}

/* ---- signatures ---- */
const char *case_param_type_name(const nnrt_param_desc *p, char *buf, size_t len) {
  switch (p->type) {
  case NNRT_PARAM_F64: snprintf(buf, len, "f64"); break;
  case NNRT_PARAM_I64: snprintf(buf, len, "i64"); break;
  case NNRT_PARAM_BOOL: snprintf(buf, len, "bool"); break;
  case NNRT_PARAM_ENUM: snprintf(buf, len, "enum"); break;
  case NNRT_PARAM_I64_ARRAY: snprintf(buf, len, "i64[%d]", p->count); break;
  case NNRT_PARAM_F64_ARRAY: snprintf(buf, len, "f64[%d]", p->count); break;
  }
  return buf;
}

const char *case_param_default(const nnrt_param_desc *p, char *buf, size_t len) {
  switch (p->type) {
  case NNRT_PARAM_F64:
    if (isnan(p->def)) snprintf(buf, len, "none");
    else if (isinf(p->def)) snprintf(buf, len, "%sinf", p->def < 0 ? "-" : "");
    else snprintf(buf, len, "%.17g", p->def);
    break;
  case NNRT_PARAM_I64: snprintf(buf, len, "%lld", (long long)p->def); break;
  case NNRT_PARAM_BOOL: snprintf(buf, len, "%s", p->def != 0 ? "true" : "false"); break;
  case NNRT_PARAM_ENUM: {
    const char *c = p->choices ? p->choices : "";
    for (int i = 0; i < (int)p->def && c; i++) {
      c = strchr(c, '|');
      if (c) c++;
    }
    if (!c) c = "?";
    size_t l = strcspn(c, "|");
    snprintf(buf, len, "%.*s", (int)l, c);
    break;
  }
  case NNRT_PARAM_I64_ARRAY:
  case NNRT_PARAM_F64_ARRAY: snprintf(buf, len, "unset"); break;
  }
  return buf;
}

static void print_args(FILE *f, int n, const nnrt_arg_desc *a) {
  for (int i = 0; i < n; i++) {
    fprintf(f, "%s%s", i ? ", " : "", a[i].name);
    if (a[i].flags) {
      fprintf(f, ":");
      if (a[i].flags & NNRT_ARG_OPTIONAL) fprintf(f, " optional");
      if (a[i].flags & NNRT_ARG_INDEX) fprintf(f, " index");
      if (a[i].flags & NNRT_ARG_UPDATE) fprintf(f, " update");
    }
  }
}

void case_print_signature(FILE *f, nnrt_op op) {
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  if (!s) return;
  fprintf(f, "%s(", s->name);
  print_args(f, s->n_inputs, s->inputs);
  fprintf(f, ") -> (");
  print_args(f, s->n_outputs, s->outputs);
  fprintf(f, ")  [rule %s]\n", s->rule);
  for (int i = 0; i < s->n_params; i++) {
    char t[32], d[64];
    const nnrt_param_desc *p = &s->params[i];
    fprintf(f, "    %s: %s = %s", p->name, case_param_type_name(p, t, sizeof t), case_param_default(p, d, sizeof d));
    if (p->choices) fprintf(f, "  {%s}", p->choices);
    fprintf(f, "\n");
  }
}
