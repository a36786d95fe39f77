#!/usr/bin/env bash
# System packages pgseal's integration tests need, on Debian 12 (or any apt-based system):
# a C compiler for the native SHA-256 addon, the PostgreSQL server and client (initdb, postgres, psql, pgbench under
# /usr/lib/postgresql/<version>/bin, not on PATH), the openssl CLI (test certificates), and the
# packaging tools (dpkg-dev, fakeroot, rpm, lintian, rpmlint, debootstrap, systemd-analyze).
# Idempotent: does nothing (and no `apt-get update`) when everything is present.
#
#   scripts/install-deps.sh           # tests
#   scripts/install-deps.sh --bench   # also pgbouncer, for the benchmark
#
# Runs as root (as CI does) or through sudo.
set -euo pipefail

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

have_initdb() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

pkgs=()
if ! have_initdb; then pkgs+=(postgresql postgresql-contrib openssl); fi
if ! command -v openssl >/dev/null 2>&1; then pkgs+=(openssl); fi
if [ "$bench" = 1 ] && ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  pkgs+=(pgbouncer)
fi

# The native SHA-256 addon (scripts/build-native.sh): a C compiler and libc headers.
if ! command -v cc >/dev/null 2>&1; then pkgs+=(gcc libc6-dev); fi

# Packaging tests (test/packaging): build tools, linters, a Debian root, systemd checks.
for cmd in dpkg-shlibdeps:dpkg-dev fakeroot:fakeroot rpmbuild:rpm rpm2cpio:rpm cpio:cpio strip:binutils \
           lintian:lintian rpmlint:rpmlint debootstrap:debootstrap systemd-analyze:systemd systemd-nspawn:systemd-container; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || pkgs+=("${cmd#*:}")
done

if [ "${#pkgs[@]}" -eq 0 ]; then
  echo "install-deps.sh: nothing to install"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps.sh: need root (or sudo) to install: ${pkgs[*]}" >&2
  exit 1
fi

# Deduplicate (openssl can be listed twice).
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
echo "install-deps.sh: installing ${pkgs[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" </dev/null

if ! have_initdb; then
  echo "install-deps.sh: PostgreSQL installed but no /usr/lib/postgresql/*/bin/initdb found" >&2
  exit 1
fi
