#!/usr/bin/env bash
# Scale-out benchmark: N API processes and N workers on one PostgreSQL database and one Redis, for N = 1, 2
# and 4, against the same release binary. For each N it measures
#   (a) tool-run throughput, end to end: BENCH_RUNS dns runs POSTed by BENCH_CLIENTS keep-alive clients
#       spread over the API processes, from the first POST until the last report is COMPLETED (runs/s). The
#       runs resolve through a lean loopback DNS responder (python3, one thread: every name has one A record),
#       which stands in for a resolver answering from its cache;
#   (b) API read throughput: GET /api/orgs/{orgId}/assets/{assetId} with X-API-Key, one wrk per API process
#       at the same time (BENCH_CONNECTIONS split between them), requests/s summed;
# and prints both with their ratio to N = 1.
#
#   bench/scaleout.sh                                  # N = 1 2 4, split processes
#   BENCH_NS="1 2" BENCH_RUNS=1000 bench/scaleout.sh
#   BENCH_MODE=combined bench/scaleout.sh              # N × `tlink serve` (API and worker in one process)
#
# BENCH_MODE: `split` (default): N × `tlink serve --no-worker` + N × `tlink worker`; `combined`: N × `tlink
# serve` with its in-process worker. Rate limits stay on and shared through Redis, as in a scale-out
# deployment, with figures far above what the machine can send, so nothing is refused and only the checking
# is paid. Monitoring is off.
#
# Needs: Rust, curl, python3, psql; installs wrk with apt-get when missing; starts the local PostgreSQL
# (127.0.0.1:5432, trust auth, user postgres) and Redis (127.0.0.1:6379) when they are not running; uses a
# fresh database `tlink_scaleout` for each N. Settings: BENCH_NS ("1 2 4"), BENCH_MODE (split), BENCH_RUNS
# (2000), BENCH_CLIENTS (32), BENCH_SECONDS (10), BENCH_THREADS (2), BENCH_CONNECTIONS (64), BENCH_ASSETS
# (1000), BENCH_PORT (18100; API processes use the next ports), BENCH_DNS_PORT (15353), BENCH_KEEP=1 keeps
# data and logs. Writes bench/out/scaleout.md and the raw wrk output to bench/out/.
#
# Every process shares the machine's cores with the clients, the DNS responder, PostgreSQL and Redis: on a
# small machine the ratios say how much more the same cores do with more processes (contention, batching,
# the shared queue), not how a deployment grows with more machines.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NS=${BENCH_NS:-1 2 4}
BENCH_MODE=${BENCH_MODE:-split}
BENCH_RUNS=${BENCH_RUNS:-2000}
BENCH_CLIENTS=${BENCH_CLIENTS:-32}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_ASSETS=${BENCH_ASSETS:-1000}
BENCH_PORT=${BENCH_PORT:-18100}
BENCH_DNS_PORT=${BENCH_DNS_PORT:-15353}
BENCH_KEEP=${BENCH_KEEP:-0}
PG_HOST=127.0.0.1
PG_PORT=5432
PG_DB=tlink_scaleout
REDIS_URL=redis://127.0.0.1:6379/0
EMAIL=bench@example.com
PASSWORD=bench-password-123
HUGE=1000000000
OUT=bench/out

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q "$@"; }

