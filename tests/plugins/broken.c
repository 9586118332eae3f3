/* tests/plugins/broken.c - plugins that are wrong on purpose, one per
 * BROKEN_* definition, for the loader tests.  None of them may crash the
 * host; each must be rejected with its own reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnrt/plugin.h>

#if defined(BROKEN_NO_ENTRY)
NNRT_PLUGIN_EXPORT int nnrt_plugin_entry_misspelt(void) { return 0; }
#else
static int probe_ok(char *why, size_t len) { (void)why, (void)len; return 1; }
static int probe_no(char *why, size_t len) __attribute__((unused));
static int probe_no(char *why, size_t len) { snprintf(why, len, "no widget attached to port 3"); return 0; }
static nnrt_status b_alloc(nnrt_device *d, size_t n, void **h) { (void)d; *h = malloc(n ? n : 1); return NNRT_OK; }
static void b_free(nnrt_device *d, void *h) { (void)d; free(h); }
static nnrt_status b_write(nnrt_device *d, void *h, const void *s, size_t n) { (void)d; memcpy(h, s, n); return NNRT_OK; }
static nnrt_status b_read(nnrt_device *d, const void *h, void *s, size_t n) { (void)d; memcpy(s, h, n); return NNRT_OK; }
static nnrt_kernel_fn b_kernel(const char *name) { (void)name; return NULL; }


static nnrt_plugin plugin = {
    .size = sizeof(nnrt_plugin),
    .abi = NNRT_PLUGIN_ABI,
    .name = "broken",
    .version = "0",
    .dtypes = 1u << NNRT_F32,
    .probe = probe_ok,
    .alloc = b_alloc,
    .free = b_free,
    .write = b_write,
    .read = b_read,
    .kernel = b_kernel,
};

NNRT_PLUGIN_DECLARE_ENTRY {
  (void)host, (void)host_abi_min, (void)host_abi_max;
#if defined(BROKEN_DECLINES)
  snprintf(why, why_len, "needs ABI >= 7, host speaks %u..%u", host_abi_min, host_abi_max);
  return NULL;
#else
  (void)why, (void)why_len;
#endif
#if defined(BROKEN_ABI_TOO_NEW)
  plugin.name = "abi_too_new";
  plugin.abi = 99;
#elif defined(BROKEN_PROBE)
  plugin.name = "probe_declines";
  plugin.probe = probe_no;
#elif defined(BROKEN_NULL_SLOT)
  plugin.name = "null_slot";
  plugin.alloc = NULL;
#endif
  return &plugin;
}
#endif
