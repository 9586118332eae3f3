/* nnrt.h - torch.nn for C: the user API.
 *
 * A program asks for a device (chosen by NNRT_BACKEND or by name), creates
 * tensors on it, fills them from host memory, and runs ops.  Every op of
 * nnrt/ops.def has a typed entry point nnrt_<op>(inputs..., outputs...,
 * params) and can also be run generically by id with nnrt_op_run().
 *
 * Conventions
 *  - Tensors are dense, contiguous, row-major, up to NNRT_MAX_DIMS dims.
 *    float32 on every backend, float64 on the reference backend `ref`;
 *    int64 for class indices and other index inputs.
 *  - Every call returns an nnrt_status.  On failure nnrt_last_error() holds
 *    a thread-local message naming the op and the offending value, and no
 *    output has been written.
 *  - Outputs are preallocated by the caller with the shapes the op's rule
 *    gives (nnrt_op_infer() computes them).  Parameter gradients
 *    (grad_weight, grad_bias: outputs flagged NNRT_ARG_UPDATE) ACCUMULATE
 *    into their tensor, as torch's .grad does; every other output is
 *    overwritten.
 *  - A params pointer may be NULL: the defaults of ops.def apply.
 *  - Distinct tensors may be used from distinct threads.
 */
#ifndef NNRT_H
#define NNRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NNRT_API __attribute__((visibility("default")))
#else
#define NNRT_API
#endif

#define NNRT_VERSION_MAJOR 0
#define NNRT_VERSION_MINOR 1
#define NNRT_MAX_DIMS 8

/* ---- status and errors ------------------------------------------------ */
typedef enum nnrt_status {
  NNRT_OK = 0,
  NNRT_ERR_INVALID_ARGUMENT, /* you called it wrong: shape, dtype, param, NULL */
  NNRT_ERR_UNIMPLEMENTED,    /* not available here: op, dtype or device */
  NNRT_ERR_OUT_OF_MEMORY,
  NNRT_ERR_RUNTIME,          /* the device or a library failed */
  NNRT_ERR_NOT_FOUND,        /* no such backend, device, op or param name */
} nnrt_status;

NNRT_API const char *nnrt_status_str(nnrt_status s);
/* The message of the last failed call on this thread ("" if none). */
NNRT_API const char *nnrt_last_error(void);

/* ---- dtypes ----------------------------------------------------------- */
typedef enum nnrt_dtype { NNRT_F32 = 0, NNRT_F64 = 1, NNRT_I64 = 2 } nnrt_dtype;
#define NNRT_DTYPE_COUNT 3
NNRT_API size_t nnrt_dtype_size(nnrt_dtype t);
NNRT_API const char *nnrt_dtype_name(nnrt_dtype t); /* "f32", "f64", "i64" */

/* ---- ops, generated from ops.def --------------------------------------- */
typedef enum nnrt_op {
#define NNRT_OP(name, rule, params, inputs, outputs) NNRT_OP_##name,
#include "nnrt/ops.def"
#undef NNRT_OP
  NNRT_OP_COUNT
} nnrt_op;

/* Flags of an op's tensor arguments. */
#define NNRT_ARG_OPTIONAL 1u /* may be NULL */
#define NNRT_ARG_INDEX 2u    /* int64 tensor */
#define NNRT_ARG_UPDATE 4u   /* output that is read and written */

/* The params struct of every op: nnrt_<op>_params. */
#define PF(n, d) double n;
#define PI(n, d) int64_t n;
#define PB(n, d) bool n;
#define PE(n, d, choices) int n;
#define PIA(n, k) int64_t n[k];
#define PFA(n, k) double n[k];
#define NNRT_OP(name, rule, params, inputs, outputs)                             \
  typedef struct nnrt_##name##_params {                                          \
    char unused_; /* keeps structs of ops without params legal C */             \
    NNRT_ID_ params                                                              \
  } nnrt_##name##_params;
#define NNRT_ID_(...) __VA_ARGS__
#include "nnrt/ops.def"
#undef NNRT_OP
#undef PF
#undef PI
#undef PB
#undef PE
#undef PIA
#undef PFA

