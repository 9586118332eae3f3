/* backends/onednn/cache.c - the primitive cache and the one execution path.
 *
 * A primitive is built once per key (op family, algorithm, params, dims)
 * and kept until the plugin shuts down; a failed build is cached too, so
 * supports() answers "no" at the cost of one lookup.  Entries are never
 * freed while the plugin lives, so a pointer handed out stays valid
 * without reference counts; past CACHE_MAX entries new shapes get a
 * primitive built for the call and destroyed after it (correct, slower).
 * oneDNN's reference implementations ("ref:*") are treated as unbuildable:
 * nnrt's own ref is faster and exact (see onednn_prim_from_pd).
 *
 * Thread safety: lookups and inserts hold a mutex; building happens
 * outside it (two threads may build the same key; the loser's copy is
 * destroyed).  Execution uses a stream, a scratchpad and memory objects
 * owned by the calling thread, so one cached primitive may run on many
 * threads at once (oneDNN allows that with a user scratchpad, not with its
 * default shared one).  Per call the cost is one memo check or hash
 * lookup, a pointer swap per argument, and the execution itself.
 *
 * Small work (key.serial) is built and run with OpenMP limited to the
 * calling thread.  Primitives keep the thread count they were built with:
 * changing OMP_NUM_THREADS at run time affects new shapes only.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "onednn.h"

#define CACHE_BUCKETS 1024 /* a power of two */
#define CACHE_MAX 1024     /* an entry is ~6 KB: oneDNN 2.x memory descriptors are big */
#define THREAD_SLOTS 64    /* memory-object sets kept per thread, a power of two */

typedef struct entry {
  onednn_key key;
  uint64_t hash;
  dnnl_status_t status; /* of the build; prim is valid when dnnl_success */
  onednn_prim prim;
  struct entry *next;
} entry;

static entry *buckets[CACHE_BUCKETS];
static size_t n_entries;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- per-thread state ---- */
typedef struct mem_slot {
  const entry *owner; /* a cached entry (immortal), or NULL */
  int n;
  dnnl_memory_t mem[ONEDNN_MAX_ARGS + 1]; /* the args, then the scratchpad */
} mem_slot;

typedef struct thread_state {
  dnnl_stream_t stream;
  void *scratch;
  size_t scratch_bytes;
  void *work; /* onednn_thread_buffer */
  size_t work_bytes;
  const entry *last; /* the entry of the last lookup: supports() then the kernel */
  mem_slot slots[THREAD_SLOTS];
} thread_state;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static bool tls_ok;

static void slot_clear(mem_slot *s) {
  for (int i = 0; i < s->n; i++) dnnl_memory_destroy(s->mem[i]);
  s->n = 0;
  s->owner = NULL;
}

static void thread_state_free(void *p) {
  thread_state *t = p;
  if (!t) return;
  for (int i = 0; i < THREAD_SLOTS; i++) slot_clear(&t->slots[i]);
  if (t->stream) dnnl_stream_destroy(t->stream);
  free(t->scratch);
  free(t->work);
  free(t);
}

static void tls_init(void) { tls_ok = pthread_key_create(&tls_key, thread_state_free) == 0; }

static thread_state *thread_state_get(void) {
  pthread_once(&tls_once, tls_init);
  if (!tls_ok) return NULL;
  thread_state *t = pthread_getspecific(tls_key);
  if (t) return t;
  t = calloc(1, sizeof *t);
  if (!t) return NULL;
  if (dnnl_stream_create(&t->stream, onednn_engine(), dnnl_stream_default_flags) != dnnl_success ||
      pthread_setspecific(tls_key, t)) {
    thread_state_free(t);
    return NULL;
  }
  return t;
}

/* ---- building ---- */
/* FNV-1a over the key's bytes. */
static uint64_t key_hash(const onednn_key *k) {
  const unsigned char *b = (const unsigned char *)k;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

dnnl_primitive_attr_t onednn_attr(bool accumulate) {
  dnnl_primitive_attr_t attr = NULL;
  if (dnnl_primitive_attr_create(&attr)) return NULL;
  dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  /* strict: no silent bf16/tf32 down-conversion on AMX machines, whatever
   * DNNL_DEFAULT_FPMATH_MODE says */
  if (!st) st = dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_strict);
  if (!st && accumulate) {
    dnnl_post_ops_t po = NULL;
    st = dnnl_post_ops_create(&po);
    if (!st) st = dnnl_post_ops_append_sum(po, 1.0f);
    if (!st) st = dnnl_primitive_attr_set_post_ops(attr, po);
    if (po) dnnl_post_ops_destroy(po);
  }
  if (st) {
    dnnl_primitive_attr_destroy(attr);
    return NULL;
  }
  return attr;
}

