#!/usr/bin/env bash
# Builds the tlink image from the repository's Dockerfile, unchanged, on a Debian or Ubuntu host that cannot
# pull from Docker Hub (a mirror-only or air-gapped network) and has no Docker daemon, then smoke-checks it.
# docs/packaging.md ("Building without Docker Hub") explains it and records a run.
#
#   sudo packaging/build-image-offline.sh [deps|slim|rust|build|run|all]      (default: all)
#
# Steps, each of which can run alone:
#   deps   installs buildah, podman, runc, mmdebstrap and their helpers with apt.
#   slim   makes debian:bookworm-slim with mmdebstrap from a Debian mirror: minbase without man pages, docs
#          and locales, apt set up as in the official image. Tagged localhost/debian:bookworm-slim.
#   rust   makes rust:1-bookworm the same way: bookworm with a C toolchain (what buildpack-deps:bookworm has,
#          less cmake) and this host's rustup toolchain under /usr/local/rustup and /usr/local/cargo.
#          Tagged localhost/rust:1-bookworm; it checks that cargo in it reaches index.crates.io.
#   build  `buildah bud` of the Dockerfile with RUST_IMAGE and RUNTIME_IMAGE set to those two images and
#          TLINK_GIT_REV to HEAD's revision. Tagged $OCI_IMAGE; the log goes to $OCI_DIR/build.log.
#   run    starts $OCI_IMAGE with podman and checks it: /readyz and /healthz, the server's uid (10001), the
#          volume's owner and modes, `podman healthcheck run`, `tlink --version` against the image's revision
#          label, logging in as the bootstrap admin (200, and 401 with a wrong password), `tlink doctor`
#          without a FAIL, and a clean stop within 30 s. It builds nothing, removes its container, and exits
#          non-zero when a check fails.
#   all    deps, slim, rust, build and run.
#
# What it needs: root (mmdebstrap --mode=root; the images live in root's container storage); a Debian mirror
# reachable over http (the slim image has no CA certificates yet when the Dockerfile runs apt-get in it;
# apt checks the archive's signatures either way); crates.io reachable from the build, directly or through
# the proxy named in http_proxy/https_proxy (buildah and podman pass those on); a rustup toolchain at least
# as new as the workspace's rust-version; and a few GB in $OCI_DIR and in /var/lib/containers.
#
# Settings, from the environment:
#   OCI_REPO             the checkout to build (default: the git toplevel of this script's directory)
#   OCI_DIR              work directory: the base tarballs until they are imported, the build context,
#                        build.log and containers.conf (default: ${TMPDIR:-/tmp}/tlink-oci)
#   OCI_MIRROR           Debian archive (default: http://deb.debian.org/debian)
#   OCI_SECURITY_MIRROR  Debian security archive (default: http://deb.debian.org/debian-security)
#   OCI_TOOLCHAIN        the rustup toolchain copied into the builder (default: $(rustc --print sysroot))
#   OCI_CARGO_BIN        rustup and its proxies (cargo, rustc, …), copied to /usr/local/cargo/bin
#                        (default: $(dirname "$(command -v cargo)"))
#   OCI_IMAGE            the image `build` makes and `run` checks (default: localhost/tlink:latest)
#   OCI_PORT             the loopback port the `run` container listens on; it must be free (default: 18080)
#   OCI_CONTAINER        the `run` container's name (default: tlink-smoke)
#   OCI_COMPAT           auto, yes or no: whether podman and buildah use the containers.conf written into
#                        $OCI_DIR (see containers_conf below; default: auto, when this host needs it)
#   CONTAINERS_CONF      when set, podman and buildah use it as given and OCI_COMPAT is ignored
# The names start with OCI_, not TLINK_: tlink reads every TLINK_* variable as configuration and refuses
# names it does not know, so a TLINK_* setting left exported would stop `tlink serve` in the same shell.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${OCI_REPO:-$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || true)}
OCI_DIR=${OCI_DIR:-${TMPDIR:-/tmp}/tlink-oci}
MIRROR=${OCI_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${OCI_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
IMAGE=${OCI_IMAGE:-localhost/tlink:latest}
PORT=${OCI_PORT:-18080}
CONTAINER=${OCI_CONTAINER:-tlink-smoke}
COMPAT=${OCI_COMPAT:-auto}
SLIM_IMAGE=localhost/debian:bookworm-slim
RUST_IMAGE=localhost/rust:1-bookworm
# Extra CA certificates of this host, added to the builder's trust store (see rust below).
EXTRA_CAS=/usr/local/share/ca-certificates
export OCI_DIR

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# Podman's and buildah's defaults assume a host with systemd, a pure cgroup v2 hierarchy and a root that may
# raise its resource limits. Where one of those is missing they fail before the container starts:
# - hybrid cgroups (v1 with a cgroup2 "unified" mount holding a controller): crun, podman's default runtime
#   on Debian 12 and Ubuntu 22.04, refuses them ("cgroups in hybrid mode not supported"); runc does not;
# - no systemd as init: the systemd cgroup manager cannot work; cgroupfs can;
# - root without CAP_SYS_RESOURCE (inside some containers and sandboxes): podman's default limits
#   (nofile 1048576, a high nproc) fail with "setrlimit RLIMIT_NOFILE: Operation not permitted"; limits no
#   higher than the current hard ones work.
# When one of those applies (or OCI_COMPAT=yes), a containers.conf with runc, cgroupfs and explicit limits
# is written into $OCI_DIR and named by CONTAINERS_CONF for this script's commands only: nothing under
# /etc changes. Podman 4 reads only that file then, so the host's own containers.conf is set aside too.
containers_conf() {
  if [ -n "${CONTAINERS_CONF:-}" ]; then
    info "podman and buildah use CONTAINERS_CONF=$CONTAINERS_CONF, as given"
    return
  fi
  local reasons=() capeff nofile nproc why
  case $COMPAT in
    no) return ;;
    yes) reasons+=("OCI_COMPAT=yes") ;;
    auto)
      [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] || reasons+=("cgroups are v1 or hybrid")
      [ -d /run/systemd/system ] || reasons+=("systemd is not running")
      capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
      (((16#$capeff >> 24) & 1)) || reasons+=("root lacks CAP_SYS_RESOURCE")
      ;;
    *) die "OCI_COMPAT is auto, yes or no, not '$COMPAT'" ;;
  esac
  [ "${#reasons[@]}" -gt 0 ] || return 0
  nofile=$(ulimit -Hn)
  if [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ]; then nofile=1048576; fi
  nproc=$(ulimit -Hu)
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  why=$(printf '%s, ' "${reasons[@]}")
  why=${why%, }
  mkdir -p "$OCI_DIR"
  cat >"$OCI_DIR/containers.conf" <<CONF
# Written by build-image-offline.sh, and used through CONTAINERS_CONF by its own podman and buildah
# commands only, because $why (see the script's comments).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
  export CONTAINERS_CONF="$OCI_DIR/containers.conf"
  info "podman and buildah use $CONTAINERS_CONF (runc, cgroupfs, nofile=$nofile, nproc=$nproc): $why"
}

deps() {
  step "deps: buildah, podman, runc, mmdebstrap and their helpers (apt)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y buildah podman runc mmdebstrap debian-archive-keyring \
    fuse-overlayfs uidmap slirp4netns curl git
}

# debstrap OUT.tar [mmdebstrap options…]: a minbase bookworm tarball. Apt is set up as in the official images
# (deb822 sources on the mirror, the docker-clean apt configuration) with no package lists left; /usr is
# merged by mmdebstrap's hook rather than by the usrmerge package (which pulls in perl), as there too.
# The options' hooks run before the common ones. Hooks run under `sh -c … exec ROOT`: "$1" is the root.
debstrap() {
  local out=$1
  shift
  cat >"$OCI_DIR/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  cat >"$OCI_DIR/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$keyring" ] || die "$keyring is missing: install debian-archive-keyring (the deps step does)"
  # shellcheck disable=SC2016 # the hooks are expanded by mmdebstrap's sh, with the root as $1
  mmdebstrap --variant=minbase --mode=root --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "$@" \
    --customize-hook='rm -f "$1/etc/apt/sources.list" && cp "$OCI_DIR/debian.sources" "$1/etc/apt/sources.list.d/" && cp "$OCI_DIR/docker-clean" "$1/etc/apt/apt.conf.d/"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt/*' \
    bookworm "$out" \
    "deb [signed-by=$keyring] $MIRROR bookworm main" \
    "deb [signed-by=$keyring] $MIRROR bookworm-updates main" \
    "deb [signed-by=$keyring] $SECURITY_MIRROR bookworm-security main"
}

# import_tar TAR REF [podman import options…]: the tarball as image REF, in place of an older REF (which stays,
# untagged, while images or containers use it); the tarball is removed once imported.
import_tar() {
  local tar=$1 ref=$2
  shift 2
  podman untag "$ref" "$ref" 2>/dev/null || true
  podman import "$@" "$tar" "$ref" >/dev/null
  rm -f "$tar"
  info "imported $ref ($(podman image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.1f MB", $1 / 1e6}'))"
}

