/* core/registry.c - backends: the built-in ref, plugins found on disk,
 * negotiation, probing, devices and NNRT_BACKEND selection.  Loading never
 * aborts: a plugin that cannot be used is kept in the list with its reason. */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#ifndef NNRT_PLUGIN_DIR
#define NNRT_PLUGIN_DIR "/usr/local/lib/nnrt"
#endif
#define MAX_BACKENDS 32

static nnrt_backend backends[MAX_BACKENDS];
static size_t n_backends;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;

static nnrt_status host_error(nnrt_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nnrt_verror(s, fmt, ap);
  va_end(ap);
  return s;
}
static void host_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nnrt_vlog(level, fmt, ap);
  va_end(ap);
}
static const char *host_getenv(const char *name) { return getenv(name); }

const nnrt_host_api nnrt_host = {sizeof(nnrt_host_api), NNRT_PLUGIN_ABI, host_log, host_error, host_getenv};

static void reject(nnrt_backend *b, const char *fmt, ...) NNRT_PRINTF(2, 3);
static void reject(nnrt_backend *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->reason, sizeof b->reason, fmt, ap);
  va_end(ap);
  b->usable = false;
  nnrt_log(NNRT_LOG_DEBUG, "backend %s (%s) rejected: %s", b->name, b->path, b->reason);
}

/* Checks the plugin's answer and probes it; fills the kernel table. */
static void adopt(nnrt_backend *b, const nnrt_plugin *p) {
  b->plugin = p;
  if (p->size < offsetof(nnrt_plugin, kernel) + sizeof p->kernel) {
    reject(b, "plugin struct too small (%zu bytes)", p->size);
    return;
  }
  b->plugin_size = p->size < sizeof(nnrt_plugin) ? p->size : sizeof(nnrt_plugin);
  if (!p->name || !*p->name) { reject(b, "plugin has no name"); return; }
  snprintf(b->name, sizeof b->name, "%s", p->name);
  if (p->abi < NNRT_PLUGIN_ABI_MIN || p->abi > NNRT_PLUGIN_ABI) {
    reject(b, "plugin answered ABI %u, host speaks %u..%u", p->abi, NNRT_PLUGIN_ABI_MIN, NNRT_PLUGIN_ABI);
    return;
  }
  const char *missing = !p->probe ? "probe" : !p->alloc ? "alloc" : !p->free ? "free"
                      : !p->write ? "write" : !p->read ? "read" : !p->kernel ? "kernel" : NULL;
  if (missing) { reject(b, "required member '%s' is NULL", missing); return; }
  for (size_t i = 0; i + 1 < n_backends; i++)
    if (backends[i].usable && !strcmp(backends[i].name, b->name)) {
      reject(b, "a backend named '%s' is already loaded from %s", b->name, backends[i].path);
      return;
    }
  char why[400] = "";
  int n = p->probe(why, sizeof why);
  if (n <= 0) {
    reject(b, "%s", why[0] ? why : "probe found no device");
    return;
  }
  b->device_count = n;
  b->devices = calloc((size_t)n, sizeof *b->devices);
  if (!b->devices) { reject(b, "out of memory"); return; }
  for (int i = 0; i < n; i++) {
    core_device *d = &b->devices[i];
    d->pub.size = sizeof d->pub;
    d->pub.index = i;
    d->backend = b;
    if (n == 1 && (p->flags & NNRT_PLUGIN_HOST_MEMORY)) snprintf(d->name, sizeof d->name, "%s", b->name);
    else snprintf(d->name, sizeof d->name, "%s:%d", b->name, i);
    for (int k = 0; k < NNRT_OP_COUNT; k++) atomic_flag_clear(&d->warned[k]);
  }
  for (int k = 0; k < NNRT_OP_COUNT; k++) b->kernels[k] = p->kernel(nnrt_op_name((nnrt_op)k));
  b->usable = true;
  nnrt_log(NNRT_LOG_DEBUG, "backend %s loaded from %s: %d device(s), ABI %u", b->name, b->path, n, p->abi);
}

