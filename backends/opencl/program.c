/* backends/opencl/program.c - OpenCL programs: built lazily, one per op
 * family and dtype, kept for the life of the device; an on-disk cache of
 * program binaries; error names; kernel launch helpers.
 *
 * The binary cache lives in $NNRT_OPENCL_CACHE_DIR, else
 * $XDG_CACHE_HOME/nnrt/opencl, else ~/.cache/nnrt/opencl; NNRT_OPENCL_CACHE=0
 * turns it off.  A file is named by a hash of everything that decides the
 * binary (source, options, device, driver and platform versions), so a new
 * driver or a changed kernel simply misses.  Every cache failure (no home,
 * read-only disk, a truncated or foreign file, a driver refusing the
 * binary) falls back to building from source; it is never an error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernels/common.cl.h"
#include "ocl.h"

const char *ocl_err_name(cl_int err) {
  switch (err) {
#define E_(c) case c: return #c;
    E_(CL_SUCCESS) E_(CL_DEVICE_NOT_FOUND) E_(CL_DEVICE_NOT_AVAILABLE) E_(CL_COMPILER_NOT_AVAILABLE)
    E_(CL_MEM_OBJECT_ALLOCATION_FAILURE) E_(CL_OUT_OF_RESOURCES) E_(CL_OUT_OF_HOST_MEMORY)
    E_(CL_PROFILING_INFO_NOT_AVAILABLE) E_(CL_MEM_COPY_OVERLAP) E_(CL_IMAGE_FORMAT_MISMATCH)
    E_(CL_IMAGE_FORMAT_NOT_SUPPORTED) E_(CL_BUILD_PROGRAM_FAILURE) E_(CL_MAP_FAILURE)
    E_(CL_MISALIGNED_SUB_BUFFER_OFFSET) E_(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E_(CL_COMPILE_PROGRAM_FAILURE) E_(CL_LINKER_NOT_AVAILABLE) E_(CL_LINK_PROGRAM_FAILURE)
    E_(CL_DEVICE_PARTITION_FAILED) E_(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E_(CL_INVALID_VALUE)
    E_(CL_INVALID_DEVICE_TYPE) E_(CL_INVALID_PLATFORM) E_(CL_INVALID_DEVICE) E_(CL_INVALID_CONTEXT)
    E_(CL_INVALID_QUEUE_PROPERTIES) E_(CL_INVALID_COMMAND_QUEUE) E_(CL_INVALID_HOST_PTR)
    E_(CL_INVALID_MEM_OBJECT) E_(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E_(CL_INVALID_IMAGE_SIZE)
    E_(CL_INVALID_SAMPLER) E_(CL_INVALID_BINARY) E_(CL_INVALID_BUILD_OPTIONS) E_(CL_INVALID_PROGRAM)
    E_(CL_INVALID_PROGRAM_EXECUTABLE) E_(CL_INVALID_KERNEL_NAME) E_(CL_INVALID_KERNEL_DEFINITION)
    E_(CL_INVALID_KERNEL) E_(CL_INVALID_ARG_INDEX) E_(CL_INVALID_ARG_VALUE) E_(CL_INVALID_ARG_SIZE)
    E_(CL_INVALID_KERNEL_ARGS) E_(CL_INVALID_WORK_DIMENSION) E_(CL_INVALID_WORK_GROUP_SIZE)
    E_(CL_INVALID_WORK_ITEM_SIZE) E_(CL_INVALID_GLOBAL_OFFSET) E_(CL_INVALID_EVENT_WAIT_LIST)
    E_(CL_INVALID_EVENT) E_(CL_INVALID_OPERATION) E_(CL_INVALID_GL_OBJECT) E_(CL_INVALID_BUFFER_SIZE)
    E_(CL_INVALID_MIP_LEVEL) E_(CL_INVALID_GLOBAL_WORK_SIZE) E_(CL_INVALID_PROPERTY)
    E_(CL_INVALID_IMAGE_DESCRIPTOR) E_(CL_INVALID_COMPILER_OPTIONS) E_(CL_INVALID_LINKER_OPTIONS)
    E_(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E_
  case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
  }
  return "unknown";
}

nnrt_status ocl_fail(const char *call, const char *what, cl_int err) {
  nnrt_status s = err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY ||
                          err == CL_INVALID_BUFFER_SIZE
                      ? NNRT_ERR_OUT_OF_MEMORY
                      : NNRT_ERR_RUNTIME;
  return ocl_host->error(s, "opencl: %s(%s) failed: %d %s", call, what, (int)err, ocl_err_name(err));
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* ---- the binary cache ------------------------------------------------------- */
#define CACHE_MAGIC "nnrt-opencl-bin-1"

