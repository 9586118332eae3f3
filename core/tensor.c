/* core/tensor.c - tensors: dense, contiguous, row-major buffers owned by
 * the device that allocated them.  Moving data between devices is always
 * an explicit copy, staged through host memory when neither side is host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

size_t nnrt_dtype_size(nnrt_dtype t) { return t == NNRT_F32 ? 4 : 8; }

const char *nnrt_dtype_name(nnrt_dtype t) {
  switch (t) {
  case NNRT_F32: return "f32";
  case NNRT_F64: return "f64";
  case NNRT_I64: return "i64";
  }
  return "?";
}

static const nnrt_plugin *plug(const nnrt_device *d) { return core_dev(d)->backend->plugin; }

static nnrt_status check_shape(const char *what, int ndim, const int64_t *shape, int64_t *numel) {
  if (ndim < 0 || ndim > NNRT_MAX_DIMS)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: ndim=%d outside [0, %d]", what, ndim, NNRT_MAX_DIMS);
  if (ndim && !shape) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: shape is NULL", what);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: shape[%d]=%lld is negative", what, i, (long long)shape[i]);
    if (shape[i] && n > INT64_MAX / 16 / shape[i])
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: shape too large", what);
    n *= shape[i];
  }
  *numel = n;
  return NNRT_OK;
}

nnrt_status nnrt_tensor_new(nnrt_device *dev, nnrt_dtype dtype, int ndim, const int64_t *shape, nnrt_tensor **out) {
  if (!out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_new: out is NULL");
  if (!dev) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_new: device is NULL");
  if ((unsigned)dtype >= NNRT_DTYPE_COUNT)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_new: unknown dtype %d", (int)dtype);
  int64_t numel;
  nnrt_status st = check_shape("nnrt_tensor_new", ndim, shape, &numel);
  if (st) return st;
  const nnrt_plugin *p = plug(dev);
  if (dtype != NNRT_I64 && !(p->dtypes & (1u << dtype)) && !nnrt_device_is_host_memory(dev))
    return nnrt_error(NNRT_ERR_UNIMPLEMENTED, "nnrt_tensor_new: device %s does not support %s",
                      nnrt_device_name(dev), nnrt_dtype_name(dtype));
  nnrt_tensor *t = calloc(1, sizeof *t);
  if (!t) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "nnrt_tensor_new: out of memory");
  t->size = sizeof *t;
  t->dtype = dtype;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  t->numel = numel;
  t->device = dev;
  t->bytes = (size_t)numel * nnrt_dtype_size(dtype);
  st = p->alloc(dev, t->bytes, &t->data);
  if (st) {
    size_t bytes = t->bytes;
    free(t);
    return nnrt_error(st, "nnrt_tensor_new: %s could not allocate %zu bytes: %s", nnrt_device_name(dev),
                      bytes, nnrt_last_error());
  }
  /* zero-filled, so nothing reads garbage */
  if (t->bytes) {
    if (nnrt_device_is_host_memory(dev)) memset(t->data, 0, t->bytes);
    else if ((st = nnrt_tensor_fill(t, 0.0))) {
      p->free(dev, t->data);
      free(t);
      return st;
    }
  }
  *out = t;
  return NNRT_OK;
}

nnrt_status nnrt_tensor_new_like(nnrt_device *dev, const nnrt_tensor *like, nnrt_tensor **out) {
  return nnrt_tensor_new(dev, like->dtype, like->ndim, like->shape, out);
}

void nnrt_tensor_free(nnrt_tensor *t) {
  if (!t || t->size != sizeof *t) return;
  plug(t->device)->free(t->device, t->data);
  t->size = 0; /* a freed tensor handed back in is caught, not used */
  free(t);
}

static nnrt_status live(const nnrt_tensor *t, const char *fn) {
  if (!t) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", fn);
  if (t->size != sizeof *t) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "%s: not a live tensor", fn);
  return NNRT_OK;
}

nnrt_status nnrt_tensor_write(nnrt_tensor *t, const void *src, size_t bytes) {
  nnrt_status st = live(t, "nnrt_tensor_write");
  if (st) return st;
  if (!src && bytes) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_write: src is NULL");
  if (bytes != t->bytes)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_write: %zu bytes given, tensor holds %zu", bytes, t->bytes);
  if (!bytes) return NNRT_OK;
  return plug(t->device)->write(t->device, t->data, src, bytes);
}