slim() {
  step "slim: debian:bookworm-slim from $MIRROR, as $SLIM_IMAGE"
  debstrap "$OCI_DIR/bookworm-slim.tar" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*'
  import_tar "$OCI_DIR/bookworm-slim.tar" "$SLIM_IMAGE" --change 'CMD ["bash"]'
}

# The builder: the official rust image's layout (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo,
# both writable by all), with this host's toolchain instead of one downloaded by rustup.
#
# Hosts behind a TLS-inspecting proxy trust the proxy's CA through $EXTRA_CAS; cargo in the builder needs it
# too, or it fails with "SSL certificate problem: self-signed certificate in certificate chain". The *.crt
# files found there are therefore added to the builder's trust store (update-ca-certificates). Only the
# builder gets them: the runtime image is built by the Dockerfile from the slim image, with Debian's
# ca-certificates and nothing from this host.
rust() {
  step "rust: rust:1-bookworm with this host's Rust toolchain, as $RUST_IMAGE"
  local toolchain cargo_bin name cas
  if [ -n "${OCI_TOOLCHAIN:-}" ]; then
    toolchain=$OCI_TOOLCHAIN
  else
    command -v rustc >/dev/null || die "no rustc on PATH: set OCI_TOOLCHAIN (under sudo, PATH may lack ~/.cargo/bin)"
    toolchain=$(rustc --print sysroot)
  fi
  if [ -n "${OCI_CARGO_BIN:-}" ]; then
    cargo_bin=$OCI_CARGO_BIN
  else
    command -v cargo >/dev/null || die "no cargo on PATH: set OCI_CARGO_BIN"
    cargo_bin=$(dirname "$(command -v cargo)")
  fi
  toolchain=${toolchain%/}
  cargo_bin=${cargo_bin%/}
  if ! [ -x "$toolchain/bin/rustc" ] || ! [ -x "$toolchain/bin/cargo" ]; then
    die "$toolchain is not a Rust toolchain (no bin/rustc and bin/cargo): set OCI_TOOLCHAIN"
  fi
  if [ "$(basename "$(dirname "$toolchain")")" != toolchains ] || ! [ -x "$cargo_bin/rustup" ]; then
    die "the builder needs a rustup installation: a toolchain under …/toolchains/ (OCI_TOOLCHAIN=$toolchain) and rustup's proxies (OCI_CARGO_BIN=$cargo_bin)"
  fi
  case $cargo_bin in
    /bin | /sbin | /usr/bin | /usr/sbin | /usr/local/bin | /usr/local/sbin)
      die "OCI_CARGO_BIN=$cargo_bin is a system directory: point it at rustup's own (~/.cargo/bin)"
      ;;
  esac
  name=$(basename "$toolchain")
  info "toolchain $name ($("$toolchain/bin/rustc" --version)), rustup's proxies from $cargo_bin"
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$name" >"$OCI_DIR/rustup-settings.toml"
  cas=$(find "$EXTRA_CAS" -maxdepth 1 -name '*.crt' 2>/dev/null | wc -l)
  info "extra CA certificates for the builder's trust store: $cas (*.crt in $EXTRA_CAS)"
  export OCI_TOOLCHAIN_DIR=$toolchain OCI_CARGO_BIN_DIR=$cargo_bin OCI_EXTRA_CAS=$EXTRA_CAS
  # shellcheck disable=SC2016 # the hooks are expanded by mmdebstrap's sh, with the root as $1
  debstrap "$OCI_DIR/rust-bookworm.tar" \
    --include=gcc,g++,libc6-dev,make,pkg-config,git,ca-certificates,curl,libssl-dev,dpkg-dev,file,patch,xz-utils,unzip \
    --customize-hook='mkdir -p "$1/usr/local/rustup/toolchains" "$1/usr/local/cargo" && cp -a "$OCI_TOOLCHAIN_DIR" "$1/usr/local/rustup/toolchains/" && cp -a "$OCI_CARGO_BIN_DIR" "$1/usr/local/cargo/bin" && cp "$OCI_DIR/rustup-settings.toml" "$1/usr/local/rustup/settings.toml" && chmod -R a+w "$1/usr/local/rustup" "$1/usr/local/cargo"' \
    --customize-hook='if ls "$OCI_EXTRA_CAS"/*.crt >/dev/null 2>&1; then cp "$OCI_EXTRA_CAS"/*.crt "$1/usr/local/share/ca-certificates/" && chroot "$1" update-ca-certificates; fi'
  import_tar "$OCI_DIR/rust-bookworm.tar" "$RUST_IMAGE" \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]'
  info "in the builder: $(podman run --rm "$RUST_IMAGE" sh -c 'cargo --version && rustc --version' | paste -sd ' ')"
  podman run --rm "$RUST_IMAGE" curl -fsS -o /dev/null https://index.crates.io/config.json ||
    die "cargo in the builder cannot reach https://index.crates.io: the build would fail (a proxy to set in https_proxy? its CA in $EXTRA_CAS?)"
  info "the builder reaches index.crates.io"
}

