#!/usr/bin/env bash
# Idle memory of `tlink serve` on SQLite: a release build started on a fresh data directory, asked for
# /readyz, a page of the dashboard and a list of the API once (so the lazily built parts exist), then left
# idle; its resident set (VmRSS), peak (VmHWM), threads and the largest mappings are read from /proc.
#
#   bench/rss.sh                 # prints a table; RSS_IDLE_SECS=10 by default
#
# Needs: Rust, curl. Writes bench/out/rss.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=bench/out
IDLE=${RSS_IDLE_SECS:-10}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-rss.XXXXXX")
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building (release)"
cargo build --release --locked -p tlink --bin tlink
TLINK="$RELEASE_DIR/tlink"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TLINK_DATA_DIR="$WORK" TLINK_LOG_LEVEL=warn TLINK_JWT_SECRET=rss-bench-secret-0123456789-abcdefghijkl
unset TLINK_DATABASE_URL TLINK_REDIS_URL

"$TLINK" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || die "the server did not start: $(cat "$WORK/serve.log")"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/login"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/api/openapi.json"
curl -sS -o /dev/null "http://127.0.0.1:$PORT/api/users/me" || true
sleep "$IDLE"

status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status"; }
rss=$(status VmRSS)
hwm=$(status VmHWM)
threads=$(status Threads)
anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$PID/status")
file=$(awk '/^RssFile:/ { print $2 }' "/proc/$PID/status")

mkdir -p "$OUT"
{
  echo "# Idle RSS of tlink serve (SQLite, release, after ${IDLE} s idle)"
  echo
  echo "| VmRSS | RssAnon | RssFile | VmHWM | threads |"
  echo "|---:|---:|---:|---:|---:|"
  echo "| $((rss / 1024)) MiB ($rss kB) | $((anon / 1024)) MiB | $((file / 1024)) MiB | $((hwm / 1024)) MiB | $threads |"
  echo
  echo "Largest mappings by resident size (kB):"
  echo
  echo '```'
  awk '/^[0-9a-f]+-[0-9a-f]+ / { name = $6 ? $6 : "[anon]" } /^Rss:/ { rss[name] += $2 } END { for (n in rss) print rss[n], n }' \
    "/proc/$PID/smaps" | sort -rn | head -n 8
  echo '```'
} | tee "$OUT/rss.md"
