#!/usr/bin/env bash
# System packages the proxy benchmark (bench/proxy-bench.ts, `npm run bench`) needs on
# Debian 12 / any apt-based system, on top of scripts/install-deps.sh (PostgreSQL server,
# psql, pgbench, openssl):
#   - pgbouncer (Debian package; installed to /usr/sbin/pgbouncer)
#
# Idempotent: does nothing (and no `apt-get update`) when everything is present.
# Runs as root (as CI does) or through sudo.
#
# Note: Debian's package may enable and start a pgbouncer service on port 6432. The
# benchmark does not use it; it starts its own pgbouncer on a free port with its own config.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# PostgreSQL server + client + openssl (no-op when present).
"$here/install-deps.sh"

have_pgbouncer() { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; }

if have_pgbouncer; then
  echo "install-bench-deps.sh: pgbouncer present: $(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-bench-deps.sh: need root (or sudo) to install pgbouncer" >&2
  exit 1
fi

echo "install-bench-deps.sh: installing pgbouncer"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbouncer </dev/null

if ! have_pgbouncer; then
  echo "install-bench-deps.sh: pgbouncer installed but not found on PATH or at /usr/sbin/pgbouncer" >&2
  exit 1
fi
echo "install-bench-deps.sh: pgbouncer installed: $(/usr/sbin/pgbouncer --version 2>/dev/null | head -1 || true)"