/* Machine-readable signatures. */
typedef enum nnrt_param_type {
  NNRT_PARAM_F64, NNRT_PARAM_I64, NNRT_PARAM_BOOL, NNRT_PARAM_ENUM,
  NNRT_PARAM_I64_ARRAY, NNRT_PARAM_F64_ARRAY
} nnrt_param_type;

typedef struct nnrt_param_desc {
  const char *name;
  nnrt_param_type type;
  size_t offset;       /* in the params struct */
  double def;          /* default (arrays: every element) */
  const char *choices; /* ENUM: "none|mean|sum"; else NULL */
  int count;           /* arrays: element count; else 1 */
} nnrt_param_desc;

typedef struct nnrt_arg_desc {
  const char *name;
  unsigned flags; /* NNRT_ARG_* */
} nnrt_arg_desc;

typedef struct nnrt_op_signature {
  const char *name;
  const char *rule;
  size_t params_size;
  int n_params;
  const nnrt_param_desc *params;
  int n_inputs;
  const nnrt_arg_desc *inputs;
  int n_outputs;
  const nnrt_arg_desc *outputs;
} nnrt_op_signature;

NNRT_API const char *nnrt_op_name(nnrt_op op);        /* NULL if out of range */
NNRT_API nnrt_op nnrt_op_from_name(const char *name); /* NNRT_OP_COUNT if unknown */
NNRT_API const nnrt_op_signature *nnrt_op_signature_of(nnrt_op op);
/* Fills params (params_size bytes) with the op's defaults. */
NNRT_API nnrt_status nnrt_params_init(nnrt_op op, void *params);
/* Parses "name=value" into params: numbers, true/false, an enum choice,
 * "none" (NaN) for floats, comma lists for arrays. */
NNRT_API nnrt_status nnrt_params_set(nnrt_op op, void *params, const char *assignment);
/* Writes the params as "name=value name=value" into buf. */
NNRT_API void nnrt_params_format(nnrt_op op, const void *params, char *buf, size_t len);

/* ---- devices ------------------------------------------------------------ */
typedef struct nnrt_device nnrt_device;
typedef struct nnrt_tensor nnrt_tensor;

/* Loads backends on first use: the built-in `ref`, then plugins found in
 * NNRT_PLUGIN_PATH (':'-separated), the directory of libnnrt and the
 * installed plugin directory.  Called implicitly; explicit calls are cheap. */
NNRT_API nnrt_status nnrt_init(void);

/* The device NNRT_BACKEND picks: a ','-separated preference list of
 * "backend" or "backend:N" names, or "auto" (default: the first
 * accelerator found (a GPU), else a host-memory CPU backend such as onednn,
 * else ref; OpenCL on a CPU is used only when named).  A backend named explicitly
 * that cannot be loaded is an error naming the reason. */
NNRT_API nnrt_status nnrt_device_default(nnrt_device **out);
/* A device by name: "ref", "onednn", "opencl:1", "cuda:0" ("x" = "x:0"). */
NNRT_API nnrt_status nnrt_device_get(const char *name, nnrt_device **out);
NNRT_API const char *nnrt_device_name(const nnrt_device *dev);    /* "opencl:0" */
NNRT_API const char *nnrt_device_backend(const nnrt_device *dev); /* "opencl" */
/* Free text: model, driver, memory; "" if the backend says nothing. */
NNRT_API const char *nnrt_device_description(const nnrt_device *dev);
/* Whether the device runs op with its own kernel (false: it falls back). */
NNRT_API bool nnrt_device_has_op(const nnrt_device *dev, nnrt_op op);
/* How many times op fell back to ref on this device since start. */
NNRT_API uint64_t nnrt_device_fallback_count(const nnrt_device *dev, nnrt_op op);
/* Waits until all work queued on the device has finished. */
NNRT_API nnrt_status nnrt_device_sync(nnrt_device *dev);

/* Backends, loaded and rejected, for tools such as nnrt-info. */
typedef struct nnrt_backend_info {
  const char *name;    /* "opencl", or the file name of a rejected plugin */
  const char *path;    /* shared object; "(built in)" for ref */
  const char *version; /* library or driver version text */
  bool usable;         /* false: reason says why */
  const char *reason;
  int device_count;
  bool host_memory;    /* tensors are host memory shared with ref */
} nnrt_backend_info;
NNRT_API size_t nnrt_backend_count(void);
NNRT_API nnrt_status nnrt_backend_info_get(size_t i, nnrt_backend_info *out);

