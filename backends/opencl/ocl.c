/* backends/opencl/ocl.c - the OpenCL backend plugin (libnnrt-opencl.so):
 * negotiation, probe, devices, device memory, the kernel table.
 *
 * The ICD loader (libOpenCL.so.1) is opened at run time rather than linked,
 * so the plugin loads on machines without OpenCL and probe can say which
 * piece is missing: the loader, a platform (vendor driver), or a device.
 * Devices are numbered over every platform, GPUs and accelerators first
 * (so opencl:0 is what NNRT_BACKEND=auto picks), then CPUs and others, each
 * class in platform and device order.
 *
 * Environment:
 *   NNRT_OPENCL_LIBRARY      the ICD loader to open (default libOpenCL.so.1)
 *   NNRT_OPENCL_DEVICE_TYPE  all (default) | gpu | cpu | accelerator
 *   NNRT_OPENCL_CACHE, NNRT_OPENCL_CACHE_DIR: see program.c
 * Limits: buffers are single cl_mem objects, so a tensor is limited by the
 * device's CL_DEVICE_MAX_MEM_ALLOC_SIZE; f64 runs only on devices with
 * cl_khr_fp64 (others fall back through `supports`).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl.h"

ocl_api ocl;
const nnrt_host_api *ocl_host;

#define MAX_DEVICES 64
static ocl_dev *devices[MAX_DEVICES]; /* found by probe; opened lazily */
static int n_devices;
static void *libopencl;
static char version_text[512] = "nnrt-opencl 0.1";

/* ---- probe ---------------------------------------------------------------- */
static bool load_library(char *why, size_t len) {
  if (libopencl) return true;
  const char *name = ocl_host->getenv("NNRT_OPENCL_LIBRARY");
  const char *tried = name && *name ? name : "libOpenCL.so.1";
  libopencl = dlopen(tried, RTLD_NOW | RTLD_LOCAL);
  if (!libopencl && !(name && *name)) libopencl = dlopen("libOpenCL.so", RTLD_NOW | RTLD_LOCAL);
  if (!libopencl) {
    const char *e = dlerror();
    snprintf(why, len, "no OpenCL ICD loader: dlopen(%s) failed: %s (install an ICD loader, e.g. ocl-icd-libopencl1)",
             tried, e ? e : "?");
    return false;
  }
#define OCL_SYM_(f)                                                              \
  if (!(*(void **)&ocl.f = dlsym(libopencl, #f))) {                              \
    snprintf(why, len, "the OpenCL ICD loader %s lacks %s (OpenCL 1.2 needed)", tried, #f); \
    dlclose(libopencl);                                                          \
    libopencl = NULL;                                                            \
    return false;                                                                \
  }
  OCL_FUNCS(OCL_SYM_)
#undef OCL_SYM_
  return true;
}

static void dev_string(cl_device_id id, cl_device_info what, char *buf, size_t len) {
  buf[0] = 0;
  if (ocl.clGetDeviceInfo(id, what, len, buf, NULL) != CL_SUCCESS) buf[0] = 0;
  buf[len - 1] = 0;
}

static bool is_accelerator(cl_device_type t) { return (t & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0; }

static const char *type_name(cl_device_type t) {
  return t & CL_DEVICE_TYPE_GPU ? "GPU" : t & CL_DEVICE_TYPE_ACCELERATOR ? "accelerator"
       : t & CL_DEVICE_TYPE_CPU ? "CPU" : "other";
}

/* Fills a device record; false with the reason appended to skipped. */
static bool inspect(cl_platform_id p, cl_device_id id, ocl_dev *d, char *skipped, size_t len) {
  cl_bool avail = CL_FALSE, compiler = CL_FALSE;
  char ext[4096];
  memset(d, 0, sizeof *d);
  d->platform = p;
  d->id = id;
  dev_string(id, CL_DEVICE_NAME, d->name, sizeof d->name);
  ocl.clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof d->type, &d->type, NULL);
  ocl.clGetDeviceInfo(id, CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
  ocl.clGetDeviceInfo(id, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
  size_t o = strlen(skipped);
  if (!avail || !compiler) {
    snprintf(skipped + o, len - o, "%s%s: %s", o ? "; " : "", d->name, !avail ? "not available" : "no compiler");
    return false;
  }
  ocl.clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_wg, &d->max_wg, NULL);
  ocl.clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem, &d->local_mem, NULL);
  ocl.clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof d->max_alloc, &d->max_alloc, NULL);
  ocl.clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof d->global_mem, &d->global_mem, NULL);
  ocl.clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->compute_units, &d->compute_units, NULL);
  dev_string(id, CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor);
  dev_string(id, CL_DRIVER_VERSION, d->driver, sizeof d->driver);
  dev_string(id, CL_DEVICE_VERSION, d->version, sizeof d->version);
  dev_string(id, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
  d->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
  const char *pr = ocl_host->getenv("NNRT_OPENCL_PRECISE");
  d->precise = d->fp64 && !(pr && !strcmp(pr, "0"));
  char cver[64];
  dev_string(id, CL_DEVICE_OPENCL_C_VERSION, cver, sizeof cver);
  int maj = 0, min = 0;
  d->cl_c_12 = sscanf(cver, "OpenCL C %d.%d", &maj, &min) == 2 && (maj > 1 || (maj == 1 && min >= 2));
  ocl.clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof d->platform_name, d->platform_name, NULL);
  ocl.clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof d->platform_version, d->platform_version, NULL);
  d->platform_name[sizeof d->platform_name - 1] = d->platform_version[sizeof d->platform_version - 1] = 0;
  if (d->max_wg < 1) d->max_wg = 1;
  return true;
}