# The build context is HEAD exported with `git archive`, not the working tree: uncommitted edits would
# otherwise go into an image labelled with HEAD's revision.
build() {
  [ -n "$REPO" ] || die "no git checkout around ${BASH_SOURCE[0]}: set OCI_REPO"
  local rev start elapsed
  rev=$(git -C "$REPO" rev-parse --short=12 HEAD)
  step "build: $IMAGE from $REPO at $rev (git archive HEAD)"
  podman image exists "$SLIM_IMAGE" || die "no $SLIM_IMAGE: run the slim step first"
  podman image exists "$RUST_IMAGE" || die "no $RUST_IMAGE: run the rust step first"
  if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
    info "uncommitted changes in $REPO are not part of the image"
  fi
  rm -rf "${OCI_DIR:?}/src"
  mkdir -p "$OCI_DIR/src"
  git -C "$REPO" archive HEAD | tar -x -C "$OCI_DIR/src"
  start=$SECONDS
  # --format docker: the OCI image format has no HEALTHCHECK, and buildah would drop the Dockerfile's.
  # --layers: unchanged steps come from the cache; the Dockerfile's cache mounts keep cargo's registry and
  # target/ between builds. nice: the build takes every core for minutes.
  (
    cd "$OCI_DIR/src"
    nice -n 19 buildah bud --format docker --layers \
      --build-arg RUST_IMAGE="$RUST_IMAGE" \
      --build-arg RUNTIME_IMAGE="$SLIM_IMAGE" \
      --build-arg TLINK_GIT_REV="$rev" \
      -t "$IMAGE" -f Dockerfile .
  ) 2>&1 | tee "$OCI_DIR/build.log"
  elapsed=$((SECONDS - start))
  info "built $IMAGE in $((elapsed / 60))m$((elapsed % 60))s; the log is $OCI_DIR/build.log"
}

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  printf '    ok    %s\n' "$*"
}
fail() {
  failed=$((failed + 1))
  printf '    FAIL  %s\n' "$*"
}