/* FNV-1a, 64 bits; two seeds give the 128-bit file key. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h ^ 0xff; /* separates "ab"+"c" from "a"+"bc" */
}

static bool cache_dir(char *buf, size_t len) {
  const char *off = ocl_host->getenv("NNRT_OPENCL_CACHE");
  if (off && !strcmp(off, "0")) return false;
  const char *dir = ocl_host->getenv("NNRT_OPENCL_CACHE_DIR");
  const char *xdg = ocl_host->getenv("XDG_CACHE_HOME");
  const char *home = ocl_host->getenv("HOME");
  int n;
  if (dir && *dir) n = snprintf(buf, len, "%s", dir);
  else if (xdg && *xdg) n = snprintf(buf, len, "%s/nnrt/opencl", xdg);
  else if (home && *home) n = snprintf(buf, len, "%s/.cache/nnrt/opencl", home);
  else return false;
  return n > 0 && (size_t)n < len;
}

/* mkdir -p; false if the directory is not there afterwards. */
static bool make_dirs(char *path) {
  for (char *s = path + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    mkdir(path, 0755);
    *s = '/';
  }
  return mkdir(path, 0755) == 0 || errno == EEXIST;
}

static void cache_path(const ocl_dev *d, const ocl_family *fam, nnrt_dtype dt, const char **src, int n_src,
                       const char *opts, char *out, size_t len) {
  char dir[700];
  out[0] = 0;
  if (!cache_dir(dir, sizeof dir)) return;
  const char *parts[] = {opts, d->name, d->vendor, d->driver, d->version, d->platform_name, d->platform_version};
  uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
  for (int i = 0; i < n_src; i++) {
    h1 = fnv(h1, src[i], strlen(src[i]));
    h2 = fnv(h2, src[i], strlen(src[i]));
  }
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    h1 = fnv(h1, parts[i], strlen(parts[i]));
    h2 = fnv(h2, parts[i], strlen(parts[i]));
  }
  snprintf(out, len, "%s/%s-%s-%016llx%016llx.bin", dir, fam->name, dt == NNRT_F64 ? "f64" : "f32",
           (unsigned long long)h1, (unsigned long long)h2);
}

/* A program from the cache file, built; NULL on any failure. */
static cl_program cache_load(ocl_dev *d, const char *path, const char *opts) {
  FILE *f = path[0] ? fopen(path, "rb") : NULL;
  if (!f) return NULL;
  char magic[sizeof CACHE_MAGIC];
  uint64_t size = 0;
  unsigned char *bin = NULL;
  cl_program p = NULL;
  if (fread(magic, 1, sizeof magic, f) == sizeof magic && !memcmp(magic, CACHE_MAGIC, sizeof magic) &&
      fread(&size, sizeof size, 1, f) == 1 && size > 0 && size < ((uint64_t)1 << 31) &&
      (bin = malloc(size)) && fread(bin, 1, size, f) == size && fgetc(f) == EOF) {
    size_t sz = size;
    const unsigned char *b = bin;
    cl_int st, err;
    p = ocl.clCreateProgramWithBinary(d->ctx, 1, &d->id, &sz, &b, &st, &err);
    if (p && (err != CL_SUCCESS || st != CL_SUCCESS || ocl.clBuildProgram(p, 1, &d->id, opts, NULL, NULL) != CL_SUCCESS)) {
      ocl.clReleaseProgram(p);
      p = NULL;
    }
  }
  free(bin);
  fclose(f);
  if (!p) ocl_host->log(NNRT_LOG_DEBUG, "opencl: ignoring unusable cache file %s", path);
  return p;
}

