/* tools/demo/charlm.c - the demo (nnrt-demo): a character-level LSTM
 * language model trained on nnrt's own sources and docs, which every clone
 * has, then sampled.
 *
 *   Embedding(V, 48) -> LSTM(48, 192, batch_first) -> Linear(192, V)
 *   -> cross_entropy, gradients clipped to norm 1, Adam.
 *
 * Each step takes BATCH windows of SEQ characters at random offsets and
 * predicts every next character (truncated backprop through time, zero
 * initial state).  Sampling carries the LSTM state from character to
 * character.  Uses the public API only; any device (--backend or
 * NNRT_BACKEND).
 *
 *   nnrt-demo [--backend NAME] [--epochs N] [--steps N] [--corpus DIR]
 *             [--save FILE] [--load FILE] [--sample N] [--seed S] [--quiet]
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nnrt/nnrt.h>

#ifndef NNRT_SOURCE_DIR
#define NNRT_SOURCE_DIR "."
#endif

#define EMBED 48
#define HIDDEN 192
#define SEQ 64
#define BATCH 32
#define MAX_CORPUS (400 * 1024)

#define CHECK(call)                                                              \
  do {                                                                           \
    nnrt_status st_ = (call);                                                    \
    if (st_) {                                                                   \
      fprintf(stderr, "nnrt-demo: %s failed: %s (%s)\n", #call, nnrt_last_error(), nnrt_status_str(st_)); \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

static uint64_t rng = 0x6e6e7274;
static double uniform(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) / 9007199254740992.0;
}

/* ---- the corpus: our own .c, .h and .md files ---- */
static char *corpus;
static size_t corpus_len;

static bool wanted(const char *name) {
  size_t l = strlen(name);
  return (l > 2 && (!strcmp(name + l - 2, ".c") || !strcmp(name + l - 2, ".h"))) ||
         (l > 3 && !strcmp(name + l - 3, ".md"));
}

static void add_dir(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d) return;
  char *names[512];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 512;)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  closedir(d);
  for (int i = 1; i < n; i++) /* sorted, so the corpus is the same every run */
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j]; names[j] = names[j - 1]; names[j - 1] = t;
    }
  for (int i = 0; i < n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (!stat(path, &st)) {
      if (S_ISDIR(st.st_mode) && depth < 3 && strncmp(names[i], "build", 5) && strcmp(names[i], "golden"))
        add_dir(path, depth + 1);
      else if (S_ISREG(st.st_mode) && wanted(names[i]) && corpus_len < MAX_CORPUS) {
        FILE *f = fopen(path, "rb");
        if (f) {
          corpus_len += fread(corpus + corpus_len, 1, MAX_CORPUS - corpus_len, f);
          fclose(f);
        }
      }
    }
    free(names[i]);
  }
}

/* ---- vocabulary: printable ASCII, newline, and '?' for anything else ---- */
static int vocab_of[256];
static char char_of[128];
static int V;

static void build_vocab(void) {
  for (int c = 0; c < 256; c++) vocab_of[c] = -1;
  bool seen[256] = {false};
  for (size_t i = 0; i < corpus_len; i++) {
    unsigned char c = (unsigned char)corpus[i];
    if (c != '\n' && (c < 32 || c > 126)) corpus[i] = '?';
    seen[(unsigned char)corpus[i]] = true;
  }
  for (int c = 0; c < 128; c++)
    if (seen[c]) {
      vocab_of[c] = V;
      char_of[V++] = (char)c;
    }
}

static void progress(int epoch, int epochs, int done, int total, double loss, bool tty) {
  if (!tty) return;
  int width = 30, fill = total ? done * width / total : width;
  printf("\repoch %2d/%d [", epoch, epochs);
  for (int i = 0; i < width; i++) putchar(i < fill ? '#' : '.');
  printf("] %3d/%d loss %.3f", done, total, loss);
  fflush(stdout);
}

static nnrt_tensor *new_tensor(nnrt_device *dev, nnrt_dtype dt, int ndim, const int64_t *shape) {
  nnrt_tensor *t;
  CHECK(nnrt_tensor_new(dev, dt, ndim, shape, &t));
  return t;
}

