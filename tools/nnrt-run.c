/* tools/nnrt-run.c - runs one op on tensors from .npy files and writes its
 * outputs as .npy.
 *
 *   nnrt-run [--backend B] [--dtype f32|f64] OP [name=value ...]
 *            --in NAME=FILE.npy ... [--upd NAME=FILE.npy ...] [--out NAME=FILE.npy ...]
 *
 * Output shapes come from nnrt_op_infer (an UPDATE output given by --upd
 * takes its file's shape).  UPDATE outputs not given by --upd start at
 * zero.  Optional outputs are computed only when named by --out or --upd;
 * required outputs not named by --out are summarized on stdout.  Without
 * --dtype, float files keep their own dtype.  Exit status: 0 ok, 1 the op
 * or a file failed, 2 bad command line.  Public API only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "npy.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: nnrt-run [--backend B] [--dtype f32|f64] OP [name=value ...]\n"
          "                --in NAME=FILE.npy ... [--upd NAME=FILE.npy ...] [--out NAME=FILE.npy ...]\n"
          "Runs one op on .npy inputs and writes its outputs as .npy.\n"
          "  --backend B   device name (ref, onednn, cuda:1); default: NNRT_BACKEND or auto\n"
          "  --dtype T     convert float inputs to f32 or f64 (default: keep each file's dtype)\n"
          "  name=value    an op param (nnrt-run OP --help lists them)\n"
          "  --in N=F      input N from file F (index inputs need an integer array)\n"
          "  --upd N=F     starting value of UPDATE output N (else zeros)\n"
          "  --out N=F     write output N to F; required outputs not written are summarized\n"
          "  -h, --help    this text; with OP, the op's signature\n"
          "nnrt-info --ops lists every op.\n");
}

typedef struct file_arg {
  const char *name;
  const char *path;
} file_arg;

#define MAX_FILE_ARGS 64

/* Splits "NAME=FILE"; false when malformed. */
static bool split_arg(const char *opt, const char *v, file_arg *out) {
  const char *eq = strchr(v, '=');
  if (!eq || eq == v || !eq[1]) {
    fprintf(stderr, "nnrt-run: %s '%s': expected NAME=FILE.npy\n", opt, v);
    return false;
  }
  char *name = strndup(v, (size_t)(eq - v));
  if (!name) return false;
  out->name = name;
  out->path = eq + 1;
  return true;
}

static void list_names(FILE *f, int n, const nnrt_arg_desc *a, unsigned need) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (!need || (a[i].flags & need)) fprintf(f, "%s%s", k++ ? ", " : "", a[i].name);
  if (!k) fprintf(f, "none");
}

static void print_shape(FILE *f, int ndim, const int64_t *dims) {
  fprintf(f, "[");
  for (int i = 0; i < ndim; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)dims[i]);
  fprintf(f, "]");
}

/* Prints a short summary of an output nobody asked to keep. */
static void summarize(const char *name, const nnrt_tensor *t) {
  double *v = NULL;
  char err[CASE_ERR_LEN];
  printf("%s: %s ", name, nnrt_dtype_name(nnrt_tensor_dtype(t)));
  print_shape(stdout, nnrt_tensor_ndim(t), nnrt_tensor_shape(t));
  if (case_read_f64(t, &v, err, sizeof err)) {
    printf(" (unreadable: %s)\n", err);
    return;
  }
  int64_t n = nnrt_tensor_numel(t);
  printf(" =");
  for (int64_t k = 0; k < n && k < 8; k++) printf(" %.9g", v[k]);
  if (n > 8) {
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t k = 0; k < n; k++) {
      lo = fmin(lo, v[k]);
      hi = fmax(hi, v[k]);
      sum += v[k];
    }
    printf(" ... (min %.6g, max %.6g, mean %.6g)", lo, hi, sum / (double)n);
  }
  printf("\n");
  free(v);
}

static int write_output(const char *path, nnrt_tensor *t) {
  npy_array a = {0};
  char err[CASE_ERR_LEN];
  a.dtype = nnrt_tensor_dtype(t);
  a.ndim = nnrt_tensor_ndim(t);
  memcpy(a.shape, nnrt_tensor_shape(t), sizeof(int64_t) * (size_t)a.ndim);
  a.bytes = (size_t)nnrt_tensor_numel(t) * nnrt_dtype_size(a.dtype);
  a.data = malloc(a.bytes ? a.bytes : 1);
  if (!a.data) {
    fprintf(stderr, "nnrt-run: out of memory\n");
    return -1;
  }
  int rc = 0;
  if (nnrt_tensor_read(t, a.data, a.bytes)) {
    fprintf(stderr, "nnrt-run: reading the output for %s: %s\n", path, nnrt_last_error());
    rc = -1;
  } else if (npy_write(path, &a, err, sizeof err)) {
    fprintf(stderr, "nnrt-run: %s\n", err);
    rc = -1;
  }
  free(a.data);
  return rc;
}

/* Reads a file for the tensor named arg->name with flags; converts floats
 * to dtype when want_dtype.  Returns 0, or -1 after printing why. */
