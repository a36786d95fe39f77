// The two records every query writes, encoded in C: a simple-protocol `query` and an `ok`
// `result` with one tag. Byte for byte what src/audit/record-bytes.ts writes (and so what
// JSON.stringify would), which the tests hold it to; anything else (non-ASCII text, other
// statuses, extended-protocol fields) returns -1 and is encoded in JavaScript. The JavaScript
// encoder costs about 0.45 µs a record, most of the audit log's cost on the event loop.
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint8_t *bytes_of(napi_env env, napi_value v, size_t *len); // sha256.c
napi_value int_value(napi_env env, int64_t v); // sha256.c

#define MAX_TEXT 4096 // longer strings go the JavaScript way

static size_t put(uint8_t *o, size_t p, const char *s, size_t n) {
  memcpy(o + p, s, n);
  return p + n;
}

#define PUT(o, p, lit) put((o), (p), (lit), sizeof(lit) - 1)

// A non-negative integer below 2^53, as JSON.stringify writes it.
static size_t put_uint(uint8_t *o, size_t p, uint64_t v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) o[p++] = (uint8_t)digits[--n];
  return p;
}

// JSON.stringify of an ASCII string: "\b \t \n \f \r" short, other controls \u00xx; -1 for a byte >= 0x80.
static long put_ascii_string(uint8_t *o, size_t p, const uint8_t *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  o[p++] = '"';
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c >= 0x80) return -1;
    if (c >= 0x20 && c != '"' && c != '\\') {
      o[p++] = c;
      continue;
    }
    o[p++] = '\\';
    switch (c) {
    case '"': o[p++] = '"'; break;
    case '\\': o[p++] = '\\'; break;
    case '\b': o[p++] = 'b'; break;
    case '\t': o[p++] = 't'; break;
    case '\n': o[p++] = 'n'; break;
    case '\f': o[p++] = 'f'; break;
    case '\r': o[p++] = 'r'; break;
    default:
      p = PUT(o, p, "u00");
      o[p++] = (uint8_t)hex[c >> 4];
      o[p++] = (uint8_t)hex[c & 15];
    }
  }
  o[p++] = '"';
  return (long)p;
}

// `,"ts":"YYYY-MM-DDTHH:MM:SS.` of the current second, rebuilt when the second changes.
static int64_t stamp_second = -1;
static char stamp[32];
static size_t stamp_len;

static int put_head(uint8_t *o, size_t *p, uint64_t seq, uint64_t micros) {
  int64_t second = (int64_t)(micros / 1000000);
  if (second != stamp_second) {
    time_t t = (time_t)second;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) return -1;
    static const char fmt[] = ",\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.";
    stamp_len = (size_t)snprintf(stamp, sizeof stamp, fmt, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    stamp_second = second;
  }
  size_t q = PUT(o, *p, "{\"seq\":");
  q = put_uint(o, q, seq);
  q = put(o, q, stamp, stamp_len);
  uint32_t frac = (uint32_t)(micros % 1000000);
  for (int k = 5; k >= 0; k--) {
    o[q + (size_t)k] = (uint8_t)('0' + frac % 10);
    frac /= 10;
  }
  *p = q + 6;
  return 0;
}

static int get_uint(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 9007199254740991.0) || (double)(uint64_t)d != d) return -1;
  *out = (uint64_t)d;
  return 0;
}


#define MAX_NAME 256 // statement and portal names (PostgreSQL truncates names at 63 bytes)
#define MAX_PARAMS_JSON 16384

// An ASCII string argument of at most max - 1 bytes into buf; its length, or -1.
static long get_ascii(napi_env env, napi_value v, uint8_t *buf, size_t max) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, (char *)buf, max, &n) != napi_ok || n >= max - 1) return -1;
  return (long)n;
}

