#!/usr/bin/env bash
# What request rate limits cost: GET /api/orgs/{orgId}/assets/{assetId} with X-API-Key on SQLite, measured
# with wrk on loopback against the same release binary and data four ways, in interleaved rounds:
#   (a) limits off, (b) limits on in process, (c) limits on and shared through Redis (with reservations,
#   the default), (d) the same with reservations off (limits.redis_lease_max = 0: one script per check).
# Every request still passes every check (IP, credential): the org is ENTERPRISE with a limit far above
# what the machine can send, and the IP limit is set likewise, so nothing is refused and only the
# checking is measured.
#
#   bench/limits.sh                       # BENCH_SECONDS=10 BENCH_ROUNDS=3
#   BENCH_SECONDS=5 BENCH_ROUNDS=2 bench/limits.sh
#
# Needs: Rust, curl, python3, wrk (installed with apt-get when missing), Redis on 127.0.0.1:6379 (started
# when it is not running). Writes bench/out/limits.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
PORT=${BENCH_PORT:-18090}
EMAIL=bench@example.com
PASSWORD=bench-password-123
OUT=bench/out
HUGE=1000000000

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-limits.XXXXXX")
SERVER=""
cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need wrk
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no
  sleep 1
fi

log "building (release)"
cargo build --release --locked -p tlink --bin tlink
cargo build --release --locked -p tlink-server --example bench_seed
TLINK="$RELEASE_DIR/tlink"
DB="sqlite://$WORK/tlink.db"
export TLINK_DATA_DIR="$WORK" TLINK_DATABASE_URL="$DB" TLINK_LOG_LEVEL=warn
org=$("$RELEASE_DIR/examples/bench_seed" "$DB" 1000 "$EMAIL" "$PASSWORD")
"$TLINK" org set-plan "$org" ENTERPRISE --requests-per-minute "$HUGE" >/dev/null

start() { # extra env…
  (cd "$WORK" && exec env -u RUST_LOG TLINK_LISTEN="127.0.0.1:$PORT" TLINK_LIMITS__IP_PER_MINUTE="$HUGE" \
    TLINK_LIMITS__ACCOUNT_PER_MINUTE="$HUGE" TLINK_LIMITS__REDIS_PREFIX="bench-$$:" "$@" "$TLINK" serve --no-worker) \
    >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  wait_ready "http://127.0.0.1:$PORT" "$WORK/server.log" 100
}

base="http://127.0.0.1:$PORT"
start env TLINK_LIMITS__ENABLED=false
bench_credentials "$base" "$org"
stop_server
url="$base/api/orgs/$org/assets/$asset"

mkdir -p "$OUT"
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
measure() { # NAME env…
  local name=$1
  shift
  start "$@"
  curl -fsS -o /dev/null -H "X-API-Key: $key" "$url" || die "GET asset failed ($name)"
  wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d1s -H "X-API-Key: $key" "$url" >/dev/null
  wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_SECONDS}s" --latency -H "X-API-Key: $key" "$url" \
    >"$WORK/$name.txt"
  stop_server
  python3 - "$WORK/$name.txt" "$name" >>"$RESULTS" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(f"{sys.argv[2]}\t{rps}\t{bad.group(1) if bad else 0}")
PY
}
for round in $(seq 1 "$BENCH_ROUNDS"); do
  log "round $round/$BENCH_ROUNDS"
  measure off env TLINK_LIMITS__ENABLED=false
  measure local env TLINK_LIMITS__ENABLED=true
  measure redis env TLINK_LIMITS__ENABLED=true TLINK_REDIS_URL=redis://127.0.0.1:6379/0
  measure redis-strict env TLINK_LIMITS__ENABLED=true TLINK_REDIS_URL=redis://127.0.0.1:6379/0 \
    TLINK_LIMITS__REDIS_LEASE_MAX=0
done

python3 - "$RESULTS" "$OUT/limits.md" "$BENCH_SECONDS" "$BENCH_ROUNDS" "$BENCH_CONNECTIONS" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
secs, rounds, conns = sys.argv[3:6]
by = {}
for name, rps, bad in rows:
    by.setdefault(name, []).append((float(rps), int(bad)))
med = {k: statistics.median(r for r, _ in v) for k, v in by.items()}
bad = {k: sum(b for _, b in v) for k, v in by.items()}
out = ["# What rate limits cost", "",
       f"GET asset by id with X-API-Key, SQLite, wrk -c{conns} -d{secs}s, median of {rounds} interleaved rounds.", "",
       "| limits | req/s | non-2xx | ÷ off | cost | goal |", "|---|---:|---:|---:|---:|---|"]
for name, goal in (("off", ""), ("local", "≤ 5 %"), ("redis", "≤ 25 %"), ("redis-strict", "")):
    r = med[name] / med["off"]
    out.append(f"| {name} | {med[name]:.0f} | {bad[name]} | {r:.3f} | {(1 - r) * 100:.1f} % | {goal} |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
