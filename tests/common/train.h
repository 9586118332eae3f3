/* tests/common/train.h - helpers shared by the module-level tests. */
#ifndef NNRT_TEST_TRAIN_H
#define NNRT_TEST_TRAIN_H
#include <nnrt/nnrt.h>

/* One training step as a torch loop does it: zero_grad, forward, loss,
 * backward, optimizer step; *loss gets the loss before the step. */
nnrt_status train_step(nnrt_module *net, nnrt_module *loss_fn, nnrt_optimizer *opt, nnrt_tensor *x, nnrt_tensor *y,
                       float *loss);
#endif
