// The TLS 1.3 record layer (RFC 8446 §5) for a session whose handshake Node's TLS stack has
// finished: src/proxy/tls-offload.ts takes the traffic secrets and record sequence numbers from
// it and relays application data through these calls over the plain TCP handle, which spares
// the TLS wrapper's per-read and per-write machinery (about 6 µs a transaction on two legs).
// Only record protection moves here: the handshake, certificates, and everything before the
// relay stay with OpenSSL through Node. Post-handshake messages other than NewSessionTicket
// (which carries nothing this side needs) and KeyUpdate (implemented) end the session.
//
// As in sha256.c, the OpenSSL symbols are resolved from the node binary at load time.
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TAG 16
#define HEADER 5
#define MAX_PLAIN 16384                  // 2^14 bytes of content per record
#define MAX_CIPHER (MAX_PLAIN + 256)     // RFC 8446 §5.2: TLSCiphertext.length limit
#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPLICATION_DATA 23

#define KEY_UPDATE_RECORD (HEADER + 5 + 1 + TAG) // a KeyUpdate message in a record of its own

typedef struct {
  EVP_CIPHER_CTX *ctx;
  const EVP_MD *md;
  size_t hash_len, key_len;
  uint8_t secret[48];            // the current traffic secret, for KeyUpdate (RFC 8446 §7.2)
  uint8_t iv[12];
  uint64_t seq;
  int encrypt;
  int send_key_update;           // sealer: 1 + request_update of a KeyUpdate to send before the next data
  uint32_t partner;              // opener: the sealer of the same connection, which answers a KeyUpdate request
  int eof;                       // close_notify received: nothing more is read
  int failed;                    // a record failed: every later open() throws
  uint32_t generation;           // KeyUpdates applied
  uint32_t id;                   // slot in `slots`
  size_t hs_skip;                // bytes of a NewSessionTicket that continue in the next record
  uint8_t hs_head[4];            // a handshake message header split across records
  size_t hs_head_len;
  size_t pending_len;            // an incomplete record carried to the next open()
  uint8_t *pending;              // HEADER + MAX_CIPHER bytes, allocated at the first incomplete record
} record_state;

// States are addressed by a slot number: a number argument costs far less to check than an
// External, and these calls run four times a transaction. The External returned at creation
// owns the state; its finalizer frees the slot.
static record_state **slots;
static uint32_t slot_count;

static void state_free(record_state *s) {
  if (s == NULL) return;
  if (s->id < slot_count && slots[s->id] == s) slots[s->id] = NULL;
  if (s->ctx != NULL) EVP_CIPHER_CTX_free(s->ctx);
  if (s->pending != NULL) {
    OPENSSL_cleanse(s->pending, HEADER + MAX_CIPHER);
    free(s->pending);
  }
  OPENSSL_cleanse(s, sizeof *s);
  free(s);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  state_free(data);
}

static int take_slot(record_state *s) {
  for (uint32_t i = 0; i < slot_count; i++) {
    if (slots[i] == NULL) {
      slots[i] = s;
      s->id = i;
      return 1;
    }
  }
  uint32_t n = slot_count == 0 ? 64 : slot_count * 2;
  record_state **grown = realloc(slots, n * sizeof *grown);
  if (grown == NULL) return 0;
  for (uint32_t i = slot_count; i < n; i++) grown[i] = NULL;
  slots = grown;
  s->id = slot_count;
  slots[slot_count] = s;
  slot_count = n;
  return 1;
}

static uint8_t *u8(napi_env env, napi_value v, size_t *len) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) return NULL;
  static uint8_t empty[1];
  return *len == 0 || data == NULL ? empty : data;
}

static record_state *state_at(napi_env env, napi_value v) {
  uint32_t id = 0;
  if (napi_get_value_uint32(env, v, &id) != napi_ok || id >= slot_count) return NULL;
  return slots[id];
}

// HKDF-Expand-Label(secret, label, "", len) of RFC 8446 §7.1; len is at most the hash length,
// so one HMAC block is enough.
static int expand_label(const record_state *s, const char *label, uint8_t *out, size_t len) {
  uint8_t info[2 + 1 + 6 + 16 + 1 + 1];
  size_t label_len = strlen(label);
  if (label_len > 16 || len > s->hash_len) return 0;
  size_t n = 0;
  info[n++] = (uint8_t)(len >> 8);
  info[n++] = (uint8_t)len;
  info[n++] = (uint8_t)(6 + label_len);
  memcpy(info + n, "tls13 ", 6);
  n += 6;
  memcpy(info + n, label, label_len);
  n += label_len;
  info[n++] = 0; // empty context
  info[n++] = 1; // HKDF-Expand block counter
  uint8_t block[EVP_MAX_MD_SIZE];
  unsigned int block_len = 0;
  if (HMAC(s->md, s->secret, (int)s->hash_len, info, n, block, &block_len) == NULL || block_len != s->hash_len) return 0;
  memcpy(out, block, len);
  OPENSSL_cleanse(block, sizeof block);
  return 1;
}