static int load(const file_arg *arg, unsigned flags, bool want_dtype, nnrt_dtype dtype, npy_array *a) {
  char err[CASE_ERR_LEN];
  if (npy_read(arg->path, a, err, sizeof err)) {
    fprintf(stderr, "nnrt-run: %s\n", err);
    return -1;
  }
  if ((flags & NNRT_ARG_INDEX) && a->dtype != NNRT_I64) {
    fprintf(stderr, "nnrt-run: '%s' is an index tensor and needs an integer array; %s holds %s\n", arg->name,
            arg->path, nnrt_dtype_name(a->dtype));
    return -1;
  }
  if (!(flags & NNRT_ARG_INDEX) && want_dtype && a->dtype != NNRT_I64 && npy_convert(a, dtype, err, sizeof err)) {
    fprintf(stderr, "nnrt-run: %s\n", err);
    return -1;
  }
  return 0;
}

static int to_tensor(nnrt_device *dev, const npy_array *a, const char *name, nnrt_tensor **t) {
  if (nnrt_tensor_new(dev, a->dtype, a->ndim, a->shape, t) || nnrt_tensor_write(*t, a->data, a->bytes)) {
    fprintf(stderr, "nnrt-run: tensor '%s': %s\n", name, nnrt_last_error());
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *backend = NULL, *op_name = NULL;
  const char *assignments[MAX_FILE_ARGS];
  file_arg ins[MAX_FILE_ARGS], outs[MAX_FILE_ARGS], upds[MAX_FILE_ARGS];
  int n_assign = 0, n_in = 0, n_out = 0, n_upd = 0;
  bool help = false, want_dtype = false;
  nnrt_dtype dtype = NNRT_F32;
  int rc = 2;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help = true;
      continue;
    }
    if (!strncmp(a, "--", 2) || (a[0] == '-' && a[1] && !op_name)) {
      bool known = !strcmp(a, "--backend") || !strcmp(a, "--dtype") || !strcmp(a, "--in") || !strcmp(a, "--out") ||
                   !strcmp(a, "--upd");
      if (!known) {
        fprintf(stderr, "nnrt-run: unknown option '%s' (--help for usage)\n", a);
        return 2;
      }
      if (i + 1 >= argc) {
        fprintf(stderr, "nnrt-run: %s needs a value\n", a);
        return 2;
      }
      const char *v = argv[++i];
      if (!strcmp(a, "--backend")) {
        backend = v;
      } else if (!strcmp(a, "--dtype")) {
        want_dtype = true;
        if (!strcmp(v, "f32")) dtype = NNRT_F32;
        else if (!strcmp(v, "f64")) dtype = NNRT_F64;
        else {
          fprintf(stderr, "nnrt-run: --dtype must be f32 or f64, got '%s'\n", v);
          return 2;
        }
      } else {
        file_arg *list = !strcmp(a, "--in") ? ins : !strcmp(a, "--out") ? outs : upds;
        int *n = !strcmp(a, "--in") ? &n_in : !strcmp(a, "--out") ? &n_out : &n_upd;
        if (*n >= MAX_FILE_ARGS) {
          fprintf(stderr, "nnrt-run: too many %s\n", a);
          return 2;
        }
        if (!split_arg(a, v, &list[*n])) return 2;
        (*n)++;
      }
      continue;
    }
    if (!op_name) {
      op_name = a;
    } else if (strchr(a, '=')) {
      if (n_assign >= MAX_FILE_ARGS) {
        fprintf(stderr, "nnrt-run: too many params\n");
        return 2;
      }
      assignments[n_assign++] = a;
    } else {
      fprintf(stderr, "nnrt-run: unexpected argument '%s': params are name=value, files go with --in/--out\n", a);
      return 2;
    }
  }
  if (!op_name) {
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  nnrt_op op = nnrt_op_from_name(op_name);
  if (op == NNRT_OP_COUNT) {
    fprintf(stderr, "nnrt-run: unknown op '%s' (nnrt-info --ops lists them)\n", op_name);
    return 2;
  }
  if (help) {
    case_print_signature(stdout, op);
    return 0;
  }
  const nnrt_op_signature *s = nnrt_op_signature_of(op);
  case_params params;
  nnrt_params_init(op, &params);
  for (int i = 0; i < n_assign; i++)
    if (nnrt_params_set(op, &params, assignments[i])) {
      fprintf(stderr, "nnrt-run: %s\n", nnrt_last_error());
      return 2;
    }

  /* names and duplicates, before touching any file */
  const file_arg *in_file[CASE_MAX_ARGS] = {0}, *out_file[CASE_MAX_ARGS] = {0}, *upd_file[CASE_MAX_ARGS] = {0};
  for (int i = 0; i < n_in; i++) {
    int k = case_input_index(op, ins[i].name);
    if (k < 0) {
      fprintf(stderr, "nnrt-run: %s has no input named '%s' (inputs: ", s->name, ins[i].name);
      list_names(stderr, s->n_inputs, s->inputs, 0);
      fprintf(stderr, ")\n");
      return 2;
    }
    if (in_file[k]) {
      fprintf(stderr, "nnrt-run: input '%s' given twice\n", ins[i].name);
      return 2;
    }
    in_file[k] = &ins[i];
  }
  for (int pass = 0; pass < 2; pass++) {
    file_arg *list = pass ? upds : outs;
    const file_arg **slot = pass ? upd_file : out_file;
    int n = pass ? n_upd : n_out;
    const char *opt = pass ? "--upd" : "--out";
    for (int i = 0; i < n; i++) {
      int k = case_output_index(op, list[i].name);
      if (k < 0) {
        fprintf(stderr, "nnrt-run: %s has no output named '%s' (outputs: ", s->name, list[i].name);
        list_names(stderr, s->n_outputs, s->outputs, 0);
        fprintf(stderr, ")\n");
        return 2;
      }
      if (pass && !(s->outputs[k].flags & NNRT_ARG_UPDATE)) {
        fprintf(stderr, "nnrt-run: %s: output '%s' is overwritten, not updated, so --upd does not apply (UPDATE outputs: ",
                s->name, list[i].name);
        list_names(stderr, s->n_outputs, s->outputs, NNRT_ARG_UPDATE);
        fprintf(stderr, ")\n");
        return 2;
      }
      if (slot[k]) {
        fprintf(stderr, "nnrt-run: %s %s given twice\n", opt, list[i].name);
        return 2;
      }
      slot[k] = &list[i];
    }
  }
  for (int k = 0; k < s->n_inputs; k++)
    if (!in_file[k] && !(s->inputs[k].flags & NNRT_ARG_OPTIONAL)) {
      fprintf(stderr, "nnrt-run: %s needs --in %s=FILE.npy (a required input)\n", s->name, s->inputs[k].name);
      return 2;
    }

  nnrt_device *dev;
  if (backend ? nnrt_device_get(backend, &dev) : nnrt_device_default(&dev)) {
    fprintf(stderr, "nnrt-run: %s\n", nnrt_last_error());
    return 1;
  }

  nnrt_tensor *in[CASE_MAX_ARGS] = {0}, *out[CASE_MAX_ARGS] = {0};
  npy_array a = {0};
  rc = 1;
  for (int k = 0; k < s->n_inputs; k++) {
    if (!in_file[k]) continue;
    int bad = load(in_file[k], s->inputs[k].flags, want_dtype, dtype, &a) || to_tensor(dev, &a, s->inputs[k].name, &in[k]);
    npy_free(&a);
    if (bad) goto done;
  }
  bool inplace = case_inplace(&(nnrt_case){.op = op, .params = params});
  bool need_infer = false;
  for (int k = 0; k < s->n_outputs; k++) {
    if (inplace && k == 0) continue;
    if (upd_file[k]) {
      int bad = load(upd_file[k], s->outputs[k].flags, want_dtype, dtype, &a) || to_tensor(dev, &a, s->outputs[k].name, &out[k]);
      npy_free(&a);
      if (bad) goto done;
    } else if (out_file[k] || !(s->outputs[k].flags & NNRT_ARG_OPTIONAL)) {
      need_infer = true;
    }
  }
  if (need_infer) {
    nnrt_shape shapes[CASE_MAX_ARGS];
    if (nnrt_op_infer(op, &params, in, shapes)) {
      fprintf(stderr, "nnrt-run: %s\n", nnrt_last_error());
      goto done;
    }
    for (int k = 0; k < s->n_outputs; k++) {
      if ((inplace && k == 0) || out[k] || (!out_file[k] && (s->outputs[k].flags & NNRT_ARG_OPTIONAL))) continue;
      if (nnrt_tensor_new(dev, shapes[k].dtype, shapes[k].ndim, shapes[k].dims, &out[k])) {
        fprintf(stderr, "nnrt-run: output '%s': %s\n", s->outputs[k].name, nnrt_last_error());
        goto done;
      }
    }
  }
  if (inplace) out[0] = in[0];
  if (nnrt_op_run(op, &params, in, out) || nnrt_device_sync(dev)) {
    fprintf(stderr, "nnrt-run: %s\n", nnrt_last_error());
    goto done;
  }
  rc = 0;
  for (int k = 0; k < s->n_outputs; k++) {
    if (!out[k]) continue;
    if (out_file[k]) {
      if (write_output(out_file[k]->path, out[k])) rc = 1;
    } else if (!(s->outputs[k].flags & NNRT_ARG_OPTIONAL) || upd_file[k]) {
      summarize(s->outputs[k].name, out[k]);
    }
  }
done:
  case_free_outputs(out, s->n_outputs, in, s->n_inputs);
  case_free_tensors(in, s->n_inputs);
  for (int i = 0; i < n_in; i++) free((void *)ins[i].name);
  for (int i = 0; i < n_out; i++) free((void *)outs[i].name);
  for (int i = 0; i < n_upd; i++) free((void *)upds[i].name);
  return rc;
}