/* ---- tensors -------------------------------------------------------------- */
/* A new zero-filled tensor.  shape may hold zeros (empty tensors). */
NNRT_API nnrt_status nnrt_tensor_new(nnrt_device *dev, nnrt_dtype dtype, int ndim,
                                     const int64_t *shape, nnrt_tensor **out);
NNRT_API void nnrt_tensor_free(nnrt_tensor *t); /* NULL is fine */
/* Host <-> device.  bytes must equal numel * dtype size. */
NNRT_API nnrt_status nnrt_tensor_write(nnrt_tensor *t, const void *src, size_t bytes);
NNRT_API nnrt_status nnrt_tensor_read(const nnrt_tensor *t, void *dst, size_t bytes);
/* Copies between tensors of equal shape and dtype on any two devices. */
NNRT_API nnrt_status nnrt_tensor_copy(nnrt_tensor *dst, const nnrt_tensor *src);
/* Sets every element to value (converted to the dtype). */
NNRT_API nnrt_status nnrt_tensor_fill(nnrt_tensor *t, double value);
/* New shape with the same element count; data unchanged. */
NNRT_API nnrt_status nnrt_tensor_reshape(nnrt_tensor *t, int ndim, const int64_t *shape);
NNRT_API int nnrt_tensor_ndim(const nnrt_tensor *t);
NNRT_API const int64_t *nnrt_tensor_shape(const nnrt_tensor *t);
NNRT_API int64_t nnrt_tensor_numel(const nnrt_tensor *t);
NNRT_API nnrt_dtype nnrt_tensor_dtype(const nnrt_tensor *t);
NNRT_API nnrt_device *nnrt_tensor_device(const nnrt_tensor *t);
/* Host pointer to the elements on host-memory devices (ref, onednn), else NULL. */
NNRT_API void *nnrt_tensor_data(nnrt_tensor *t);

/* ---- running ops ------------------------------------------------------------ */
/* Runs op on the device of its tensors (all on one device).  inputs and
 * outputs are arrays in signature order; optional ones may be NULL. */
NNRT_API nnrt_status nnrt_op_run(nnrt_op op, const void *params, nnrt_tensor *const *inputs,
                                 nnrt_tensor *const *outputs);

typedef struct nnrt_shape {
  nnrt_dtype dtype;
  int ndim;
  int64_t dims[NNRT_MAX_DIMS];
} nnrt_shape;
/* Validates inputs and params and gives each output's dtype and shape
 * (out_shapes has the op's n_outputs entries). */
NNRT_API nnrt_status nnrt_op_infer(nnrt_op op, const void *params, nnrt_tensor *const *inputs,
                                   nnrt_shape *out_shapes);

/* Typed entry points: nnrt_<op>(inputs..., outputs..., params). */
#define TI(n, f) nnrt_tensor *n,
#define TO(n, f) nnrt_tensor *n,
#define NNRT_OP(name, rule, params, inputs, outputs)                             \
  NNRT_API nnrt_status nnrt_##name(NNRT_ID_ inputs NNRT_ID_ outputs              \
                                       const nnrt_##name##_params *params_);
#include "nnrt/ops.def"
#undef NNRT_OP
#undef TI
#undef TO

/* ---- modules --------------------------------------------------------------- */
/* A module owns its parameters, their gradients and its buffers, and keeps
 * the tensors of its last forward pass for backward.  forward returns an
 * output owned by the module, valid until its next forward; backward
 * returns a grad_input owned likewise and ACCUMULATES parameter gradients.
 * Modules start in training mode. */
typedef struct nnrt_module nnrt_module;

/* An elementwise or softmax-family activation: op is the forward op
 * (NNRT_OP_relu, NNRT_OP_softmax, ...), params its params or NULL. */
NNRT_API nnrt_status nnrt_module_activation(nnrt_device *dev, nnrt_op op, const void *params,
                                            nnrt_module **out);
/* PReLU with num_parameters 1 or C, every weight set to init (0.25). */
NNRT_API nnrt_status nnrt_module_prelu(nnrt_device *dev, int64_t num_parameters, double init,
                                       nnrt_module **out);
