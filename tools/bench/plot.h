/* tools/bench/plot.h - grouped bar charts written as PNG with no library:
 * nnrt-bench --plot.
 *
 * One image holds one panel per op group; each panel has a cluster of bars
 * per case, one bar per series (device), over a y axis from 0 with a few
 * labelled ticks and an optional dashed reference line (1.0 = roofline);
 * with a reference line the axis stops at 4x it, and taller bars are
 * clipped and capped in black.
 * Text uses a built-in 3x5 pixel font (letters are drawn upper-case; the
 * characters it lacks are drawn as blanks).  The PNG is 8-bit indexed,
 * stored uncompressed in deflate "stored" blocks, so files are large-ish
 * (about one byte per pixel) but need no zlib.
 */
#ifndef NNRT_BENCH_PLOT_H
#define NNRT_BENCH_PLOT_H

#include <stddef.h>

typedef struct plot_panel {
  const char *title;
  int n_bars;                /* clusters */
  const char *const *labels; /* n_bars cluster labels */
  const double *values;      /* n_bars * n_series, cluster-major; NaN or < 0: no bar */
} plot_panel;

/* Writes the chart; 0, or -1 with a message in err. */
int plot_write_png(const char *path, const char *title, int n_series, const char *const *series,
                   int n_panels, const plot_panel *panels, double ref_line, char *err, size_t errlen);

#endif
