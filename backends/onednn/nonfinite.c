/* backends/onednn/nonfinite.c - what the ops that keep oneDNN need to
 * repair its results where PyTorch's differ at NaN and infinities
 * (softmax.c, prelu.c; README.md has the cases and the costs): finding
 * NaN and infinities in a tensor, and running a primitive in pieces small
 * enough to stay in cache, so that finding them costs a read from L2
 * rather than a second pass over memory.
 *
 * A scan is one vectorized read (GCC target clones for AVX-512, AVX2 and
 * baseline x86-64, as ref does), split over OpenMP threads above
 * ONEDNN_SERIAL_ELEMENTS unless already inside a parallel region.  Finite
 * data, the common case, is read once and nothing else happens.
 * Limits: float32, contiguous.
 */
#include <math.h>
#include <stdlib.h>

#include <omp.h>

#include "onednn.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ONEDNN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ONEDNN_CLONES
#endif

/* Elements per OpenMP work item of a threaded scan: 64 KiB. */
#define SCAN_BLOCK 16384

/* Whether x[0, n) holds a NaN (nan_only) or any non-finite value.  The
 * comparisons are false for NaN, so !(|x| <= FLT_MAX) catches both. */
ONEDNN_CLONES static bool scan_span(const float *x, int64_t n, bool nan_only) {
  unsigned found = 0;
  if (nan_only) {
#pragma omp simd reduction(| : found)
    for (int64_t i = 0; i < n; i++) found |= x[i] != x[i];
  } else {
#pragma omp simd reduction(| : found)
    for (int64_t i = 0; i < n; i++) found |= !(fabsf(x[i]) <= 3.40282347e38f);
  }
  return found != 0;
}

static bool scan(const float *x, int64_t n, bool nan_only) {
  if (n < ONEDNN_SERIAL_ELEMENTS || omp_in_parallel()) return scan_span(x, n, nan_only);
  unsigned found = 0;
  int64_t blocks = (n + SCAN_BLOCK - 1) / SCAN_BLOCK;
#pragma omp parallel for schedule(static) reduction(| : found)
  for (int64_t b = 0; b < blocks; b++) {
    int64_t lo = b * SCAN_BLOCK, m = n - lo < SCAN_BLOCK ? n - lo : SCAN_BLOCK;
    found |= scan_span(x + lo, m, nan_only);
  }
  return found != 0;
}

bool onednn_has_nan(const float *x, int64_t n) { return scan(x, n, true); }
bool onednn_has_nonfinite(const float *x, int64_t n) { return scan(x, n, false); }

/* ---- pieces ---- */
void onednn_cut_plan(const onednn_key *k, int axis, int64_t unit, onednn_cut *cut) {
  int64_t len = k->d[axis], per = unit < ONEDNN_PIECE_ELEMENTS ? ONEDNN_PIECE_ELEMENTS / unit : 1;
  *cut = (onednn_cut){.axis = axis, .per = per, .pieces = (len + per - 1) / per};
  /* Fewer than two pieces a thread: one primitive, threaded by oneDNN, and
   * a threaded scan.  The data is then at most 256 KiB an argument a
   * thread, in cache anyway, and pieces smaller than ONEDNN_PIECE_ELEMENTS
   * would cost more in calls than they save. */
  int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (k->serial || cut->pieces < 2 * threads) cut->pieces = 1;
}

nnrt_status onednn_execute_cut(const char *op, const onednn_key *k, onednn_build_fn build, void *const *ptrs,
                               const onednn_cut *cut, onednn_piece_fn each, void *ctx) {
  onednn_key piece = *k, tail = *k;
  piece.d[cut->axis] = cut->per;
  tail.d[cut->axis] = k->d[cut->axis] - (cut->pieces - 1) * cut->per;
  piece.serial = tail.serial = 1;
  if (cut->pieces < 2 || !onednn_available(op, &piece, build) || !onednn_available(op, &tail, build)) {
    nnrt_status st = onednn_execute(op, k, build, ptrs);
    if (!st) each(ctx, 0, k, ptrs);
    return st;
  }
  nnrt_status failed = NNRT_OK;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < cut->pieces; p++) {
    void *at[ONEDNN_MAX_ARGS];
    for (int i = 0; i < cut->n; i++)
      at[i] = (float *)ptrs[i] + p * (cut->per * cut->unit[i] + cut->step[i]);
    const onednn_key *pk = p == cut->pieces - 1 ? &tail : &piece;
    nnrt_status st = onednn_execute(op, pk, build, at);
    if (!st) each(ctx, p, pk, at);
    if (st) {
#pragma omp critical(onednn_cut_failed)
      failed = st;
    }
  }
  /* the workers' error messages are theirs; the caller's thread gets one */
  if (failed) return onednn_host->error(failed, "%s: onednn: executing the primitive failed on a worker thread", op);
  return NNRT_OK;
}