static cl_device_type wanted_type(void) {
  const char *t = ocl_host->getenv("NNRT_OPENCL_DEVICE_TYPE");
  if (!t || !*t || !strcmp(t, "all")) return CL_DEVICE_TYPE_ALL;
  if (!strcmp(t, "gpu")) return CL_DEVICE_TYPE_GPU;
  if (!strcmp(t, "cpu")) return CL_DEVICE_TYPE_CPU;
  if (!strcmp(t, "accelerator")) return CL_DEVICE_TYPE_ACCELERATOR;
  return 0;
}

static void forget_devices(void) {
  for (int i = 0; i < n_devices; i++) free(devices[i]);
  n_devices = 0;
}

static nnrt_plugin plugin;

static int ocl_probe(char *why, size_t len) {
  forget_devices();
  if (!load_library(why, len)) return 0;
  cl_device_type want = wanted_type();
  if (!want) {
    snprintf(why, len, "NNRT_OPENCL_DEVICE_TYPE=%s is not all, gpu, cpu or accelerator",
             ocl_host->getenv("NNRT_OPENCL_DEVICE_TYPE"));
    return 0;
  }
  cl_uint np = 0;
  cl_int err = ocl.clGetPlatformIDs(0, NULL, &np);
  if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0)) {
    snprintf(why, len, "no platform: clGetPlatformIDs returned %d %s (the ICD loader found no vendor driver; "
             "see /etc/OpenCL/vendors or OCL_ICD_VENDORS)", (int)err, err ? ocl_err_name(err) : "and 0 platforms");
    return 0;
  }
  if (err != CL_SUCCESS) {
    snprintf(why, len, "clGetPlatformIDs failed: %d %s", (int)err, ocl_err_name(err));
    return 0;
  }
  cl_platform_id plats[16];
  if (np > 16) np = 16;
  if ((err = ocl.clGetPlatformIDs(np, plats, NULL)) != CL_SUCCESS) {
    snprintf(why, len, "clGetPlatformIDs failed: %d %s", (int)err, ocl_err_name(err));
    return 0;
  }
  char skipped[1024] = "";
  ocl_dev *found[MAX_DEVICES];
  int nf = 0;
  for (cl_uint p = 0; p < np; p++) {
    cl_device_id ids[MAX_DEVICES];
    cl_uint nd = 0;
    char pname[128] = "?";
    ocl.clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
    pname[sizeof pname - 1] = 0;
    err = ocl.clGetDeviceIDs(plats[p], want, MAX_DEVICES, ids, &nd);
    size_t o = strlen(skipped);
    if (err == CL_DEVICE_NOT_FOUND || (err == CL_SUCCESS && nd == 0)) {
      snprintf(skipped + o, sizeof skipped - o, "%splatform %s: no device%s%s", o ? "; " : "", pname,
               want == CL_DEVICE_TYPE_ALL ? "" : " of NNRT_OPENCL_DEVICE_TYPE=",
               want == CL_DEVICE_TYPE_ALL ? "" : ocl_host->getenv("NNRT_OPENCL_DEVICE_TYPE"));
      continue;
    }
    if (err != CL_SUCCESS) {
      snprintf(skipped + o, sizeof skipped - o, "%splatform %s: clGetDeviceIDs failed: %d %s", o ? "; " : "", pname,
               (int)err, ocl_err_name(err));
      continue;
    }
    if (nd > MAX_DEVICES) nd = MAX_DEVICES;
    for (cl_uint i = 0; i < nd && nf < MAX_DEVICES; i++) {
      ocl_dev *d = malloc(sizeof *d);
      if (!d) break;
      if (inspect(plats[p], ids[i], d, skipped, sizeof skipped)) found[nf++] = d;
      else free(d);
    }
  }
  /* accelerators first, keeping platform and device order within a class */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < nf; i++)
      if (is_accelerator(found[i]->type) == (pass == 0)) {
        snprintf(found[i]->label, sizeof found[i]->label, "opencl:%d", n_devices);
        devices[n_devices++] = found[i];
      }
  if (!n_devices) {
    snprintf(why, len, "no device: %s", skipped[0] ? skipped : "the platforms list none");
    return 0;
  }
  plugin.flags = is_accelerator(devices[0]->type) ? NNRT_PLUGIN_ACCELERATOR : 0;
  bool any64 = false;
  for (int i = 0; i < n_devices; i++) any64 |= devices[i]->fp64;
  plugin.dtypes = (1u << NNRT_F32) | (any64 ? 1u << NNRT_F64 : 0);
  size_t o = (size_t)snprintf(version_text, sizeof version_text, "nnrt-opencl 0.1");
  for (cl_uint p = 0; p < np && o < sizeof version_text; p++) {
    char pv[160] = "";
    ocl.clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, sizeof pv, pv, NULL);
    pv[sizeof pv - 1] = 0;
    /* "OpenCL 3.0 PoCL 3.1+debian  Linux, None+Asserts, ...": the part before the build details */
    char *cut = strstr(pv, "  ");
    if (cut) *cut = 0;
    o += (size_t)snprintf(version_text + o, sizeof version_text - o, "%s%s", p ? "; " : " on ", pv);
  }
  if (skipped[0]) ocl_host->log(NNRT_LOG_DEBUG, "opencl: skipped %s", skipped);
  return n_devices;
}