/* Linear(in, out, bias), initialised as torch does, U(-1/sqrt(in), 1/sqrt(in)),
 * from a seeded generator so runs repeat. */
NNRT_API nnrt_status nnrt_module_linear(nnrt_device *dev, int64_t in_features,
                                        int64_t out_features, bool bias, uint64_t seed,
                                        nnrt_module **out);
/* An empty Sequential; nnrt_sequential_add appends and takes ownership. */
NNRT_API nnrt_status nnrt_module_sequential(nnrt_device *dev, nnrt_module **out);
NNRT_API nnrt_status nnrt_sequential_add(nnrt_module *seq, nnrt_module *child);
NNRT_API void nnrt_module_free(nnrt_module *m);

NNRT_API nnrt_status nnrt_module_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor **output);
NNRT_API nnrt_status nnrt_module_backward(nnrt_module *m, nnrt_tensor *grad_output,
                                          nnrt_tensor **grad_input);
NNRT_API void nnrt_module_train(nnrt_module *m, bool training);
NNRT_API bool nnrt_module_is_training(const nnrt_module *m);
NNRT_API const char *nnrt_module_kind(const nnrt_module *m); /* "Linear", "ReLU", ... */
NNRT_API nnrt_status nnrt_module_zero_grad(nnrt_module *m);
/* Parameters in registration order, children included ("0.weight"). */
NNRT_API size_t nnrt_module_param_count(const nnrt_module *m);
NNRT_API nnrt_status nnrt_module_param(const nnrt_module *m, size_t i, const char **name,
                                       nnrt_tensor **param, nnrt_tensor **grad);
/* Saving and loading weights: every parameter and every buffer (running
 * statistics, num_batches_tracked) of m and its children, by full name as
 * PyTorch's state_dict names them ("0.weight", "2.running_mean").
 * Gradients and optimizer state are not saved.
 *
 * nnrt_module_save writes path.tmp.* first and renames it over path, so a
 * failed save leaves an existing file as it was.  nnrt_module_load is
 * strict, as load_state_dict(strict=True): the file must hold exactly the
 * module's entries, each with the module's dtype and shape.  It reads and
 * checks the whole file before writing any tensor, so on any error (no
 * such file, not a regular file, bad magic or version, truncated or
 * corrupt data, a missing, extra or duplicate name, a dtype or shape
 * mismatch) it changes nothing and nnrt_last_error() names the file and
 * the entry at fault.  NNRT_ERR_NOT_FOUND: no such file; otherwise
 * NNRT_ERR_INVALID_ARGUMENT for a bad file, NNRT_ERR_RUNTIME for I/O.
 *
 * File format, version 1; every integer little-endian:
 *   magic    8 bytes  "NNRTWTS\0"
 *   version  u32      1
 *   count    u32      number of entries
 *   count entries, in the module's order (own parameters, own buffers,
 *   then each child's, depth first), each:
 *     name_len u32     1..255, then name_len bytes of name (no NUL)
 *     dtype    u32     0 f32, 1 f64, 2 i64 (nnrt_dtype)
 *     ndim     u32     0..NNRT_MAX_DIMS, then ndim i64 dims, each >= 0
 *     nbytes   u64     numel * dtype size, then nbytes bytes of data,
 *                      row-major, little-endian IEEE 754 / two's complement
 *   crc32    u32      CRC-32 (IEEE 802.3, as zlib's crc32) of every byte
 *                     before it
 * and nothing after the checksum. */
NNRT_API nnrt_status nnrt_module_save(const nnrt_module *m, const char *path);
NNRT_API nnrt_status nnrt_module_load(nnrt_module *m, const char *path);

/* A loss as a module: op is a loss op (NNRT_OP_cross_entropy, ...), weight
 * its optional class weights (copied).  forward gives the loss; backward
 * starts from d loss = 1 (or ones for reduction none). */
NNRT_API nnrt_status nnrt_module_loss(nnrt_device *dev, nnrt_op op, const void *params,
                                      nnrt_tensor *weight, nnrt_module **out);
NNRT_API nnrt_status nnrt_loss_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *target,
                                       nnrt_tensor **loss);
