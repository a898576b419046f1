# shellcheck shell=bash
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

# wait_ready BASE LOG [TRIES]: waits for BASE/readyz (TRIES × 0.2 s, default 150), else dies showing LOG.
wait_ready() {
  local _
  for _ in $(seq 1 "${3:-150}"); do
    curl -fsS -o /dev/null "$1/readyz" 2>/dev/null && return 0
    sleep 0.2
  done
  die "tlink did not start; see $2"
}

# stop_server: stops the server whose PID is in SERVER, if any, and clears SERVER.
stop_server() {
  [[ -n ${SERVER:-} ]] || return 0
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
}

# bench_credentials BASE ORG: logs in as EMAIL/PASSWORD on a running server and sets `token` (an access
# token), `key` (a new API key) and `asset` (the id of one of ORG's assets).
# shellcheck disable=SC2034 # token, key and asset are the callers'
bench_credentials() {
  token=$(curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" \
    "$1/api/auth/login" | jget data.accessToken)
  key=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"name":"bench"}' \
    "$1/api/users/me/api-keys" | jget data.key)
  asset=$(curl -fsS -H "X-API-Key: $key" "$1/api/orgs/$2/assets?limit=1" | jget data.0.id)
}
