/* backends/opencl/ocl.h - the OpenCL backend's private declarations: the
 * OpenCL entry points (loaded at run time from the ICD loader, so that the
 * plugin loads everywhere and probe can say why OpenCL is missing), the
 * per-device state, the program cache and the launch helpers shared by the
 * op-family files (unary.c, softmax.c, ...).
 *
 * Threads: every kernel function holds its device's lock while it sets
 * kernel arguments and enqueues (clSetKernelArg is not thread-safe on a
 * shared cl_kernel, and the scratch buffer is shared); memory transfers go
 * straight to the in-order queue, which is thread-safe.
 */
#ifndef NNRT_OCL_H
#define NNRT_OCL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "nnrt/plugin.h"

/* ---- OpenCL entry points, resolved with dlsym in probe ------------------ */
#define OCL_FUNCS(X)                                                             \
  X(clGetPlatformIDs) X(clGetPlatformInfo) X(clGetDeviceIDs) X(clGetDeviceInfo)  \
  X(clCreateContext) X(clReleaseContext) X(clCreateCommandQueue)                \
  X(clReleaseCommandQueue) X(clCreateBuffer) X(clReleaseMemObject)              \
  X(clEnqueueWriteBuffer) X(clEnqueueReadBuffer) X(clEnqueueCopyBuffer)         \
  X(clCreateProgramWithSource) X(clCreateProgramWithBinary) X(clBuildProgram)   \
  X(clGetProgramInfo) X(clGetProgramBuildInfo) X(clReleaseProgram)              \
  X(clCreateKernel) X(clReleaseKernel) X(clSetKernelArg) X(clGetKernelWorkGroupInfo) \
  X(clEnqueueNDRangeKernel) X(clFinish) X(clFlush)

typedef struct ocl_api {
#define OCL_PTR_(f) __typeof__(f) *f;
  OCL_FUNCS(OCL_PTR_)
#undef OCL_PTR_
} ocl_api;
extern ocl_api ocl;                   /* filled by probe */
extern const nnrt_host_api *ocl_host; /* set by the plugin entry */

/* "CL_OUT_OF_RESOURCES" for -5; "unknown" otherwise. */
const char *ocl_err_name(cl_int err);
/* Sets the thread's error "opencl: <call>(<what>) failed: <code> <name>"
 * and returns NNRT_ERR_OUT_OF_MEMORY for allocation failures, else
 * NNRT_ERR_RUNTIME. */
nnrt_status ocl_fail(const char *call, const char *what, cl_int err);

/* ---- op families: one OpenCL program each, per dtype -------------------- */
typedef enum ocl_family_id {
  OCL_FAM_UNARY,
  OCL_FAM_PRELU,
  OCL_FAM_SOFTMAX,
  OCL_FAM_LINEAR,
  OCL_FAM_CROSS_ENTROPY,
  OCL_FAM_SGD,
  OCL_FAM_REDUCE,
  OCL_FAM_MISC,
  OCL_FAM_NLL,
  OCL_FAM_LOSS_POINTWISE,
  OCL_FAM_LOSS_ROWWISE,
  OCL_FAM_ADAM,
  OCL_FAM_BATCH_NORM,
  OCL_FAM_PIXEL_SHUFFLE,
  OCL_FAM_UPSAMPLE,
  OCL_FAM_DROPOUT,
  OCL_FAM_EMBEDDING,
  OCL_FAM_DISTANCE,
  OCL_FAM_PACKED,
  OCL_FAM_RNN,
  OCL_FAM_COUNT
} ocl_family_id;

struct ocl_dev;
typedef struct ocl_family {
  ocl_family_id id;
  const char *name;                 /* "softmax": names the program in errors and the cache */
  const char *source;               /* OpenCL C after kernels/common.cl; NULL: see gen_source */
  const char *(*gen_source)(void);  /* optional: source built at run time (unary) */
  const char *const *kernel_names;  /* kernel k of the program */
  int n_kernels;
  /* optional: extra build options for this device ("-DTS=16") */
  void (*options)(const struct ocl_dev *d, char *buf, size_t len);
} ocl_family;

typedef struct ocl_program {
  cl_program program; /* NULL until first use */
  cl_kernel *kernels; /* n_kernels, created on first use */
  size_t *kernel_wg;  /* CL_KERNEL_WORK_GROUP_SIZE of each */
  int n_kernels;
} ocl_program;

/* ---- a device ----------------------------------------------------------- */
/* Slot 0 serves the shared helpers (finish_sum, colsum); an op that keeps
 * its own temporaries across helper calls takes slot 1. */
