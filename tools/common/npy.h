/* tools/common/npy.h - read and write NumPy .npy files, for the golden
 * fixtures (tests/golden) and the tools that load or dump tensors.
 *
 * Limits: little-endian files in C order (a 0-d or 1-d array in Fortran
 * order is accepted, it is the same bytes); element types f4, f8 and i8 are
 * kept as NNRT_F32, NNRT_F64, NNRT_I64; i4, i1, u1 and b1 (bool) are widened
 * to NNRT_I64 on reading.  Anything else is refused with a message naming
 * the file and the offending header value; no input makes it crash.
 * Depends only on <nnrt/nnrt.h>.
 */
#ifndef NNRT_TOOLS_NPY_H
#define NNRT_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include <nnrt/nnrt.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct npy_array {
  nnrt_dtype dtype;
  int ndim;                      /* 0 for a scalar (numel 1) */
  int64_t shape[NNRT_MAX_DIMS];  /* unused dims are 0 */
  void *data;                    /* malloc'ed, never NULL after a successful read */
  size_t bytes;                  /* numel * nnrt_dtype_size(dtype) */
} npy_array;

/* Reads a .npy file (format versions 1, 2, 3).  Returns 0, or -1 with err
 * filled ("file.npy: unsupported dtype '<c8'") and *out zeroed. */
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);

/* Writes a version 1 .npy of the array's dtype.  Returns 0 or -1 with err. */
int npy_write(const char *path, const npy_array *a, char *err, size_t errlen);

/* Frees the data and zeroes the struct; NULL and zeroed arrays are fine. */
void npy_free(npy_array *a);

/* Converts between NNRT_F32 and NNRT_F64 in place (no-op when equal), for
 * reading fixtures at either precision.  Returns 0 or -1 with err. */
int npy_convert(npy_array *a, nnrt_dtype to, char *err, size_t errlen);

/* Element count of the array (1 for ndim 0). */
int64_t npy_numel(const npy_array *a);

#ifdef __cplusplus
}
#endif
#endif
