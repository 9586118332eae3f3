/* tools/common/cases.h - the built-in test cases of tools/common/cases.def,
 * parsed into runnable cases, and the tensors each case runs on.
 *
 * Shared by nnrt-check, the generic tests (gradient check, bad inputs) and
 * nnrt-bench.  A line of cases.def gives one forward case and, when its op
 * has a `<op>_backward`, one derived backward case (see cases.def's header
 * for how the backward's inputs are found).  Values come from a seeded
 * generator keyed by the case's descriptor and the tensor's name, so a case
 * sees the same numbers whichever subset of cases runs, on any device.
 *
 * Also here: the op signature printer shared by nnrt-info and nnrt-run.
 * Limits: at most CASE_MAX_ARGS tensors per op; public API only.
 */
#ifndef NNRT_TOOLS_CASES_H
#define NNRT_TOOLS_CASES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <nnrt/nnrt.h>

#define CASE_MAX_ARGS 16
#define CASE_DESC_LEN 512
#define CASE_ERR_LEN 512

/* Room for the params struct of any op. */
typedef union case_params {
#define NNRT_OP(name, rule, params, inputs, outputs) nnrt_##name##_params name;
#include <nnrt/ops.def>
#undef NNRT_OP
  double align_;
} case_params;

/* One line of cases.def, as written. */
typedef struct case_def {
  const char *op;     /* op name (the forward op, or one without backward) */
  const char *specs;  /* "input=n[4,8] weight=u[3](0.1,0.5)" */
  const char *params; /* "alpha=0.7" */
} case_def;

/* One tensor spec: NAME=KIND[d0,...](lo,hi). */
typedef struct case_spec {
  char name[48];
  char kind; /* n u i s */
  int ndim;
  int64_t shape[NNRT_MAX_DIMS];
  double lo, hi;
} case_spec;

/* A runnable case: a line's forward case or its derived backward. */
typedef struct nnrt_case {
  const case_def *def;
  size_t def_index;
  bool backward;        /* derived from the line's forward op */
  nnrt_op op;           /* the op run; NNRT_OP_COUNT when error is set */
  nnrt_op fwd_op;       /* the line's op */
  case_params params;   /* of op: the line's params (copied by name for a backward) */
  case_params fwd_params;
  int n_specs;
  case_spec specs[CASE_MAX_ARGS];
  char desc[CASE_DESC_LEN];     /* "elu_backward(input=n[4,8] alpha=0.7)" */
  char fwd_desc[CASE_DESC_LEN]; /* the line's forward descriptor (the seed) */
  char error[CASE_ERR_LEN];     /* non-empty: the line is broken, say why */
} nnrt_case;

/* The lines of cases.def. */
size_t cases_def_count(void);
const case_def *cases_def_get(size_t i);

/* Every case: each line's forward case followed by its backward case when
 * the op has one.  Broken lines become cases with `error` set (so a tool
 * reports them instead of dropping them).  Returns 0, or -1 out of memory. */
int cases_list(nnrt_case **out, size_t *n);
void cases_list_free(nnrt_case *list);
/* Parses one line into a case (backward: the derived backward; returns 1
 * when the op has none, leaving *out undefined).  0 ok, -1 with out->error. */
int case_parse(const case_def *def, size_t index, bool backward, nnrt_case *out);

/* Whether the case is selected by pattern: equal to its descriptor, or an
 * fnmatch glob matching its op name or its descriptor. */
bool case_matches(const nnrt_case *c, const char *pattern);
/* Whether the case's op has an `inplace` param set to true. */
bool case_inplace(const nnrt_case *c);

/* A tensor's host values: floats as double, indices as int64. */
typedef struct case_buf {
  bool present;
  bool index; /* int64 values in i; else double values in f */
  int ndim;
  int64_t shape[NNRT_MAX_DIMS];
  int64_t numel;
  double *f;
  int64_t *i;
} case_buf;

/* The host values of one case: its inputs (absent optional ones not
 * present), the outputs it allocates with their shapes, and the starting
 * values of UPDATE outputs. */
typedef struct case_values {
  nnrt_op op;
  int n_inputs, n_outputs;
  case_buf in[CASE_MAX_ARGS];
  bool out_wanted[CASE_MAX_ARGS]; /* false: the output is passed as NULL */
  nnrt_shape out_shape[CASE_MAX_ARGS];
  case_buf upd[CASE_MAX_ARGS];    /* UPDATE outputs: start values */
} case_values;

/* Generates a case's values.  Every float value (inputs, start values, the
 * forward output a backward takes) is rounded to round_to's precision, so
 * that runs in f32 and in f64 see identical numbers.  A backward case runs
 * its forward on ref in f64 to get the forward's outputs.  UPDATE outputs
 * start at their spec when given, else (optional ones of a forward case)
 * are not wanted, else start random (a backward's parameter gradients:
 * accumulation is then checked).  0, or -1 with err. */
int case_generate(const nnrt_case *c, nnrt_dtype round_to, case_values *v, char *err, size_t errlen);
void case_values_free(case_values *v);

/* Device tensors of a case: inputs in dtype (index inputs in i64), and
 * outputs of out_shape: UPDATE outputs hold their start value, others the
 * sentinel (sentinel=true) or zeros.  An inplace case's output 0 is its
 * input 0.  0, or -1 with err; st (may be NULL) gets the library status. */
int case_make_inputs(const case_values *v, nnrt_device *dev, nnrt_dtype dtype, nnrt_tensor **in,
                     nnrt_status *st, char *err, size_t errlen);
int case_make_outputs(const nnrt_case *c, const case_values *v, nnrt_device *dev, nnrt_dtype dtype,
                      nnrt_tensor *const *in, bool sentinel, nnrt_tensor **out, nnrt_status *st,
                      char *err, size_t errlen);
/* Frees n tensors (NULL entries fine), then sets them to NULL. */
void case_free_tensors(nnrt_tensor **t, int n);
/* Frees outputs, skipping any that is one of the n_in inputs (inplace). */
void case_free_outputs(nnrt_tensor **out, int n_out, nnrt_tensor *const *in, int n_in);

/* The bit pattern outputs are pre-filled with: a NaN with a payload. */
bool case_is_sentinel(nnrt_dtype dtype, const void *elem);
/* Reads a tensor into malloc'ed doubles (any dtype).  0, or -1 with err. */
int case_read_f64(const nnrt_tensor *t, double **out, char *err, size_t errlen);
/* Writes doubles (or int64 for I64 tensors) into a tensor of any dtype. */
nnrt_status case_write_f64(nnrt_tensor *t, const double *vals);

/* Index of the input / output named name in op's signature, or -1. */
int case_input_index(nnrt_op op, const char *name);
int case_output_index(nnrt_op op, const char *name);

/* A deterministic generator: splitmix64. */
typedef struct case_rng {
  uint64_t s;
} case_rng;
case_rng case_rng_seed(const char *a, const char *b); /* seeded by the two strings */
uint64_t case_rng_next(case_rng *r);
double case_rng_uniform(case_rng *r); /* [0, 1) */
double case_rng_normal(case_rng *r);

/* Signature text: "relu(input) -> (output)" then one indented line per
 * param with type, default and choices. */
void case_print_signature(FILE *f, nnrt_op op);
/* "f64", "i64", "bool", "enum", "i64[3]"; buf of >= 16 bytes. */
const char *case_param_type_name(const nnrt_param_desc *p, char *buf, size_t len);
/* The default as text ("mean", "-100", "none", "unset"). */
const char *case_param_default(const nnrt_param_desc *p, char *buf, size_t len);

#endif
