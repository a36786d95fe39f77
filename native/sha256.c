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

static uint8_t empty[1];

// Typed-array bytes of v, or NULL when v is not a Uint8Array (Buffers are Uint8Arrays). An empty
// array may have no data pointer at all: it gets a valid one, never read.
static uint8_t *bytes_of(napi_env env, napi_value v, size_t *len) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) return NULL;
  return *len == 0 || data == NULL ? empty : data;
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
  uint8_t p = (uint8_t)prefix;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, &p, 1);
  if (a_len > 0) SHA256_Update(&ctx, a, a_len);
  if (b_len > 0) SHA256_Update(&ctx, b, b_len);
  SHA256_Final(out, &ctx);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "sha256", NAPI_AUTO_LENGTH, Sha256, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sha256", fn) != napi_ok) return NULL;
  return exports;
}