static void load_plugin(const char *path) {
  if (n_backends >= MAX_BACKENDS) return;
  for (size_t i = 0; i < n_backends; i++)
    if (!strcmp(backends[i].path, path)) return;
  nnrt_backend *b = &backends[n_backends++];
  memset(b, 0, sizeof *b);
  snprintf(b->path, sizeof b->path, "%.*s", (int)sizeof b->path - 1, path);
  const char *base = strrchr(path, '/');
  snprintf(b->name, sizeof b->name, "%.*s", (int)sizeof b->name - 1, base ? base + 1 : path);
  b->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!b->dl) { reject(b, "dlopen failed: %s", dlerror()); return; }
  nnrt_plugin_entry_fn entry = (nnrt_plugin_entry_fn)dlsym(b->dl, NNRT_PLUGIN_ENTRY_NAME);
  if (!entry) { reject(b, "no entry symbol %s", NNRT_PLUGIN_ENTRY_NAME); return; }
  char why[400] = "";
  const nnrt_plugin *p = entry(&nnrt_host, NNRT_PLUGIN_ABI_MIN, NNRT_PLUGIN_ABI, why, sizeof why);
  if (!p) { reject(b, "plugin declined: %s", why[0] ? why : "(no reason given)"); return; }
  adopt(b, p);
}

static void scan_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  char *names[64];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 64;) {
    size_t l = strlen(e->d_name);
    if (!strncmp(e->d_name, "libnnrt-", 8) && l > 3 && !strcmp(e->d_name + l - 3, ".so"))
      names[n++] = strdup(e->d_name);
  }
  closedir(d);
  /* a stable order */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j]; names[j] = names[j - 1]; names[j - 1] = t;
    }
  for (int i = 0; i < n; i++) {
    if (names[i]) {
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      load_plugin(path);
    }
    free(names[i]);
  }
}

