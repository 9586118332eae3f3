/* tests/tools_helper.c - a small driver for the tool tests of
 * tests/tools.cmake (ctest alone cannot check an exit status and the
 * output together, nor read a .npy).
 *
 *   tools_helper mknpy DIR                 writes the small .npy inputs below
 *   tools_helper pass REGEX CMD ARGS...    CMD must exit 0 and print a match
 *   tools_helper fail REGEX CMD ARGS...    CMD must exit 1..125 and print a match
 *   tools_helper json CMD ARGS...          CMD must exit 0 and print valid JSON
 *   tools_helper expect FILE V0,V1,... -- CMD ARGS...
 *                                          CMD must exit 0; FILE then holds V*
 *
 * REGEX is POSIX extended, matched against stdout and stderr together, with
 * ^ and $ at line ends.  The JSON check is a strict recursive-descent parse
 * of RFC 8259 (no duplicate-key check).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npy.h"

/* Runs argv, capturing stdout+stderr (or stdout only) into a malloc'ed
 * string; returns the exit status, or -1 if it did not exit normally. */
static int run(char **argv, bool with_stderr, char **output) {
  int fds[2];
  if (pipe(fds)) {
    perror("pipe");
    exit(3);
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(3);
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    if (with_stderr) dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execvp(argv[0], argv);
    fprintf(stderr, "tools_helper: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
    ssize_t n = read(fds[0], buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = 0;
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *output = buf;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool matches(const char *regex, const char *text) {
  regex_t re;
  int rc = regcomp(&re, regex, REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
  if (rc) {
    char msg[256];
    regerror(rc, &re, msg, sizeof msg);
    fprintf(stderr, "tools_helper: bad regex '%s': %s\n", regex, msg);
    exit(3);
  }
  bool m = regexec(&re, text, 0, NULL, 0) == 0;
  regfree(&re);
  return m;
}

/* ---- JSON ---- */
typedef struct json {
  const char *p;
  int depth;
} json;

static void ws(json *j) {
  while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r') j->p++;
}

static bool value(json *j);

static bool string(json *j) {
  if (*j->p++ != '"') return false;
  for (;;) {
    unsigned char c = (unsigned char)*j->p++;
    if (c == '"') return true;
    if (c < 0x20) return false; /* includes the end of the text */
    if (c == '\\') {
      c = (unsigned char)*j->p++;
      if (c == 'u') {
        for (int i = 0; i < 4; i++)
          if (!isxdigit((unsigned char)*j->p++)) return false;
      } else if (!strchr("\"\\/bfnrt", c) || !c) {
        return false;
      }
    }
  }
}

static bool number(json *j) {
  const char *p = j->p;
  if (*p == '-') p++;
  if (*p == '0') p++;
  else if (isdigit((unsigned char)*p)) while (isdigit((unsigned char)*p)) p++;
  else return false;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return false;
    while (isdigit((unsigned char)*p)) p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return false;
    while (isdigit((unsigned char)*p)) p++;
  }
  j->p = p;
  return true;
}

static bool word(json *j, const char *w) {
  size_t l = strlen(w);
  if (strncmp(j->p, w, l)) return false;
  j->p += l;
  return true;
}

static bool container(json *j, char open, char close, bool keys) {
  if (*j->p++ != open || ++j->depth > 256) return false;
  ws(j);
  if (*j->p == close) {
    j->p++;
    j->depth--;
    return true;
  }
  for (;;) {
    ws(j);
    if (keys) {
      if (!string(j)) return false;
      ws(j);
      if (*j->p++ != ':') return false;
    }
    if (!value(j)) return false;
    ws(j);
    char c = *j->p++;
    if (c == close) break;
    if (c != ',') return false;
  }
  j->depth--;
  return true;
}

static bool value(json *j) {
  ws(j);
  switch (*j->p) {
  case '{': return container(j, '{', '}', true);
  case '[': return container(j, '[', ']', false);
  case '"': return string(j);
  case 't': return word(j, "true");
  case 'f': return word(j, "false");
  case 'n': return word(j, "null");
  default: return number(j);
  }
}

static bool valid_json(const char *text, size_t *at) {
  json j = {text, 0};
  bool ok = value(&j);
  if (ok) {
    ws(&j);
    ok = *j.p == 0;
  }
  *at = (size_t)(j.p - text);
  return ok;
}

/* ---- .npy ---- */
static void save(const char *dir, const char *name, nnrt_dtype dt, int ndim, const int64_t *shape, const void *data) {
  char path[1024], err[512];
  npy_array a = {.dtype = dt, .ndim = ndim, .data = (void *)data};
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= a.shape[i] = shape[i];
  a.bytes = (size_t)n * nnrt_dtype_size(dt);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (npy_write(path, &a, err, sizeof err)) {
    fprintf(stderr, "tools_helper: %s\n", err);
    exit(3);
  }
}

static int mknpy(const char *dir) {
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  if (system(cmd)) return 3;
  const float x[6] = {-2, -1, 0, 1, 2, 3};
  const double x64[6] = {-2, -1, 0, 1, 2, 3};
  const int64_t t[2] = {0, 2};
  const float tf[2] = {0, 2};
  float w[12], g[8];
  for (int i = 0; i < 12; i++) w[i] = 0.5f;
  for (int i = 0; i < 8; i++) g[i] = 1.0f;
  save(dir, "x.npy", NNRT_F32, 2, (int64_t[]){2, 3}, x);
  save(dir, "x64.npy", NNRT_F64, 2, (int64_t[]){2, 3}, x64);
  save(dir, "t.npy", NNRT_I64, 1, (int64_t[]){2}, t);
  save(dir, "tf.npy", NNRT_F32, 1, (int64_t[]){2}, tf);
  save(dir, "w.npy", NNRT_F32, 2, (int64_t[]){4, 3}, w);
  save(dir, "g.npy", NNRT_F32, 2, (int64_t[]){2, 4}, g);
  char path[1024];
  snprintf(path, sizeof path, "%s/bad.npy", dir);
  FILE *f = fopen(path, "wb");
  if (!f) return 3;
  fputs("\x93NUMPY garbage", f);
  fclose(f);
  return 0;
}

static int expect_file(const char *path, const char *values) {
  npy_array a;
  char err[512];
  if (npy_read(path, &a, err, sizeof err) || npy_convert(&a, NNRT_F64, err, sizeof err)) {
    fprintf(stderr, "tools_helper: %s\n", err);
    return 1;
  }
  const double *v = a.data;
  int64_t n = npy_numel(&a), k = 0;
  int rc = 0;
  for (const char *p = values; *p; k++) {
    char *end;
    double want = strtod(p, &end);
    if (end == p) {
      fprintf(stderr, "tools_helper: bad value list '%s'\n", values);
      return 3;
    }
    if (k >= n || fabs(v[k] - want) > 1e-5 * fmax(1, fabs(want))) {
      fprintf(stderr, "tools_helper: %s[%lld] = %.9g, want %.9g\n", path, (long long)k, k < n ? v[k] : NAN, want);
      rc = 1;
    }
    p = *end == ',' ? end + 1 : end;
  }
  if (k != n) {
    fprintf(stderr, "tools_helper: %s holds %lld values, want %lld\n", path, (long long)n, (long long)k);
    rc = 1;
  }
  npy_free(&a);
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "mknpy")) return mknpy(argv[2]);
  char *out = NULL;
  if (argc >= 4 && (!strcmp(argv[1], "pass") || !strcmp(argv[1], "fail"))) {
    bool want_pass = !strcmp(argv[1], "pass");
    int rc = run(argv + 3, true, &out);
    fputs(out, stdout);
    bool rc_ok = want_pass ? rc == 0 : rc >= 1 && rc <= 125;
    bool m = matches(argv[2], out);
    if (!rc_ok) printf("tools_helper: exit status %d, want %s\n", rc, want_pass ? "0" : "1..125");
    if (!m) printf("tools_helper: output does not match /%s/\n", argv[2]);
    free(out);
    return rc_ok && m ? 0 : 1;
  }
  if (argc >= 3 && !strcmp(argv[1], "json")) {
    int rc = run(argv + 2, false, &out);
    size_t at;
    bool ok = valid_json(out, &at);
    if (rc) printf("tools_helper: exit status %d\n", rc);
    if (!ok) printf("tools_helper: invalid JSON at byte %zu: ...%.60s\n", at, out + (at > 20 ? at - 20 : 0));
    free(out);
    return !rc && ok ? 0 : 1;
  }
  if (argc >= 6 && !strcmp(argv[1], "expect") && !strcmp(argv[4], "--")) {
    int rc = run(argv + 5, true, &out);
    fputs(out, stdout);
    free(out);
    if (rc) {
      printf("tools_helper: exit status %d\n", rc);
      return 1;
    }
    return expect_file(argv[2], argv[3]);
  }
  fprintf(stderr, "usage: tools_helper mknpy DIR | pass|fail REGEX CMD... | json CMD... | expect FILE V,... -- CMD...\n");
  return 3;
}
