/* backends/ref/rnn_both.h - rnn_impl.h instantiated for float and double,
 * for the recurrent kernels (rnn.c, rnn_cell.c). */
#include <cblas.h>

#define RT float
#define RSFX f32
#define RGEMM cblas_sgemm
#include "rnn_impl.h"
#undef RT
#undef RSFX
#undef RGEMM
#define RT double
#define RSFX f64
#define RGEMM cblas_dgemm
#include "rnn_impl.h"
#undef RT
#undef RSFX
#undef RGEMM