/* Generates n characters after `prime`, carrying the LSTM state. */
static void sample(nnrt_device *dev, nnrt_module *emb, nnrt_module *lstm, nnrt_module *head, const char *prime,
                   int n, double temperature) {
  int64_t one[2] = {1, 1}, state[3] = {1, 1, HIDDEN};
  nnrt_tensor *idx = new_tensor(dev, NNRT_I64, 2, one);
  nnrt_tensor *h = new_tensor(dev, NNRT_F32, 3, state), *c = new_tensor(dev, NNRT_F32, 3, state);
  float *logits = malloc(sizeof(float) * (size_t)V);
  double *p = malloc(sizeof(double) * (size_t)V);
  nnrt_module_train(emb, false);
  nnrt_module_train(lstm, false);
  nnrt_module_train(head, false);
  int64_t next = vocab_of[(unsigned char)prime[0]] < 0 ? 0 : vocab_of[(unsigned char)prime[0]];
  fputs(prime, stdout);
  size_t plen = strlen(prime);
  for (int i = 0; i < n + (int)plen - 1; i++) {
    CHECK(nnrt_tensor_write(idx, &next, sizeof next));
    nnrt_tensor *e, *y, *hn, *cn, *out;
    CHECK(nnrt_module_forward(emb, idx, &e));
    CHECK(nnrt_module_rnn_forward(lstm, e, h, c, &y, &hn, &cn));
    CHECK(nnrt_tensor_copy(h, hn));
    CHECK(nnrt_tensor_copy(c, cn));
    CHECK(nnrt_module_forward(head, y, &out));
    if (i + 1 < (int)plen) { /* still reading the prime */
      int v = vocab_of[(unsigned char)prime[i + 1]];
      next = v < 0 ? 0 : v;
      continue;
    }
    CHECK(nnrt_tensor_read(out, logits, sizeof(float) * (size_t)V));
    double mx = -INFINITY, s = 0;
    for (int k = 0; k < V; k++) mx = fmax(mx, logits[k] / temperature);
    for (int k = 0; k < V; k++) s += p[k] = exp(logits[k] / temperature - mx);
    double r = uniform() * s;
    next = V - 1;
    for (int k = 0; k < V; k++)
      if ((r -= p[k]) <= 0) { next = k; break; }
    putchar(char_of[next]);
  }
  putchar('\n');
  free(logits);
  free(p);
  nnrt_tensor_free(idx);
  nnrt_tensor_free(h);
  nnrt_tensor_free(c);
}

