/* tools/bench/plot.c - the PNG bar charts of plot.h: a canvas of palette
 * indices, a 3x5 pixel font, and a PNG writer using zlib "stored" blocks
 * (no compression, so no zlib), with the CRC-32 and Adler-32 it needs. */
#include "plot.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- palette: background, ink, grid, then one color per series ---- */
enum { C_WHITE, C_BLACK, C_GRID, C_SERIES };
static const unsigned char palette[][3] = {
    {255, 255, 255}, {0, 0, 0},     {200, 200, 200}, {31, 119, 180}, {255, 127, 14}, {44, 160, 44},
    {214, 39, 40},   {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
};
#define N_COLORS ((int)(sizeof palette / sizeof palette[0]))
#define N_SERIES_COLORS (N_COLORS - C_SERIES)

/* ---- the font: 5 rows of 3 bits (4 = left column), one digit per row ---- */
static const struct {
  char c;
  const char *rows;
} font[] = {
    {'a', "25755"}, {'b', "65656"}, {'c', "34443"}, {'d', "65556"}, {'e', "74647"}, {'f', "74644"},
    {'g', "34553"}, {'h', "55755"}, {'i', "72227"}, {'j', "11152"}, {'k', "55655"}, {'l', "44447"},
    {'m', "57755"}, {'n', "65555"}, {'o', "25552"}, {'p', "65644"}, {'q', "25563"}, {'r', "65655"},
    {'s', "34216"}, {'t', "72222"}, {'u', "55557"}, {'v', "55552"}, {'w', "55775"}, {'x', "55255"},
    {'y', "55222"}, {'z', "71247"}, {'0', "75557"}, {'1', "26227"}, {'2', "61247"}, {'3', "61216"},
    {'4', "55711"}, {'5', "74616"}, {'6', "34757"}, {'7', "71222"}, {'8', "75757"}, {'9', "75716"},
    {'.', "00002"}, {'_', "00007"}, {'+', "02720"}, {'-', "00700"}, {':', "02020"}, {'/', "11244"},
    {'(', "12221"}, {')', "42224"}, {'%', "51245"}, {'*', "52725"}, {',', "00024"}, {'=', "07070"},
};
#define FONT_SCALE 2
#define CHAR_W (4 * FONT_SCALE) /* advance: 3 columns and a gap */
#define CHAR_H (5 * FONT_SCALE)

typedef struct canvas {
  int w, h;
  unsigned char *px;
} canvas;

static void fill(canvas *cv, int x0, int y0, int w, int h, unsigned char c) {
  for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < cv->h; y++)
    for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < cv->w; x++) cv->px[(size_t)y * (size_t)cv->w + (size_t)x] = c;
}

static int text_width(const char *s) { return (int)strlen(s) * CHAR_W; }

static void text(canvas *cv, int x, int y, const char *s, unsigned char c) {
  for (; *s; s++, x += CHAR_W) {
    int ch = tolower((unsigned char)*s);
    const char *rows = NULL;
    for (size_t k = 0; k < sizeof font / sizeof font[0] && !rows; k++)
      if (font[k].c == ch) rows = font[k].rows;
    if (!rows) continue;
    for (int r = 0; r < 5; r++)
      for (int col = 0; col < 3; col++)
        if ((rows[r] - '0') & (4 >> col)) fill(cv, x + col * FONT_SCALE, y + r * FONT_SCALE, FONT_SCALE, FONT_SCALE, c);
  }
}

/* ---- PNG ---- */
static uint32_t crc_table[256];

static void crc_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

