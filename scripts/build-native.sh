#!/usr/bin/env bash
# Compiles pgseal's native code (native/*.c: SHA-256 for the Merkle tree, the TLS 1.3 record layer,
# mapped audit segments, the per-query audit records) into one Node-API addon.
#
#   scripts/build-native.sh [OUT] [NODE_INCLUDE_DIR]
#
# OUT defaults to dist/native/pgseal_native.node (where dist/src/audit/sha256.js looks for it);
# NODE_INCLUDE_DIR to the include/node directory of the node on PATH, which holds node_api.h and
# the OpenSSL headers of the OpenSSL that node exports. Without a C compiler or those headers it
# says so and exits 0: pgseal then hashes with node:crypto, correct but slower.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/dist/native/pgseal_native.node}
inc=${2:-$(dirname "$(dirname "$(node -p process.execPath)")")/include/node}
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-native: no C compiler ($cc); pgseal will hash with node:crypto (slower)" >&2
  exit 0
fi
if [ ! -f "$inc/node_api.h" ] || [ ! -f "$inc/openssl/sha.h" ]; then
  echo "build-native: no Node headers with OpenSSL in $inc; pgseal will hash with node:crypto (slower)" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"
# libc is named although nothing of it is used: linters (lintian, rpmlint) expect a shared object to
# declare its dependencies.
"$cc" -O2 -fPIC -shared -Wall -Wextra -Werror -Wno-deprecated-declarations -I"$inc" "$here/native/sha256.c" "$here/native/tls-record.c" "$here/native/segment-append.c" "$here/native/record-encode.c" -o "$out" -Wl,-z,relro,-z,now -Wl,--no-as-needed -lpthread -lc
