/* backends/onednn/plugin.c - libnnrt-onednn.so: the CPU device on oneDNN.
 *
 * One device ("onednn"), host memory (64-byte aligned, shared with ref
 * without copies), float32.  Ops come from the family files (eltwise.c,
 * softmax.c, linear.c, prelu.c, batch_norm.c, rnn.c, upsample.c); an op they do not
 * name, a dtype other than f32, or a call whose params oneDNN cannot do
 * with PyTorch's exact semantics (supports() says no) runs on ref in place.
 * README.md here lists which ops run where and why.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn.h"

const nnrt_host_api *onednn_host;
static dnnl_engine_t engine;
static char version[96];

dnnl_engine_t onednn_engine(void) { return engine; }

static const char *isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
  case dnnl_cpu_isa_sse41: return "sse41";
  case dnnl_cpu_isa_avx: return "avx";
  case dnnl_cpu_isa_avx2: return "avx2";
  case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
  case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
  case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
  case dnnl_cpu_isa_avx512_core: return "avx512_core";
  case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
  case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
  case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
  case dnnl_cpu_isa_all: return "all";
  default: return "unknown";
  }
}

static const char *runtime_name(unsigned rt) {
  switch (rt) {
  case DNNL_RUNTIME_SEQ: return "sequential";
  case DNNL_RUNTIME_OMP: return "OpenMP";
  case DNNL_RUNTIME_TBB: return "TBB";
  case DNNL_RUNTIME_THREADPOOL: return "threadpool";
  default: return "other runtime";
  }
}

/* The engine is made here, once: probe runs once per process. */
static int onednn_probe(char *why, size_t len) {
  if (dnnl_engine_get_count(dnnl_cpu) < 1) {
    snprintf(why, len, "onednn: the oneDNN library reports no CPU engine");
    return 0;
  }
  dnnl_status_t st = dnnl_engine_create(&engine, dnnl_cpu, 0);
  if (st != dnnl_success) {
    snprintf(why, len, "onednn: dnnl_engine_create failed (status %d)", (int)st);
    engine = NULL;
    return 0;
  }
  return 1;
}

static void onednn_describe(nnrt_device *dev, char *buf, size_t len) {
  (void)dev;
  const dnnl_version_t *v = dnnl_version();
  snprintf(buf, len, "oneDNN %d.%d.%d (%s), ISA %s", v->major, v->minor, v->patch, runtime_name(v->cpu_runtime),
           isa_name(dnnl_get_effective_cpu_isa()));
}

static nnrt_status onednn_alloc(nnrt_device *dev, size_t bytes, void **handle) {
  (void)dev;
  size_t n = (bytes + 63) / 64 * 64;
  *handle = aligned_alloc(64, n ? n : 64);
  if (!*handle) return onednn_host->error(NNRT_ERR_OUT_OF_MEMORY, "onednn: cannot allocate %zu bytes", bytes);
  return NNRT_OK;
}

static void onednn_free(nnrt_device *dev, void *handle) {
  (void)dev;
  free(handle);
}

static nnrt_status onednn_write(nnrt_device *dev, void *handle, const void *src, size_t bytes) {
  (void)dev;
  memcpy(handle, src, bytes);
  return NNRT_OK;
}

static nnrt_status onednn_read(nnrt_device *dev, const void *handle, void *dst, size_t bytes) {
  (void)dev;
  memcpy(dst, handle, bytes);
  return NNRT_OK;
}

static nnrt_status onednn_copy(nnrt_device *dev, void *dst, const void *src, size_t bytes) {
  (void)dev;
  memmove(dst, src, bytes);
  return NNRT_OK;
}

/* ---- op lookup ---- */
static const onednn_lookup_fn families[] = {onednn_eltwise_lookup, onednn_softmax_lookup, onednn_linear_lookup,
                                            onednn_prelu_lookup, onednn_batch_norm_lookup, onednn_rnn_lookup,
                                            onednn_upsample_lookup};

static bool find_op(const char *name, nnrt_kernel_fn *k, onednn_supports_fn *s) {
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
    if (families[i](name, k, s)) return true;
  return false;
}

static nnrt_kernel_fn onednn_kernel(const char *name) {
  nnrt_kernel_fn k;
  onednn_supports_fn s;
  return name && find_op(name, &k, &s) ? k : NULL;
}

/* supports() is on every call's path: the host's op id indexes a memo of
 * each op's check, filled on first sight by name (ids are fixed for the
 * life of the host process; names are what the ABI promises). */
#define MEMO_OPS 1024
static _Atomic(onednn_supports_fn) memo[MEMO_OPS];

static bool no_support(const nnrt_call *c) {
  (void)c;
  return false;
}

static bool onednn_supports(nnrt_device *dev, const nnrt_call *call) {
  (void)dev;
  onednn_supports_fn s = (unsigned)call->op < MEMO_OPS ? atomic_load(&memo[call->op]) : NULL;
  if (!s) {
    nnrt_kernel_fn k;
    if (!find_op(call->op_name, &k, &s)) s = no_support;
    if ((unsigned)call->op < MEMO_OPS) atomic_store(&memo[call->op], s);
  }
  return s(call);
}

bool onednn_call_f32_nonempty(const nnrt_call *call) {
  for (int i = 0; i < call->n_inputs; i++) {
    const nnrt_tensor *t = call->inputs[i];
    if (t && (t->dtype != NNRT_F32 || t->numel == 0)) return false;
  }
  for (int i = 0; i < call->n_outputs; i++) {
    const nnrt_tensor *t = call->outputs[i];
    if (t && (t->dtype != NNRT_F32 || t->numel == 0)) return false;
  }
  return true;
}

static void onednn_shutdown(void) {
  onednn_cache_shutdown();
  if (engine) dnnl_engine_destroy(engine);
  engine = NULL;
}

static nnrt_plugin plugin = {
    .size = sizeof(nnrt_plugin),
    .abi = NNRT_PLUGIN_ABI,
    .name = "onednn",
    .version = version,
    .flags = NNRT_PLUGIN_HOST_MEMORY,
    .dtypes = 1u << NNRT_F32,
    .probe = onednn_probe,
    .device_describe = onednn_describe,
    .alloc = onednn_alloc,
    .free = onednn_free,
    .write = onednn_write,
    .read = onednn_read,
    .copy = onednn_copy,
    .kernel = onednn_kernel,
    .supports = onednn_supports,
    .shutdown = onednn_shutdown,
};

NNRT_PLUGIN_DECLARE_ENTRY {
  if (!host || host_abi_min > NNRT_PLUGIN_ABI || host_abi_max < NNRT_PLUGIN_ABI) {
    snprintf(why, why_len, "onednn: speaks plugin ABI %d, host speaks %u..%u", NNRT_PLUGIN_ABI,
             (unsigned)host_abi_min, (unsigned)host_abi_max);
    return NULL;
  }
  const dnnl_version_t *v = dnnl_version();
  if (v->major < 2 || (v->major == 2 && v->minor < 6)) {
    /* clip_v2, softmax_v2, mish and hardswish arrived by 2.6 */
    snprintf(why, why_len, "onednn: needs oneDNN >= 2.6, found %d.%d.%d", v->major, v->minor, v->patch);
    return NULL;
  }
  onednn_host = host;
  snprintf(version, sizeof version, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
  return &plugin;
}
