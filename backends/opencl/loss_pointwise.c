/* backends/opencl/loss_pointwise.c - the elementwise losses, forward and
 * backward (kernels/loss_pointwise.cl): l1, mse, smooth_l1, soft_margin,
 * kl_div, bce, bce_with_logits, hinge_embedding, margin_ranking (on
 * input1 - input2, grad_input2 = -grad_input1).  Inputs are found by their
 * names in ops.def (input/input1, input2, target, weight, pos_weight);
 * mean divides by numel, kl_div's batchmean by input.shape[0]. */
#include <string.h>

#include "kernels/loss_pointwise.cl.h"
#include "ocl.h"

/* X(op, its float param a) */
#define PW_OPS(X)                                                                \
  X(l1_loss, 0) X(mse_loss, 0) X(smooth_l1_loss, p->beta) X(soft_margin_loss, 0) X(kl_div, p->log_target) \
  X(bce_loss, 0) X(bce_with_logits, 0) X(hinge_embedding_loss, p->margin) X(margin_ranking_loss, p->margin)

enum {
#define PW_ENUM_(name, A) U_##name,
  PW_OPS(PW_ENUM_)
#undef PW_ENUM_
  N_PW
};
#define PW_KNAMES_(name, A) #name "_fwd", #name "_bwd",
static const char *const names[] = {PW_OPS(PW_KNAMES_)};

static const ocl_family fam = {
    .id = OCL_FAM_LOSS_POINTWISE,
    .name = "loss_pointwise",
    .source = ocl_src_loss_pointwise,
    .kernel_names = names,
    .n_kernels = 2 * N_PW,
};

#define in_named ocl_in_named

static nnrt_status pw_run(nnrt_device *dev, const nnrt_call *call, int u, bool bwd, int reduction, double a) {
  ocl_dev *d = ocl_dev_of(dev);
  const nnrt_tensor *x = in_named(call, "input"), *x2 = in_named(call, "input2"), *t = in_named(call, "target");
  const nnrt_tensor *w = in_named(call, "weight"), *pw = in_named(call, "pos_weight");
  if (!x) x = in_named(call, "input1");
  nnrt_dtype dt = x->dtype;
  size_t n = (size_t)x->numel, ts = ocl_asize(d, dt);
  double div = reduction == 1 ? (double)n : reduction == 3 ? (x->ndim ? (double)x->shape[0] : 1.0) : 1.0;
  cl_mem none = d->dummy;
  OCL_LOCK(d);
  cl_kernel k;
  size_t wg;
  nnrt_status s = ocl_kernel(d, &fam, dt, 2 * u + bwd, &k, &wg);
  if (!s && !bwd) {
    size_t local = ocl_wg_reduce(n, wg, 16), parts = 1;
    cl_mem part = none;
    if (reduction == 0) {
      local = ocl_wg_elementwise(d, wg);
      parts = (n + local - 1) / local;
    } else {
      parts = ocl_reduce_groups(d, n, local);
      s = ocl_scratch(d, parts * ts, &part);
    }
    size_t global = parts * local;
    if (!s)
      s = OCL_RUN(d, k, call->op_name, names[2 * u], 1, &global, &local, OCL_A_MEM(ocl_mem(x)),
                  OCL_A_MEM(x2 ? ocl_mem(x2) : none), OCL_A_INT(x2 != NULL), OCL_A_MEM(ocl_mem(t)),
                  OCL_A_MEM(w ? ocl_mem(w) : none), OCL_A_U64(w ? w->numel : 0), OCL_A_MEM(pw ? ocl_mem(pw) : none),
                  OCL_A_U64(pw ? pw->numel : 0), OCL_A_REAL(dt, a), OCL_A_U64(n), OCL_A_INT(reduction),
                  OCL_A_MEM(ocl_mem(call->outputs[0])), OCL_A_MEM(part),
                  OCL_A_LOCAL(reduction == 0 ? ts : local * ts));
    /* mean over no element: 0 / 0 */
    if (!s && reduction != 0) s = ocl_finish_sum(d, call, dt, part, parts, false, div, ocl_mem(call->outputs[0]));
  } else if (!s && n) {
    nnrt_tensor *gx = call->outputs[0], *gx2 = call->n_outputs > 1 ? call->outputs[1] : NULL;
    size_t local = ocl_wg_elementwise(d, wg), global = ocl_round_up(n, local);
    s = OCL_RUN(d, k, call->op_name, names[2 * u + 1], 1, &global, &local, OCL_A_MEM(ocl_mem(call->inputs[0])),
                OCL_A_MEM(ocl_mem(x)), OCL_A_MEM(x2 ? ocl_mem(x2) : none), OCL_A_INT(x2 != NULL),
                OCL_A_MEM(ocl_mem(t)), OCL_A_MEM(w ? ocl_mem(w) : none), OCL_A_U64(w ? w->numel : 0),
                OCL_A_MEM(pw ? ocl_mem(pw) : none), OCL_A_U64(pw ? pw->numel : 0), OCL_A_REAL(dt, a), OCL_A_U64(n),
                OCL_A_INT(reduction), OCL_A_REAL(dt, div), OCL_A_MEM(gx ? ocl_mem(gx) : none), OCL_A_INT(gx != NULL),
                OCL_A_MEM(gx2 ? ocl_mem(gx2) : none), OCL_A_INT(gx2 != NULL));
  }
  OCL_UNLOCK(d);
  return s;
}

#define PW_HOST_(name, A)                                                        \
  static nnrt_status k_##name(nnrt_device *dev, const nnrt_call *call) {         \
    const nnrt_##name##_params *p = call->params;                                \
    (void)p;                                                                     \
    return pw_run(dev, call, U_##name, false, p->reduction, (double)(A));        \
  }                                                                              \
  static nnrt_status k_##name##_backward(nnrt_device *dev, const nnrt_call *call) { \
    const nnrt_##name##_backward_params *p = call->params;                       \
    (void)p;                                                                     \
    return pw_run(dev, call, U_##name, true, p->reduction, (double)(A));         \
  }
PW_OPS(PW_HOST_)

nnrt_kernel_fn ocl_loss_pointwise_lookup(const char *op) {
  static const struct {
    const char *name;
    nnrt_kernel_fn fn;
  } t[] = {
#define PW_TABLE_(name, A) {#name, k_##name}, {#name "_backward", k_##name##_backward},
      PW_OPS(PW_TABLE_)
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(t[i].name, op)) return t[i].fn;
  return NULL;
}
