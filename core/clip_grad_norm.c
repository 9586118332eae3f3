/* core/clip_grad_norm.c - torch.nn.utils.clip_grad_norm_ as PyTorch 1.13
 * computes it: total = the p-norm of the per-tensor p-norms (the max for
 * p = inf), clip_coef = max_norm / (total + 1e-6), gradients scaled by it
 * when it is below 1.  The per-tensor norms (op norm_p) and the scaling
 * (op mul_scalar, in place) run on each gradient's own device; only the
 * 0-d norms are read back, since the total is returned to the caller. */
#include <math.h>
#include <stdlib.h>

#include "core.h"

nnrt_status nnrt_clip_grad_norm_tensors(nnrt_tensor *const *grads, size_t n, double max_norm, double norm_type,
                                        bool error_if_nonfinite, double *total_norm) {
  static const char *fn = "nnrt_clip_grad_norm";
  if (n && !grads) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: grads is NULL", fn);
  if (!(norm_type > 0))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: norm_type=%g must be > 0 or INFINITY", fn, norm_type);
  if (isnan(max_norm)) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: max_norm is NaN", fn);
  nnrt_norm_p_params np;
  nnrt_params_init(NNRT_OP_norm_p, &np);
  np.p = norm_type;
  bool inf = isinf(norm_type);
  double acc = 0;
  for (size_t i = 0; i < n; i++) {
    nnrt_tensor *g = grads[i], *norm = NULL;
    if (!g) continue;
    nnrt_status st = nnrt_tensor_new(nnrt_tensor_device(g), nnrt_tensor_dtype(g), 0, NULL, &norm);
    if (!st) st = nnrt_norm_p(g, norm, &np);
    double v = 0;
    if (!st) {
      if (nnrt_tensor_dtype(norm) == NNRT_F32) {
        float f;
        st = nnrt_tensor_read(norm, &f, sizeof f);
        v = f;
      } else {
        st = nnrt_tensor_read(norm, &v, sizeof v);
      }
    }
    nnrt_tensor_free(norm);
    if (st) return st;
    if (inf) acc = isnan(v) || isnan(acc) ? NAN : fmax(acc, v);
    else acc += pow(v, norm_type);
  }
  double total = inf ? acc : pow(acc, 1 / norm_type);
  if (error_if_nonfinite && !isfinite(total))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT,
                      "%s: the total norm of order %g of the gradients is %g, so it cannot be clipped "
                      "(error_if_nonfinite=true); gradients left unchanged",
                      fn, norm_type, total);
  double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1)) { /* NaN scales too, as PyTorch's clamp keeps it */
    nnrt_mul_scalar_params mp;
    nnrt_params_init(NNRT_OP_mul_scalar, &mp);
    mp.alpha = coef;
    mp.inplace = true;
    for (size_t i = 0; i < n; i++) {
      if (!grads[i]) continue;
      nnrt_status st = nnrt_mul_scalar(grads[i], NULL, &mp);
      if (st) return st;
    }
  }
  if (total_norm) *total_norm = total;
  return NNRT_OK;
}

nnrt_status nnrt_clip_grad_norm(nnrt_module *m, double max_norm, double norm_type, bool error_if_nonfinite,
                                double *total_norm) {
  if (!m) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_clip_grad_norm: module is NULL");
  size_t n = nnrt_module_param_count(m);
  nnrt_tensor **g = calloc(n + 1, sizeof *g);
  if (!g) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "nnrt_clip_grad_norm: out of memory");
  nnrt_status st = NNRT_OK;
  for (size_t i = 0; i < n && !st; i++) st = nnrt_module_param(m, i, NULL, NULL, &g[i]);
  if (!st) st = nnrt_clip_grad_norm_tensors(g, n, max_norm, norm_type, error_if_nonfinite, total_norm);
  free(g);
  return st;
}
