/* backends/opencl/signature.c - a call's tensors by their names in ops.def
 * (the plugin's own copy of the op list's argument names, so kernels of
 * ops with many optional arguments need not count positions). */
#include <string.h>

#include "ocl.h"

#define TI(n, f) #n " "
#define TO(n, f) #n " "
#define NNRT_ID_(...) __VA_ARGS__
#define NNRT_OP(name, rule, params, inputs, outputs) {#name, "" NNRT_ID_ inputs, "" NNRT_ID_ outputs},
static const struct {
  const char *op, *inputs, *outputs;
} signatures[] = {
#include "nnrt/ops.def"
};
#undef NNRT_OP
#undef TI
#undef TO

/* position of `name` in a list "a b c ", or -1 */
static int position(const char *list, const char *name) {
  size_t l = strlen(name);
  for (int i = 0; list && *list; i++) {
    const char *e = strchr(list, ' ');
    if ((size_t)(e - list) == l && !strncmp(list, name, l)) return i;
    list = e + 1;
  }
  return -1;
}

static int lookup(const char *op) {
  for (size_t i = 0; i < sizeof signatures / sizeof signatures[0]; i++)
    if (!strcmp(signatures[i].op, op)) return (int)i;
  return -1;
}

nnrt_tensor *ocl_in_named(const nnrt_call *call, const char *name) {
  int s = lookup(call->op_name), i = s < 0 ? -1 : position(signatures[s].inputs, name);
  return i >= 0 && i < call->n_inputs ? call->inputs[i] : NULL;
}

nnrt_tensor *ocl_out_named(const nnrt_call *call, const char *name) {
  int s = lookup(call->op_name), i = s < 0 ? -1 : position(signatures[s].outputs, name);
  return i >= 0 && i < call->n_outputs ? call->outputs[i] : NULL;
}