/* ---- devices ------------------------------------------------------------------ */
static nnrt_status ocl_device_open(nnrt_device *dev) {
  if (dev->index < 0 || dev->index >= n_devices)
    return ocl_host->error(NNRT_ERR_NOT_FOUND, "opencl: no device %d", dev->index);
  ocl_dev *d = devices[dev->index];
  cl_int err;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform, 0};
  d->ctx = ocl.clCreateContext(props, 1, &d->id, NULL, NULL, &err);
  if (!d->ctx) return ocl_fail("clCreateContext", d->label, err);
  d->queue = ocl.clCreateCommandQueue(d->ctx, d->id, 0, &err); /* in order */
  if (!d->queue) {
    ocl.clReleaseContext(d->ctx);
    d->ctx = NULL;
    return ocl_fail("clCreateCommandQueue", d->label, err);
  }
  d->dummy = ocl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, 64, NULL, &err);
  if (!d->dummy) {
    ocl.clReleaseCommandQueue(d->queue);
    ocl.clReleaseContext(d->ctx);
    d->queue = NULL;
    d->ctx = NULL;
    return ocl_fail("clCreateBuffer", "dummy", err);
  }
  pthread_mutex_init(&d->lock, NULL);
  dev->backend_data = d;
  return NNRT_OK;
}