int main(int argc, char **argv) {
  const char *backend = NULL, *dir = NNRT_SOURCE_DIR, *save = NULL, *load = NULL;
  int epochs = 6, steps = 60, sample_len = 400;
  bool quiet = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--backend") && v) backend = argv[++i];
    else if (!strcmp(a, "--epochs") && v) epochs = atoi(argv[++i]);
    else if (!strcmp(a, "--steps") && v) steps = atoi(argv[++i]);
    else if (!strcmp(a, "--corpus") && v) dir = argv[++i];
    else if (!strcmp(a, "--save") && v) save = argv[++i];
    else if (!strcmp(a, "--load") && v) load = argv[++i];
    else if (!strcmp(a, "--sample") && v) sample_len = atoi(argv[++i]);
    else if (!strcmp(a, "--seed") && v) rng = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--quiet")) quiet = true;
    else {
      fprintf(stderr, "usage: nnrt-demo [--backend NAME] [--epochs N] [--steps N] [--corpus DIR] [--save FILE] "
                      "[--load FILE] [--sample N] [--seed S] [--quiet]\n");
      return 2;
    }
  }
  if (epochs < 0 || steps < 1 || sample_len < 0) {
    fprintf(stderr, "nnrt-demo: --epochs must be >= 0, --steps >= 1, --sample >= 0\n");
    return 2;
  }
  nnrt_device *dev;
  CHECK(backend ? nnrt_device_get(backend, &dev) : nnrt_device_default(&dev));

  corpus = malloc(MAX_CORPUS);
  if (!corpus) return 1;
  static const char *parts[] = {"include/nnrt", "core", "backends", "docs", "README.md"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, parts[i]);
    struct stat st;
    if (stat(path, &st)) continue;
    if (S_ISDIR(st.st_mode)) add_dir(path, 0);
    else if (corpus_len < MAX_CORPUS) {
      FILE *f = fopen(path, "rb");
      if (f) {
        corpus_len += fread(corpus + corpus_len, 1, MAX_CORPUS - corpus_len, f);
        fclose(f);
      }
    }
  }
  if (corpus_len < (size_t)SEQ * 4) {
    fprintf(stderr, "nnrt-demo: found no corpus under %s (give --corpus, the nnrt source tree)\n", dir);
    return 1;
  }
  build_vocab();
  printf("nnrt-demo: character-level LSTM on nnrt's own sources (%zu characters, %d symbols), device %s (%s)\n",
         corpus_len, V, nnrt_device_name(dev), nnrt_device_description(dev));

  nnrt_module *net, *emb, *lstm, *head;
  CHECK(nnrt_module_sequential(dev, &net));
  CHECK(nnrt_module_embedding(dev, V, EMBED, NNRT_PADDING_IDX_NONE, 1, &emb));
  CHECK(nnrt_sequential_add(net, emb));
  nnrt_lstm_params lp;
  CHECK(nnrt_params_init(NNRT_OP_lstm, &lp));
  lp.input_size = EMBED;
  lp.hidden_size = HIDDEN;
  lp.batch_first = true;
  CHECK(nnrt_module_lstm(dev, &lp, 2, &lstm));
  CHECK(nnrt_sequential_add(net, lstm));
  CHECK(nnrt_module_linear(dev, HIDDEN, V, true, 3, &head));
  CHECK(nnrt_sequential_add(net, head));
  if (load) {
    CHECK(nnrt_module_load(net, load));
    printf("nnrt-demo: loaded weights from %s\n", load);
  }
  nnrt_module *loss_fn;
  CHECK(nnrt_module_loss(dev, NNRT_OP_cross_entropy, NULL, NULL, &loss_fn));
  nnrt_adam_step_params ap;
  CHECK(nnrt_params_init(NNRT_OP_adam_step, &ap));
  ap.lr = 3e-3;
  nnrt_optimizer *opt;
  CHECK(nnrt_optimizer_adam(net, &ap, &opt));

  int64_t xs[2] = {BATCH, SEQ}, flat[2] = {BATCH * SEQ, 0}, tshape[1] = {BATCH * SEQ}, out3[3] = {BATCH, SEQ, 0};
  flat[1] = out3[2] = V;
  nnrt_tensor *x = new_tensor(dev, NNRT_I64, 2, xs), *t = new_tensor(dev, NNRT_I64, 1, tshape);
  int64_t *bx = malloc(sizeof(int64_t) * BATCH * SEQ), *bt = malloc(sizeof(int64_t) * BATCH * SEQ);
  bool tty = isatty(1) && !quiet;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double last = NAN;
  for (int epoch = 1; epoch <= epochs; epoch++) {
    nnrt_module_train(net, true);
    double sum = 0;
    for (int s = 0; s < steps; s++) {
      for (int b = 0; b < BATCH; b++) {
        size_t off = (size_t)(uniform() * (double)(corpus_len - SEQ - 1));
        for (int k = 0; k < SEQ; k++) {
          bx[b * SEQ + k] = vocab_of[(unsigned char)corpus[off + k]];
          bt[b * SEQ + k] = vocab_of[(unsigned char)corpus[off + k + 1]];
        }
      }
      CHECK(nnrt_tensor_write(x, bx, sizeof(int64_t) * BATCH * SEQ));
      CHECK(nnrt_tensor_write(t, bt, sizeof(int64_t) * BATCH * SEQ));
      nnrt_tensor *out, *loss, *gl, *gx;
      CHECK(nnrt_module_zero_grad(net));
      CHECK(nnrt_module_forward(net, x, &out));
      /* every position is one sample: (BATCH, SEQ, V) seen as (BATCH*SEQ, V);
       * shapes are put back after, so the modules keep their tensors */
      CHECK(nnrt_tensor_reshape(out, 2, flat));
      CHECK(nnrt_loss_forward(loss_fn, out, t, &loss));
      CHECK(nnrt_loss_backward(loss_fn, &gl));
      CHECK(nnrt_tensor_reshape(out, 3, out3));
      CHECK(nnrt_tensor_reshape(gl, 3, out3));
      CHECK(nnrt_module_backward(net, gl, &gx));
      CHECK(nnrt_tensor_reshape(gl, 2, flat));
      float lv;
      CHECK(nnrt_tensor_read(loss, &lv, sizeof lv));
      CHECK(nnrt_clip_grad_norm(net, 1.0, 2.0, false, NULL));
      CHECK(nnrt_optimizer_step(opt));
      sum += lv;
      progress(epoch, epochs, s + 1, steps, sum / (s + 1), tty);
    }
    last = sum / steps;
    if (tty) printf("  (%.2f bits/char)\n", last / log(2.0));
    else if (!quiet) printf("epoch %2d/%d loss %.3f (%.2f bits/char)\n", epoch, epochs, last, last / log(2.0));
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  if (epochs) printf("nnrt-demo: %d epochs of %d steps on %s in %.1f s, final loss %.3f\n", epochs, steps,
                     nnrt_device_name(dev), secs, last);
  if (save) {
    CHECK(nnrt_module_save(net, save));
    printf("nnrt-demo: saved weights to %s\n", save);
  }
  if (sample_len) {
    printf("nnrt-demo: sample (temperature 0.7):\n----\n");
    sample(dev, emb, lstm, head, "/* ", sample_len, 0.7);
    printf("----\n");
  }
  free(bx);
  free(bt);
  free(corpus);
  nnrt_tensor_free(x);
  nnrt_tensor_free(t);
  nnrt_optimizer_free(opt);
  nnrt_module_free(loss_fn);
  nnrt_module_free(net);
  return 0;
}
