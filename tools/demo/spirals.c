/* tools/demo/spirals.c - the small demo (nnrt-demo-spirals): trains a small
 * MLP classifier on a data set it generates (three interleaved spirals in
 * the plane, with noise), with
 * Linear + activations + cross_entropy + SGD with momentum, on the default
 * device (NNRT_BACKEND) or the one --backend names, printing loss and
 * accuracy per epoch.  Uses the public API only.
 *
 *   nnrt-demo-spirals [--backend NAME] [--epochs N] [--seed S] [--quiet]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nnrt/nnrt.h>

#define CLASSES 3
#define PER_CLASS 400
#define N_SAMPLES (CLASSES * PER_CLASS)
#define BATCH 64
#define HIDDEN 64

#define CHECK(call)                                                              \
  do {                                                                           \
    nnrt_status st_ = (call);                                                    \
    if (st_) {                                                                   \
      fprintf(stderr, "nnrt-demo-spirals: %s failed: %s (%s)\n", #call, nnrt_last_error(), nnrt_status_str(st_)); \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

static uint64_t rng_state;
static double uniform(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double normal(void) {
  double u = uniform() + 1e-12, v = uniform();
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Three spirals: class k at angle t*4 + 2*pi*k/3, radius t. */
static void make_spirals(float *x, int64_t *y) {
  for (int k = 0; k < CLASSES; k++)
    for (int i = 0; i < PER_CLASS; i++) {
      double t = (double)i / PER_CLASS;
      double a = t * 4.0 + 2 * M_PI * k / CLASSES + normal() * 0.15;
      int n = k * PER_CLASS + i;
      x[2 * n] = (float)(t * cos(a));
      x[2 * n + 1] = (float)(t * sin(a));
      y[n] = k;
    }
}

static void progress(int epoch, int epochs, int done, int total, double loss, bool tty) {
  if (!tty) return;
  int width = 30, fill = total ? done * width / total : width;
  printf("\repoch %3d/%d [", epoch, epochs);
  for (int i = 0; i < width; i++) putchar(i < fill ? '#' : '.');
  printf("] %4d/%d loss %.4f", done, total, loss);
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *backend = NULL;
  int epochs = 30;
  bool quiet = false;
  rng_state = 42;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
    else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) rng_state = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--quiet")) quiet = true;
    else {
      fprintf(stderr, "usage: nnrt-demo-spirals [--backend NAME] [--epochs N] [--seed S] [--quiet]\n");
      return 2;
    }
  }
  if (epochs < 1) {
    fprintf(stderr, "nnrt-demo-spirals: --epochs must be >= 1\n");
    return 2;
  }
  nnrt_device *dev;
  CHECK(backend ? nnrt_device_get(backend, &dev) : nnrt_device_default(&dev));
  printf("nnrt-demo-spirals: MLP on three spirals, backend %s (%s)\n", nnrt_device_name(dev), nnrt_device_description(dev));

  static float xs[N_SAMPLES * 2];
  static int64_t ys[N_SAMPLES];
  make_spirals(xs, ys);

  /* 2 -> 64 -> 64 -> 3 */
  nnrt_module *net, *m;
  CHECK(nnrt_module_sequential(dev, &net));
  CHECK(nnrt_module_linear(dev, 2, HIDDEN, true, 1, &m));
  CHECK(nnrt_sequential_add(net, m));
  CHECK(nnrt_module_activation(dev, NNRT_OP_relu, NULL, &m));
  CHECK(nnrt_sequential_add(net, m));
  CHECK(nnrt_module_linear(dev, HIDDEN, HIDDEN, true, 2, &m));
  CHECK(nnrt_sequential_add(net, m));
  CHECK(nnrt_module_activation(dev, NNRT_OP_tanh, NULL, &m));
  CHECK(nnrt_sequential_add(net, m));
  CHECK(nnrt_module_linear(dev, HIDDEN, CLASSES, true, 3, &m));
  CHECK(nnrt_sequential_add(net, m));
  nnrt_module *loss_fn;
  CHECK(nnrt_module_loss(dev, NNRT_OP_cross_entropy, NULL, NULL, &loss_fn));
  nnrt_sgd_step_params sgd = {.lr = 0.1, .momentum = 0.9};
  nnrt_optimizer *opt;
  CHECK(nnrt_optimizer_sgd(net, &sgd, &opt));

  int64_t xshape[2] = {BATCH, 2}, yshape[1] = {BATCH};
  nnrt_tensor *xb, *yb;
  CHECK(nnrt_tensor_new(dev, NNRT_F32, 2, xshape, &xb));
  CHECK(nnrt_tensor_new(dev, NNRT_I64, 1, yshape, &yb));
  int order[N_SAMPLES];
  for (int i = 0; i < N_SAMPLES; i++) order[i] = i;
  bool tty = isatty(1) && !quiet;
  int steps = N_SAMPLES / BATCH;
  float bx[BATCH * 2], logits[BATCH * CLASSES], lv;
  int64_t by[BATCH];
  double final_acc = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int epoch = 1; epoch <= epochs; epoch++) {
    for (int i = N_SAMPLES - 1; i > 0; i--) { /* shuffle */
      int j = (int)(uniform() * (i + 1));
      int t = order[i]; order[i] = order[j]; order[j] = t;
    }
    double loss_sum = 0;
    int correct = 0;
    for (int s = 0; s < steps; s++) {
      for (int b = 0; b < BATCH; b++) {
        int n = order[s * BATCH + b];
        bx[2 * b] = xs[2 * n];
        bx[2 * b + 1] = xs[2 * n + 1];
        by[b] = ys[n];
      }
      CHECK(nnrt_tensor_write(xb, bx, sizeof bx));
      CHECK(nnrt_tensor_write(yb, by, sizeof by));
      nnrt_tensor *out, *loss, *g;
      CHECK(nnrt_module_zero_grad(net));
      CHECK(nnrt_module_forward(net, xb, &out));
      CHECK(nnrt_loss_forward(loss_fn, out, yb, &loss));
      CHECK(nnrt_loss_backward(loss_fn, &g));
      CHECK(nnrt_module_backward(net, g, &g));
      CHECK(nnrt_optimizer_step(opt));
      CHECK(nnrt_tensor_read(loss, &lv, sizeof lv));
      CHECK(nnrt_tensor_read(out, logits, sizeof logits));
      for (int b = 0; b < BATCH; b++) {
        int best = 0;
        for (int c = 1; c < CLASSES; c++)
          if (logits[b * CLASSES + c] > logits[b * CLASSES + best]) best = c;
        correct += best == by[b];
      }
      loss_sum += lv;
      progress(epoch, epochs, s + 1, steps, loss_sum / (s + 1), tty);
    }
    final_acc = 100.0 * correct / (steps * BATCH);
    if (tty) printf("  acc %5.1f%%\n", final_acc);
    else if (!quiet) printf("epoch %3d/%d loss %.4f acc %5.1f%%\n", epoch, epochs, loss_sum / steps, final_acc);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  printf("nnrt-demo-spirals: trained %d epochs on %s in %.2f s; final training accuracy %.1f%%\n", epochs,
         nnrt_device_name(dev), secs, final_acc);
  nnrt_tensor_free(xb);
  nnrt_tensor_free(yb);
  nnrt_optimizer_free(opt);
  nnrt_module_free(loss_fn);
  nnrt_module_free(net);
  return 0;
}