NNRT_API nnrt_status nnrt_loss_backward(nnrt_module *m, nnrt_tensor **grad_input);
/* The losses of two inputs (margin_ranking_loss, cosine_embedding_loss):
 * forward on (input1, input2, target); backward gives both input gradients
 * (owned by the module, as grad_input above).  nnrt_module_kind names the
 * PyTorch class of every loss module: "L1Loss", "NLLLoss", ... */
NNRT_API nnrt_status nnrt_loss_forward2(nnrt_module *m, nnrt_tensor *input1, nnrt_tensor *input2,
                                        nnrt_tensor *target, nnrt_tensor **loss);
NNRT_API nnrt_status nnrt_loss_backward2(nnrt_module *m, nnrt_tensor **grad_input1,
                                         nnrt_tensor **grad_input2);
/* Sets a constant input of a loss module by its ops.def name ("weight",
 * "pos_weight" of bce_with_logits, ...): copied; NULL removes it.  Shapes
 * are checked by the op at the next forward. */
NNRT_API nnrt_status nnrt_loss_set_tensor(nnrt_module *m, const char *name, nnrt_tensor *t);

/* ---- modules: normalization, vision, dropout, embedding ------------------ */
/* Embedding's padding_idx = None, the default of the embedding ops: -2^62,
 * far outside any valid index and exact in a double. */
#define NNRT_PADDING_IDX_NONE INT64_C(-4611686018427387904)

/* BatchNorm1d (dims 1: input (N, C) or (N, C, L)), BatchNorm2d (dims 2:
 * (N, C, H, W)) or BatchNorm3d (dims 3: (N, C, D, H, W)), as torch.nn's:
 * parameters weight (ones) and bias (zeros) when affine; buffers
 * running_mean (zeros), running_var (ones) and num_batches_tracked (i64,
 * 0-d) when track_running_stats.  momentum NaN is None: the cumulative
 * average, factor 1/num_batches_tracked.  Training normalises with the
 * batch statistics and updates the running ones; eval uses the running
 * statistics, or the batch's when they are not tracked.  (PyTorch
 * defaults: eps 1e-5, momentum 0.1, affine and track_running_stats true.) */
NNRT_API nnrt_status nnrt_module_batch_norm(nnrt_device *dev, int dims, int64_t num_features, double eps,
                                            double momentum, bool affine, bool track_running_stats,
                                            nnrt_module **out);
/* PixelShuffle(upscale_factor) and PixelUnshuffle(downscale_factor). */
NNRT_API nnrt_status nnrt_module_pixel_shuffle(nnrt_device *dev, int64_t upscale_factor, nnrt_module **out);
NNRT_API nnrt_status nnrt_module_pixel_unshuffle(nnrt_device *dev, int64_t downscale_factor, nnrt_module **out);
/* UpsamplingNearest2d and UpsamplingBilinear2d (align_corners=true): give
 * exactly one of size (H', W') or scale_factor (two values each; the
 * other NULL).  Input (N, C, H, W). */
NNRT_API nnrt_status nnrt_module_upsampling_nearest2d(nnrt_device *dev, const int64_t *size,
                                                      const double *scale_factor, nnrt_module **out);
NNRT_API nnrt_status nnrt_module_upsampling_bilinear2d(nnrt_device *dev, const int64_t *size,
                                                       const double *scale_factor, nnrt_module **out);
/* Dropout, Dropout2d or Dropout3d (op: NNRT_OP_dropout, _dropout2d,
 * _dropout3d) with probability p.  Each training forward draws a new mask
 * from the seeds seed, seed + 1, ... in turn, so runs repeat; backward
 * reuses the last forward's mask; eval is the identity. */
NNRT_API nnrt_status nnrt_module_dropout(nnrt_device *dev, nnrt_op op, double p, uint64_t seed,
                                         nnrt_module **out);
/* Embedding(num_embeddings, embedding_dim, padding_idx), weight drawn from
 * N(0, 1) by a seeded generator, the padding row zeroed.  padding_idx:
 * NNRT_PADDING_IDX_NONE, or in [-num_embeddings, num_embeddings).
 * forward takes an i64 index tensor; backward accumulates the weight's
 * gradient and gives *grad_input = NULL (indices have no gradient). */