// The line of a record (without its newline) from the arguments (seq, micros, prefix, query,
// kind, text, ...) at argv[0..], written at o (cap bytes); its length, or -1 when this record is
// not one it encodes or cap is too small. prefix is `Z","type":"<type>","session":<session>,"query":`
// (record-bytes.ts). kind 0: query, protocol simple, sql = text. kind 1: result, status ok,
// tags [text], then rows, durationUs. kind 2: query, protocol extended, sql = text, then
// statement, portal and params, the last already JSON (JSON.stringify's), written as it is.
long record_line(napi_env env, napi_value *argv, size_t argc, uint8_t *o, size_t cap) {
  if (argc < 6) return -1;
  size_t prefix_len = 0;
  uint8_t *prefix = bytes_of(env, argv[2], &prefix_len);
  uint64_t seq, micros, query, kind, rows = 0, duration = 0;
  if (prefix == NULL || get_uint(env, argv[0], &seq) || get_uint(env, argv[1], &micros) || get_uint(env, argv[3], &query) || get_uint(env, argv[4], &kind) || kind > 2)
    return -1;
  if (kind == 1 && (argc < 8 || get_uint(env, argv[6], &rows) || get_uint(env, argv[7], &duration))) return -1;
  uint8_t text[MAX_TEXT + 1], statement[MAX_NAME], portal[MAX_NAME];
  static uint8_t params[MAX_PARAMS_JSON]; // the event loop's only: too large for its stack frame
  long statement_len = 0, portal_len = 0;
  size_t text_len = 0, params_len = 0;
  if (napi_get_value_string_utf8(env, argv[5], (char *)text, sizeof text, &text_len) != napi_ok || text_len >= MAX_TEXT) return -1;
  if (kind == 2) {
    if (argc < 9 || (statement_len = get_ascii(env, argv[6], statement, sizeof statement)) < 0 || (portal_len = get_ascii(env, argv[7], portal, sizeof portal)) < 0) return -1;
    if (napi_get_value_string_utf8(env, argv[8], (char *)params, sizeof params, &params_len) != napi_ok || params_len >= sizeof params - 1) return -1;
  }
  // Room: the head (seq, stamp, fraction), the prefix, the texts escaped at most six-fold, the rest.
  if (cap < 256 + prefix_len + 6 * (text_len + (size_t)statement_len + (size_t)portal_len) + params_len) return -1;
  size_t p = 0;
  if (put_head(o, &p, seq, micros) != 0) return -1;
  p = put(o, p, (const char *)prefix, prefix_len);
  p = put_uint(o, p, query);
  long end;
  if (kind == 0) {
    p = PUT(o, p, ",\"protocol\":\"simple\",\"sql\":");
    if ((end = put_ascii_string(o, p, text, text_len)) < 0) return -1;
    p = (size_t)end;
  } else if (kind == 2) {
    p = PUT(o, p, ",\"protocol\":\"extended\",\"sql\":");
    if ((end = put_ascii_string(o, p, text, text_len)) < 0) return -1;
    p = PUT(o, (size_t)end, ",\"statement\":");
    if ((end = put_ascii_string(o, p, statement, (size_t)statement_len)) < 0) return -1;
    p = PUT(o, (size_t)end, ",\"portal\":");
    if ((end = put_ascii_string(o, p, portal, (size_t)portal_len)) < 0) return -1;
    p = PUT(o, (size_t)end, ",\"params\":");
    p = put(o, p, (const char *)params, params_len);
  } else {
    p = PUT(o, p, ",\"status\":\"ok\",\"tags\":[");
    if ((end = put_ascii_string(o, p, text, text_len)) < 0) return -1;
    p = PUT(o, (size_t)end, "],\"rows\":");
    p = put_uint(o, p, rows);
    p = PUT(o, p, ",\"duration_us\":");
    p = put_uint(o, p, duration);
  }
  o[p++] = '}';
  return (long)p;
}

// encodeRecordLine(out, pos, seq, micros, prefix, query, kind, text, ...): the line of
// record_line written at out[pos], returning its end; -1 when this record is not one it encodes.
static napi_value EncodeRecordLine(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 8) return int_value(env, -1);
  size_t out_len = 0;
  uint8_t *o = bytes_of(env, argv[0], &out_len);
  uint64_t pos;
  if (o == NULL || get_uint(env, argv[1], &pos) || pos > out_len) return int_value(env, -1);
  long n = record_line(env, argv + 2, argc - 2, o + pos, out_len - (size_t)pos);
  return int_value(env, n < 0 ? -1 : (int64_t)pos + n);
}

napi_status record_encode_init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_status s = napi_create_function(env, "encodeRecordLine", NAPI_AUTO_LENGTH, EncodeRecordLine, NULL, &fn);
  if (s != napi_ok) return s;
  return napi_set_named_property(env, exports, "encodeRecordLine", fn);
}