dnnl_status_t onednn_pd_create(const_dnnl_op_desc_t fwd, const_dnnl_op_desc_t bwd, dnnl_primitive_desc_t *pd) {
  dnnl_primitive_attr_t attr = onednn_attr(false);
  if (!attr) return dnnl_out_of_memory;
  dnnl_primitive_desc_t fpd = NULL;
  dnnl_status_t st = dnnl_primitive_desc_create(&fpd, fwd, attr, onednn_engine(), NULL);
  if (!st && bwd) {
    st = dnnl_primitive_desc_create(pd, bwd, attr, onednn_engine(), fpd); /* the forward is its hint */
    dnnl_primitive_desc_destroy(fpd);
  } else if (!st) {
    *pd = fpd;
  }
  dnnl_primitive_attr_destroy(attr);
  return st;
}

void onednn_prim_arg(onednn_prim *p, int arg_id, const dnnl_memory_desc_t *md) {
  if (p->n_args >= ONEDNN_MAX_ARGS) { /* our bug: onednn_prim_from_pd fails the build */
    p->n_args = ONEDNN_MAX_ARGS + 1;
    return;
  }
  p->arg_ids[p->n_args] = arg_id;
  p->mds[p->n_args] = *md;
  p->n_args++;
}

dnnl_status_t onednn_prim_from_pd(onednn_prim *p, dnnl_primitive_desc_t pd) {
  if (p->n_args > ONEDNN_MAX_ARGS) {
    ONEDNN_DEBUG("a primitive has more than %d arguments: raise ONEDNN_MAX_ARGS", ONEDNN_MAX_ARGS);
    dnnl_primitive_desc_destroy(pd);
    p->n_args = 0;
    return dnnl_runtime_error;
  }
  const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (sp) {
    p->scratch_md = *sp;
    p->scratch_bytes = dnnl_memory_desc_get_size(sp);
  }
  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) impl = "?";
  /* oneDNN's reference implementations ("ref:any", "bnorm_ref:any": e.g.
   * softmax along an axis that is not innermost) run 15-100x slower than
   * nnrt's ref: decline them */
  if (strstr(impl, "ref") && !p->allow_ref_impl) {
    ONEDNN_DEBUG("only oneDNN's reference implementation (%s) fits: leaving the call to nnrt's ref", impl);
    dnnl_primitive_desc_destroy(pd);
    return dnnl_unimplemented;
  }
  dnnl_status_t st = dnnl_primitive_create(&p->prim, pd);
  ONEDNN_DEBUG("built primitive %s (scratchpad %zu bytes)", impl, p->scratch_bytes);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

static void prim_release(onednn_prim *p) {
  if (p->prim) dnnl_primitive_destroy(p->prim);
  free(p->constant);
  memset(p, 0, sizeof *p);
}

static const char *key_str(const onednn_key *k, char *buf, size_t len) {
  snprintf(buf, len, "kind %d alg 0x%x alpha %g beta %g dims %lld,%lld,%lld,%lld%s", k->kind, k->alg,
           (double)k->f[0], (double)k->f[1], (long long)k->d[0], (long long)k->d[1], (long long)k->d[2],
           (long long)k->d[3], k->serial ? " serial" : "");
  return buf;
}

/* OpenMP's thread count on this thread: 1 for serial keys; returns the
 * count to restore (0: nothing to restore). */
static int serial_begin(const onednn_key *k) {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  if (!k->serial) return 0;
  int saved = omp_get_max_threads();
  if (saved <= 1) return 0;
  omp_set_num_threads(1);
  return saved;
#else
  (void)k; /* TBB or sequential oneDNN: OpenMP's count does not apply */
  return 0;
#endif
}

static void serial_end(int saved) {
  if (saved) omp_set_num_threads(saved);
}

