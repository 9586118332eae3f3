/* tests/common/train.c - see train.h. */
#include "train.h"

nnrt_status train_step(nnrt_module *net, nnrt_module *loss_fn, nnrt_optimizer *opt, nnrt_tensor *x, nnrt_tensor *y,
                       float *loss) {
  nnrt_tensor *out, *l, *g;
  nnrt_status st;
  if ((st = nnrt_module_zero_grad(net)) || (st = nnrt_module_forward(net, x, &out)) ||
      (st = nnrt_loss_forward(loss_fn, out, y, &l)) || (st = nnrt_loss_backward(loss_fn, &g)) ||
      (st = nnrt_module_backward(net, g, &g)) || (st = nnrt_optimizer_step(opt)))
    return st;
  return nnrt_tensor_read(l, loss, sizeof *loss);
}
