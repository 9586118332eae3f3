/* plugins/template/template.c - a complete device plugin to copy from.
 *
 * It builds against the installed nnrt headers alone (see CMakeLists.txt
 * here) and shows every part of the ABI: negotiation, probe, device memory
 * the core cannot touch directly (so the core copies through read/write),
 * kernels looked up by op name, a `supports` hook, and fallback for every
 * op it does not name.  Its "device" is ordinary host memory kept behind
 * handles, and it runs relu and relu_backward with the formulas of
 * nnrt/scalar.h, so its numbers equal ref's.
 *
 * To start a real backend: rename, replace alloc/free/read/write with the
 * device's memory calls, and add kernels to the table.
 * Environment: NNRT_TEMPLATE_DEVICES=N sets how many devices it reports
 * (default 1; 0 makes probe decline, for testing).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnrt/plugin.h>
#include <nnrt/scalar.h>

static const nnrt_host_api *g_host; /* set by the entry; never NULL after */

/* A device buffer: the handle the core stores in nnrt_tensor.data. */
typedef struct buffer {
  size_t bytes;
  unsigned char *mem;
} buffer;

static int template_probe(char *why, size_t len) {
  const char *e = g_host->getenv("NNRT_TEMPLATE_DEVICES");
  int n = e ? atoi(e) : 1;
  if (n <= 0) snprintf(why, len, "template: NNRT_TEMPLATE_DEVICES=%s asks for no device", e ? e : "");
  return n < 0 ? 0 : n;
}

static void template_describe(nnrt_device *dev, char *buf, size_t len) {
  snprintf(buf, len, "template device %d (host memory behind handles)", dev->index);
}

static nnrt_status template_alloc(nnrt_device *dev, size_t bytes, void **handle) {
  (void)dev;
  buffer *b = malloc(sizeof *b);
  if (!b) return g_host->error(NNRT_ERR_OUT_OF_MEMORY, "template: out of memory");
  b->bytes = bytes;
  b->mem = malloc(bytes ? bytes : 1);
  if (!b->mem) {
    free(b);
    return g_host->error(NNRT_ERR_OUT_OF_MEMORY, "template: cannot allocate %zu bytes", bytes);
  }
  *handle = b;
  return NNRT_OK;
}

static void template_free(nnrt_device *dev, void *handle) {
  (void)dev;
  buffer *b = handle;
  if (b) free(b->mem);
  free(b);
}

static nnrt_status template_write(nnrt_device *dev, void *handle, const void *src, size_t bytes) {
  (void)dev;
  buffer *b = handle;
  memcpy(b->mem, src, bytes);
  return NNRT_OK;
}

static nnrt_status template_read(nnrt_device *dev, const void *handle, void *dst, size_t bytes) {
  (void)dev;
  const buffer *b = handle;
  memcpy(dst, b->mem, bytes);
  return NNRT_OK;
}

#define MEM(t, T) ((T *)((buffer *)(t)->data)->mem)
#define K(v) ((T)(v))

/* The scalar formulas of scalar.h, instantiated for float: <op>_f and
 * <op>_b for every elementwise op (only relu is registered below). */
#define TEMPLATE_FN(name, fwd, bwd)                                              \
  __attribute__((unused)) static float name##_f(float x) {                       \
    typedef float T __attribute__((unused));                                     \
    float a = 0, b = 0, c = 0;                                                   \
    (void)a, (void)b, (void)c;                                                   \
    return fwd;                                                                  \
  }                                                                              \
  __attribute__((unused)) static float name##_b(float g, float x) {              \
    typedef float T __attribute__((unused));                                     \
    float a = 0, b = 0, c = 0;                                                   \
    (void)a, (void)b, (void)c;                                                   \
    return bwd;                                                                  \
  }
NNRT_UNARY_LIST(TEMPLATE_FN)

static nnrt_status k_relu(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  const float *x = MEM(c->inputs[0], float);
  float *y = MEM(c->outputs[0], float);
  for (int64_t i = 0; i < c->inputs[0]->numel; i++) y[i] = relu_f(x[i]);
  return NNRT_OK;
}

static nnrt_status k_relu_backward(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  const float *g = MEM(c->inputs[0], float), *x = MEM(c->inputs[1], float);
  float *gx = MEM(c->outputs[0], float);
  for (int64_t i = 0; i < c->inputs[0]->numel; i++) gx[i] = relu_b(g[i], x[i]);
  return NNRT_OK;
}

static const struct {
  const char *name;
  nnrt_kernel_fn fn;
} kernels[] = {
    {"relu", k_relu},
    {"relu_backward", k_relu_backward},
};

static nnrt_kernel_fn template_kernel(const char *name) {
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
    if (!strcmp(kernels[i].name, name)) return kernels[i].fn;
  return NULL; /* the core runs this op on ref */
}

/* Only float32 here; everything else goes to the fallback. */
static bool template_supports(nnrt_device *dev, const nnrt_call *c) {
  (void)dev;
  return c->inputs[0]->dtype == NNRT_F32;
}

static const nnrt_plugin plugin = {
    .size = sizeof(nnrt_plugin),
    .abi = NNRT_PLUGIN_ABI,
    .name = "template",
    .version = "template 1.0",
    .flags = 0,
    .dtypes = 1u << NNRT_F32,
    .probe = template_probe,
    .device_describe = template_describe,
    .alloc = template_alloc,
    .free = template_free,
    .write = template_write,
    .read = template_read,
    .kernel = template_kernel,
    .supports = template_supports,
};

NNRT_PLUGIN_DECLARE_ENTRY {
  if (host_abi_max < NNRT_PLUGIN_ABI_MIN || host_abi_min > NNRT_PLUGIN_ABI) {
    snprintf(why, why_len, "template speaks ABI %d..%d, host %u..%u", NNRT_PLUGIN_ABI_MIN, NNRT_PLUGIN_ABI,
             host_abi_min, host_abi_max);
    return NULL;
  }
  g_host = host;
  return &plugin;
}