// Derives the key and IV of the current secret into the cipher context.
static int set_keys(record_state *s) {
  uint8_t key[32];
  int ok = expand_label(s, "key", key, s->key_len) && expand_label(s, "iv", s->iv, 12) &&
           EVP_CipherInit_ex(s->ctx, NULL, NULL, key, NULL, s->encrypt ? 1 : 0) == 1;
  OPENSSL_cleanse(key, sizeof key);
  return ok;
}

// KeyUpdate: the next traffic secret, its keys, and sequence numbers from 0 (RFC 8446 §7.2).
static int next_generation(record_state *s) {
  uint8_t next[48];
  if (!expand_label(s, "traffic upd", next, s->hash_len)) return 0;
  memcpy(s->secret, next, s->hash_len);
  OPENSSL_cleanse(next, sizeof next);
  s->seq = 0;
  s->generation++;
  return set_keys(s);
}

static void nonce_for(const record_state *s, uint8_t nonce[12]) {
  memcpy(nonce, s->iv, 12);
  for (int i = 0; i < 8; i++) nonce[11 - i] ^= (uint8_t)(s->seq >> (8 * i));
}

// tlsRecordState(cipher: 1 AES-128-GCM/SHA-256 | 2 AES-256-GCM/SHA-384 | 3 ChaCha20-Poly1305/SHA-256,
//   trafficSecret, seq, encrypt, partner: the sealer id for an opener, else -1): [External, id]
static napi_value State(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  uint32_t cipher = 0;
  int32_t partner = -1;
  size_t secret_len = 0;
  double seq = -1;
  bool encrypt = false;
  uint8_t *secret = argc == 5 ? u8(env, argv[1], &secret_len) : NULL;
  if (secret == NULL || napi_get_value_uint32(env, argv[0], &cipher) != napi_ok || napi_get_value_double(env, argv[2], &seq) != napi_ok ||
      napi_get_value_bool(env, argv[3], &encrypt) != napi_ok || napi_get_value_int32(env, argv[4], &partner) != napi_ok ||
      !(seq >= 0 && seq <= 9007199254740991.0)) {
    napi_throw_type_error(env, NULL, "tlsRecordState(cipher, secret, seq, encrypt, partner): bad arguments");
    return NULL;
  }
  const EVP_CIPHER *c = cipher == 1 ? EVP_aes_128_gcm() : cipher == 2 ? EVP_aes_256_gcm() : cipher == 3 ? EVP_chacha20_poly1305() : NULL;
  const EVP_MD *md = cipher == 2 ? EVP_sha384() : EVP_sha256();
  size_t hash_len = cipher == 2 ? 48 : 32;
  if (c == NULL || secret_len != hash_len) {
    napi_throw_type_error(env, NULL, "tlsRecordState: unknown cipher or wrong secret length");
    return NULL;
  }
  record_state *s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->id = UINT32_MAX;
    s->md = md;
    s->hash_len = hash_len;
    s->key_len = cipher == 1 ? 16 : 32;
    s->encrypt = encrypt;
    s->partner = partner < 0 ? UINT32_MAX : (uint32_t)partner;
    memcpy(s->secret, secret, hash_len);
  }
  if (s == NULL || (s->ctx = EVP_CIPHER_CTX_new()) == NULL || EVP_CipherInit_ex(s->ctx, c, NULL, NULL, NULL, encrypt ? 1 : 0) != 1 ||
      !set_keys(s) || !take_slot(s)) {
    state_free(s);
    napi_throw_error(env, NULL, "tlsRecordState: cipher initialisation failed");
    return NULL;
  }
  s->seq = (uint64_t)seq;
  napi_value result, external, id;
  if (napi_create_external(env, s, finalize, NULL, &external) != napi_ok) {
    state_free(s);
    return NULL;
  }
  if (napi_create_array_with_length(env, 2, &result) != napi_ok || napi_create_uint32(env, s->id, &id) != napi_ok ||
      napi_set_element(env, result, 0, external) != napi_ok || napi_set_element(env, result, 1, id) != napi_ok) return NULL;
  return result;
}