static void cache_save(const ocl_dev *d, cl_program p, const char *path) {
  (void)d;
  if (!path[0]) return;
  size_t size = 0;
  if (ocl.clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || !size) return;
  unsigned char *bin = malloc(size);
  if (!bin) return;
  char dir[760], tmp[800];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  FILE *f = NULL;
  bool ok = ocl.clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS &&
            make_dirs(dir) && (f = fopen(tmp, "wb"));
  if (ok) {
    uint64_t s64 = size;
    ok = fwrite(CACHE_MAGIC, 1, sizeof CACHE_MAGIC, f) == sizeof CACHE_MAGIC &&
         fwrite(&s64, sizeof s64, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    /* rename is atomic: a concurrent reader sees the old file or the whole new one */
    ok = ok && rename(tmp, path) == 0;
    if (!ok) remove(tmp);
  }
  free(bin);
  ocl_host->log(NNRT_LOG_DEBUG, "opencl: %s program binary %s", ok ? "cached" : "could not cache", path);
}

/* ---- building ------------------------------------------------------------------ */
static nnrt_status build(ocl_dev *d, const ocl_family *fam, nnrt_dtype dt, cl_program *out) {
  const char *body = fam->gen_source ? fam->gen_source() : fam->source;
  if (!body) return ocl_host->error(NNRT_ERR_OUT_OF_MEMORY, "opencl: no source for program %s", fam->name);
  const char *src[] = {ocl_src_common, body};
  char opts[512], extra[256] = "";
  if (fam->options) fam->options(d, extra, sizeof extra);
  snprintf(opts, sizeof opts, "%s%s%s %s", d->cl_c_12 ? "-cl-std=CL1.2 " : "",
           dt == NNRT_F64 ? "-DNNRT_F64=1" : "-DNNRT_F32=1", dt == NNRT_F32 && d->precise ? " -DNNRT_PRECISE=1" : "",
           extra);
  char path[900];
  cache_path(d, fam, dt, src, 2, opts, path, sizeof path);
  const char *tname = dt == NNRT_F64 ? "f64" : "f32";

  double t0 = now_ms();
  cl_program p = cache_load(d, path, opts);
  if (p) {
    ocl_host->log(NNRT_LOG_DEBUG, "opencl: %s: program %s (%s) loaded from cache in %.0f ms", d->label, fam->name,
                  tname, now_ms() - t0);
    *out = p;
    return NNRT_OK;
  }
  cl_int err;
  p = ocl.clCreateProgramWithSource(d->ctx, 2, src, NULL, &err);
  if (!p) return ocl_fail("clCreateProgramWithSource", fam->name, err);
  err = ocl.clBuildProgram(p, 1, &d->id, opts, NULL, NULL);
  if (err != CL_SUCCESS) {
    size_t n = 0;
    ocl.clGetProgramBuildInfo(p, d->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
      log[0] = 0;
      ocl.clGetProgramBuildInfo(p, d->id, CL_PROGRAM_BUILD_LOG, n, log, NULL);
      log[n] = 0;
    }
    ocl.clReleaseProgram(p);
    nnrt_status s = ocl_host->error(NNRT_ERR_RUNTIME, "opencl: clBuildProgram(%s, %s, %s, \"%s\") failed: %d %s; build log:\n%s",
                                    fam->name, tname, d->label, opts, (int)err, ocl_err_name(err), log ? log : "(none)");
    free(log);
    return s;
  }
  ocl_host->log(NNRT_LOG_INFO, "opencl: %s: built program %s (%s) from source in %.0f ms", d->label, fam->name, tname,
                now_ms() - t0);
  cache_save(d, p, path);
  *out = p;
  return NNRT_OK;
}

nnrt_status ocl_kernel(ocl_dev *d, const ocl_family *fam, nnrt_dtype dt, int k, cl_kernel *out, size_t *wg) {
  ocl_program *pr = &d->programs[fam->id][dt == NNRT_F64];
  if (!pr->program) {
    if (!pr->kernels) {
      pr->kernels = calloc((size_t)fam->n_kernels, sizeof *pr->kernels);
      pr->kernel_wg = calloc((size_t)fam->n_kernels, sizeof *pr->kernel_wg);
      if (!pr->kernels || !pr->kernel_wg) {
        free(pr->kernels);
        free(pr->kernel_wg);
        pr->kernels = NULL;
        pr->kernel_wg = NULL;
        return ocl_host->error(NNRT_ERR_OUT_OF_MEMORY, "opencl: out of memory");
      }
      pr->n_kernels = fam->n_kernels;
    }
    nnrt_status s = build(d, fam, dt, &pr->program);
    if (s) return s;
  }
  if (!pr->kernels[k]) {
    cl_int err;
    cl_kernel kern = ocl.clCreateKernel(pr->program, fam->kernel_names[k], &err);
    if (!kern) return ocl_fail("clCreateKernel", fam->kernel_names[k], err);
    size_t w = 0;
    err = ocl.clGetKernelWorkGroupInfo(kern, d->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof w, &w, NULL);
    if (err != CL_SUCCESS) {
      ocl.clReleaseKernel(kern);
      return ocl_fail("clGetKernelWorkGroupInfo", fam->kernel_names[k], err);
    }
    pr->kernel_wg[k] = w ? w : 1;
    pr->kernels[k] = kern;
  }
  *out = pr->kernels[k];
  if (wg) *wg = pr->kernel_wg[k];
  return NNRT_OK;
}

void ocl_programs_release(ocl_dev *d) {
  for (int f = 0; f < OCL_FAM_COUNT; f++)
    for (int t = 0; t < 2; t++) {
      ocl_program *pr = &d->programs[f][t];
      for (int i = 0; pr->kernels && i < pr->n_kernels; i++)
        if (pr->kernels[i]) ocl.clReleaseKernel(pr->kernels[i]);
      if (pr->program) ocl.clReleaseProgram(pr->program);
      free(pr->kernels);
      free(pr->kernel_wg);
      *pr = (ocl_program){0};
    }
}

nnrt_status ocl_scratch_slot(ocl_dev *d, int slot, size_t bytes, cl_mem *out) {
  if (bytes < 64) bytes = 64;
  if (d->scratch_bytes[slot] < bytes) {
    size_t want = d->scratch_bytes[slot] * 2 > bytes ? d->scratch_bytes[slot] * 2 : bytes;
    if (want > d->max_alloc && bytes <= d->max_alloc) want = bytes;
    cl_int err;
    cl_mem m = ocl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, want, NULL, &err);
    if (!m) return ocl_fail("clCreateBuffer", "scratch", err);
    /* the old buffer stays alive until the commands that use it finish */
    if (d->scratch[slot]) ocl.clReleaseMemObject(d->scratch[slot]);
    d->scratch[slot] = m;
    d->scratch_bytes[slot] = want;
  }
  *out = d->scratch[slot];
  return NNRT_OK;
}

