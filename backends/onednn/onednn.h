/* backends/onednn/onednn.h - the oneDNN plugin's private declarations: the
 * shared engine, the primitive cache and the op-family tables.
 *
 * The plugin is a host-memory device: tensors are 64-byte aligned host
 * pointers that oneDNN reads and writes through memory objects made per
 * call around them.  Every primitive is built once per (op, shape, params)
 * and kept in a cache shared by all threads; primitives run with a user
 * scratchpad that each thread owns, because oneDNN's default library
 * scratchpad forbids running a primitive on a thread other than the one
 * that created it.  float32 only; everything else goes to ref.
 * Built against the nnrt headers and oneDNN 2.x's C API only.
 */
#ifndef NNRT_ONEDNN_H
#define NNRT_ONEDNN_H

#include <stdbool.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "nnrt/plugin.h"

extern const nnrt_host_api *onednn_host; /* set by the entry; never NULL after */

/* What identifies a primitive.  Build keys with designated initializers so
 * every byte is set (the struct has no padding): the cache compares bytes. */
typedef struct onednn_key {
  int32_t kind;   /* ONEDNN_K_*, the primitive family and direction */
  int32_t alg;    /* dnnl_alg_kind_t, or a family-specific variant */
  float f[2];     /* alpha, beta: params in the float oneDNN takes */
  int64_t d[4];   /* dims, in the family's meaning */
  int32_t serial; /* build and run on the calling thread alone (small work) */
  int32_t pad_;   /* zero */
} onednn_key;

/* Work (elements, or multiply-adds for matmul) under which a primitive runs
 * on the calling thread only: an OpenMP fork/join costs more than the work,
 * and far more on a loaded machine (ref draws the same line). */
#define ONEDNN_SERIAL_ELEMENTS 32768
#define ONEDNN_SERIAL_MACS 65536

enum {
  ONEDNN_K_ELTWISE_FWD = 1,
  ONEDNN_K_ELTWISE_BWD,
  ONEDNN_K_SOFTMAX_FWD,
  ONEDNN_K_SOFTMAX_BWD,
  ONEDNN_K_LINEAR_FWD,       /* alg: 1 with bias */
  ONEDNN_K_LINEAR_BWD_DATA,
  ONEDNN_K_LINEAR_BWD_WEIGHTS,
  ONEDNN_K_LINEAR_BWD_BIAS,
  ONEDNN_K_PRELU_FWD,
  ONEDNN_K_PRELU_BWD,
  ONEDNN_K_BN_FWD,           /* alg: dnnl normalization flags */
  ONEDNN_K_BN_BWD,           /* alg: flags, plus a bit for diff scale/shift */
  ONEDNN_K_RNN_FWD,          /* alg: cell, directions, layouts (rnn.c) */
  ONEDNN_K_RNN_REORDER_LAYER,/* plain weights_layer -> the RNN's format */
  ONEDNN_K_RNN_REORDER_ITER, /* plain weights_iter -> the RNN's format */
  ONEDNN_K_RESAMPLING_FWD,   /* alg: dnnl_resampling_nearest / _linear (upsample.c) */
  ONEDNN_K_RESAMPLING_BWD,
};

#define ONEDNN_MAX_ARGS 12 /* batch_norm backward has 9 */

/* A built primitive and the memory descriptors of its arguments, in the
 * order a kernel passes their pointers to onednn_execute. */
typedef struct onednn_prim {
  dnnl_primitive_t prim;
  int n_args;
  int arg_ids[ONEDNN_MAX_ARGS];
  dnnl_memory_desc_t mds[ONEDNN_MAX_ARGS];
  dnnl_memory_desc_t scratch_md;
  size_t scratch_bytes;
  void *constant; /* read-only data the primitive needs besides the call's
                     tensors (e.g. a ones vector); free()d with the entry */
  bool allow_ref_impl; /* set by a builder whose "ref" implementation is
                          oneDNN's real one (RNNs: gemm-based ref_rnn) */
} onednn_prim;

/* Fills p (prim, args, constant) for the key; returns a dnnl status. */
typedef dnnl_status_t (*onednn_build_fn)(const onednn_key *k, onednn_prim *p);

/* ---- plugin.c ---- */
dnnl_engine_t onednn_engine(void);
/* Debug log line prefixed with the plugin name. */
#define ONEDNN_DEBUG(...) onednn_host->log(NNRT_LOG_DEBUG, "onednn: " __VA_ARGS__)

/* ---- cache.c ---- */
/* Attributes every primitive gets: strict f32 math, user scratchpad, and
 * with accumulate a sum post-op (dst += result).  NULL on failure. */
