/* backends/ref/unary_exact.c - the elementwise activations whose float32
 * loops keep glibc's scalar libm (REF_UNARY_EXACT_<op> in unary_impl.h,
 * which says why): the driver of unary.c without its vector math. */
#include <math.h>

#define UNARY_CLONES

#include <tgmath.h>

#include "unary_impl.h"

#define UNARY_OWN_0(name, fwd, bwd)
#define UNARY_OWN_1(name, fwd, bwd) UNARY_KERNELS(name, fwd, bwd)
#define UNARY_OWN(name, fwd, bwd) REF_UNARY_CAT(UNARY_OWN_, REF_UNARY_IS_EXACT(name))(name, fwd, bwd)
NNRT_UNARY_LIST(UNARY_OWN)
