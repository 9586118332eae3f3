/* backends/ref/ref_stream.h - non-temporal (streaming) stores for ref's
 * float32 kernels that write large outputs: an ordinary store first reads
 * the line it writes (a third of an elementwise op's traffic, half of a
 * copy's), and an output of REF_STREAM_MIN bytes or more would not stay
 * in cache for its reader anyway (docs/PERFORMANCE.md has the
 * measurements).  A kernel computes a block into an L1-resident buffer
 * and hands it to ref_stream_store; the streamed lines must be made
 * visible with ref_stream_fence before the threads' barrier.
 *
 *   ref_stream_store(dst, src, n)  dst[0, n) = src[0, n): non-temporal
 *       stores of the widest kind the CPU has (AVX-512, AVX, SSE) where
 *       dst is aligned, ordinary ones for its unaligned head and the tail
 *   ref_have_avx512()  whether the CPU has AVX-512F
 * Off GCC/x86-64 the store is a memcpy and the fence nothing.
 */
#ifndef NNRT_REF_STREAM_H
#define NNRT_REF_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define REF_STREAM_MIN ((int64_t)32 << 20)

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define REF_STREAM 1

static inline bool ref_have_avx512(void) {
  __builtin_cpu_init(); /* idempotent, and cheap: needed before the first query */
  return __builtin_cpu_supports("avx512f");
}
__attribute__((target("avx512f"), unused)) static void ref_stream_avx512_(float *dst, const float *src, int64_t n) {
  int64_t i = 0;
  for (; i < n && ((uintptr_t)(dst + i) & 63); i++) dst[i] = src[i];
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  for (; i < n; i++) dst[i] = src[i];
}
__attribute__((target("avx"), unused)) static void ref_stream_avx_(float *dst, const float *src, int64_t n) {
  int64_t i = 0;
  for (; i < n && ((uintptr_t)(dst + i) & 31); i++) dst[i] = src[i];
  for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
  for (; i < n; i++) dst[i] = src[i];
}
__attribute__((unused)) static void ref_stream_sse_(float *dst, const float *src, int64_t n) {
  int64_t i = 0;
  for (; i < n && ((uintptr_t)(dst + i) & 15); i++) dst[i] = src[i];
  for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
  for (; i < n; i++) dst[i] = src[i];
}
__attribute__((unused)) static void ref_stream_store(float *dst, const float *src, int64_t n) {
  if (ref_have_avx512()) ref_stream_avx512_(dst, src, n);
  else if (__builtin_cpu_supports("avx")) ref_stream_avx_(dst, src, n);
  else ref_stream_sse_(dst, src, n);
}
static inline void ref_stream_fence(void) { _mm_sfence(); }
#else
static inline bool ref_have_avx512(void) { return false; }
__attribute__((unused)) static void ref_stream_store(float *dst, const float *src, int64_t n) {
  memcpy(dst, src, sizeof(float) * (size_t)n);
}
static inline void ref_stream_fence(void) {}
#endif

#endif