// Seals one record of content type `type` from data[0..n) at o; returns 0 on failure.
static int seal_record(record_state *s, const uint8_t *data, size_t n, uint8_t type, uint8_t *o) {
  if (s->seq == UINT64_MAX) return 0; // RFC 8446 §5.3: never wrap
  size_t clen = n + 1 + TAG;
  o[0] = CT_APPLICATION_DATA;
  o[1] = 3;
  o[2] = 3;
  o[3] = (uint8_t)(clen >> 8);
  o[4] = (uint8_t)clen;
  uint8_t nonce[12];
  nonce_for(s, nonce);
  int outl = 0, fl = 0;
  if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1 || EVP_EncryptUpdate(s->ctx, NULL, &outl, o, HEADER) != 1 ||
      (n > 0 && EVP_EncryptUpdate(s->ctx, o + HEADER, &outl, data, (int)n) != 1) ||
      EVP_EncryptUpdate(s->ctx, o + HEADER + n, &outl, &type, 1) != 1 || EVP_EncryptFinal_ex(s->ctx, o + HEADER + n + 1, &fl) != 1 ||
      EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, TAG, o + HEADER + n + 1) != 1) {
    return 0;
  }
  s->seq++;
  // RFC 8446 §5.5: AES-GCM keys are good for about 2^24.5 records; change ours well before.
  if (s->seq >= ((uint64_t)1 << 24) && s->send_key_update == 0) s->send_key_update = 1;
  return 1;
}

// tlsRecordSeal(id, data, out, contentType): n — data as records of at most 2^14 bytes each, n
// bytes written to out (data.length + 22 per record); when a KeyUpdate must go first and out
// is too small for it, nothing is written and -(bytes needed) is returned.
static napi_value Seal(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  size_t len = 0, cap = 0;
  uint32_t type = 0;
  record_state *s = argc == 4 ? state_at(env, argv[0]) : NULL;
  uint8_t *data = argc == 4 ? u8(env, argv[1], &len) : NULL;
  uint8_t *o = argc == 4 ? u8(env, argv[2], &cap) : NULL;
  size_t records = len == 0 ? 1 : (len + MAX_PLAIN - 1) / MAX_PLAIN;
  size_t total = len + records * (HEADER + 1 + TAG) + (s != NULL && s->send_key_update ? KEY_UPDATE_RECORD : 0);
  napi_value result;
  if (s == NULL || !s->encrypt || data == NULL || o == NULL || napi_get_value_uint32(env, argv[3], &type) != napi_ok || type > 255) {
    napi_throw_type_error(env, NULL, "tlsRecordSeal(id, data, out, contentType): bad arguments");
    return NULL;
  }
  if (cap < total) {
    if (!s->send_key_update || cap < total - KEY_UPDATE_RECORD) {
      napi_throw_type_error(env, NULL, "tlsRecordSeal: out is too small");
      return NULL;
    }
    napi_create_double(env, -(double)total, &result);
    return result;
  }
  if (s->send_key_update) {
    // Our own KeyUpdate, sent before the next data under the old keys; then the new keys.
    uint8_t msg[5] = {24, 0, 0, 1, (uint8_t)(s->send_key_update - 1)};
    s->send_key_update = 0;
    if (!seal_record(s, msg, sizeof msg, CT_HANDSHAKE, o) || !next_generation(s)) {
      napi_throw_error(env, "ERR_TLS_RECORD", "TLS KeyUpdate failed");
      return NULL;
    }
    o += KEY_UPDATE_RECORD;
  }
  size_t off = 0;
  for (size_t r = 0; r < records; r++) {
    size_t n = len - off < MAX_PLAIN ? len - off : MAX_PLAIN;
    if (!seal_record(s, data + off, n, (uint8_t)type, o)) {
      napi_throw_error(env, "ERR_TLS_RECORD", "TLS record encryption failed");
      return NULL;
    }
    off += n;
    o += HEADER + n + 1 + TAG;
  }
  napi_create_uint32(env, (uint32_t)total, &result);
  return result;
}

// tlsRecordGeneration(id): the number of KeyUpdates the state has applied.
static napi_value Generation(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  record_state *s = argc == 1 ? state_at(env, argv[0]) : NULL;
  if (s == NULL) {
    napi_throw_type_error(env, NULL, "tlsRecordGeneration(id): bad arguments");
    return NULL;
  }
  napi_value result;
  napi_create_uint32(env, s->generation, &result);
  return result;
}