static void ocl_device_close(nnrt_device *dev) {
  ocl_dev *d = ocl_dev_of(dev);
  if (!d || !d->ctx) return;
  ocl.clFinish(d->queue);
  ocl_programs_release(d);
  for (int i = 0; i < OCL_SCRATCH_SLOTS; i++)
    if (d->scratch[i]) ocl.clReleaseMemObject(d->scratch[i]);
  ocl.clReleaseMemObject(d->dummy);
  ocl.clReleaseCommandQueue(d->queue);
  ocl.clReleaseContext(d->ctx);
  pthread_mutex_destroy(&d->lock);
  d->ctx = NULL;
  d->queue = NULL;
  d->dummy = NULL;
  memset(d->scratch, 0, sizeof d->scratch);
  memset(d->scratch_bytes, 0, sizeof d->scratch_bytes);
  dev->backend_data = NULL;
}

static void ocl_device_describe(nnrt_device *dev, char *buf, size_t len) {
  const ocl_dev *d = ocl_dev_of(dev);
  if (!d) d = dev->index >= 0 && dev->index < n_devices ? devices[dev->index] : NULL;
  if (!d) {
    snprintf(buf, len, "?");
    return;
  }
  snprintf(buf, len, "%s (%s, %s), %s, driver %s, %u compute units, %.1f GiB%s", d->name, type_name(d->type),
           d->platform_name, d->version, d->driver, (unsigned)d->compute_units, d->global_mem / 1073741824.0,
           d->fp64 ? ", fp64" : "");
}

/* ---- memory --------------------------------------------------------------------- */
static nnrt_status ocl_alloc(nnrt_device *dev, size_t bytes, void **handle) {
  ocl_dev *d = ocl_dev_of(dev);
  if (bytes > d->max_alloc)
    return ocl_host->error(NNRT_ERR_OUT_OF_MEMORY, "opencl: %zu bytes exceed the largest buffer of %s (%llu bytes, "
                           "CL_DEVICE_MAX_MEM_ALLOC_SIZE)", bytes, d->label, (unsigned long long)d->max_alloc);
  cl_int err;
  /* a zero-byte buffer is invalid in OpenCL; empty tensors get a small one */
  cl_mem m = ocl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 16, NULL, &err);
  if (!m) {
    char what[64];
    snprintf(what, sizeof what, "%zu bytes", bytes);
    return ocl_fail("clCreateBuffer", what, err);
  }
  *handle = m;
  return NNRT_OK;
}

static void ocl_free(nnrt_device *dev, void *handle) {
  (void)dev;
  /* released once the queued commands using it have finished */
  if (handle) ocl.clReleaseMemObject((cl_mem)handle);
}

static nnrt_status ocl_write(nnrt_device *dev, void *handle, const void *src, size_t bytes) {
  cl_int err = ocl.clEnqueueWriteBuffer(ocl_dev_of(dev)->queue, (cl_mem)handle, CL_TRUE, 0, bytes, src, 0, NULL, NULL);
  return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueWriteBuffer", "tensor write", err);
}

static nnrt_status ocl_read(nnrt_device *dev, const void *handle, void *dst, size_t bytes) {
  cl_int err = ocl.clEnqueueReadBuffer(ocl_dev_of(dev)->queue, (cl_mem)handle, CL_TRUE, 0, bytes, dst, 0, NULL, NULL);
  return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueReadBuffer", "tensor read", err);
}