NNRT_API nnrt_status nnrt_module_embedding(nnrt_device *dev, int64_t num_embeddings, int64_t embedding_dim,
                                           int64_t padding_idx, uint64_t seed, nnrt_module **out);
/* A buffer of the module by name ("running_mean", "num_batches_tracked";
 * "1.running_mean" for child 1 of a Sequential), owned by the module:
 * NNRT_ERR_NOT_FOUND if it has none of that name. */
NNRT_API nnrt_status nnrt_module_buffer(const nnrt_module *m, const char *name, nnrt_tensor **buffer);
/* PairwiseDistance (op NNRT_OP_pairwise_distance) or CosineSimilarity
 * (NNRT_OP_cosine_similarity), params NULL for PyTorch's defaults.  They
 * take two inputs: nnrt_module_forward2 gives the module-owned output,
 * nnrt_module_backward2 the module-owned gradients of both inputs (either
 * pointer may be NULL).  Inputs are borrowed until the backward. */
NNRT_API nnrt_status nnrt_module_distance(nnrt_device *dev, nnrt_op op, const void *params, nnrt_module **out);
NNRT_API nnrt_status nnrt_module_forward2(nnrt_module *m, nnrt_tensor *x1, nnrt_tensor *x2, nnrt_tensor **output);
NNRT_API nnrt_status nnrt_module_backward2(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor **grad_x1,
                                           nnrt_tensor **grad_x2);

/* ---- recurrent modules, packed sequences, gradient clipping ---------------- */
/* A packed batch of variable-length sequences, as torch's PackedSequence.
 * data (sum of lengths, *): the sequences step by step, at each step those
 * still running, longest first; batch_sizes (T) i64: how many run at each
 * step; sorted_indices and unsorted_indices (N) i64: the permutation that
 * sorted the batch by decreasing length and its inverse, or NULL when it
 * was packed already sorted (enforce_sorted).  All on one device.  A
 * sequence may also be filled in by hand, from tensors the caller owns. */
typedef struct nnrt_packed_sequence {
  nnrt_tensor *data;
  nnrt_tensor *batch_sizes;
  nnrt_tensor *sorted_indices;
  nnrt_tensor *unsorted_indices;
} nnrt_packed_sequence;

/* torch.nn.utils.rnn.pack_padded_sequence: input (T, N, *), or (N, T, *)
 * with batch_first; lengths (N) i64 on input's device, each in [1, T].
 * enforce_sorted: lengths must be non-increasing; else the batch is sorted
 * (stably) and the permutation kept.  *out and its tensors are new: free
 * them with nnrt_packed_sequence_free.  (The op is nnrt_pack_padded_sequence.) */
NNRT_API nnrt_status nnrt_packed_sequence_from_padded(nnrt_tensor *input, nnrt_tensor *lengths, bool batch_first,
                                                      bool enforce_sorted, nnrt_packed_sequence **out);
/* torch.nn.utils.rnn.pad_packed_sequence: *output (T', N, *), or (N, T', *)
 * with batch_first, T' = max(total_length, T) (total_length -1: T), holding
 * padding_value past each sequence's end, sequences in the original order;
 * *lengths (N) i64 likewise (lengths may be NULL: not wanted).  New
 * tensors the caller frees. */
NNRT_API nnrt_status nnrt_packed_sequence_to_padded(const nnrt_packed_sequence *seq, bool batch_first,
                                                    double padding_value, int64_t total_length,
                                                    nnrt_tensor **output, nnrt_tensor **lengths);
/* Frees a sequence made by nnrt_packed_sequence_from_padded and its tensors. */
NNRT_API void nnrt_packed_sequence_free(nnrt_packed_sequence *seq);