#define OCL_SCRATCH_SLOTS 2
typedef struct ocl_dev {
  cl_platform_id platform;
  cl_device_id id;
  cl_device_type type;
  bool fp64;
  bool precise;           /* float32 programs accumulate (and evaluate activations) in double */
  size_t max_wg;          /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
  cl_ulong local_mem;     /* CL_DEVICE_LOCAL_MEM_SIZE */
  cl_ulong max_alloc;     /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
  cl_ulong global_mem;
  cl_uint compute_units;
  bool cl_c_12;           /* OpenCL C 1.2 or later: build with -cl-std=CL1.2 */
  char label[16];         /* "opencl:2" */
  char name[128], vendor[128], driver[64], version[128], platform_name[128], platform_version[160];
  /* from device_open on */
  cl_context ctx;
  cl_command_queue queue;
  pthread_mutex_t lock;
  cl_mem dummy;           /* bound where an optional tensor is absent */
  cl_mem scratch[OCL_SCRATCH_SLOTS]; /* grow on demand; see ocl_scratch */
  size_t scratch_bytes[OCL_SCRATCH_SLOTS];
  ocl_program programs[OCL_FAM_COUNT][2]; /* [family][0 f32, 1 f64] */
} ocl_dev;

static inline ocl_dev *ocl_dev_of(nnrt_device *dev) { return (ocl_dev *)dev->backend_data; }
static inline cl_mem ocl_mem(const nnrt_tensor *t) { return t ? (cl_mem)t->data : NULL; }
static inline size_t ocl_tsize(nnrt_dtype dt) { return dt == NNRT_F64 ? 8 : 4; }
/* bytes of the kernels' ACC type (see kernels/common.cl) */
static inline size_t ocl_asize(const ocl_dev *d, nnrt_dtype dt) { return dt == NNRT_F64 || d->precise ? 8 : 4; }

/* The kernel k of family fam for dtype dt, building the program on first
 * use (device lock held).  *wg gets its maximum work-group size. */
nnrt_status ocl_kernel(ocl_dev *d, const ocl_family *fam, nnrt_dtype dt, int k, cl_kernel *out, size_t *wg);
/* A device buffer of at least bytes, valid until the next call that asks
 * for the same slot (device lock held; the in-order queue orders the uses). */
nnrt_status ocl_scratch_slot(ocl_dev *d, int slot, size_t bytes, cl_mem *out);
static inline nnrt_status ocl_scratch(ocl_dev *d, size_t bytes, cl_mem *out) { return ocl_scratch_slot(d, 0, bytes, out); }
void ocl_programs_release(ocl_dev *d);

/* ---- launching ---------------------------------------------------------- */
typedef struct ocl_arg {
  size_t size;
  const void *value; /* NULL with size > 0: __local memory of that size */
} ocl_arg;
#define OCL_A_MEM(m) ((ocl_arg){sizeof(cl_mem), &(cl_mem){(m)}})
#define OCL_A_U64(v) ((ocl_arg){sizeof(cl_ulong), &(cl_ulong){(cl_ulong)(v)}})
#define OCL_A_I64(v) ((ocl_arg){sizeof(cl_long), &(cl_long){(cl_long)(v)}})
#define OCL_A_INT(v) ((ocl_arg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
/* A float param as the kernel's element type T. */
#define OCL_A_REAL(dt, v)                                                        \
  ((dt) == NNRT_F64 ? (ocl_arg){sizeof(cl_double), &(cl_double){(double)(v)}}    \
                    : (ocl_arg){sizeof(cl_float), &(cl_float){(float)(v)}})
#define OCL_A_LOCAL(bytes) ((ocl_arg){(bytes), NULL})

/* Sets the n args and enqueues a dims-D range (global rounded up to a
 * multiple of local by the caller); nothing for an empty range.  op and
 * kname name the op and the kernel in errors. */
nnrt_status ocl_run(ocl_dev *d, cl_kernel k, const char *op, const char *kname, const ocl_arg *args, int n,
                    int dims, const size_t *global, const size_t *local);
#define OCL_RUN(d, k, op, kname, dims, global, local, ...)                       \
  ocl_run((d), (k), (op), (kname), (const ocl_arg[]){__VA_ARGS__},              \
          (int)(sizeof((const ocl_arg[]){__VA_ARGS__}) / sizeof(ocl_arg)), (dims), (global), (local))

/* Rounds n up to a multiple of m (m > 0). */
static inline size_t ocl_round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }
/* A 2-D range over rows x cols elements for kernels written with COLS_GUARD
 * and FOR_ROWS (kernels/common.cl). */