static dnnl_status_t build_entry(const char *op, entry *e, onednn_build_fn build) {
  int saved = serial_begin(&e->key);
  e->status = build(&e->key, &e->prim);
  serial_end(saved);
  if (e->status != dnnl_success) {
    char buf[200];
    ONEDNN_DEBUG("%s: no oneDNN primitive for %s: %s", op, key_str(&e->key, buf, sizeof buf),
                 dnnl_status2str(e->status));
    prim_release(&e->prim);
  }
  return e->status;
}

static entry *find_locked(const onednn_key *k, uint64_t h) {
  for (entry *e = buckets[h & (CACHE_BUCKETS - 1)]; e; e = e->next)
    if (e->hash == h && !memcmp(&e->key, k, sizeof *k)) return e;
  return NULL;
}

/* The cached entry for k, building it on a miss.  With the cache full
 * (or out of memory) it builds into *tmp and sets *tmp_used; the caller
 * releases tmp->prim. */
static const entry *lookup(const char *op, const onednn_key *k, onednn_build_fn build, thread_state *t,
                           entry *tmp, bool *tmp_used) {
  *tmp_used = false;
  if (t && t->last && !memcmp(&t->last->key, k, sizeof *k)) return t->last;
  uint64_t h = key_hash(k);
  pthread_mutex_lock(&cache_lock);
  entry *e = find_locked(k, h);
  pthread_mutex_unlock(&cache_lock);
  if (!e) {
    entry *fresh = calloc(1, sizeof *fresh);
    if (!fresh) {
      memset(tmp, 0, sizeof *tmp);
      tmp->key = *k;
      build_entry(op, tmp, build);
      *tmp_used = true;
      return tmp;
    }
    fresh->key = *k;
    fresh->hash = h;
    build_entry(op, fresh, build);
    pthread_mutex_lock(&cache_lock);
    e = find_locked(k, h);
    if (!e && n_entries < CACHE_MAX) {
      fresh->next = buckets[h & (CACHE_BUCKETS - 1)];
      buckets[h & (CACHE_BUCKETS - 1)] = fresh;
      n_entries++;
      e = fresh;
      fresh = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    if (fresh && !e) { /* cache full: this call's own primitive */
      *tmp = *fresh;
      free(fresh);
      *tmp_used = true;
      return tmp;
    }
    if (fresh) { /* another thread built the same key meanwhile */
      prim_release(&fresh->prim);
      free(fresh);
    }
  }
  if (t) t->last = e;
  return e;
}

bool onednn_available(const char *op, const onednn_key *k, onednn_build_fn build) {
  entry tmp;
  bool tmp_used;
  const entry *e = lookup(op, k, build, thread_state_get(), &tmp, &tmp_used);
  bool ok = e->status == dnnl_success;
  if (tmp_used) prim_release(&tmp.prim);
  return ok;
}

size_t onednn_arg_bytes(const char *op, const onednn_key *k, onednn_build_fn build, int i) {
  entry tmp;
  bool tmp_used;
  const entry *e = lookup(op, k, build, thread_state_get(), &tmp, &tmp_used);
  size_t n = e->status == dnnl_success && i < e->prim.n_args ? dnnl_memory_desc_get_size(&e->prim.mds[i]) : 0;
  if (tmp_used) prim_release(&tmp.prim);
  return n;
}

void *onednn_thread_buffer(size_t bytes) {
  thread_state *t = thread_state_get();
  if (!t) return NULL;
  if (bytes > t->work_bytes) {
    size_t n = (bytes + 63) / 64 * 64;
    void *w = aligned_alloc(64, n);
    if (!w) return NULL;
    free(t->work);
    t->work = w;
    t->work_bytes = n;
  }
  return t->work;
}

/* ---- execution ---- */
/* Memory objects for e's args on this thread, made on first use and then
 * re-pointed per call (creating them costs ~0.3 us each, re-pointing ~5 ns). */
static dnnl_status_t memories(thread_state *t, const entry *e, bool cached, mem_slot *own, mem_slot **out) {
  mem_slot *s = own;
  if (cached) {
    uintptr_t h = (uintptr_t)e;
    s = &t->slots[(h >> 6 ^ h >> 12) & (THREAD_SLOTS - 1)];
    if (s->owner == e) {
      *out = s;
      return dnnl_success;
    }
  }
  slot_clear(s);
  const onednn_prim *p = &e->prim;
  dnnl_engine_t eng = onednn_engine();
  dnnl_status_t st = dnnl_success;
  /* DNNL_MEMORY_NONE: no buffer yet, every call sets the handle */
  for (int i = 0; i < p->n_args && !st; i++)
    if (!(st = dnnl_memory_create(&s->mem[s->n], &p->mds[i], eng, DNNL_MEMORY_NONE))) s->n++;
  if (!st && p->scratch_bytes)
    if (!(st = dnnl_memory_create(&s->mem[s->n], &p->scratch_md, eng, DNNL_MEMORY_NONE))) s->n++;
  if (st) {
    slot_clear(s);
    return st;
  }
  s->owner = cached ? e : NULL;
  *out = s;
  return dnnl_success;
}

static nnrt_status run(const char *op, thread_state *t, const entry *e, bool cached, void *const *ptrs) {
  const onednn_prim *p = &e->prim;
  if (p->scratch_bytes > t->scratch_bytes) {
    size_t n = (p->scratch_bytes + 63) / 64 * 64;
    void *s = aligned_alloc(64, n);
    if (!s) return onednn_host->error(NNRT_ERR_OUT_OF_MEMORY, "%s: onednn: cannot allocate a %zu-byte scratchpad", op, n);
    free(t->scratch);
    t->scratch = s;
    t->scratch_bytes = n;
  }
  mem_slot own = {0}, *s;
  dnnl_status_t st = memories(t, e, cached, &own, &s);
  dnnl_exec_arg_t args[ONEDNN_MAX_ARGS + 1];
  int n = 0;
  for (int i = 0; i < p->n_args && !st; i++) {
    st = dnnl_memory_set_data_handle(s->mem[i], ptrs[i] ? ptrs[i] : p->constant);
    args[n++] = (dnnl_exec_arg_t){p->arg_ids[i], s->mem[i]};
  }
  if (!st && p->scratch_bytes) {
    st = dnnl_memory_set_data_handle(s->mem[n], t->scratch);
    args[n] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->mem[n]};
    n++;
  }
  if (!st) {
    int saved = serial_begin(&e->key);
    st = dnnl_primitive_execute(p->prim, t->stream, n, args);
    if (!st) st = dnnl_stream_wait(t->stream);
    serial_end(saved);
  }
  slot_clear(&own);
  if (st) return onednn_host->error(NNRT_ERR_RUNTIME, "%s: onednn: executing the primitive failed: %s", op, dnnl_status2str(st));
  return NNRT_OK;
}