/* RNN, LSTM, GRU as torch.nn's.  params: the layer op's params (input_size,
 * hidden_size, num_layers, bias, batch_first, dropout, bidirectional and,
 * for RNN, nonlinearity; `training` and `seed` are the module's business:
 * train/eval, and a new dropout seed drawn from `seed` for every training
 * forward).  Parameters have PyTorch's names, shapes and order, per layer
 * k (and _reverse direction): weight_ih_l{k} (G*hidden, in_k),
 * weight_hh_l{k} (G*hidden, hidden), bias_ih_l{k}, bias_hh_l{k} (G*hidden),
 * G = 1, 4, 3; in_0 = input_size, in_k = D*hidden_size.  Initialised
 * U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) from seed; load PyTorch's
 * values by name with nnrt_module_param_by_name.  Each forward copies them
 * into the op's ONE flat `weights` tensor, laid out as PyTorch's
 * _flat_weights: for each layer, for each direction (forward, reverse):
 * weight_ih, weight_hh, bias_ih, bias_hh, each row-major, back to back (no
 * biases when bias=false); backward adds the flat gradient back into each
 * parameter's gradient.  The ops rnn/lstm/gru can be called directly with
 * such a tensor (their workspace output is what their backward needs).
 * nnrt_module_forward/backward work too: input only, zero initial state,
 * the output (and its gradient) only. */
NNRT_API nnrt_status nnrt_module_rnn(nnrt_device *dev, const nnrt_rnn_params *params, uint64_t seed,
                                     nnrt_module **out);
NNRT_API nnrt_status nnrt_module_lstm(nnrt_device *dev, const nnrt_lstm_params *params, uint64_t seed,
                                      nnrt_module **out);
NNRT_API nnrt_status nnrt_module_gru(nnrt_device *dev, const nnrt_gru_params *params, uint64_t seed,
                                     nnrt_module **out);
/* The full forward of RNN, LSTM, GRU on a padded input (T, N, in), (N, T,
 * in) with batch_first, or unbatched (T, in).  h0, c0 (c0: LSTM only):
 * (L*D, N, hidden) or (L*D, hidden), NULL for zeros.  Results are owned by
 * the module, valid until its next forward: *output like the op's, *h_n,
 * *c_n (LSTM; each pointer may be NULL: not wanted).  input, h0 and c0 are
 * borrowed until the backward. */
NNRT_API nnrt_status nnrt_module_rnn_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *h0, nnrt_tensor *c0,
                                             nnrt_tensor **output, nnrt_tensor **h_n, nnrt_tensor **c_n);
/* The same on a packed sequence (borrowed until the backward): *output is
 * a packed sequence owned by the module, its data the output rows and its
 * other tensors input's.  h0, c0 and h_n, c_n are in the original batch
 * order, as PyTorch's. */
NNRT_API nnrt_status nnrt_module_rnn_forward_packed(nnrt_module *m, const nnrt_packed_sequence *input,
                                                    nnrt_tensor *h0, nnrt_tensor *c0,
                                                    const nnrt_packed_sequence **output, nnrt_tensor **h_n,
                                                    nnrt_tensor **c_n);
/* Backward through time of the last forward: grad_output (the output's
 * shape; for packed input, that of the output's data), grad_h_n, grad_c_n,
 * each NULL for zeros.  Gives the module-owned *grad_input (of the input,
 * or of the packed data), *grad_h0, *grad_c0 (each pointer may be NULL)
 * and ACCUMULATES every parameter's gradient.  An eval-mode forward asks
 * the op for no workspace (so backends that only do inference run it);
 * a backward after one first reruns that forward with a workspace, which
 * costs a second forward but gives the same gradients. */
NNRT_API nnrt_status nnrt_module_rnn_backward(nnrt_module *m, nnrt_tensor *grad_output, nnrt_tensor *grad_h_n,
                                              nnrt_tensor *grad_c_n, nnrt_tensor **grad_input,
                                              nnrt_tensor **grad_h0, nnrt_tensor **grad_c0);

/* RNNCell, LSTMCell, GRUCell: parameters weight_ih (G*hidden, input_size),
 * weight_hh (G*hidden, hidden), bias_ih, bias_hh (G*hidden), initialised
 * as the layers.  params of RNNCell: nonlinearity (NULL: tanh). */
NNRT_API nnrt_status nnrt_module_rnn_cell(nnrt_device *dev, int64_t input_size, int64_t hidden_size, bool bias,
                                          const nnrt_rnn_cell_params *params, uint64_t seed, nnrt_module **out);
NNRT_API nnrt_status nnrt_module_lstm_cell(nnrt_device *dev, int64_t input_size, int64_t hidden_size, bool bias,
                                           uint64_t seed, nnrt_module **out);
