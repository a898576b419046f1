# Helpers shared by the benchmark scripts (sourced, not run).

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# need COMMAND [DEBIAN_PACKAGE]: installs the package (default: the command's name) with apt-get when the
# command is missing, through sudo unless root.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local pkg=${2:-$1} sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  log "installing $pkg"
  "${sudo[@]}" apt-get install -y -qq "$pkg" >/dev/null || {
    "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "$pkg" >/dev/null
  } || die "$1 is needed (apt-get install $pkg)"
}

# JSON on stdin; prints the value at a dotted path such as data.0.id (empty for null).
jget() {
  python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print("" if v is None else v)' "$1"
}

# Where cargo puts release builds: CARGO_TARGET_DIR when set (e.g. a separate directory for quicker
# builds with `CARGO_PROFILE_RELEASE_LTO=thin`), else the workspace's target/.
# (Relative to the workspace, found from this file: a script may source it before setting its own ROOT.)
BENCH_WORKSPACE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELEASE_DIR="${CARGO_TARGET_DIR:-$BENCH_WORKSPACE/target}/release"
case $RELEASE_DIR in /*) ;; *) RELEASE_DIR="$BENCH_WORKSPACE/$RELEASE_DIR" ;; esac