// tlsRecordRequestKeyUpdate(id): the sealer's next seal sends KeyUpdate(update_requested) first,
// which the peer must answer with its own. (Peers almost never start one; tests do.)
static napi_value RequestKeyUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  record_state *s = argc == 1 ? state_at(env, argv[0]) : NULL;
  if (s == NULL || !s->encrypt) {
    napi_throw_type_error(env, NULL, "tlsRecordRequestKeyUpdate(id): bad arguments");
    return NULL;
  }
  s->send_key_update = 2;
  return NULL;
}

// Opens one whole record h (header included) into out; returns its application data length,
// 0 for a record without any (a ticket, close_notify: s->eof), or -1 with *err.
static long open_record(record_state *s, const uint8_t *h, size_t clen, uint8_t *out, const char **err) {
  size_t n = clen - TAG;
  uint8_t nonce[12];
  nonce_for(s, nonce);
  int outl = 0, fl = 0;
  if (EVP_DecryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) != 1 || EVP_DecryptUpdate(s->ctx, NULL, &outl, h, HEADER) != 1 ||
      EVP_DecryptUpdate(s->ctx, out, &outl, h + HEADER, (int)n) != 1 ||
      EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, TAG, (void *)(h + HEADER + n)) != 1 || EVP_DecryptFinal_ex(s->ctx, out + outl, &fl) != 1) {
    return *err = "TLS bad record MAC", -1;
  }
  if (s->seq == UINT64_MAX) return *err = "TLS sequence number exhausted", -1;
  s->seq++;
  if (n > MAX_PLAIN + 1) return *err = "TLS record overflow", -1; // RFC 8446 §5.2: TLSInnerPlaintext ≤ 2^14 + 1
  while (n > 0 && out[n - 1] == 0) n--; // TLSInnerPlaintext padding
  if (n == 0) return *err = "TLS record without a content type", -1;
  uint8_t type = out[--n];
  int in_message = s->hs_skip > 0 || s->hs_head_len > 0;
  if (type != CT_HANDSHAKE && in_message) return *err = "TLS handshake message interrupted", -1; // RFC 8446 §5.1
  if (type == CT_APPLICATION_DATA) return (long)n;
  if (type == CT_ALERT) {
    if (n != 2) return *err = "malformed TLS alert", -1;
    if (out[1] != 0) return *err = "TLS alert received", -1;
    s->eof = 1; // close_notify
    return 0;
  }
  if (type != CT_HANDSHAKE) return *err = "unexpected TLS content type", -1;
  if (n == 0) return *err = "empty TLS handshake record", -1;
  // Post-handshake messages, possibly split across records: NewSessionTicket (4) is skipped,
  // whatever its length. KeyUpdate (24) must arrive whole and end its record (RFC 8446 §5.1):
  // the next record is under the next keys, and a request is answered by the sealer before its
  // next data. Any other message is refused.
  size_t m = 0;
  while (m < n) {
    if (s->hs_skip > 0) {
      size_t k = s->hs_skip < n - m ? s->hs_skip : n - m;
      m += k;
      s->hs_skip -= k;
      continue;
    }
    int split_header = s->hs_head_len > 0;
    while (s->hs_head_len < 4 && m < n) s->hs_head[s->hs_head_len++] = out[m++];
    if (s->hs_head_len < 4) break; // the header continues in the next record
    s->hs_head_len = 0;
    uint8_t msg = s->hs_head[0];
    size_t body = ((size_t)s->hs_head[1] << 16) | ((size_t)s->hs_head[2] << 8) | s->hs_head[3];
    if (msg == 24) {
      if (split_header || body != 1 || m + 1 != n || out[m] > 1) return *err = "malformed TLS KeyUpdate", -1;
      if (out[m] == 1) {
        record_state *sealer = s->partner < slot_count ? slots[s->partner] : NULL;
        if (sealer == NULL) return *err = "TLS KeyUpdate request without a sealer", -1;
        if (sealer->send_key_update == 0) sealer->send_key_update = 1; // a request of our own (2) updates too
      }
      if (!next_generation(s)) return *err = "TLS KeyUpdate failed", -1;
      return 0;
    }
    if (msg != 4) return *err = "unsupported post-handshake TLS message", -1;
    s->hs_skip = body;
  }
  return 0;
}

static int check_header(const uint8_t *h, size_t *clen, const char **err) {
  *clen = ((size_t)h[3] << 8) | h[4];
  if (h[0] != CT_APPLICATION_DATA || h[1] != 3 || h[2] != 3) return *err = "unexpected TLS record", 0;
  if (*clen > MAX_CIPHER || *clen < TAG + 1) return *err = "TLS record overflow", 0;
  return 1;
}