run_started=
run_cleanup() {
  if [ -n "$run_started" ]; then podman rm -f -v "$CONTAINER" >/dev/null 2>&1 || true; fi
}

run() {
  step "run: $IMAGE as container $CONTAINER on 127.0.0.1:$PORT"
  podman image exists "$IMAGE" || die "no image $IMAGE: build it first (the build step), or set OCI_IMAGE"
  ! podman container exists "$CONTAINER" ||
    die "a container named $CONTAINER exists: remove it (podman rm -f -v $CONTAINER) or set OCI_CONTAINER"
  ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "127.0.0.1:$PORT is taken: set OCI_PORT to a free port"

  local rev head password url ready='' uids ruid euid dir secrets version code doctor started_ns stop_ms exit_code
  rev=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$IMAGE")
  [ "$rev" != "<no value>" ] || rev=
  info "image $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1 / 1e6}'), revision ${rev:-unlabelled}"
  if [ -n "$REPO" ] && head=$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null) && [ "$head" != "$rev" ]; then
    info "$REPO is at $head now: the image is from an earlier commit"
  fi
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  url="http://127.0.0.1:$PORT"

  [ -d /run/systemd/system ] ||
    info "no systemd: podman logs errors about the health check's timer; the check itself is run below"
  trap run_cleanup EXIT
  run_started=1
  # Host network, listening on loopback only: no port forwarding is involved. Without systemd podman cannot
  # start the periodic health timer and logs an error; `podman healthcheck run` below runs the same check.
  podman run -d --name "$CONTAINER" --network host \
    -e TLINK_LISTEN="127.0.0.1:$PORT" \
    -e TLINK_ADMIN_EMAIL=admin@example.com -e TLINK_ADMIN_PASSWORD="$password" \
    "$IMAGE" >/dev/null

  for _ in $(seq 30); do
    if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then
      ready=1
      break
    fi
    sleep 1
  done
  if [ -z "$ready" ]; then
    podman logs --tail 20 "$CONTAINER" 2>&1 | sed 's/^/    | /' || true
    fail "/readyz did not answer 200 within 30 s"
    return 1
  fi
  ok "/readyz 200"
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/healthz") || code=
  if [ "$code" = 200 ]; then ok "/healthz 200"; else fail "/healthz answered ${code:-nothing}, not 200"; fi

  uids=$(podman exec "$CONTAINER" grep '^Uid:' /proc/1/status) || uids=
  read -r _ ruid euid _ <<<"$uids" || true
  if [ "${ruid:-}" = 10001 ] && [ "${euid:-}" = 10001 ]; then
    ok "the server runs as uid 10001"
  else
    fail "the server runs as uid ${euid:-unknown}, not 10001"
  fi
  dir=$(podman exec "$CONTAINER" stat -c '%a %u:%g' /var/lib/tlink) || dir=
  secrets=$(podman exec "$CONTAINER" stat -c '%a' /var/lib/tlink/jwt_secret /var/lib/tlink/secrets_key | paste -sd ' ') || secrets=
  if [ "$dir" = "700 10001:10001" ] && [ "$secrets" = "600 600" ]; then
    ok "/var/lib/tlink: mode 700, 10001:10001; jwt_secret and secrets_key 600"
  else
    fail "/var/lib/tlink: '${dir:-missing}', secrets '${secrets:-missing}' (want '700 10001:10001', '600 600')"
  fi
  info "volume: $(podman exec "$CONTAINER" ls -A /var/lib/tlink | paste -sd ' ')"

  if podman healthcheck run "$CONTAINER" >/dev/null; then
    ok "podman healthcheck run: healthy"
  else
    fail "podman healthcheck run: unhealthy"
  fi

  version=$(podman exec "$CONTAINER" tlink --version) || version=
  if [ -n "$rev" ] && [[ $version == *"(rev $rev)"* ]]; then
    ok "$version"
  else
    fail "tlink --version says '${version:-nothing}'; the image's revision label is '${rev:-empty}'"
  fi

  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$url/api/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"admin@example.com\",\"password\":\"$password\"}") || code=
  if [ "$code" = 200 ]; then ok "login as the bootstrap admin: 200"; else fail "login as the bootstrap admin: ${code:-no answer}, not 200"; fi
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$url/api/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"admin@example.com","password":"not-the-password"}') || code=
  if [ "$code" = 401 ]; then ok "login with a wrong password: 401"; else fail "login with a wrong password: ${code:-no answer}, not 401"; fi

  if doctor=$(podman exec "$CONTAINER" tlink doctor --skip-listen 2>&1); then
    ok "tlink doctor --skip-listen: $(tail -n 1 <<<"$doctor")"
  else
    fail "tlink doctor --skip-listen:"
    printf '%s\n' "$doctor" | sed 's/^/    | /'
  fi

  started_ns=$(date +%s%N)
  podman stop -t 30 "$CONTAINER" >/dev/null
  stop_ms=$((($(date +%s%N) - started_ns) / 1000000))
  exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$CONTAINER")
  if [ "$exit_code" = 0 ]; then
    ok "podman stop -t 30: stopped in $stop_ms ms, exit 0"
  else
    fail "podman stop -t 30: exit $exit_code after $stop_ms ms"
  fi
  info "last log line: $(podman logs --tail 1 "$CONTAINER" 2>&1 | sed 's/\x1b\[[0-9;]*m//g')"

  podman rm -v "$CONTAINER" >/dev/null
  run_started=
  info "container $CONTAINER and its volume removed"
  printf '\n%s ok, %s FAIL\n' "$passed" "$failed"
  [ "$failed" -eq 0 ]
}

case ${1:-all} in
  -h | --help)
    usage
    exit 0
    ;;
  deps | slim | rust | build | run | all) ;;
  *)
    usage >&2
    exit 2
    ;;
esac
[ "$(id -u)" = 0 ] || die "run as root: mmdebstrap --mode=root, and the images live in root's container storage"
mkdir -p "$OCI_DIR"
if [ "${1:-all}" = all ]; then
  deps
  containers_conf
  slim
  rust
  build
  run
else
  [ "$1" = deps ] || containers_conf
  "$1"
fi
