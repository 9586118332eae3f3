/* tools/bench/json.c - the minimal JSON reader of json.h: a recursive
 * descent parser over the whole text, building a tree of json_value. */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
  const char *s, *p;
  char *err;
  size_t errlen;
  int depth;
} parser;

static int fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser *ps, const char *fmt, ...) {
  if (ps->err && ps->errlen && !ps->err[0]) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* line and column make a hand-edited file fixable */
    int line = 1, col = 1;
    for (const char *q = ps->s; q < ps->p; q++) {
      if (*q == '\n') line++, col = 1;
      else col++;
    }
    snprintf(ps->err, ps->errlen, "%s at line %d, column %d", msg, line, col);
  }
  return -1;
}

static void skip_ws(parser *ps) {
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static void free_inner(json_value *v) {
  if (!v) return;
  free(v->string);
  for (size_t i = 0; i < v->count; i++) {
    free_inner(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof *v);
}

void json_free(json_value *v) {
  free_inner(v);
  free(v);
}

static int put_utf8(char *out, size_t *o, unsigned cp) {
  if (cp < 0x80) out[(*o)++] = (char)cp;
  else if (cp < 0x800) {
    out[(*o)++] = (char)(0xc0 | (cp >> 6));
    out[(*o)++] = (char)(0x80 | (cp & 0x3f));
  } else {
    out[(*o)++] = (char)(0xe0 | (cp >> 12));
    out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*o)++] = (char)(0x80 | (cp & 0x3f));
  }
  return 0;
}

static int parse_string(parser *ps, char **out) {
  if (*ps->p != '"') return fail(ps, "expected a string");
  const char *start = ++ps->p;
  size_t n = 0;
  while (start[n] && start[n] != '"') n += start[n] == '\\' && start[n + 1] ? 2 : 1;
  if (!start[n]) return fail(ps, "unterminated string");
  char *s = malloc(n + 1); /* escapes only shrink */
  if (!s) return fail(ps, "out of memory");
  size_t o = 0;
  while (*ps->p != '"') {
    char c = *ps->p++;
    if ((unsigned char)c < 0x20) {
      free(s);
      return fail(ps, "control character in a string");
    }
    if (c != '\\') {
      s[o++] = c;
      continue;
    }
    c = *ps->p++;
    switch (c) {
    case '"': case '\\': case '/': s[o++] = c; break;
    case 'b': s[o++] = '\b'; break;
    case 'f': s[o++] = '\f'; break;
    case 'n': s[o++] = '\n'; break;
    case 'r': s[o++] = '\r'; break;
    case 't': s[o++] = '\t'; break;
    case 'u': {
      unsigned cp = 0;
      for (int k = 0; k < 4; k++) {
        char h = *ps->p++;
        cp <<= 4;
        if (h >= '0' && h <= '9') cp |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') cp |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') cp |= (unsigned)(h - 'A' + 10);
        else {
          free(s);
          return fail(ps, "bad \\u escape");
        }
      }
      put_utf8(s, &o, cp); /* at most 3 bytes for the 6 read */
      break;
    }
    default: free(s); return fail(ps, "bad escape '\\%c'", c ? c : '0');
    }
  }
  ps->p++;
  s[o] = 0;
  *out = s;
  return 0;
}

static int parse_value(parser *ps, json_value *v);

/* Appends a zeroed slot to an array or object; returns it or NULL. */
static json_value *grow(parser *ps, json_value *v, size_t *cap) {
  if (v->count == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    json_value *items = realloc(v->items, nc * sizeof *items);
    if (!items) return fail(ps, "out of memory"), NULL;
    v->items = items;
    if (v->type == JSON_OBJECT) {
      char **keys = realloc(v->keys, nc * sizeof *keys);
      if (!keys) return fail(ps, "out of memory"), NULL;
      v->keys = keys;
    }
    *cap = nc;
  }
  memset(&v->items[v->count], 0, sizeof v->items[0]);
  if (v->keys) v->keys[v->count] = NULL;
  return &v->items[v->count++];
}