# ---------------------------------------------------------------------------------------------- clean-up
PIDS=()
DNS_PID=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-scaleout.XXXXXX")
PG_CREATED=0
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_all
  if [[ -n $DNS_PID ]]; then
    kill "$DNS_PID" 2>/dev/null || true
    wait "$DNS_PID" 2>/dev/null || true
  fi
  if [[ $BENCH_KEEP == 1 ]]; then
    echo "kept data and logs in $WORK" >&2
  else
    rm -rf "$WORK"
    if [[ $PG_CREATED == 1 ]]; then
      psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" 2>/dev/null || true
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------- set-up
[[ $BENCH_MODE == split || $BENCH_MODE == combined ]] || die "BENCH_MODE must be split or combined"
for n in $BENCH_NS; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_NS must list positive numbers"
done
[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
command -v psql >/dev/null || die "psql is required"

need wrk

log "building (release)"
cargo build --release --locked -p tlink --bin tlink
cargo build --release --locked -p tlink-server --example bench_seed
TLINK="$RELEASE_DIR/tlink"
SEED="$RELEASE_DIR/examples/bench_seed"

if ! pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do
    pg_isready -h "$PG_HOST" -p "$PG_PORT" -q && break
    sleep 1
  done
fi
pg_isready -h "$PG_HOST" -p "$PG_PORT" -q || die "PostgreSQL is not reachable on $PG_HOST:$PG_PORT"
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no
  for _ in $(seq 1 30); do
    redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
    sleep 0.2
  done
fi
redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || die "Redis is not reachable on 127.0.0.1:6379"

# A lean authoritative responder: every name has one A record (192.0.2.10); other types are NODATA.
python3 - "$BENCH_DNS_PORT" >"$WORK/dns.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
A = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04" + bytes([192, 0, 2, 10])
while True:
    q, peer = s.recvfrom(2048)
    i = 12
    while i < len(q) and q[i] != 0:
        i += 1 + q[i]
    end = i + 5
    if len(q) < 17 or end > len(q):
        continue
    is_a = q[i + 1] == 0 and q[i + 2] == 1
    # QR, AA, RD as asked, RA; NOERROR; one question, one answer or none, no other records.
    head = q[:2] + bytes([0x84 | (q[2] & 0x01), 0x80]) + (b"\x00\x01\x00\x01" if is_a else b"\x00\x01\x00\x00") + b"\x00\x00\x00\x00"
    s.sendto(head + q[12:end] + (A if is_a else b""), peer)
PY
DNS_PID=$!
sleep 0.3
kill -0 "$DNS_PID" 2>/dev/null || die "the DNS responder did not start; see $WORK/dns.log"

mkdir -p "$OUT"
rm -f "$OUT"/scaleout-*.txt
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

wait_ready() { # URL PID LOG
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || die "a process exited while starting; see $3"
    sleep 0.2
  done
  die "$1 did not become ready; see $3"
}

# ---------------------------------------------------------------------------------------------- one N
measure() { # N
  local n=$1 i port pid logf
  local dir="$WORK/n$n"
  mkdir -p "$dir"
  log "N = $n ($BENCH_MODE): fresh database, $BENCH_ASSETS assets"
  psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
  PG_CREATED=1
  local url="postgres://postgres@$PG_HOST:$PG_PORT/$PG_DB"
  local org
  org=$("$SEED" "$url" "$BENCH_ASSETS" "$EMAIL" "$PASSWORD" 2>>"$dir/seed.log")

  # Every process: the same database, secrets, Redis and limits; tools resolve through the responder.
  local common=(env -u RUST_LOG -u TLINK_CONFIG TLINK_DATA_DIR="$dir" TLINK_DATABASE_URL="$url"
    TLINK_JWT_SECRET="scaleout-bench-secret-0123456789-abcdefghij"
    TLINK_SECRETS_KEY="scaleout-bench-sealing-0123456789-abcdefghij"
    TLINK_REDIS_URL="$REDIS_URL" TLINK_LIMITS__REDIS_PREFIX="scaleout-$$-$n:"
    TLINK_LIMITS__IP_PER_MINUTE="$HUGE" TLINK_LIMITS__ACCOUNT_PER_MINUTE="$HUGE"
    TLINK_MONITORING__ENABLED=false TLINK_LOG_LEVEL=warn
    TLINK_TOOLS__RESOLVERS="[\"127.0.0.1:$BENCH_DNS_PORT\"]")
  (cd "$dir" && "${common[@]}" "$TLINK" org set-plan "$org" ENTERPRISE --requests-per-minute "$HUGE") >/dev/null

  local ports=()
  for i in $(seq 1 "$n"); do
    port=$((BENCH_PORT + i))
    ports+=("$port")
    logf="$dir/api-$i.log"
    if [[ $BENCH_MODE == split ]]; then
      (cd "$dir" && exec "${common[@]}" TLINK_LISTEN="127.0.0.1:$port" "$TLINK" serve --no-worker) >"$logf" 2>&1 &
    else
      (cd "$dir" && exec "${common[@]}" TLINK_LISTEN="127.0.0.1:$port" "$TLINK" serve) >"$logf" 2>&1 &
    fi
    pid=$!
    PIDS+=("$pid")
    wait_ready "http://127.0.0.1:$port/readyz" "$pid" "$logf"
    if [[ $BENCH_MODE == split ]]; then
      # At info level only for the start-up line waited for below.
      (cd "$dir" && exec "${common[@]}" TLINK_LOG_LEVEL=info "$TLINK" worker) >"$dir/worker-$i.log" 2>&1 &
      PIDS+=("$!")
    fi
  done
  if [[ $BENCH_MODE == split ]]; then
    for i in $(seq 1 "$n"); do
      for _ in $(seq 1 100); do
        grep -q "worker started" "$dir/worker-$i.log" 2>/dev/null && break
        sleep 0.1
      done
      grep -q "worker started" "$dir/worker-$i.log" 2>/dev/null || log "WARNING: worker $i has not logged its start; see $dir/worker-$i.log"
    done
  fi

  local base="http://127.0.0.1:${ports[0]}" token key asset
  token=$(curl -fsS -X POST -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/auth/login" | jget data.accessToken)
  key=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name":"bench"}' "$base/api/users/me/api-keys" | jget data.key)
  asset=$(curl -fsS -H "X-API-Key: $key" "$base/api/orgs/$org/assets?limit=1" | jget data.0.id)
  # One run through every API process before measuring: the workers are up and the path is warm.
  for port in "${ports[@]}"; do
    curl -fsS -o /dev/null -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' \
      -d '{"toolKey":"dns","target":"warm.bench.test"}' "http://127.0.0.1:$port/api/orgs/$org/tools/run"
  done
  PGDATABASE=$PG_DB python3 - "$PG_HOST" "$PG_PORT" <<'PY' || die "the warm-up runs did not complete; see $dir"
import subprocess, sys, time
host, port = sys.argv[1:3]
for _ in range(600):
    q = "SELECT count(*) FROM reports WHERE status NOT IN ('COMPLETED', 'FAILED')"
    left = subprocess.run(["psql", "-h", host, "-p", port, "-U", "postgres", "-Atc", q], capture_output=True, text=True, check=True).stdout.strip()
    if left == "0":
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY

  # (a) tool runs, end to end.
  log "N = $n: $BENCH_RUNS dns runs from $BENCH_CLIENTS clients"
  local runs
  runs=$(PGDATABASE=$PG_DB python3 - "$(
    IFS=,
    echo "${ports[*]}"
  )" "$key" "$org" "$BENCH_RUNS" "$BENCH_CLIENTS" "$PG_HOST" "$PG_PORT" "n$n" <<'PY'
import http.client, json, subprocess, sys, threading, time
ports = [int(p) for p in sys.argv[1].split(",")]
key, org = sys.argv[2], sys.argv[3]
total, clients = int(sys.argv[4]), int(sys.argv[5])
host, pgport, tag = sys.argv[6], sys.argv[7], sys.argv[8]
def sql(q):
    return subprocess.run(["psql", "-h", host, "-p", pgport, "-U", "postgres", "-Atc", q],
                          capture_output=True, text=True, check=True).stdout.strip()
before = int(sql("SELECT count(*) FROM reports"))
lock = threading.Lock()
numbers = iter(range(total))
errors = []
def client():
    conns = {}
    while True:
        with lock:
            n = next(numbers, None)
        if n is None:
            return
        port = ports[n % len(ports)]
        body = json.dumps({"toolKey": "dns", "target": f"t{n}.{tag}.bench.test"})
        for _ in range(3):
            c = conns.setdefault(port, http.client.HTTPConnection("127.0.0.1", port, timeout=60))
            try:
                c.request("POST", f"/api/orgs/{org}/tools/run", body,
                          {"X-API-Key": key, "Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                if r.status != 202:
                    errors.append(r.status)
                break
            except (http.client.HTTPException, OSError):
                c.close()
                conns.pop(port, None)
        else:
            errors.append("connection")
start = time.monotonic()
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
q = "SELECT count(*) FROM reports WHERE status IN ('COMPLETED', 'FAILED')"
while int(sql(q)) < before + total - len(errors):
    if time.monotonic() - start > 900:
        sys.exit("timed out waiting for the runs")
    time.sleep(0.1)
elapsed = time.monotonic() - start
for t in threads:
    t.join()
failed = sql("SELECT count(*) FROM reports WHERE status = 'FAILED'")
print(f"{total / elapsed:.1f}\t{elapsed:.2f}\t{failed}\t{len(errors)}")
PY
  )
  log "N = $n: $(cut -f1 <<<"$runs") runs/s ($(cut -f2 <<<"$runs") s, $(cut -f3 <<<"$runs") failed, $(cut -f4 <<<"$runs") refused POSTs)"

  # (b) reads: one wrk per API process at once, the connections split between them.
  local conns=$((BENCH_CONNECTIONS / n)) threads=1 wrks=() raw
  ((conns >= 1)) || conns=1
  ((n > 1)) || threads=$BENCH_THREADS
  log "N = $n: reads, ${n} × wrk -t$threads -c$conns -d${BENCH_SECONDS}s"
  for port in "${ports[@]}"; do
    wrk -t"$threads" -c"$conns" -d1s -H "X-API-Key: $key" "http://127.0.0.1:$port/api/orgs/$org/assets/$asset" \
      >/dev/null &
    wrks+=("$!")
  done
  for pid in "${wrks[@]}"; do wait "$pid"; done
  wrks=()
  for port in "${ports[@]}"; do
    raw="$OUT/scaleout-read-n$n-$port.txt"
    wrk -t"$threads" -c"$conns" -d"${BENCH_SECONDS}s" --latency -H "X-API-Key: $key" \
      "http://127.0.0.1:$port/api/orgs/$org/assets/$asset" >"$raw" &
    wrks+=("$!")
  done
  for pid in "${wrks[@]}"; do wait "$pid"; done
  local reads
  reads=$(python3 - "$OUT"/scaleout-read-n"$n"-*.txt <<'PY'
import re, sys
rps = bad = 0.0
for path in sys.argv[1:]:
    text = open(path).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rps += float(m.group(1)) if m else 0.0
    b = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    bad += int(b.group(1)) if b else 0
print(f"{rps:.0f}\t{bad:.0f}")
PY
  )
  log "N = $n: $(cut -f1 <<<"$reads") reads/s ($(cut -f2 <<<"$reads") non-2xx)"
  printf '%s\t%s\t%s\n' "$n" "$runs" "$reads" >>"$RESULTS"
  stop_all
}

for n in $BENCH_NS; do
  measure "$n"
done

# ---------------------------------------------------------------------------------------------- report
python3 - "$RESULTS" "$OUT/scaleout.md" "$BENCH_MODE" "$BENCH_RUNS" "$BENCH_CLIENTS" "$BENCH_CONNECTIONS" \
  "$BENCH_SECONDS" <<'PY'
import datetime, os, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
mode, runs, clients, conns, secs = sys.argv[3:8]
shape = {"split": "{n} API + {n} workers", "combined": "{n} × serve (API and worker)"}[mode]
base = rows[0] if rows else None
def ratio(v, b):
    return f"{float(v) / float(b):.2f}" if b and float(b) > 0 else "n/a"
out = ["# Scale-out", "",
       f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs shared by every "
       f"process, PostgreSQL, Redis, the DNS responder and the clients. Tool runs: {runs} dns runs POSTed by "
       f"{clients} keep-alive clients over the API processes, first POST to last report COMPLETED. Reads: GET asset "
       f"by id with X-API-Key, one wrk per API process, {conns} connections in all, {secs} s.", "",
       f"| N | processes | tool runs/s | × N={base[0] if base else 1} | failed runs | reads/s | × N={base[0] if base else 1} | non-2xx |",
       "|---:|---|---:|---:|---:|---:|---:|---:|"]
for n, rps, _elapsed, failed, refused, reads, bad in rows:
    out.append(f"| {n} | {shape.format(n=n)} | {rps} | {ratio(rps, base[1])} | {failed} (+{refused} refused) "
               f"| {reads} | {ratio(reads, base[5])} | {bad} |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print()
print(text)
PY
log "wrote $OUT/scaleout.md"