static void init_once(void) {
  nnrt_backend *b = &backends[n_backends++];
  snprintf(b->path, sizeof b->path, "(built in)");
  adopt(b, nnrt_ref_plugin(&nnrt_host));

  const char *pp = getenv("NNRT_PLUGIN_PATH");
  if (pp && *pp) {
    char *copy = strdup(pp);
    for (char *save = NULL, *t = copy ? strtok_r(copy, ":", &save) : NULL; t; t = strtok_r(NULL, ":", &save))
      scan_dir(t);
    free(copy);
  }
  Dl_info info;
  if (dladdr((void *)nnrt_init, &info) && info.dli_fname) {
    char dir[900];
    snprintf(dir, sizeof dir, "%s", info.dli_fname);
    char *slash = strrchr(dir, '/');
    if (slash) {
      *slash = 0;
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/nnrt", dir);
      scan_dir(sub);
      scan_dir(dir);
    }
  }
  scan_dir(NNRT_PLUGIN_DIR);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

nnrt_status nnrt_init(void) {
  pthread_once(&once, init_once);
  return NNRT_OK;
}

size_t nnrt_backend_count(void) {
  nnrt_init();
  return n_backends;
}

nnrt_status nnrt_backend_info_get(size_t i, nnrt_backend_info *out) {
  nnrt_init();
  if (i >= n_backends || !out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_backend_info_get: no backend %zu", i);
  const nnrt_backend *b = &backends[i];
  *out = (nnrt_backend_info){b->name, b->path, b->plugin && b->plugin->version ? b->plugin->version : "",
                             b->usable, b->reason, b->usable ? b->device_count : 0,
                             b->usable && (b->plugin->flags & NNRT_PLUGIN_HOST_MEMORY)};
  return NNRT_OK;
}

static nnrt_status open_device(core_device *d, nnrt_device **out) {
  nnrt_status st = NNRT_OK;
  pthread_mutex_lock(&dev_lock);
  if (!d->opened) {
    nnrt_status (*open)(nnrt_device *) = NNRT_PLUGIN_FN(d->backend, device_open);
    if (open) st = open(&d->pub);
    if (!st) {
      void (*describe)(nnrt_device *, char *, size_t) = NNRT_PLUGIN_FN(d->backend, device_describe);
      if (describe) describe(&d->pub, d->description, sizeof d->description);
      d->opened = true;
    }
  }
  pthread_mutex_unlock(&dev_lock);
  if (st) return nnrt_error(st, "%s: cannot open device: %s", d->name, nnrt_last_error());
  *out = &d->pub;
  return NNRT_OK;
}

nnrt_device *nnrt_ref_device(void) {
  nnrt_init();
  nnrt_device *d = NULL;
  open_device(&backends[0].devices[0], &d);
  return d;
}

static nnrt_backend *find_backend(const char *name, size_t len) {
  nnrt_backend *rejected = NULL;
  for (size_t i = 0; i < n_backends; i++) {
    if (strlen(backends[i].name) != len || strncmp(backends[i].name, name, len)) continue;
    if (backends[i].usable) return &backends[i];
    rejected = &backends[i];
  }
  return rejected;
}

nnrt_status nnrt_device_get(const char *name, nnrt_device **out) {
  nnrt_init();
  if (!name || !out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_device_get: name or out is NULL");
  const char *colon = strchr(name, ':');
  size_t len = colon ? (size_t)(colon - name) : strlen(name);
  long idx = 0;
  if (colon) {
    char *end;
    idx = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || idx < 0)
      return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "device '%s': bad device number", name);
  }
  nnrt_backend *b = find_backend(name, len);
  if (!b) {
    char known[512] = "";
    size_t o = 0;
    for (size_t i = 0; i < n_backends && o < sizeof known; i++)
      if (backends[i].usable) o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", o ? ", " : "", backends[i].name);
    return nnrt_error(NNRT_ERR_NOT_FOUND, "device '%s': no backend '%.*s' was found (available: %s; "
                      "NNRT_PLUGIN_PATH adds directories)", name, (int)len, name, known);
  }
  if (!b->usable) return nnrt_error(NNRT_ERR_NOT_FOUND, "device '%s': backend %s cannot be used: %s", name, b->name, b->reason);
  if (idx >= b->device_count)
    return nnrt_error(NNRT_ERR_NOT_FOUND, "device '%s': backend %s has %d device(s)", name, b->name, b->device_count);
  return open_device(&b->devices[idx], out);
}

nnrt_status nnrt_device_default(nnrt_device **out) {
  nnrt_init();
  if (!out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_device_default: out is NULL");
  const char *env = getenv("NNRT_BACKEND");
  if (!env || !*env) env = "auto";
  char list[512];
  snprintf(list, sizeof list, "%s", env);
  nnrt_status first_err = NNRT_OK;
  char first_msg[1024] = "";
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    if (!strcmp(t, "auto")) {
      /* accelerators, then host-memory CPU backends (they share tensors
       * with ref), then ref; a device-memory backend that is no
       * accelerator (OpenCL on a CPU) is never picked without being named */
      static const unsigned pass_flag[2] = {NNRT_PLUGIN_ACCELERATOR, NNRT_PLUGIN_HOST_MEMORY};
      for (int pass = 0; pass < 2; pass++)
        for (size_t i = 1; i < n_backends; i++) {
          nnrt_backend *b = &backends[i];
          if (!b->usable || !(b->plugin->flags & pass_flag[pass])) continue;
          if (!open_device(&b->devices[0], out)) return NNRT_OK;
        }
      return open_device(&backends[0].devices[0], out);
    }
    nnrt_status st = nnrt_device_get(t, out);
    if (!st) return NNRT_OK;
    if (!first_err) {
      first_err = st;
      snprintf(first_msg, sizeof first_msg, "%s", nnrt_last_error());
    }
  }
  return nnrt_error(first_err ? first_err : NNRT_ERR_NOT_FOUND, "NNRT_BACKEND=%s: %s", env,
                    first_msg[0] ? first_msg : "no device named");
}

const char *nnrt_device_name(const nnrt_device *dev) { return dev ? core_dev(dev)->name : "(null)"; }
const char *nnrt_device_backend(const nnrt_device *dev) { return dev ? core_dev(dev)->backend->name : "(null)"; }
const char *nnrt_device_description(const nnrt_device *dev) { return dev ? core_dev(dev)->description : ""; }

bool nnrt_device_is_host_memory(const nnrt_device *dev) {
  return (core_dev(dev)->backend->plugin->flags & NNRT_PLUGIN_HOST_MEMORY) != 0;
}

bool nnrt_device_has_op(const nnrt_device *dev, nnrt_op op) {
  return dev && (unsigned)op < NNRT_OP_COUNT && core_dev(dev)->backend->kernels[op] != NULL;
}

uint64_t nnrt_device_fallback_count(const nnrt_device *dev, nnrt_op op) {
  if (!dev || (unsigned)op >= NNRT_OP_COUNT) return 0;
  return atomic_load(&core_dev(dev)->fallbacks[op]);
}

nnrt_status nnrt_device_sync(nnrt_device *dev) {
  if (!dev) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_device_sync: dev is NULL");
  nnrt_status (*sync)(nnrt_device *) = NNRT_PLUGIN_FN(core_dev(dev)->backend, sync);
  return sync ? sync(dev) : NNRT_OK;
}
