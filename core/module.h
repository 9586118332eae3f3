/* core/module.h - how a module kind is written (private to core).
 *
 * A module kind is a vtable plus a constructor that calls
 * nnrt_module_alloc, registers parameters and buffers, and stores its op
 * params.  Generic code (param listing, zero_grad, train/eval, free,
 * Sequential) treats every kind alike.  Tensors a module hands out
 * (output, grad_input) are owned by it and reallocated only when a shape
 * changes, with nnrt_module_ensure. */
#ifndef NNRT_MODULE_H
#define NNRT_MODULE_H

#include "core.h"

#define NNRT_MODULE_MAX_PARAMS 64
#define NNRT_MODULE_MAX_BUFFERS 8
#define NNRT_MODULE_MAX_EXTRA 8

typedef struct nnrt_module_vtbl {
  const char *kind; /* "Linear", "ReLU", "CrossEntropyLoss", ... */
  /* input -> *output (owned by the module); keeps what backward needs. */
  nnrt_status (*forward)(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output);
  /* grad_output -> *grad_input (owned); accumulates parameter gradients. */
  nnrt_status (*backward)(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_input);
  /* optional: losses: (input, target) -> *loss (owned). */
  nnrt_status (*loss_forward)(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *target, nnrt_tensor **loss);
  /* optional: frees what the kind added beyond the generic fields. */
  void (*destroy)(nnrt_module *m);
} nnrt_module_vtbl;

typedef struct module_param_t {
  char name[64];
  nnrt_tensor *param, *grad;
} module_param_t;

struct nnrt_module {
  const nnrt_module_vtbl *vt;
  nnrt_device *dev;
  bool training;
  nnrt_op op;                       /* the forward op, where there is one */
  unsigned char op_params[256];     /* its params struct */
  size_t n_params;
  module_param_t params[NNRT_MODULE_MAX_PARAMS];
  size_t n_buffers;
  struct { char name[64]; nnrt_tensor *t; } buffers[NNRT_MODULE_MAX_BUFFERS];
  size_t n_children;
  nnrt_module **children;           /* Sequential */
  nnrt_tensor *input, *target;      /* borrowed from the last forward */
  nnrt_tensor *output, *grad_input; /* owned */
  nnrt_tensor *extra[NNRT_MODULE_MAX_EXTRA]; /* owned, kind-specific (saved stats...) */
  void *state;                      /* kind-specific, freed by destroy */
};

/* A module of the given kind on dev, training, with no parameters. */
nnrt_status nnrt_module_alloc(nnrt_device *dev, const nnrt_module_vtbl *vt, nnrt_module **out);
/* Registers a zero-filled parameter and its zero gradient. */
nnrt_status nnrt_module_add_param(nnrt_module *m, const char *name, int ndim, const int64_t *shape,
                                  nnrt_tensor **param);
/* Registers a zero-filled buffer (running statistics...). */
nnrt_status nnrt_module_add_buffer(nnrt_module *m, const char *name, nnrt_dtype dtype, int ndim,
                                   const int64_t *shape, nnrt_tensor **buf);
/* Makes *slot a tensor of shape s on the module's device, reusing it when
 * the shape and dtype already match. */
nnrt_status nnrt_module_ensure(nnrt_module *m, nnrt_tensor **slot, const nnrt_shape *s);
/* Runs the module's op on (input) into its owned output: the forward of
 * every module whose op takes one input (and maybe parameters after it). */
nnrt_status nnrt_module_run_forward(nnrt_module *m, nnrt_tensor *const *inputs, nnrt_tensor **output);
/* The default float dtype of new parameters: f32. */
#define NNRT_MODULE_DTYPE NNRT_F32

#endif