void ocl_range_rows(const ocl_dev *d, size_t kernel_wg, size_t cols, size_t rows, size_t global[2], size_t local[2]);
/* The work-group size for a 1-D elementwise kernel. */
size_t ocl_wg_elementwise(const ocl_dev *d, size_t kernel_wg);
/* A power-of-two work-group size for tree reductions over n items, in
 * [lo, min(256, kernel_wg)]. */
size_t ocl_wg_reduce(size_t n, size_t kernel_wg, size_t lo);

/* A call's input or output by its name in ops.def; NULL where absent. */
nnrt_tensor *ocl_in_named(const nnrt_call *call, const char *name);
nnrt_tensor *ocl_out_named(const nnrt_call *call, const char *name);

/* ---- matrices (linear.c) -------------------------------------------------- */
/* A row-major matrix inside a buffer: element (i, j) at off + i ld + j. */
typedef struct ocl_mat {
  cl_mem mem;
  size_t off, ld;
} ocl_mat;
/* C (M x N) = op(A) op(B) (+ C when accumulate) (+ bias[j]), op(A) (M x K)
 * stored as A (ta: K x M), op(B) (K x N) stored as B (tb: N x K); ta and
 * tb not both.  Empty for M or N = 0; K = 0 gives zeros (or keeps C). */
nnrt_status ocl_gemm(ocl_dev *d, const nnrt_call *call, nnrt_dtype dt, bool ta, bool tb, size_t M, size_t N,
                     size_t K, ocl_mat A, ocl_mat B, bool accumulate, ocl_mat C, const ocl_mat *bias);
/* gb[gboff + j] += sum over r < M of G(r, j), j < N (uses scratch slot 0). */
nnrt_status ocl_colsum_acc(ocl_dev *d, const nnrt_call *call, nnrt_dtype dt, size_t M, size_t N, ocl_mat G, cl_mem gb,
                           size_t gboff);

/* ---- whole-tensor sums (reduce.c) ------------------------------------------ */
/* Work-groups for a grid-stride first stage over n items (one partial each). */
size_t ocl_reduce_groups(const ocl_dev *d, size_t n, size_t local);
/* y[0] = sum(part[0, parts)) / (use_b ? sum(part[parts, 2 parts)) : div). */
nnrt_status ocl_finish_sum(ocl_dev *d, const nnrt_call *call, nnrt_dtype dt, cl_mem part, size_t parts, bool use_b,
                           double div, cl_mem y);

/* ---- families: op name -> kernel ------------------------------------------ */
nnrt_kernel_fn ocl_unary_lookup(const char *op);
nnrt_kernel_fn ocl_prelu_lookup(const char *op);
nnrt_kernel_fn ocl_softmax_lookup(const char *op);
nnrt_kernel_fn ocl_linear_lookup(const char *op);
nnrt_kernel_fn ocl_cross_entropy_lookup(const char *op);
nnrt_kernel_fn ocl_sgd_lookup(const char *op);
nnrt_kernel_fn ocl_reduce_lookup(const char *op);
nnrt_kernel_fn ocl_misc_lookup(const char *op);
nnrt_kernel_fn ocl_nll_loss_lookup(const char *op);
nnrt_kernel_fn ocl_loss_pointwise_lookup(const char *op);
nnrt_kernel_fn ocl_loss_rowwise_lookup(const char *op);
nnrt_kernel_fn ocl_adam_lookup(const char *op);
nnrt_kernel_fn ocl_batch_norm_lookup(const char *op);
nnrt_kernel_fn ocl_pixel_shuffle_lookup(const char *op);
nnrt_kernel_fn ocl_upsample_lookup(const char *op);
nnrt_kernel_fn ocl_dropout_lookup(const char *op);
nnrt_kernel_fn ocl_embedding_lookup(const char *op);
nnrt_kernel_fn ocl_distance_lookup(const char *op);
nnrt_kernel_fn ocl_packed_lookup(const char *op);
nnrt_kernel_fn ocl_rnn_lookup(const char *op);
/* OpenCL C defining NNRT_RNG_BITS and NNRT_DROPOUT_SHIFT from nnrt/scalar.h
 * (dropout.c), for programs that draw dropout masks. */
const char *ocl_rng_source(void);
/* Whether the linear kernels take these shapes (int-indexed GEMM). */
bool ocl_linear_supports(const nnrt_call *call);

/* Locks the call's device for the kernel's duration. */
#define OCL_LOCK(d) pthread_mutex_lock(&(d)->lock)
#define OCL_UNLOCK(d) pthread_mutex_unlock(&(d)->lock)

#endif