nnrt_status nnrt_tensor_read(const nnrt_tensor *t, void *dst, size_t bytes) {
  nnrt_status st = live(t, "nnrt_tensor_read");
  if (st) return st;
  if (!dst && bytes) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_read: dst is NULL");
  if (bytes != t->bytes)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_read: %zu bytes asked, tensor holds %zu", bytes, t->bytes);
  if (!bytes) return NNRT_OK;
  return plug(t->device)->read(t->device, t->data, dst, bytes);
}

nnrt_status nnrt_tensor_copy(nnrt_tensor *dst, const nnrt_tensor *src) {
  nnrt_status st;
  if ((st = live(dst, "nnrt_tensor_copy")) || (st = live(src, "nnrt_tensor_copy"))) return st;
  char a[NNRT_SHAPE_STR_LEN], b[NNRT_SHAPE_STR_LEN];
  if (dst->dtype != src->dtype || dst->numel != src->numel || dst->ndim != src->ndim ||
      memcmp(dst->shape, src->shape, sizeof(int64_t) * (size_t)dst->ndim))
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_copy: dst %s %s and src %s %s differ",
                      nnrt_dtype_name(dst->dtype), nnrt_shape_str(dst->ndim, dst->shape, a, sizeof a),
                      nnrt_dtype_name(src->dtype), nnrt_shape_str(src->ndim, src->shape, b, sizeof b));
  if (dst == src || !dst->bytes) return NNRT_OK;
  bool dh = nnrt_device_is_host_memory(dst->device), sh = nnrt_device_is_host_memory(src->device);
  if (dst->device == src->device) {
    nnrt_status (*copy)(nnrt_device *, void *, const void *, size_t) = NNRT_PLUGIN_FN(core_dev(dst->device)->backend, copy);
    if (copy) return copy(dst->device, dst->data, src->data, dst->bytes);
  }
  if (dh && sh) {
    memmove(dst->data, src->data, dst->bytes);
    return NNRT_OK;
  }
  if (sh) return plug(dst->device)->write(dst->device, dst->data, src->data, dst->bytes);
  if (dh) return plug(src->device)->read(src->device, src->data, dst->data, dst->bytes);
  void *tmp = malloc(dst->bytes);
  if (!tmp) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "nnrt_tensor_copy: no host staging buffer of %zu bytes", dst->bytes);
  st = plug(src->device)->read(src->device, src->data, tmp, dst->bytes);
  if (!st) st = plug(dst->device)->write(dst->device, dst->data, tmp, dst->bytes);
  free(tmp);
  return st;
}

nnrt_status nnrt_tensor_fill(nnrt_tensor *t, double value) {
  nnrt_status st = live(t, "nnrt_tensor_fill");
  if (st) return st;
  if (!t->bytes) return NNRT_OK;
  bool host = nnrt_device_is_host_memory(t->device);
  void *buf = host ? t->data : malloc(t->bytes);
  if (!buf) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "nnrt_tensor_fill: out of memory");
  for (int64_t i = 0; i < t->numel; i++) {
    if (t->dtype == NNRT_F32) ((float *)buf)[i] = (float)value;
    else if (t->dtype == NNRT_F64) ((double *)buf)[i] = value;
    else ((int64_t *)buf)[i] = (int64_t)value;
  }
  if (!host) {
    st = plug(t->device)->write(t->device, t->data, buf, t->bytes);
    free(buf);
  }
  return st;
}

nnrt_status nnrt_tensor_reshape(nnrt_tensor *t, int ndim, const int64_t *shape) {
  nnrt_status st = live(t, "nnrt_tensor_reshape");
  if (st) return st;
  int64_t numel;
  if ((st = check_shape("nnrt_tensor_reshape", ndim, shape, &numel))) return st;
  if (numel != t->numel)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_tensor_reshape: %lld elements cannot take a shape of %lld",
                      (long long)t->numel, (long long)numel);
  t->ndim = ndim;
  memset(t->shape, 0, sizeof t->shape);
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  return NNRT_OK;
}

int nnrt_tensor_ndim(const nnrt_tensor *t) { return t ? t->ndim : 0; }
const int64_t *nnrt_tensor_shape(const nnrt_tensor *t) { return t ? t->shape : NULL; }
int64_t nnrt_tensor_numel(const nnrt_tensor *t) { return t ? t->numel : 0; }
nnrt_dtype nnrt_tensor_dtype(const nnrt_tensor *t) { return t ? t->dtype : NNRT_F32; }
nnrt_device *nnrt_tensor_device(const nnrt_tensor *t) { return t ? t->device : NULL; }
void *nnrt_tensor_data(nnrt_tensor *t) {
  return t && nnrt_device_is_host_memory(t->device) ? t->data : NULL;
}
