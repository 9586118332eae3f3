/* backends/ref/rnn_both.h - rnn_impl.h instantiated for float (gate math
 * on the inline vector functions of ref_vecmath.h, compiled per ISA) and
 * double (scalar libm), for the recurrent kernels (rnn.c, rnn_cell.c). */
#include <cblas.h>

#define RT float
#define RSFX f32
#define RGEMM cblas_sgemm
#define RVEC 1
#include "rnn_impl.h"
#undef RT
#undef RSFX
#undef RGEMM
#undef RVEC
#define RT double
#define RSFX f64
#define RGEMM cblas_dgemm
#define RVEC 0
#include "rnn_impl.h"
#undef RT
#undef RSFX
#undef RGEMM
#undef RVEC
