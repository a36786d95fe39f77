// pgseal's SHA-256 for the Merkle tree: one call hashes prefix ‖ a [‖ b] with the SHA-256 of the
// OpenSSL that Node itself is linked with (SHA-NI where the CPU has it). node:crypto's one-shot
// hash() costs about 2 µs per call on a 200-byte record, almost all of it call overhead; this
// costs a few hundred nanoseconds, which matters at two leaves and about two nodes per query.
//
// The OpenSSL symbols are resolved from the node binary at load time (official builds export
// them; distribution builds link libcrypto), so nothing is linked here. If loading fails, pgseal
// falls back to node:crypto (src/audit/sha256.ts) with identical results.
#include <node_api.h>
#include <openssl/sha.h>
#include <stdint.h>

#define HASH 32

static uint8_t empty[1];

// Typed-array bytes of v, or NULL when v is not a Uint8Array (Buffers are Uint8Arrays). An empty
// array may have no data pointer at all: it gets a valid one, never read.
uint8_t *bytes_of(napi_env env, napi_value v, size_t *len) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) return NULL;
  return *len == 0 || data == NULL ? empty : data;
}

// SHA-256(prefix ‖ a ‖ b) into out; out may overlap a or b.
// int_value is v as a JavaScript number (for the other files' -errno and length results).
napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

void hash_prefixed(uint8_t *out, uint8_t prefix, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, &prefix, 1);
  if (a_len > 0) SHA256_Update(&ctx, a, a_len);
  if (b_len > 0) SHA256_Update(&ctx, b, b_len);
  SHA256_Final(out, &ctx);
}

// sha256(out: Uint8Array(32), prefix: number 0..255, a: Uint8Array, b?: Uint8Array): undefined
static napi_value Sha256(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "sha256(out, prefix, a[, b])");
    return NULL;
  }
  size_t out_len = 0, a_len = 0, b_len = 0;
  uint8_t *out = bytes_of(env, argv[0], &out_len);
  uint8_t *a = bytes_of(env, argv[2], &a_len);
  uint8_t *b = NULL;
  if (argc >= 4) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined && (b = bytes_of(env, argv[3], &b_len)) == NULL) {
      napi_throw_type_error(env, NULL, "sha256: b must be a Uint8Array");
      return NULL;
    }
  }
  uint32_t prefix = 0;
  if (out == NULL || out_len != SHA256_DIGEST_LENGTH || a == NULL || napi_get_value_uint32(env, argv[1], &prefix) != napi_ok || prefix > 255) {
    napi_throw_type_error(env, NULL, "sha256: out must be 32 bytes, prefix a byte, a a Uint8Array");
    return NULL;
  }
  hash_prefixed(out, (uint8_t)prefix, a, a_len, b, b_len); // reads a and b fully before writing out
  return NULL;
}

#define MAX_HEIGHT 54 // tree sizes are below 2^53: at most 53 subtree roots, plus one new leaf

// appendLeaves(slab, count, size, data, ends, n): count' — RFC 9162 compact-frontier append of
// the n newline-separated records of data (line i ends at ends[i], the next starts after it),
// the same steps as MerkleFrontier.appendLeafOf in src/audit/merkle.ts, in one call per batch:
// leaf = HASH(0x00 ‖ line) goes above the top; each trailing one bit of the tree size merges
// top = HASH(0x01 ‖ top ‖ new). slab holds the subtree roots, 32 bytes each, count of them.
static napi_value AppendLeaves(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  size_t slab_len = 0, data_len = 0, ends_len = 0;
  uint8_t *slab = argc == 6 ? bytes_of(env, argv[0], &slab_len) : NULL;
  uint8_t *data = argc == 6 ? bytes_of(env, argv[3], &data_len) : NULL;
  napi_typedarray_type ends_type;
  void *ends_data = NULL;
  uint32_t count = 0, n = 0;
  double size_d = -1;
  if (slab == NULL || data == NULL || slab_len < MAX_HEIGHT * HASH ||
      napi_get_typedarray_info(env, argv[4], &ends_type, &ends_len, &ends_data, NULL, NULL) != napi_ok || ends_type != napi_uint32_array ||
      napi_get_value_uint32(env, argv[1], &count) != napi_ok || napi_get_value_double(env, argv[2], &size_d) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &n) != napi_ok || n > ends_len || count >= MAX_HEIGHT ||
      !(size_d >= 0 && size_d + n <= 9007199254740991.0)) {
    napi_throw_type_error(env, NULL, "appendLeaves(slab, count, size, data, ends, n): bad arguments");
    return NULL;
  }
  const uint32_t *ends = ends_data;
  uint64_t size = (uint64_t)size_d;
  // A frontier of size s holds popcount(s) roots; anything else would merge below the slab.
  if ((double)size != size_d || (uint32_t)__builtin_popcountll(size) != count) {
    napi_throw_type_error(env, NULL, "appendLeaves: count must be the number of set bits of size");
    return NULL;
  }
  size_t start = 0;
  for (uint32_t i = 0; i < n; i++) {
    size_t end = ends[i];
    if (end < start || end > data_len || (end < data_len && data[end] != '\n')) {
      napi_throw_range_error(env, NULL, "appendLeaves: line ends out of order or not at a newline");
      return NULL;
    }
    uint32_t top = count;
    hash_prefixed(slab + (size_t)top * HASH, 0x00, data + start, end - start, NULL, 0);
    for (uint64_t m = size; m & 1; m >>= 1) {
      top -= 1;
      hash_prefixed(slab + (size_t)top * HASH, 0x01, slab + (size_t)top * HASH, HASH, slab + (size_t)(top + 1) * HASH, HASH);
    }
    count = top + 1;
    size += 1;
    start = end + 1;
  }
  napi_value result;
  napi_create_uint32(env, count, &result);
  return result;
}

napi_status tls_record_init(napi_env env, napi_value exports); // tls-record.c
napi_status segment_append_init(napi_env env, napi_value exports); // segment-append.c
napi_status record_encode_init(napi_env env, napi_value exports); // record-encode.c

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "sha256", NAPI_AUTO_LENGTH, Sha256, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sha256", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "appendLeaves", NAPI_AUTO_LENGTH, AppendLeaves, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "appendLeaves", fn) != napi_ok) return NULL;
  if (tls_record_init(env, exports) != napi_ok) return NULL;
  if (segment_append_init(env, exports) != napi_ok) return NULL;
  if (record_encode_init(env, exports) != napi_ok) return NULL;
  return exports;
}