// tlsRecordOpen(id, chunk, out): n — the application data of every whole record received so far
// written to out (which must hold chunk.length + 16640 bytes), n bytes; -(n + 1) when
// close_notify followed them. An incomplete record waits for the next chunk. Throws (code
// ERR_TLS_RECORD) on a record that fails authentication or breaks the protocol.
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  size_t len = 0, cap = 0;
  record_state *s = argc == 3 ? state_at(env, argv[0]) : NULL;
  uint8_t *in = argc == 3 ? u8(env, argv[1], &len) : NULL;
  uint8_t *out = argc == 3 ? u8(env, argv[2], &cap) : NULL;
  if (s == NULL || s->encrypt || in == NULL || out == NULL || cap < len + HEADER + MAX_CIPHER) {
    napi_throw_type_error(env, NULL, "tlsRecordOpen(id, chunk, out): bad arguments");
    return NULL;
  }
  if (s->failed) {
    napi_throw_error(env, "ERR_TLS_RECORD", "TLS connection failed earlier");
    return NULL;
  }
  const char *err = NULL;
  size_t produced = 0, off = 0;
  // First complete the record carried from the last chunk.
  while (!s->eof && s->pending_len > 0 && off < len) {
    size_t need = HEADER;
    size_t clen = 0;
    if (s->pending_len >= HEADER) {
      if (!check_header(s->pending, &clen, &err)) break;
      need = HEADER + clen;
    }
    size_t take = need - s->pending_len < len - off ? need - s->pending_len : len - off;
    memcpy(s->pending + s->pending_len, in + off, take);
    s->pending_len += take;
    off += take;
    if (s->pending_len < need || need == HEADER) continue;
    long n = open_record(s, s->pending, clen, out + produced, &err);
    if (n < 0) break;
    produced += (size_t)n;
    s->pending_len = 0;
  }
  while (err == NULL && !s->eof && s->pending_len == 0 && len - off >= HEADER) {
    size_t clen = 0;
    if (!check_header(in + off, &clen, &err)) break;
    if (len - off < HEADER + clen) break;
    long n = open_record(s, in + off, clen, out + produced, &err);
    if (n < 0) break;
    produced += (size_t)n;
    off += HEADER + clen;
  }
  if (err == NULL && !s->eof && off < len) {
    if (s->pending == NULL && (s->pending = malloc(HEADER + MAX_CIPHER)) == NULL) {
      err = "out of memory";
    } else {
      memcpy(s->pending + s->pending_len, in + off, len - off); // less than a record (or its header) is left
      s->pending_len += len - off;
    }
  }
  if (err != NULL) {
    s->failed = 1;
    napi_throw_error(env, "ERR_TLS_RECORD", err);
    return NULL;
  }
  napi_value result;
  napi_create_double(env, s->eof ? -(double)produced - 1 : (double)produced, &result);
  return result;
}

napi_status tls_record_init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_status st;
  if ((st = napi_create_function(env, "tlsRecordState", NAPI_AUTO_LENGTH, State, NULL, &fn)) != napi_ok) return st;
  if ((st = napi_set_named_property(env, exports, "tlsRecordState", fn)) != napi_ok) return st;
  if ((st = napi_create_function(env, "tlsRecordSeal", NAPI_AUTO_LENGTH, Seal, NULL, &fn)) != napi_ok) return st;
  if ((st = napi_set_named_property(env, exports, "tlsRecordSeal", fn)) != napi_ok) return st;
  if ((st = napi_create_function(env, "tlsRecordOpen", NAPI_AUTO_LENGTH, Open, NULL, &fn)) != napi_ok) return st;
  if ((st = napi_set_named_property(env, exports, "tlsRecordOpen", fn)) != napi_ok) return st;
  if ((st = napi_create_function(env, "tlsRecordGeneration", NAPI_AUTO_LENGTH, Generation, NULL, &fn)) != napi_ok) return st;
  if ((st = napi_set_named_property(env, exports, "tlsRecordGeneration", fn)) != napi_ok) return st;
  if ((st = napi_create_function(env, "tlsRecordRequestKeyUpdate", NAPI_AUTO_LENGTH, RequestKeyUpdate, NULL, &fn)) != napi_ok) return st;
  return napi_set_named_property(env, exports, "tlsRecordRequestKeyUpdate", fn);
}
