/* backends/ref/ref.c - the reference backend as a plugin: host memory,
 * every op, float32 and float64.  Built into libnnrt and adopted through
 * the same ABI a plugin uses. */
#include "ref.h"

static int ref_probe(char *why, size_t len) {
  (void)why;
  (void)len;
  return 1;
}

static void ref_describe(nnrt_device *dev, char *buf, size_t len) {
  (void)dev;
#ifdef _OPENMP
  snprintf(buf, len, "portable C reference, OpenMP");
#else
  snprintf(buf, len, "portable C reference, single thread");
#endif
}

static nnrt_status ref_alloc(nnrt_device *dev, size_t bytes, void **handle) {
  (void)dev;
  size_t n = (bytes + 63) / 64 * 64;
  *handle = aligned_alloc(64, n ? n : 64);
  return *handle ? NNRT_OK : NNRT_ERR_OUT_OF_MEMORY;
}

static void ref_free(nnrt_device *dev, void *handle) {
  (void)dev;
  free(handle);
}

static nnrt_status ref_write(nnrt_device *dev, void *handle, const void *src, size_t bytes) {
  (void)dev;
  memcpy(handle, src, bytes);
  return NNRT_OK;
}

static nnrt_status ref_read(nnrt_device *dev, const void *handle, void *dst, size_t bytes) {
  (void)dev;
  memcpy(dst, handle, bytes);
  return NNRT_OK;
}

static const struct {
  const char *name;
  nnrt_kernel_fn fn;
} kernels[] = {
#define NNRT_OP(name, rule, params, inputs, outputs) {#name, ref_##name},
#include "nnrt/ops.def"
#undef NNRT_OP
};

static nnrt_kernel_fn ref_kernel(const char *name) {
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
    if (!strcmp(kernels[i].name, name)) return kernels[i].fn;
  return NULL;
}

static const nnrt_plugin ref_plugin = {
    .size = sizeof(nnrt_plugin),
    .abi = NNRT_PLUGIN_ABI,
    .name = "ref",
    .version = "nnrt reference " NNRT_STRINGIFY_(NNRT_VERSION_MAJOR) "." NNRT_STRINGIFY_(NNRT_VERSION_MINOR),
    .flags = NNRT_PLUGIN_HOST_MEMORY,
    .dtypes = (1u << NNRT_F32) | (1u << NNRT_F64),
    .probe = ref_probe,
    .device_describe = ref_describe,
    .alloc = ref_alloc,
    .free = ref_free,
    .write = ref_write,
    .read = ref_read,
    .kernel = ref_kernel,
};

const nnrt_plugin *nnrt_ref_plugin(const nnrt_host_api *host);
const nnrt_plugin *nnrt_ref_plugin(const nnrt_host_api *host) {
  (void)host;
  return &ref_plugin;
}
