#!/usr/bin/env bash
# Where an authenticated read spends its time: `tlink serve` (release, SQLite, BENCH_ASSETS assets) under wrk's
# GET /api/orgs/{orgId}/assets/{assetId} with X-API-Key, sampled by `perf record` while the load runs.
#
#   bench/profile.sh                      # PROFILE_SECONDS=10, BENCH_ASSETS=100100
#   PROFILE_BACKEND=postgres bench/profile.sh    # the local PostgreSQL (127.0.0.1:5432, trust auth), a
#                                                # fresh database tlink_profile
#
# Stacks are unwound from the binary's .eh_frame (`--call-graph dwarf`), so the release build needs no debug
# info. Needs: Rust, curl, python3, wrk and perf (Debian `linux-perf`; installed with apt-get when missing),
# and permission to profile (root, or kernel.perf_event_paranoid ≤ 1). Writes bench/out/profile.txt (the
# functions by their own time, then by time including callees) and keeps bench/out/perf.data.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_=${PROFILE_SECONDS:-10}
BACKEND=${PROFILE_BACKEND:-sqlite}
ASSETS=${BENCH_ASSETS:-100100}
EMAIL=bench@example.com
PASSWORD=bench-password-123
OUT=bench/out

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

need wrk
need perf linux-perf

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-profile.XXXXXX")
SERVER=""
cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
  if [[ $BACKEND == postgres ]]; then
    psql -h 127.0.0.1 -U postgres -d postgres -q -c "DROP DATABASE IF EXISTS tlink_profile WITH (FORCE)" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building (release)"
cargo build --release --locked -p tlink --bin tlink
cargo build --release --locked -p tlink-server --example bench_seed
TLINK="$RELEASE_DIR/tlink"
SEED="$RELEASE_DIR/examples/bench_seed"

case $BACKEND in
sqlite) url="sqlite://$WORK/tlink.db" ;;
postgres)
  psql -h 127.0.0.1 -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS tlink_profile WITH (FORCE)" -c "CREATE DATABASE tlink_profile"
  url="postgres://postgres@127.0.0.1:5432/tlink_profile"
  ;;
*) die "PROFILE_BACKEND is sqlite or postgres" ;;
esac
log "seeding $ASSETS assets"
org=$("$SEED" "$url" "$ASSETS" "$EMAIL" "$PASSWORD")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
(
  cd "$WORK"
  exec env -u RUST_LOG -u TLINK_CONFIG TLINK_DATA_DIR="$WORK" TLINK_DATABASE_URL="$url" \
    TLINK_LISTEN="127.0.0.1:$port" TLINK_LOG_LEVEL=warn TLINK_LIMITS__ENABLED=false "$TLINK" serve
) >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  sleep 0.2
done
curl -fsS -o /dev/null "$base/readyz" || die "tlink serve did not start; see $(cat "$WORK/serve.log")"

token=$(curl -fsS -X POST -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/auth/login" | jget data.accessToken)
key=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"name":"profile"}' "$base/api/users/me/api-keys" | jget data.key)
asset=$(curl -fsS -H "X-API-Key: $key" "$base/api/orgs/$org/assets?limit=1" | jget data.0.id)
target="$base/api/orgs/$org/assets/$asset"

mkdir -p "$OUT"
log "warming up"
wrk -t2 -c64 -d2s -H "X-API-Key: $key" "$target" >/dev/null
log "profiling ${SECONDS_} s under wrk -t2 -c64"
perf record -q -F 499 --call-graph dwarf,8192 -p "$SERVER" -o "$OUT/perf.data" -- sleep "$SECONDS_" &
recorder=$!
wrk -t2 -c64 -d"${SECONDS_}s" --latency -H "X-API-Key: $key" "$target" >"$OUT/profile-wrk.txt"
wait "$recorder"

{
  echo "# GET asset with X-API-Key under wrk -t2 -c64, ${SECONDS_} s, $BACKEND, $ASSETS assets"
  grep -E 'Requests/sec|^ +(50|99)%' "$OUT/profile-wrk.txt"
  echo
  echo "## Functions by their own time (≥ 0.5 %)"
  perf report -i "$OUT/perf.data" --stdio --no-children --sort symbol --percent-limit 0.5 -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed -e 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' | cut -c1-240
  echo
  echo "## Functions by time including what they call (≥ 3 %)"
  perf report -i "$OUT/perf.data" --stdio --children --sort symbol --percent-limit 3 -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed -e 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' | cut -c1-240
} >"$OUT/profile.txt"
cat "$OUT/profile.txt"