static nnrt_status ocl_copy(nnrt_device *dev, void *dst, const void *src, size_t bytes) {
  cl_int err = ocl.clEnqueueCopyBuffer(ocl_dev_of(dev)->queue, (cl_mem)src, (cl_mem)dst, 0, 0, bytes, 0, NULL, NULL);
  return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clEnqueueCopyBuffer", "tensor copy", err);
}

static nnrt_status ocl_sync(nnrt_device *dev) {
  cl_int err = ocl.clFinish(ocl_dev_of(dev)->queue);
  return err == CL_SUCCESS ? NNRT_OK : ocl_fail("clFinish", ocl_dev_of(dev)->label, err);
}

/* ---- kernels -------------------------------------------------------------------- */
static nnrt_kernel_fn ocl_kernel_lookup(const char *op) {
  nnrt_kernel_fn (*const families[])(const char *) = {
      ocl_unary_lookup, ocl_prelu_lookup, ocl_softmax_lookup, ocl_linear_lookup, ocl_cross_entropy_lookup,
      ocl_sgd_lookup, ocl_reduce_lookup, ocl_misc_lookup, ocl_nll_loss_lookup, ocl_loss_pointwise_lookup,
      ocl_loss_rowwise_lookup, ocl_adam_lookup, ocl_batch_norm_lookup, ocl_pixel_shuffle_lookup,
      ocl_upsample_lookup, ocl_dropout_lookup, ocl_embedding_lookup, ocl_distance_lookup,
      ocl_packed_lookup, ocl_rnn_lookup,
  };
  for (size_t i = 0; op && i < sizeof families / sizeof families[0]; i++) {
    nnrt_kernel_fn k = families[i](op);
    if (k) return k;
  }
  return NULL;
}

/* f64 only where the device has cl_khr_fp64; linear within int dimensions. */
static bool ocl_supports(nnrt_device *dev, const nnrt_call *call) {
  const ocl_dev *d = ocl_dev_of(dev);
  for (int i = 0; i < call->n_inputs; i++)
    if (call->inputs[i] && call->inputs[i]->dtype == NNRT_F64 && !(d && d->fp64)) return false;
  if (!strncmp(call->op_name, "linear", 6)) return ocl_linear_supports(call);
  return true;
}

static void ocl_shutdown(void) {
  /* the loader stays mapped: vendor drivers may keep threads running */
  forget_devices();
}

static nnrt_plugin plugin = {
    .size = sizeof(nnrt_plugin),
    .abi = NNRT_PLUGIN_ABI,
    .name = "opencl",
    .version = version_text,
    .flags = 0,
    .dtypes = 1u << NNRT_F32,
    .probe = ocl_probe,
    .device_open = ocl_device_open,
    .device_close = ocl_device_close,
    .device_describe = ocl_device_describe,
    .alloc = ocl_alloc,
    .free = ocl_free,
    .write = ocl_write,
    .read = ocl_read,
    .copy = ocl_copy,
    .sync = ocl_sync,
    .kernel = ocl_kernel_lookup,
    .supports = ocl_supports,
    .shutdown = ocl_shutdown,
};

NNRT_PLUGIN_DECLARE_ENTRY {
  if (host_abi_min > NNRT_PLUGIN_ABI || host_abi_max < NNRT_PLUGIN_ABI_MIN) {
    snprintf(why, why_len, "opencl plugin speaks ABI %d..%d, host %u..%u", NNRT_PLUGIN_ABI_MIN, NNRT_PLUGIN_ABI,
             host_abi_min, host_abi_max);
    return NULL;
  }
  ocl_host = host;
  plugin.abi = host_abi_max < NNRT_PLUGIN_ABI ? host_abi_max : NNRT_PLUGIN_ABI;
  return &plugin;
}