dnnl_primitive_attr_t onednn_attr(bool accumulate);
/* The primitive descriptor of an op with onednn_attr(false): its forward
 * desc's, or with bwd (else NULL) its backward desc's, the forward's
 * given as the hint oneDNN requires.  *pd is set only on success. */
dnnl_status_t onednn_pd_create(const_dnnl_op_desc_t fwd, const_dnnl_op_desc_t bwd, dnnl_primitive_desc_t *pd);
/* Makes p->prim from pd and records its scratchpad; destroys pd. */
dnnl_status_t onednn_prim_from_pd(onednn_prim *p, dnnl_primitive_desc_t pd);
/* Adds an execution argument with its memory descriptor. */
void onednn_prim_arg(onednn_prim *p, int arg_id, const dnnl_memory_desc_t *md);
/* Whether the primitive for k can be built here (builds and caches it). */
bool onednn_available(const char *op, const onednn_key *k, onednn_build_fn build);
/* Runs the primitive for k (built on first use) with the argument
 * pointers in the order its builder added them; a NULL pointer stands for
 * the primitive's constant buffer. */
nnrt_status onednn_execute(const char *op, const onednn_key *k, onednn_build_fn build, void *const *ptrs);
/* Bytes of argument i of the primitive for k (0 if it cannot be built). */
size_t onednn_arg_bytes(const char *op, const onednn_key *k, onednn_build_fn build, int i);
/* A 64-byte aligned buffer of at least bytes owned by the calling thread,
 * valid until its next call on this thread (kernel temporaries that must
 * outlive one primitive's execution); NULL if out of memory. */
void *onednn_thread_buffer(size_t bytes);
/* Drops every cached primitive and the calling thread's stream. */
void onednn_cache_shutdown(void);

/* ---- op families: eltwise.c, softmax.c, linear.c, prelu.c, batch_norm.c, rnn.c, upsample.c ----
 * Each finds the kernel and the supports check of an op name, or says
 * it has none.  supports() may build the primitive (and so cache it). */
typedef bool (*onednn_supports_fn)(const nnrt_call *call);
typedef bool (*onednn_lookup_fn)(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);
bool onednn_eltwise_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);
bool onednn_softmax_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);
bool onednn_linear_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);
bool onednn_prelu_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);
bool onednn_batch_norm_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);
bool onednn_rnn_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);
bool onednn_upsample_lookup(const char *op, nnrt_kernel_fn *kernel, onednn_supports_fn *supports);

/* Whether every tensor of the call is float32 and not empty (oneDNN's
 * zero-volume handling is left to ref, which is exact and cheap there). */
bool onednn_call_f32_nonempty(const nnrt_call *call);

/* ---- nonfinite.c ----
 * Whether x[0, n) holds a NaN / a NaN or an infinity: one vectorized read,
 * threaded above ONEDNN_SERIAL_ELEMENTS (outside parallel regions). */
bool onednn_has_nan(const float *x, int64_t n);
bool onednn_has_nonfinite(const float *x, int64_t n);

/* A call run in pieces along one dim of its key, so that each piece's
 * result is still in cache (L2) when a repair scans it: piece p covers
 * units [p * per, p * per + per) of k->d[axis] (the last one the rest),
 * runs on one OpenMP thread with a single-threaded primitive, and then
 * each(ctx, p, piece's key, its pointers) runs on that thread. */
#define ONEDNN_PIECE_ELEMENTS 32768 /* per argument: 128 KiB */
typedef struct onednn_cut {
  int axis;       /* the dim of k->d that is cut */
  int64_t per;    /* its units per piece */
  int64_t pieces; /* 1: not cut, run as one primitive */
  int n;          /* arguments, in the builder's order */
  int64_t unit[ONEDNN_MAX_ARGS]; /* floats argument i moves per unit of the axis (0: not cut) */
  int64_t step[ONEDNN_MAX_ARGS]; /* and per piece besides (a slot per piece for partial results) */
} onednn_cut;
typedef void (*onednn_piece_fn)(void *ctx, int64_t piece, const onednn_key *k, void *const *ptrs);
/* Plans a cut of k along axis, whose unit holds `unit` elements: about
 * ONEDNN_PIECE_ELEMENTS per piece, and none (one piece) unless every
 * OpenMP thread gets two.  The caller then fills n, unit and step. */
void onednn_cut_plan(const onednn_key *k, int axis, int64_t unit, onednn_cut *cut);
/* Runs k as cut (as one primitive, then each(ctx, 0, k, ptrs), when it
 * has one piece or oneDNN cannot build the pieces' primitives). */
nnrt_status onednn_execute_cut(const char *op, const onednn_key *k, onednn_build_fn build, void *const *ptrs,
                               const onednn_cut *cut, onednn_piece_fn each, void *ctx);

#endif