static int parse_container(parser *ps, json_value *v, bool object) {
  char close = object ? '}' : ']';
  size_t cap = 0;
  v->type = object ? JSON_OBJECT : JSON_ARRAY;
  ps->p++;
  skip_ws(ps);
  if (*ps->p == close) {
    ps->p++;
    return 0;
  }
  for (;;) {
    char *key = NULL;
    skip_ws(ps);
    if (object) {
      if (parse_string(ps, &key)) return -1;
      skip_ws(ps);
      if (*ps->p != ':') {
        free(key);
        return fail(ps, "expected ':'");
      }
      ps->p++;
    }
    json_value *slot = grow(ps, v, &cap);
    if (!slot) {
      free(key);
      return -1;
    }
    if (object) v->keys[v->count - 1] = key;
    if (parse_value(ps, slot)) return -1;
    skip_ws(ps);
    if (*ps->p == ',') {
      ps->p++;
      continue;
    }
    if (*ps->p == close) {
      ps->p++;
      return 0;
    }
    return fail(ps, "expected ',' or '%c'", close);
  }
}

static int parse_value(parser *ps, json_value *v) {
  if (++ps->depth > 64) return fail(ps, "nested deeper than 64");
  skip_ws(ps);
  int rc = 0;
  char c = *ps->p;
  if (c == '{' || c == '[') {
    rc = parse_container(ps, v, c == '{');
  } else if (c == '"') {
    v->type = JSON_STRING;
    rc = parse_string(ps, &v->string);
  } else if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
    v->type = JSON_BOOL;
    v->boolean = c == 't';
    ps->p += v->boolean ? 4 : 5;
  } else if (!strncmp(ps->p, "null", 4)) {
    v->type = JSON_NULL;
    ps->p += 4;
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    char *end;
    errno = 0;
    v->type = JSON_NUMBER;
    v->number = strtod(ps->p, &end);
    if (end == ps->p) rc = fail(ps, "bad number");
    ps->p = end;
  } else {
    rc = c ? fail(ps, "unexpected character '%c'", c) : fail(ps, "unexpected end of text");
  }
  ps->depth--;
  return rc;
}

json_value *json_parse(const char *text, char *err, size_t errlen) {
  parser ps = {text, text, err, errlen, 0};
  if (err && errlen) err[0] = 0;
  json_value *v = calloc(1, sizeof *v);
  if (!v) {
    fail(&ps, "out of memory");
    return NULL;
  }
  if (parse_value(&ps, v)) {
    json_free(v);
    return NULL;
  }
  skip_ws(&ps);
  if (*ps.p) {
    fail(&ps, "text after the document");
    json_free(v);
    return NULL;
  }
  return v;
}

json_value *json_parse_file(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) break;
    n += fread(buf + n, 1, cap - n - 1, f);
    if (n < cap - 1) break;
    char *nb = realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  bool bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    snprintf(err, errlen, "cannot read %s", path);
    free(buf);
    return NULL;
  }
  buf[n] = 0;
  char perr[256];
  json_value *v = json_parse(buf, perr, sizeof perr);
  if (!v) snprintf(err, errlen, "%s: %s", path, perr);
  free(buf);
  return v;
}

const json_value *json_get(const json_value *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  for (size_t i = 0; i < obj->count; i++)
    if (!strcmp(obj->keys[i], key)) return &obj->items[i];
  return NULL;
}

const char *json_get_string(const json_value *obj, const char *key, const char *def) {
  const json_value *v = json_get(obj, key);
  return v && v->type == JSON_STRING ? v->string : def;
}

double json_get_number(const json_value *obj, const char *key, double def) {
  const json_value *v = json_get(obj, key);
  return v && v->type == JSON_NUMBER ? v->number : def;
}
