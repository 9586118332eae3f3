/* tools/bench/json.h - a minimal JSON reader for nnrt-bench --baseline.
 *
 * Parses a whole document into a tree.  Enough for the files nnrt-bench and
 * tools/bench/pytorch_baseline.py write: objects, arrays, strings (escapes
 * \" \\ \/ \b \f \n \r \t, \uXXXX as UTF-8 without surrogate pairs),
 * numbers, true, false, null.  Limits: nesting depth 64; no streaming.
 */
#ifndef NNRT_BENCH_JSON_H
#define NNRT_BENCH_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
  json_type type;
  bool boolean;
  double number;
  char *string;             /* JSON_STRING */
  size_t count;             /* JSON_ARRAY, JSON_OBJECT: element count */
  struct json_value *items; /* their values */
  char **keys;              /* JSON_OBJECT: their keys */
} json_value;

/* The tree of text, or NULL with a message (position included) in err. */
json_value *json_parse(const char *text, char *err, size_t errlen);
/* Reads and parses a file; NULL with err on failure. */
json_value *json_parse_file(const char *path, char *err, size_t errlen);
void json_free(json_value *v);
/* The member named key of an object; NULL when absent or not an object. */
const json_value *json_get(const json_value *obj, const char *key);
/* Member key as a string / number, or def when absent or of another type. */
const char *json_get_string(const json_value *obj, const char *key, const char *def);
double json_get_number(const json_value *obj, const char *key, double def);

#endif