nnrt_status onednn_execute(const char *op, const onednn_key *k, onednn_build_fn build, void *const *ptrs) {
  thread_state *t = thread_state_get();
  if (!t) return onednn_host->error(NNRT_ERR_OUT_OF_MEMORY, "%s: onednn: no stream for this thread", op);
  entry tmp;
  bool tmp_used;
  const entry *e = lookup(op, k, build, t, &tmp, &tmp_used);
  nnrt_status st;
  if (e->status != dnnl_success)
    st = onednn_host->error(NNRT_ERR_RUNTIME, "%s: onednn: cannot build the primitive: %s", op, dnnl_status2str(e->status));
  else
    st = run(op, t, e, !tmp_used, ptrs);
  if (tmp_used) prim_release(&tmp.prim);
  return st;
}

void onednn_cache_shutdown(void) {
  /* the calling thread's state first (its memory objects belong to
   * primitives about to go); other threads' states are freed by the key's
   * destructor only while the key exists, so it is deleted last */
  if (tls_ok) {
    thread_state_free(pthread_getspecific(tls_key));
    pthread_setspecific(tls_key, NULL);
    pthread_key_delete(tls_key);
    tls_ok = false;
  }
  pthread_mutex_lock(&cache_lock);
  for (size_t b = 0; b < CACHE_BUCKETS; b++) {
    for (entry *e = buckets[b], *next; e; e = next) {
      next = e->next;
      prim_release(&e->prim);
      free(e);
    }
    buckets[b] = NULL;
  }
  n_entries = 0;
  pthread_mutex_unlock(&cache_lock);
}
