/* core/module_norm.c - BatchNorm1d/2d/3d modules over the batch_norm ops,
 * with torch.nn's training/eval logic:
 *   training, tracked:   num_batches_tracked += 1; batch statistics; the
 *                        running ones updated with momentum, or with
 *                        1/num_batches_tracked when momentum is None (NaN)
 *   training, untracked: batch statistics, nothing updated
 *   eval, tracked:       running statistics
 *   eval, untracked:     batch statistics (as PyTorch: no buffers to use)
 * Like PyTorch, a module without weight and running statistics does not
 * check the input's channel count against num_features. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

typedef struct bn_state {
  int dims;          /* 1, 2 or 3 */
  int64_t C;
  double momentum;   /* NaN: cumulative average */
  double eps;
  bool affine, track;
  bool last_training; /* the batch_norm `training` of the last forward */
} bn_state;

/* extra[] slots */
enum { BN_SAVE_MEAN = 0, BN_SAVE_INVSTD = 1 };

static nnrt_status check_rank(const nnrt_module *m, const bn_state *s, const nnrt_tensor *x) {
  int nd = nnrt_tensor_ndim(x);
  bool ok = s->dims == 1 ? (nd == 2 || nd == 3) : nd == s->dims + 2;
  if (ok) return NNRT_OK;
  return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: expected %s input (got %dD input)", m->vt->kind,
                    s->dims == 1 ? "2D or 3D" : s->dims == 2 ? "4D" : "5D", nd);
}

static nnrt_status bn_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output) {
  bn_state *s = m->state;
  nnrt_status st = check_rank(m, s, input);
  if (st) return st;
  nnrt_batch_norm_params p;
  nnrt_params_init(NNRT_OP_batch_norm, &p);
  p.eps = s->eps;
  p.training = m->training || !s->track;
  p.momentum = isnan(s->momentum) ? 0.0 : s->momentum; /* the real factor is set below */
  nnrt_tensor *w = s->affine ? m->params[0].param : NULL, *b = s->affine ? m->params[1].param : NULL;
  nnrt_tensor *rm = s->track ? m->buffers[0].t : NULL, *rv = s->track ? m->buffers[1].t : NULL;
  nnrt_tensor *nbt = s->track ? m->buffers[2].t : NULL;
  nnrt_tensor *ins[] = {input, w, b};
  nnrt_shape sh[5];
  if ((st = nnrt_op_infer(NNRT_OP_batch_norm, &p, ins, sh))) return st;
  if ((st = nnrt_module_ensure(m, &m->output, &sh[0])) || (st = nnrt_module_ensure(m, &m->extra[BN_SAVE_MEAN], &sh[1])) ||
      (st = nnrt_module_ensure(m, &m->extra[BN_SAVE_INVSTD], &sh[2])))
    return st;
  /* the input is valid: count the batch, as PyTorch does before normalising */
  int64_t batches = 0;
  bool counted = m->training && s->track;
  if (counted) {
    if ((st = nnrt_tensor_read(nbt, &batches, sizeof batches))) return st;
    batches++;
    if ((st = nnrt_tensor_write(nbt, &batches, sizeof batches))) return st;
    if (isnan(s->momentum)) p.momentum = 1.0 / (double)batches;
  }
  st = nnrt_batch_norm(input, w, b, m->output, m->extra[BN_SAVE_MEAN], m->extra[BN_SAVE_INVSTD], rm, rv, &p);
  if (st) {
    if (counted) {
      batches--;
      nnrt_tensor_write(nbt, &batches, sizeof batches);
    }
    return st;
  }
  s->last_training = p.training;
  m->input = input;
  *output = m->output;
  return NNRT_OK;
}

static nnrt_status bn_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input) {
  bn_state *s = m->state;
  nnrt_shape sh;
  nnrt_shape_of(m->input, &sh);
  nnrt_status st = nnrt_module_ensure(m, &m->grad_input, &sh);
  if (st) return st;
  nnrt_batch_norm_backward_params p;
  nnrt_params_init(NNRT_OP_batch_norm_backward, &p);
  p.training = s->last_training;
  st = nnrt_batch_norm_backward(grad_output, m->input, s->affine ? m->params[0].param : NULL, m->extra[BN_SAVE_MEAN],
                                m->extra[BN_SAVE_INVSTD], m->grad_input, s->affine ? m->params[0].grad : NULL,
                                s->affine ? m->params[1].grad : NULL, &p);
  if (st) return st;
  *grad_input = m->grad_input;
  return NNRT_OK;
}

static void bn_destroy(nnrt_module *m) { free(m->state); }

static const nnrt_module_vtbl bn1d_vt = {"BatchNorm1d", bn_forward, bn_backward, NULL, bn_destroy};
static const nnrt_module_vtbl bn2d_vt = {"BatchNorm2d", bn_forward, bn_backward, NULL, bn_destroy};
static const nnrt_module_vtbl bn3d_vt = {"BatchNorm3d", bn_forward, bn_backward, NULL, bn_destroy};

nnrt_status nnrt_module_batch_norm(nnrt_device *dev, int dims, int64_t num_features, double eps, double momentum,
                                   bool affine, bool track_running_stats, nnrt_module **out) {
  if (dims < 1 || dims > 3)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_module_batch_norm: dims=%d must be 1, 2 or 3 (BatchNorm1d/2d/3d)",
                      dims);
  const nnrt_module_vtbl *vt = dims == 1 ? &bn1d_vt : dims == 2 ? &bn2d_vt : &bn3d_vt;
  if (num_features < 1)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: num_features=%lld must be >= 1", vt->kind, (long long)num_features);
  if (!(eps >= 0) || isinf(eps))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: eps=%g must be finite and >= 0", vt->kind, eps);
  if (isinf(momentum))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: momentum=%g must be finite, or NaN for None", vt->kind, momentum);
  nnrt_module *m;
  nnrt_status st = nnrt_module_alloc(dev, vt, &m);
  if (st) return st;
  bn_state *s = calloc(1, sizeof *s);
  if (!s) {
    nnrt_module_free(m);
    return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "%s: out of memory", vt->kind);
  }
  *s = (bn_state){dims, num_features, momentum, eps, affine, track_running_stats, true};
  m->state = s;
  m->op = NNRT_OP_batch_norm;
  nnrt_tensor *t;
  if (affine) {
    if (!(st = nnrt_module_add_param(m, "weight", 1, &num_features, &t))) st = nnrt_tensor_fill(t, 1.0);
    if (!st) st = nnrt_module_add_param(m, "bias", 1, &num_features, NULL);
  }
  if (!st && track_running_stats) {
    st = nnrt_module_add_buffer(m, "running_mean", NNRT_MODULE_DTYPE, 1, &num_features, NULL);
    if (!st && !(st = nnrt_module_add_buffer(m, "running_var", NNRT_MODULE_DTYPE, 1, &num_features, &t)))
      st = nnrt_tensor_fill(t, 1.0);
    if (!st) st = nnrt_module_add_buffer(m, "num_batches_tracked", NNRT_I64, 0, NULL, NULL);
  }
  if (st) {
    nnrt_module_free(m);
    return st;
  }
  *out = m;
  return NNRT_OK;
}
