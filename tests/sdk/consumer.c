/* tests/sdk/consumer.c - a program built against the installed SDK (by
 * CMake's find_package and by pkg-config): it lists devices and runs relu
 * on the template plugin, which was itself built against the SDK alone. */
#include <nnrt/nnrt.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  nnrt_device *dev;
  if (nnrt_device_get("template", &dev)) {
    fprintf(stderr, "consumer: %s\n", nnrt_last_error());
    return 1;
  }
  int64_t n = 4;
  float in[4] = {-1, 2, -3, 4}, out[4];
  nnrt_tensor *x, *y;
  if (nnrt_tensor_new(dev, NNRT_F32, 1, &n, &x) || nnrt_tensor_new(dev, NNRT_F32, 1, &n, &y) ||
      nnrt_tensor_write(x, in, sizeof in) || nnrt_relu(x, y, NULL) || nnrt_tensor_read(y, out, sizeof out)) {
    fprintf(stderr, "consumer: %s\n", nnrt_last_error());
    return 1;
  }
  printf("consumer: relu on %s: %g %g %g %g\n", nnrt_device_name(dev), out[0], out[1], out[2], out[3]);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  return out[0] == 0 && out[1] == 2 && out[2] == 0 && out[3] == 4 ? 0 : 1;
}
