/* backends/opencl/dropout.c - dropout, dropout2d, dropout3d and their
 * backward ops (kernels/dropout.cl).  The mask bits come from nnrt/scalar.h:
 * NNRT_RNG_BITS is macro-expanded here with 64-bit constants spelled for
 * OpenCL C (v##UL) and stringized into the program, so every backend draws
 * the same mask bit for bit.  Out of training (or p = 0) the op is a copy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NNRT_U64(v) v##UL /* before scalar.h: OpenCL C's 64-bit suffix, also right for LP64 C */
#include "nnrt/scalar.h"

#include "kernels/dropout.cl.h"
#include "ocl.h"

#define DROP_STR2_(...) #__VA_ARGS__
#define DROP_STR_(...) DROP_STR2_(__VA_ARGS__)
static const char rng_src[] = "#define NNRT_RNG_BITS(r, key, i) " DROP_STR_(NNRT_RNG_BITS(r, key, i)) "\n"
                              "#define NNRT_DROPOUT_SHIFT " DROP_STR_(NNRT_DROPOUT_SHIFT) "\n";

const char *ocl_rng_source(void) { return rng_src; }

static char *drop_src;
static void drop_src_make(void) {
  size_t a = strlen(rng_src), b = strlen(ocl_src_dropout);
  drop_src = malloc(a + b + 1);
  if (!drop_src) return;
  memcpy(drop_src, rng_src, a);
  memcpy(drop_src + a, ocl_src_dropout, b + 1);
}
static const char *drop_source(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, drop_src_make);
  return drop_src;
}

static const char *const names[] = {"dropout_apply"};
static const ocl_family fam = {
    .id = OCL_FAM_DROPOUT,
    .name = "dropout",
    .gen_source = drop_source,
    .kernel_names = names,
    .n_kernels = 1,
};

static nnrt_status run(nnrt_device *dev, const nnrt_call *call) {
  ocl_dev *d = ocl_dev_of(dev);
  /* every dropout op's params start with p, training, seed */
  const nnrt_dropout_backward_params *p = call->params;
  const nnrt_tensor *x = call->inputs[0];
  nnrt_tensor *y = call->outputs[0];
  size_t n = (size_t)x->numel, es = ocl_tsize(x->dtype);
  if (!n) return NNRT_OK;
  if (!(p->training && p->p > 0)) {
    if (ocl_mem(x) == ocl_mem(y)) return NNRT_OK;
    cl_int err = ocl.clEnqueueCopyBuffer(d->queue, ocl_mem(x), ocl_mem(y), 0, 0, n * es, 0, NULL, NULL);
    return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueCopyBuffer", call->op_name, err);
  }
  size_t plane = 1;
  if (!strncmp(call->op_name, "dropout2d", 9))
    for (int i = 2; i < x->ndim; i++) plane *= (size_t)x->shape[i];
  else if (!strncmp(call->op_name, "dropout3d", 9))
    plane = (size_t)(x->shape[x->ndim - 1] * x->shape[x->ndim - 2] * x->shape[x->ndim - 3]);
  if (!plane) return NNRT_OK;
  uint64_t key, seed = (uint64_t)p->seed, threshold = (uint64_t)(p->p * NNRT_DROPOUT_ONE);
  NNRT_RNG_KEY(key, seed);
  /* the scale as PyTorch forms it: 1 / (1 - p) in the element type */
  double scale = p->p < 1 ? (x->dtype == NNRT_F32 ? (double)(1.0f / (float)(1 - p->p)) : 1.0 / (1 - p->p)) : 0.0;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, x->dtype, 0, &k, &wg);
  if (!s) {
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[0], 1, &global, &local, OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(ocl_mem(y)),
                OCL_A_U64(n), OCL_A_U64(plane), OCL_A_U64(key), OCL_A_U64(threshold), OCL_A_REAL(x->dtype, scale));
  }
  OCL_UNLOCK(d);
  return s;
}

nnrt_kernel_fn ocl_dropout_lookup(const char *op) {
  static const char *const ops[] = {"dropout", "dropout_backward", "dropout2d", "dropout2d_backward", "dropout3d",
                                    "dropout3d_backward"};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(ops[i], op)) return run;
  return NULL;
}
