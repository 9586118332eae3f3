/* core/core.h - core's private declarations: errors, the backend registry,
 * validation rules.  Not installed. */
#ifndef NNRT_CORE_H
#define NNRT_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "nnrt/nnrt.h"
#include "nnrt/plugin.h"

#if defined(__GNUC__)
#define NNRT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NNRT_PRINTF(a, b)
#endif


/* ---- errors and logging (core/error.c) ---- */
/* Sets the thread's last error and returns s. */
nnrt_status nnrt_error(nnrt_status s, const char *fmt, ...) NNRT_PRINTF(2, 3);
nnrt_status nnrt_verror(nnrt_status s, const char *fmt, va_list ap);
void nnrt_log(int level, const char *fmt, ...) NNRT_PRINTF(2, 3);
void nnrt_vlog(int level, const char *fmt, va_list ap);
/* "[2,3,4]" into buf; returns buf. */
const char *nnrt_shape_str(int ndim, const int64_t *dims, char *buf, size_t len);
#define NNRT_SHAPE_STR_LEN 128

/* ---- backends and devices (core/registry.c) ---- */
typedef struct nnrt_backend {
  char name[64];
  char path[512];
  char reason[512];
  bool usable;
  void *dl; /* dlopen handle; NULL for built-in */
  const nnrt_plugin *plugin;
  size_t plugin_size; /* min(plugin->size, sizeof(nnrt_plugin)) */
  int device_count;
  struct core_device *devices; /* device_count of them, opened lazily */
  nnrt_kernel_fn kernels[NNRT_OP_COUNT];
} nnrt_backend;

typedef struct core_device {
  struct nnrt_device pub; /* first: the plugin's view */
  nnrt_backend *backend;
  char name[80];
  char description[256];
  bool opened;
  _Atomic uint64_t fallbacks[NNRT_OP_COUNT];
  atomic_flag warned[NNRT_OP_COUNT];
} core_device;

static inline core_device *core_dev(const nnrt_device *d) { return (core_device *)d; }
/* A member of the plugin struct, or NULL where an older plugin lacks it. */
#define NNRT_PLUGIN_FN(b, member)                                                \
  ((b)->plugin_size >= offsetof(nnrt_plugin, member) + sizeof((b)->plugin->member) \
       ? (b)->plugin->member                                                     \
       : NULL)

nnrt_device *nnrt_ref_device(void); /* the built-in ref device, always there */
const nnrt_plugin *nnrt_ref_plugin(const nnrt_host_api *host);
extern const nnrt_host_api nnrt_host;
bool nnrt_device_is_host_memory(const nnrt_device *dev);

/* ---- tensors (core/tensor.c) ---- */
nnrt_status nnrt_tensor_new_like(nnrt_device *dev, const nnrt_tensor *like, nnrt_tensor **out);

/* ---- validation rules (core/rules_*.c) ---- */
/* A rule checks a call's inputs and params (the generic checks have run:
 * required tensors present, dtypes, one device) and fills the shape each
 * output must have.  call->outputs is NULL when nnrt_op_infer only asks
 * for shapes: a rule that checks outputs must allow for that.  It names the op and the offending values on error. */
typedef nnrt_status (*nnrt_rule_fn)(const nnrt_call *call, nnrt_shape *outs);
#define NNRT_OP(name, rule, params, inputs, outputs)                             \
  nnrt_status nnrt_rule_##rule(const nnrt_call *call, nnrt_shape *outs);
#include "nnrt/ops.def"
#undef NNRT_OP

/* Helpers for rules. */
void nnrt_shape_of(const nnrt_tensor *t, nnrt_shape *s);
bool nnrt_same_shape(const nnrt_tensor *a, const nnrt_tensor *b);
/* Error: "<op>: <what> shapes do not match: a [..], b [..]". */
nnrt_status nnrt_err_shapes(const nnrt_call *c, const char *an, const nnrt_tensor *a,
                            const char *bn, const nnrt_tensor *b);
/* Normalises a dim in [-ndim, ndim) or fails naming the op. */
nnrt_status nnrt_check_dim(const nnrt_call *c, int64_t dim, int ndim, int *out);
/* The float dtype of the call (of its first float input). */
nnrt_dtype nnrt_call_dtype(const nnrt_call *c);



/* Index tensor values on the host (borrowed on host-memory devices,
 * else a copy to free when *owned); on error *vals is NULL and *owned
 * false. */
nnrt_status nnrt_index_values(const nnrt_tensor *t, int64_t **vals, bool *owned);
/* Every target in [0, C) or equal to ignore_index, else an error naming it. */
nnrt_status nnrt_check_class_targets(const nnrt_call *c, const nnrt_tensor *t, int64_t C, int64_t ignore_index);
#endif