static void be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static int chunk(FILE *f, const char *type, const unsigned char *data, size_t n) {
  unsigned char hdr[8];
  be32(hdr, (uint32_t)n);
  memcpy(hdr + 4, type, 4);
  uint32_t crc = crc_update(0xffffffffu, hdr + 4, 4);
  crc = crc_update(crc, data, n) ^ 0xffffffffu;
  unsigned char tail[4];
  be32(tail, crc);
  return fwrite(hdr, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(tail, 1, 4, f) == 4 ? 0 : -1;
}

static int write_png(const canvas *cv, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return -1;
  }
  crc_init();
  /* raw scanlines: filter byte 0, then the row's palette indices */
  size_t row = (size_t)cv->w + 1, raw_n = row * (size_t)cv->h;
  size_t blocks = (raw_n + 65534) / 65535;
  size_t z_n = 2 + raw_n + blocks * 5 + 4;
  unsigned char *z = malloc(z_n);
  if (!z) {
    fclose(f);
    snprintf(err, errlen, "out of memory for a %dx%d image", cv->w, cv->h);
    return -1;
  }
  size_t o = 0;
  z[o++] = 0x78; /* deflate, 32K window */
  z[o++] = 0x01; /* no preset dictionary, fastest; (0x78 << 8 | 0x01) % 31 == 0 */
  uint32_t a = 1, b = 0;
  size_t done = 0;
  for (size_t blk = 0; blk < blocks; blk++) {
    size_t n = raw_n - done < 65535 ? raw_n - done : 65535;
    z[o++] = blk + 1 == blocks; /* BFINAL, BTYPE 00 = stored */
    z[o++] = (unsigned char)n;
    z[o++] = (unsigned char)(n >> 8);
    z[o++] = (unsigned char)~n;
    z[o++] = (unsigned char)(~n >> 8);
    for (size_t k = 0; k < n; k++, done++) {
      size_t y = done / row, x = done % row;
      unsigned char v = x == 0 ? 0 : cv->px[y * (size_t)cv->w + x - 1];
      z[o++] = v;
      a = (a + v) % 65521;
      b = (b + a) % 65521;
    }
  }
  be32(z + o, b << 16 | a);
  o += 4;
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  unsigned char ihdr[13];
  be32(ihdr, (uint32_t)cv->w);
  be32(ihdr + 4, (uint32_t)cv->h);
  ihdr[8] = 8;  /* bits per index */
  ihdr[9] = 3;  /* indexed color */
  ihdr[10] = ihdr[11] = ihdr[12] = 0;
  int rc = fwrite(sig, 1, 8, f) == 8 && !chunk(f, "IHDR", ihdr, 13) &&
                   !chunk(f, "PLTE", &palette[0][0], sizeof palette) && !chunk(f, "IDAT", z, o) &&
                   !chunk(f, "IEND", NULL, 0)
               ? 0
               : -1;
  free(z);
  if (fclose(f) || rc) {
    snprintf(err, errlen, "cannot write %s", path);
    return -1;
  }
  return 0;
}

/* ---- the chart ---- */
#define MARGIN 16
#define AXIS_W 48      /* room for tick labels left of the plot */
#define PLOT_H 180     /* bar area of a panel */
#define BAR_W 12
#define PANEL_GAP 24

static int cluster_width(int n_series, const char *label) {
  int bars = n_series * BAR_W + 2 * BAR_W, lw = text_width(label) + CHAR_W;
  return bars > lw ? bars : lw;
}

