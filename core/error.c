/* core/error.c - thread-local last error, logging and NNRT_LOG. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

static _Thread_local char last_error[1024];

const char *nnrt_status_str(nnrt_status s) {
  switch (s) {
  case NNRT_OK: return "ok";
  case NNRT_ERR_INVALID_ARGUMENT: return "invalid argument";
  case NNRT_ERR_UNIMPLEMENTED: return "unimplemented";
  case NNRT_ERR_OUT_OF_MEMORY: return "out of memory";
  case NNRT_ERR_RUNTIME: return "runtime error";
  case NNRT_ERR_NOT_FOUND: return "not found";
  }
  return "unknown status";
}

const char *nnrt_last_error(void) { return last_error; }

nnrt_status nnrt_verror(nnrt_status s, const char *fmt, va_list ap) {
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  nnrt_log(NNRT_LOG_DEBUG, "error: %s", last_error);
  return s;
}

nnrt_status nnrt_error(nnrt_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nnrt_verror(s, fmt, ap);
  va_end(ap);
  return s;
}

/* NNRT_LOG: error, warn (default), info, debug. */
static int log_level(void) {
  static int level = -1;
  if (level < 0) {
    const char *e = getenv("NNRT_LOG");
    int l = NNRT_LOG_WARN;
    if (e && *e) {
      if (!strcmp(e, "error")) l = NNRT_LOG_ERROR;
      else if (!strcmp(e, "warn")) l = NNRT_LOG_WARN;
      else if (!strcmp(e, "info")) l = NNRT_LOG_INFO;
      else if (!strcmp(e, "debug")) l = NNRT_LOG_DEBUG;
    }
    level = l;
  }
  return level;
}

void nnrt_vlog(int level, const char *fmt, va_list ap) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (level > log_level()) return;
  char buf[1200];
  vsnprintf(buf, sizeof buf, fmt, ap);
  fprintf(stderr, "nnrt: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], buf);
}

void nnrt_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nnrt_vlog(level, fmt, ap);
  va_end(ap);
}

const char *nnrt_shape_str(int ndim, const int64_t *dims, char *buf, size_t len) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, len - o, "[");
  for (int i = 0; i < ndim && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)dims[i]);
  if (o < len) snprintf(buf + o, len - o, "]");
  return buf;
}