NNRT_API nnrt_status nnrt_module_gru_cell(nnrt_device *dev, int64_t input_size, int64_t hidden_size, bool bias,
                                          uint64_t seed, nnrt_module **out);
/* One step: input (N, in) or (in); hx, cx (cx: LSTMCell only) (N, hidden)
 * or (hidden), NULL for zeros.  *h (and *c for LSTMCell; may be NULL) are
 * owned by the module.  nnrt_module_forward is this with zero state. */
NNRT_API nnrt_status nnrt_module_cell_forward(nnrt_module *m, nnrt_tensor *input, nnrt_tensor *hx, nnrt_tensor *cx,
                                              nnrt_tensor **h, nnrt_tensor **c);
/* Backward of the last step: grad_h, grad_c (LSTMCell) NULL for zeros;
 * module-owned *grad_input, *grad_hx, *grad_cx (pointers may be NULL);
 * parameter gradients ACCUMULATE. */
NNRT_API nnrt_status nnrt_module_cell_backward(nnrt_module *m, nnrt_tensor *grad_h, nnrt_tensor *grad_c,
                                               nnrt_tensor **grad_input, nnrt_tensor **grad_hx,
                                               nnrt_tensor **grad_cx);

/* The parameter named name ("weight_ih_l0", "0.bias" in a Sequential) and
 * its gradient (either pointer may be NULL); NNRT_ERR_NOT_FOUND if none. */
NNRT_API nnrt_status nnrt_module_param_by_name(const nnrt_module *m, const char *name, nnrt_tensor **param,
                                               nnrt_tensor **grad);

/* torch.nn.utils.clip_grad_norm_ (1.13): the norm_type-norm (> 0, or
 * INFINITY for max |g|) of all gradients of m as if concatenated; when
 * max_norm / (total + 1e-6) < 1 every gradient is scaled by it, in place,
 * on its own device (ops norm_p and mul_scalar: nothing but the per-tensor
 * norms is read to the host).  *total_norm (may be NULL) gets the total.
 * error_if_nonfinite: a NaN or infinite total is an error and nothing is
 * scaled; else the gradients are scaled by the NaN or 0 coefficient, as
 * PyTorch does. */
NNRT_API nnrt_status nnrt_clip_grad_norm(nnrt_module *m, double max_norm, double norm_type, bool error_if_nonfinite,
                                         double *total_norm);
/* The same over n gradient tensors (NULL entries skipped), on any devices. */
NNRT_API nnrt_status nnrt_clip_grad_norm_tensors(nnrt_tensor *const *grads, size_t n, double max_norm,
                                                 double norm_type, bool error_if_nonfinite, double *total_norm);

/* ---- optimizers ------------------------------------------------------------- */
/* torch.optim.SGD over every parameter of a module, momentum buffers kept
 * by the optimizer (params: lr, momentum, dampening, weight_decay,
 * nesterov; first_step is managed for you).  The module must outlive it. */
typedef struct nnrt_optimizer nnrt_optimizer;
NNRT_API nnrt_status nnrt_optimizer_sgd(nnrt_module *m, const nnrt_sgd_step_params *params,
                                        nnrt_optimizer **out);
/* torch.optim.Adam over every parameter of a module (params: lr, beta1,
 * beta2, eps, weight_decay, amsgrad, maximize; NULL: PyTorch's defaults
 * lr 1e-3, betas (0.9, 0.999), eps 1e-8).  The optimizer keeps exp_avg,
 * exp_avg_sq (and max_exp_avg_sq with amsgrad) per parameter, starting at
 * zeros, and counts the steps itself: params->step is ignored.  Bad
 * hyper-parameters are refused here.  The module must outlive it. */
NNRT_API nnrt_status nnrt_optimizer_adam(nnrt_module *m, const nnrt_adam_step_params *params,
                                         nnrt_optimizer **out);
/* One step over every parameter, from the gradients as they stand (SGD or
 * Adam).  The module must have the parameters it had when the optimizer
 * was made. */
NNRT_API nnrt_status nnrt_optimizer_step(nnrt_optimizer *opt);
NNRT_API void nnrt_optimizer_free(nnrt_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