/* ---- launching ----------------------------------------------------------------- */
nnrt_status ocl_run(ocl_dev *d, cl_kernel k, const char *op, const char *kname, const ocl_arg *args, int n,
                    int dims, const size_t *global, const size_t *local) {
  char what[160];
  for (int i = 0; i < n; i++) {
    cl_int err = ocl.clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
    if (err != CL_SUCCESS) {
      snprintf(what, sizeof what, "%s: kernel %s arg %d on %s", op, kname, i, d->label);
      return ocl_fail("clSetKernelArg", what, err);
    }
  }
  for (int i = 0; i < dims; i++)
    if (!global[i]) return NNRT_OK; /* an empty range is no work (and invalid to enqueue) */
  cl_int err = ocl.clEnqueueNDRangeKernel(d->queue, k, (cl_uint)dims, NULL, global, local, 0, NULL, NULL);
  if (err != CL_SUCCESS) {
    snprintf(what, sizeof what, "%s: kernel %s on %s", op, kname, d->label);
    return ocl_fail("clEnqueueNDRangeKernel", what, err);
  }
  return NNRT_OK;
}

size_t ocl_wg_elementwise(const ocl_dev *d, size_t kernel_wg) {
  size_t w = 256;
  if (w > kernel_wg) w = kernel_wg;
  if (w > d->max_wg) w = d->max_wg;
  return w ? w : 1;
}

void ocl_range_rows(const ocl_dev *d, size_t kernel_wg, size_t cols, size_t rows, size_t global[2], size_t local[2]) {
  size_t budget = ocl_wg_elementwise(d, kernel_wg), cap = 1;
  while (cap * 2 <= budget) cap *= 2;
  size_t l0 = 1, l1 = 1;
  while (l0 < cols && l0 < cap) l0 <<= 1;
  while (l1 < rows && l0 * l1 * 2 <= cap) l1 <<= 1;
  local[0] = l0;
  local[1] = l1;
  global[0] = cols ? ocl_round_up(cols, l0) : 0;
  /* at most 65535 groups along dim 1 (CUDA-based drivers' grid limit): the kernel loops */
  size_t g1 = rows ? ocl_round_up(rows, l1) : 0, most = 65535 * l1;
  global[1] = g1 < most ? g1 : most;
}

size_t ocl_wg_reduce(size_t n, size_t kernel_wg, size_t lo) {
  size_t cap = 256;
  while (cap > kernel_wg && cap > 1) cap >>= 1;
  size_t w = 1;
  while (w < n && w < cap) w <<= 1;
  while (w < lo && w < cap) w <<= 1;
  return w;
}
