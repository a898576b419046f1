#!/usr/bin/env bash
# Instructions per request on the authenticated read path, counted by valgrind's callgrind: GET
# /api/orgs/{orgId}/assets/{assetId} on SQLite with X-API-Key (limits off), the same with limits on in
# process, and with a session's Bearer token (limits off). Unlike req/s, the count is the same from run to
# run whatever else the machine does, so two builds can be compared exactly; it leaves out the kernel (the
# network, SQLite's locks), which bench/profile.sh sees.
#
#   bench/instructions.sh                     # INSTR_REQUESTS=2000
#   CARGO_TARGET_DIR=target/fat bench/instructions.sh
#
# Each configuration: the server starts under callgrind, takes 100 requests to warm up, its counters are
# zeroed, then one keep-alive client sends INSTR_REQUESTS requests one after another and the counters are
# dumped. Needs: Rust, curl, python3, valgrind (installed with apt-get when missing). Writes
# bench/out/instructions.md and keeps the callgrind files in bench/out/ (callgrind_annotate reads them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REQUESTS=${INSTR_REQUESTS:-2000}
PORT=${BENCH_PORT:-18095}
EMAIL=bench@example.com
PASSWORD=bench-password-123
HUGE=1000000000
OUT=bench/out

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
need valgrind
need callgrind_control valgrind

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-instr.XXXXXX")
SERVER=""
cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building (release)"
cargo build --release --locked -p tlink --bin tlink
cargo build --release --locked -p tlink-server --example bench_seed
TLINK="$RELEASE_DIR/tlink"
DB="sqlite://$WORK/tlink.db"
export TLINK_DATA_DIR="$WORK" TLINK_DATABASE_URL="$DB" TLINK_LOG_LEVEL=warn
org=$("$RELEASE_DIR/examples/bench_seed" "$DB" 1000 "$EMAIL" "$PASSWORD")
"$TLINK" org set-plan "$org" ENTERPRISE --requests-per-minute "$HUGE" >/dev/null

start() { # env… command…
  (cd "$WORK" && exec env -u RUST_LOG TLINK_LISTEN="127.0.0.1:$PORT" TLINK_LIMITS__IP_PER_MINUTE="$HUGE" \
    TLINK_LIMITS__ACCOUNT_PER_MINUTE="$HUGE" "$@") >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  wait_ready "http://127.0.0.1:$PORT" "$WORK/server.log" 600
}

base="http://127.0.0.1:$PORT"
start TLINK_LIMITS__ENABLED=false "$TLINK" serve --no-worker
bench_credentials "$base" "$org"
stop_server
url="$base/api/orgs/$org/assets/$asset"

# send HEADER N: N requests on one keep-alive connection, each answered 200.
send() {
  python3 - "$url" "$1" "$2" <<'PY'
import http.client, sys
from urllib.parse import urlparse
url, header, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
name, value = header.split(": ", 1)
u = urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
for _ in range(n):
    conn.request("GET", u.path, headers={name: value})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"GET asset answered {r.status}: {body[:200]!r}")
PY
}

mkdir -p "$OUT"
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
measure() { # NAME LIMITS HEADER
  local name=$1 limits=$2 header=$3 file
  log "$name"
  start TLINK_LIMITS__ENABLED="$limits" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$name" \
    "$TLINK" serve --no-worker
  send "$header" 100
  callgrind_control -z "$SERVER" >/dev/null
  send "$header" "$REQUESTS"
  callgrind_control -d "$SERVER" >/dev/null
  sleep 1
  stop_server
  file=$(find "$WORK" -maxdepth 1 -name "cg.$name.*" | sort | tail -1)
  cp "$file" "$OUT/callgrind.$name"
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  printf '%s\t%s\n' "$name" "$((total / REQUESTS))" >>"$RESULTS"
}
measure api-key false "X-API-Key: $key"
measure api-key-limits true "X-API-Key: $key"
measure session false "Authorization: Bearer $token"

python3 - "$RESULTS" "$OUT/instructions.md" "$REQUESTS" <<'PY'
import sys
rows = dict(l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l)
n = {k: int(v) for k, v in rows.items()}
out = ["# Instructions per request (callgrind)", "",
       f"GET asset by id on SQLite, {sys.argv[3]} requests on one connection after 100 to warm up.", "",
       "| request | instructions | ÷ API key, limits off |", "|---|---:|---:|"]
for name in ("api-key", "api-key-limits", "session"):
    out.append(f"| {name} | {n[name]:,} | {n[name] / n['api-key']:.3f} |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
