/* backends/opencl/unary.c - every elementwise activation, forward and
 * backward, in one OpenCL program whose source is generated from
 * NNRT_UNARY_LIST (nnrt/scalar.h): each formula is macro-expanded here,
 * stringized, and handed to UNARY_KERNELS of kernels/unary.cl.  Expanding
 * first resolves scalar.h's helpers (NNRT_SIGMOID_, the constants) while K,
 * x, g, a, b, c and the math names stay as text for OpenCL C to define, so
 * this file must not include <math.h> or <tgmath.h>.
 *
 * An op runs here when it is both in NNRT_UNARY_LIST and in ops.def; its
 * float params become a, b, c in ops.def order (bools such as inplace
 * skipped, enums as their index), as in backends/ref/unary.c.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/unary.cl.h"
#include "nnrt/scalar.h"
#include "ocl.h"

/* ---- the program ------------------------------------------------------------ */
#define UNARY_STR2_(...) #__VA_ARGS__
#define UNARY_STR_(...) UNARY_STR2_(__VA_ARGS__)
#define UNARY_LINE_(name, fwd, bwd) "UNARY_KERNELS(" #name ", " UNARY_STR_(fwd) ", " UNARY_STR_(bwd) ")\n"
static const char unary_list_src[] = NNRT_UNARY_LIST(UNARY_LINE_);

#define UNARY_NAMES_(name, fwd, bwd) #name,
static const char *const unary_ops[] = {NNRT_UNARY_LIST(UNARY_NAMES_)};
#define N_UNARY ((int)(sizeof unary_ops / sizeof unary_ops[0]))

#define UNARY_KNAMES_(name, fwd, bwd) #name "_fwd", #name "_bwd",
static const char *const unary_kernels[] = {NNRT_UNARY_LIST(UNARY_KNAMES_)};

static char *unary_src;
static void unary_src_make(void) {
  size_t a = strlen(ocl_src_unary), b = strlen(unary_list_src);
  unary_src = malloc(a + b + 1);
  if (!unary_src) return;
  memcpy(unary_src, ocl_src_unary, a);
  memcpy(unary_src + a, unary_list_src, b + 1);
}
static const char *unary_source(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, unary_src_make);
  return unary_src;
}

static const ocl_family fam = {
    .id = OCL_FAM_UNARY,
    .name = "unary",
    .gen_source = unary_source,
    .kernel_names = unary_kernels,
    .n_kernels = 2 * N_UNARY,
};

/* ---- a, b, c of every op of ops.def --------------------------------------- */
typedef void (*abc_fn)(const void *params, double abc[3]);
#define NNRT_ID_(...) __VA_ARGS__
#define PF(n, d) if (k < 3) abc[k++] = p->n;
#define PI(n, d) if (k < 3) abc[k++] = (double)p->n;
#define PE(n, d, ch) if (k < 3) abc[k++] = p->n;
#define PB(n, d)
#define PIA(n, c)
#define PFA(n, c)
#define NNRT_OP(name, rule, params, inputs, outputs)                             \
  static void abc_##name(const void *pv, double abc[3]) {                        \
    const nnrt_##name##_params *p = pv;                                          \
    int k = 0;                                                                   \
    (void)p;                                                                     \
    abc[0] = abc[1] = abc[2] = 0;                                                \
    NNRT_ID_ params                                                              \
    (void)k;                                                                     \
  }
#include "nnrt/ops.def"
#undef NNRT_OP
#undef PF
#undef PI
#undef PE
#undef PB
#undef PIA
#undef PFA

static const struct {
  const char *op;
  abc_fn abc;
} op_params[] = {
#define NNRT_OP(name, rule, params, inputs, outputs) {#name, abc_##name},
#include "nnrt/ops.def"
#undef NNRT_OP
};

/* The activation index of op (or op minus "_backward"), or -1. */
static int unary_index(const char *op, bool *backward) {
  size_t l = strlen(op);
  *backward = l > 9 && !strcmp(op + l - 9, "_backward");
  if (*backward) l -= 9;
  for (int i = 0; i < N_UNARY; i++)
    if (strlen(unary_ops[i]) == l && !strncmp(unary_ops[i], op, l)) return i;
  return -1;
}

static abc_fn params_of(const char *op) {
  for (size_t i = 0; i < sizeof op_params / sizeof op_params[0]; i++)
    if (!strcmp(op_params[i].op, op)) return op_params[i].abc;
  return NULL;
}

/* ---- the kernel ------------------------------------------------------------- */
/* One host function serves every activation; the op is found by name
 * (some twenty string compares, far below the cost of an enqueue). */
static nnrt_status unary_run(nnrt_device *dev, const nnrt_call *call) {
  bool bwd;
  int u = unary_index(call->op_name, &bwd);
  abc_fn abc_of = params_of(call->op_name);
  if (u < 0 || !abc_of) return ocl_host->error(NNRT_ERR_UNIMPLEMENTED, "opencl: %s is not an activation", call->op_name);
  double abc[3];
  abc_of(call->params, abc);
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = call->inputs[bwd ? 1 : 0];
  nnrt_dtype dt = x->dtype;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, 2 * u + bwd, &k, &wg);
  if (!s) {
    size_t n = (size_t)x->numel, local = ocl_wg_elementwise(d, wg);
    size_t global = ocl_round_up((n + 3) / 4, local);
    if (!bwd)
      s = OCL_RUN(d, k, call->op_name, unary_kernels[2 * u], 1, &global, &local, OCL_A_MEM(ocl_mem(x)),
                  OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(n), OCL_A_REAL(dt, abc[0]),
                  OCL_A_REAL(dt, abc[1]), OCL_A_REAL(dt, abc[2]));
    else
      s = OCL_RUN(d, k, call->op_name, unary_kernels[2 * u + 1], 1, &global, &local, OCL_A_MEM(ocl_mem(call->inputs[0])),
                  OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_U64(n),
                  OCL_A_REAL(dt, abc[0]), OCL_A_REAL(dt, abc[1]), OCL_A_REAL(dt, abc[2]));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_unary_lookup(const char *op) {
  bool bwd;
  return unary_index(op, &bwd) >= 0 && params_of(op) ? unary_run : NULL;
}