int plot_write_png(const char *path, const char *title, int n_series, const char *const *series,
                   int n_panels, const plot_panel *panels, double ref_line, char *err, size_t errlen) {
  /* layout: title, legend, then panels stacked, labels under the bars */
  int width = 0;
  for (int p = 0; p < n_panels; p++) {
    int w = 0;
    for (int i = 0; i < panels[p].n_bars; i++) w += cluster_width(n_series, panels[p].labels[i]);
    int tw = text_width(panels[p].title);
    if (tw > w) w = tw;
    if (w > width) width = w;
  }
  int legend_w = 0;
  for (int s = 0; s < n_series; s++) legend_w += 2 * CHAR_W + text_width(series[s]) + 2 * CHAR_W;
  if (legend_w > width) width = legend_w;
  if (text_width(title) > width) width = text_width(title);
  width += 2 * MARGIN + AXIS_W;
  int panel_h = CHAR_H + 8 + PLOT_H + CHAR_H + 8;
  int height = MARGIN + CHAR_H + 10 + CHAR_H + 10 + n_panels * (panel_h + PANEL_GAP) + MARGIN;
  if (width > 16384 || height > 16384) {
    snprintf(err, errlen, "chart of %dx%d pixels is too large", width, height);
    return -1;
  }
  canvas cv = {width, height, calloc((size_t)width * (size_t)height, 1)};
  if (!cv.px) {
    snprintf(err, errlen, "out of memory for a %dx%d image", width, height);
    return -1;
  }
  int y = MARGIN;
  text(&cv, MARGIN, y, title, C_BLACK);
  y += CHAR_H + 10;
  int x = MARGIN + AXIS_W;
  for (int s = 0; s < n_series; s++) {
    fill(&cv, x, y, CHAR_W + CHAR_W / 2, CHAR_H, (unsigned char)(C_SERIES + s % N_SERIES_COLORS));
    x += 2 * CHAR_W;
    text(&cv, x, y, series[s], C_BLACK);
    x += text_width(series[s]) + 2 * CHAR_W;
  }
  y += CHAR_H + 10;
  for (int p = 0; p < n_panels; p++) {
    const plot_panel *pn = &panels[p];
    text(&cv, MARGIN + AXIS_W, y, pn->title, C_BLACK);
    int top = y + CHAR_H + 8, base = top + PLOT_H;
    double vmax = ref_line > 0 ? ref_line : 0;
    for (int k = 0; k < pn->n_bars * n_series; k++)
      if (pn->values[k] > vmax) vmax = pn->values[k];
    if (!(vmax > 0)) vmax = 1;
    /* an outlier (a tiny case timed in cache) must not flatten the rest:
     * bars above 4x the reference line are clipped and capped in black */
    if (ref_line > 0 && vmax > 4 * ref_line) vmax = 4 * ref_line;
    /* ticks at a 1-2-5 step giving 3 to 6 intervals */
    double step = pow(10, floor(log10(vmax / 4)));
    if (vmax / step > 12) step *= 5;
    else if (vmax / step > 6) step *= 2;
    double ytop = ceil(vmax / step - 1e-9) * step;
    int x0 = MARGIN + AXIS_W, x1 = width - MARGIN;
    for (double t = 0; t <= ytop + step / 2; t += step) {
      int ty = base - (int)lround(t / ytop * PLOT_H);
      fill(&cv, x0, ty, x1 - x0, 1, C_GRID);
      char lab[32];
      snprintf(lab, sizeof lab, "%g", t);
      text(&cv, x0 - text_width(lab) - 4, ty - CHAR_H / 2, lab, C_BLACK);
    }
    if (ref_line > 0) {
      int ry = base - (int)lround(ref_line / ytop * PLOT_H);
      for (int rx = x0; rx < x1; rx += 8) fill(&cv, rx, ry, 4, 2, C_BLACK);
    }
    fill(&cv, x0, top, 1, PLOT_H + 1, C_BLACK);
    fill(&cv, x0, base, x1 - x0, 1, C_BLACK);
    int cx = x0;
    for (int i = 0; i < pn->n_bars; i++) {
      int cw = cluster_width(n_series, pn->labels[i]);
      int bx = cx + (cw - n_series * BAR_W) / 2;
      for (int s = 0; s < n_series; s++) {
        double v = pn->values[i * n_series + s];
        if (!(v >= 0)) continue;
        int hgt = (int)lround((v > ytop ? ytop : v) / ytop * PLOT_H);
        fill(&cv, bx + s * BAR_W, base - hgt, BAR_W - 2, hgt, (unsigned char)(C_SERIES + s % N_SERIES_COLORS));
        if (v > ytop) fill(&cv, bx + s * BAR_W, base - hgt, BAR_W - 2, 3, C_BLACK);
      }
      text(&cv, cx + (cw - text_width(pn->labels[i])) / 2, base + 6, pn->labels[i], C_BLACK);
      cx += cw;
    }
    y += panel_h + PANEL_GAP;
  }
  int rc = write_png(&cv, path, err, errlen);
  free(cv.px);
  return rc;
}
