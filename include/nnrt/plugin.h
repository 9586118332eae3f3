/* nnrt/plugin.h - the device plugin ABI.
 *
 * A plugin is a shared object exporting one symbol, NNRT_PLUGIN_ENTRY_NAME,
 * of type nnrt_plugin_entry_fn.  The host offers the range of ABI versions
 * it speaks; the plugin answers with a description whose `abi` is the
 * highest version both speak, or declines by returning NULL and writing its
 * reason.  Every struct crossing the boundary starts with its size, so
 * fields may be appended in later versions: a reader uses only the fields
 * that fit in the size it was given.
 *
 * The host calls kernels only with calls that core has validated (shapes,
 * dtypes, devices, params, aliasing): a kernel may trust its call.  Kernels
 * are looked up by op name, so a plugin built against an older op list
 * keeps working; ops it does not name run on the reference backend.
 * Build against the installed headers alone; see plugins/template.
 */
#ifndef NNRT_PLUGIN_H
#define NNRT_PLUGIN_H

#include "nnrt/nnrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNRT_PLUGIN_ABI_MIN 1
#define NNRT_PLUGIN_ABI 1 /* the newest version this header describes */
#define NNRT_PLUGIN_ENTRY_NAME "nnrt_plugin_entry"

/* A tensor as a kernel sees it.  The fields after `data` are core's. */
struct nnrt_tensor {
  size_t size;                   /* sizeof(struct nnrt_tensor) of the host */
  nnrt_dtype dtype;
  int ndim;
  int64_t shape[NNRT_MAX_DIMS];  /* shape[i] for i < ndim */
  int64_t numel;
  nnrt_device *device;
  void *data; /* the handle the device's alloc returned: a host pointer on
                 host-memory devices, a cl_mem for OpenCL, ... */
  /* core-private from here on */
  size_t bytes;
};

/* A device as a plugin sees it.  The fields after `backend_data` are core's. */
struct nnrt_device {
  size_t size;
  int index;          /* device number within its backend */
  void *backend_data; /* the plugin's per-device state, set by device_open */
};

/* One op invocation: inputs and outputs in signature order (ops.def);
 * optional tensors the caller left out are NULL. */
typedef struct nnrt_call {
  size_t size;
  nnrt_op op;          /* the host's op id; plugins should use op_name */
  const char *op_name;
  const void *params;  /* nnrt_<op>_params, defaults filled in */
  int n_inputs;
  nnrt_tensor *const *inputs;
  int n_outputs;
  nnrt_tensor *const *outputs;
} nnrt_call;

/* THE kernel signature. */
typedef nnrt_status (*nnrt_kernel_fn)(nnrt_device *dev, const nnrt_call *call);

/* Log levels of nnrt_host_api.log. */
enum { NNRT_LOG_ERROR = 0, NNRT_LOG_WARN = 1, NNRT_LOG_INFO = 2, NNRT_LOG_DEBUG = 3 };

/* What the host gives a plugin; never NULL, every member set. */
typedef struct nnrt_host_api {
  size_t size;
  uint32_t abi; /* the version agreed on */
  /* printf-style message, shown according to NNRT_LOG. */
  void (*log)(int level, const char *fmt, ...);
  /* Sets the thread's last error and returns s, for `return host->error(...)`. */
  nnrt_status (*error)(nnrt_status s, const char *fmt, ...);
  /* Reads an environment variable through the host (NULL if unset). */
  const char *(*getenv)(const char *name);
} nnrt_host_api;

/* Plugin flags. */
#define NNRT_PLUGIN_HOST_MEMORY 1u /* buffers are plain host pointers: ref runs
                                      on them directly, fallback needs no copy */
#define NNRT_PLUGIN_ACCELERATOR 2u /* preferred by NNRT_BACKEND=auto */

/* What a plugin describes of itself.  Members marked optional may be NULL. */
typedef struct nnrt_plugin {
  size_t size;          /* sizeof(nnrt_plugin) as the plugin was built */
  uint32_t abi;         /* the version chosen, within the host's range */
  const char *name;     /* backend name used in NNRT_BACKEND: "opencl" */
  const char *version;  /* library / driver version text */
  unsigned flags;       /* NNRT_PLUGIN_* */
  unsigned dtypes;      /* bit (1u << dtype) for each float dtype it computes */
  /* Number of usable devices; 0 with `why` filled when it cannot run here. */
  int (*probe)(char *why, size_t why_len);
  /* optional: set up device dev->index (dev->backend_data is yours). */
  nnrt_status (*device_open)(nnrt_device *dev);
  /* optional: release what device_open made. */
  void (*device_close)(nnrt_device *dev);
  /* optional: one line about the device (model, driver, memory). */
  void (*device_describe)(nnrt_device *dev, char *buf, size_t len);
  /* Device memory.  alloc of 0 bytes must still give a valid handle. */
  nnrt_status (*alloc)(nnrt_device *dev, size_t bytes, void **handle);
  void (*free)(nnrt_device *dev, void *handle);
  nnrt_status (*write)(nnrt_device *dev, void *handle, const void *src, size_t bytes);
  nnrt_status (*read)(nnrt_device *dev, const void *handle, void *dst, size_t bytes);
  /* optional: device-to-device copy on the same device. */
  nnrt_status (*copy)(nnrt_device *dev, void *dst, const void *src, size_t bytes);
  /* optional: wait for queued work. */
  nnrt_status (*sync)(nnrt_device *dev);
  /* The kernel for an op name, or NULL where the plugin has none. */
  nnrt_kernel_fn (*kernel)(const char *op_name);
  /* optional: whether the kernel handles this particular call (dtype,
   * shape, params); false sends the call to the fallback. */
  bool (*supports)(nnrt_device *dev, const nnrt_call *call);
  /* optional: called once when the host unloads the plugin. */
  void (*shutdown)(void);
} nnrt_plugin;

/* The exported entry.  host_abi_min..host_abi_max: versions the host
 * speaks.  Return the plugin's description with abi set, or NULL after
 * writing why (e.g. "needs ABI >= 3, host speaks 1..1"). */
typedef const nnrt_plugin *(*nnrt_plugin_entry_fn)(const nnrt_host_api *host,
                                                   uint32_t host_abi_min, uint32_t host_abi_max,
                                                   char *why, size_t why_len);

#if defined(__GNUC__)
#define NNRT_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define NNRT_PLUGIN_EXPORT
#endif

/* Declares the entry in a plugin source file. */
#define NNRT_PLUGIN_DECLARE_ENTRY                                                \
  NNRT_PLUGIN_EXPORT const nnrt_plugin *nnrt_plugin_entry(                       \
      const nnrt_host_api *host, uint32_t host_abi_min, uint32_t host_abi_max,   \
      char *why, size_t why_len)

/* Typed access to a call's params and tensors, for kernels. */
#define NNRT_PARAMS(call, op) ((const nnrt_##op##_params *)(call)->params)
#define NNRT_IN(call, i) ((call)->inputs[i])
#define NNRT_OUT(call, i) ((call)->outputs[i])

#ifdef __cplusplus
}
#endif
#endif
