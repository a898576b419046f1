#!/usr/bin/env bash
# tlink benchmark: a bare axum JSON handler vs GET /api/orgs/{orgId}/assets/{assetId} (X-API-Key, and a session's
# Bearer token) vs a list page of 100 at the start and at depth 100,000, on SQLite and PostgreSQL, measured with
# wrk on loopback in one run; on PostgreSQL also what the database alone does (`pgbench -S`, same clients).
#
#   bench/run.sh                                    # full run: release build, 100,100 assets per backend
#   BENCH_SECONDS=5 BENCH_BACKENDS=sqlite bench/run.sh
#
# Needs: Rust, curl, python3; installs wrk with apt-get when missing; starts the local PostgreSQL cluster
# (127.0.0.1:5432, trust auth, user postgres) when it is not running and uses fresh databases `tlink_bench` and
# `tlink_bench_pgbench` (pgbench's tables, scale 10); pgbench comes with the PostgreSQL client.
# Settings: BENCH_SECONDS (10), BENCH_ASSETS (100100), BENCH_BACKENDS ("sqlite postgres"), BENCH_THREADS (2),
# BENCH_CONNECTIONS (64), BENCH_ROUNDS (1; >1 interleaves rounds and reports medians, steadier on a busy
# machine), BENCH_PORT (18080; backends use the next ports), BENCH_KEEP=1 keeps data and logs.
# Request rate limits are off here (wrk would be refused); bench/limits.sh measures what they cost.
# Prints req/s, p50/p99 and the ratios; writes bench/out/results.md and the raw wrk output to bench/out/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ASSETS=${BENCH_ASSETS:-100100}
BENCH_BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_ROUNDS=${BENCH_ROUNDS:-1}
BENCH_PORT=${BENCH_PORT:-18080}
BENCH_KEEP=${BENCH_KEEP:-0}
PG_HOST=127.0.0.1
PG_PORT=5432
PG_DB=tlink_bench
PGBENCH_DB=tlink_bench_pgbench
PAGE=100
TARGET_DEPTH=100000
EMAIL=bench@example.com
PASSWORD=bench-password-123
OUT=bench/out

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q "$@"; }

# ---------------------------------------------------------------------------------------------- clean-up
PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-bench.XXXXXX")
PG_CREATED=0
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $BENCH_KEEP == 1 ]]; then
    echo "kept data and server logs in $WORK" >&2
  else
    rm -rf "$WORK"
    if [[ $PG_CREATED == 1 ]]; then
      psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $PGBENCH_DB WITH (FORCE)" \
        2>/dev/null || true
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------- set-up
[[ $BENCH_ASSETS =~ ^[0-9]+$ ]] || die "BENCH_ASSETS must be a number"
[[ $BENCH_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number"
# Pages followed before the measured deep page: 1,000 pages of 100 reach depth 100,000.
DEEP_PAGES=$((TARGET_DEPTH / PAGE))
if ((BENCH_ASSETS < TARGET_DEPTH + PAGE)); then
  DEEP_PAGES=$(((BENCH_ASSETS - PAGE) / PAGE))
  ((DEEP_PAGES >= 1)) || die "BENCH_ASSETS must be at least $((2 * PAGE))"
  log "only $BENCH_ASSETS assets: the deep page is at depth $((DEEP_PAGES * PAGE)), not $TARGET_DEPTH"
fi
DEPTH=$((DEEP_PAGES * PAGE))

for b in $BENCH_BACKENDS; do
  [[ $b == sqlite || $b == postgres ]] || die "unknown backend '$b' in BENCH_BACKENDS (sqlite, postgres)"
done
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

need wrk

log "building (release)"
cargo build --release --locked -p tlink --bin tlink
cargo build --release --locked -p tlink-server --example bare --example bench_seed
TLINK="$RELEASE_DIR/tlink"
SEED="$RELEASE_DIR/examples/bench_seed"
BARE="$RELEASE_DIR/examples/bare"

if [[ " $BENCH_BACKENDS " == *" postgres "* ]]; then
  if ! pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do
      pg_isready -h "$PG_HOST" -p "$PG_PORT" -q && break
      sleep 1
    done
  fi
  pg_isready -h "$PG_HOST" -p "$PG_PORT" -q || die "PostgreSQL is not reachable on $PG_HOST:$PG_PORT"
  command -v pgbench >/dev/null || die "pgbench is required for the PostgreSQL ceiling (the PostgreSQL client package)"
  psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB" \
    -c "DROP DATABASE IF EXISTS $PGBENCH_DB WITH (FORCE)" -c "CREATE DATABASE $PGBENCH_DB"
  PG_CREATED=1
  log "pgbench: initialising scale 10"
  pgbench -h "$PG_HOST" -p "$PG_PORT" -U postgres -i -s 10 -q "$PGBENCH_DB" >"$WORK/pgbench-init.log" 2>&1 ||
    die "pgbench -i failed; see $WORK/pgbench-init.log"
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.txt
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

wait_ready() { # URL PID
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# run_wrk NAME BACKEND DESCRIPTION URL [wrk args…]: a 1 s warm-up, then the measured run; appends a line
# to $RESULTS and keeps wrk's output in $OUT/NAME-ROUND.txt.
run_wrk() {
  local name=$1 backend=$2 what=$3 url=$4
  shift 4
  local raw="$OUT/$name-$round.txt"
  log "wrk: $what ($backend, round $round/$BENCH_ROUNDS)"
  wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d1s "$@" "$url" >/dev/null
  wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_SECONDS}s" --latency "$@" "$url" >"$raw"
  python3 - "$raw" "$name" "$backend" "$what" >>"$RESULTS" <<'PY'
import re, sys
path, name, backend, what = sys.argv[1:]
text = open(path).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
pct = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
sock = re.search(r"Socket errors:.*", text)
print("\t".join([name, backend, what, rps.group(1) if rps else "",
                 f"{pct['50']:.3f}" if "50" in pct else "", f"{pct['99']:.3f}" if "99" in pct else "",
                 bad.group(1) if bad else "0", sock.group(0) if sock else ""]))
PY
  local non2xx
  non2xx=$(tail -n1 "$RESULTS" | cut -f7)
  [[ $non2xx == 0 ]] || log "WARNING: $non2xx non-2xx responses for $what ($backend); see $raw"
}

# run_pgbench: `pgbench -S` (select-only, prepared) with wrk's client count; appends a line to $RESULTS
# (transactions/s as the rate, average latency as p50, no p99: pgbench reports none without per-transaction logs).
run_pgbench() {
  local raw="$OUT/pgbench-$round.txt"
  log "pgbench -S -c$BENCH_CONNECTIONS (round $round/$BENCH_ROUNDS)"
  pgbench -h "$PG_HOST" -p "$PG_PORT" -U postgres -n -S -M prepared -c "$BENCH_CONNECTIONS" -j "$BENCH_THREADS" \
    -T "$BENCH_SECONDS" "$PGBENCH_DB" >"$raw" 2>&1 || die "pgbench failed; see $raw"
  python3 - "$raw" >>"$RESULTS" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
tps = re.search(r"^tps = ([\d.]+)", text, re.M)
lat = re.search(r"^latency average = ([\d.]+) ms", text, re.M)
print("\t".join(["pgbench-postgres", "postgres", f"pgbench -S -M prepared (PostgreSQL alone, d)",
                 tps.group(1) if tps else "", lat.group(1) if lat else "", "", "0", ""]))
PY
}

# ---------------------------------------------------------------------------------------------- baseline
BARE_ADDR="127.0.0.1:$BENCH_PORT"
"$BARE" "$BARE_ADDR" 2>"$WORK/bare.log" &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_ready "http://$BARE_ADDR/" "$BARE_PID" || die "the bare server did not start; see $WORK/bare.log"

# ---------------------------------------------------------------------------------------------- backends
port=$BENCH_PORT
for backend in $BENCH_BACKENDS; do
  port=$((port + 1))
  dir="$WORK/$backend"
  mkdir -p "$dir"
  case $backend in
  sqlite) url="sqlite://$dir/tlink.db" ;;
  postgres) url="postgres://postgres@$PG_HOST:$PG_PORT/$PG_DB" ;;
  esac

  log "seeding $BENCH_ASSETS assets ($backend)"
  seeded_org=$("$SEED" "$url" "$BENCH_ASSETS" "$EMAIL" "$PASSWORD")

  base="http://127.0.0.1:$port"
  (
    cd "$dir"
    exec env -u RUST_LOG -u TLINK_CONFIG TLINK_DATA_DIR="$dir" TLINK_DATABASE_URL="$url" \
      TLINK_LISTEN="127.0.0.1:$port" TLINK_ADMIN_EMAIL="$EMAIL" TLINK_ADMIN_PASSWORD="$PASSWORD" \
      TLINK_LOG_LEVEL=warn TLINK_LIMITS__ENABLED=false "$TLINK" serve
  ) >"$WORK/$backend.log" 2>&1 &
  server=$!
  PIDS+=("$server")
  wait_ready "$base/readyz" "$server" || die "tlink serve ($backend) did not become ready; see $WORK/$backend.log"

  token=$(curl -fsS -X POST -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/auth/login" | jget data.accessToken)
  key=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name":"bench"}' "$base/api/users/me/api-keys" | jget data.key)
  auth=(-H "X-API-Key: $key")
  org=$(curl -fsS "${auth[@]}" "$base/api/orgs" | jget data.0.id)
  [[ $org == "$seeded_org" ]] || die "the API key's first org ($org) is not the seeded org ($seeded_org)"
  asset=$(curl -fsS "${auth[@]}" "$base/api/orgs/$org/assets?limit=1" | jget data.0.id)

  list_url="$base/api/orgs/$org/assets?limit=$PAGE"
  log "following nextToken through $DEEP_PAGES pages ($backend)"
  deep_token=$(python3 - "$list_url" "$key" "$DEEP_PAGES" <<'PY'
import json, sys, urllib.parse, urllib.request
url, key, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])
token = None
for n in range(1, pages + 1):
    u = url + ("&token=" + urllib.parse.quote(token, safe="") if token else "")
    with urllib.request.urlopen(urllib.request.Request(u, headers={"X-API-Key": key})) as r:
        body = json.load(r)
    token = body["meta"]["nextToken"]
    if not token:
        sys.exit(f"the list ended at page {n}")
print(token)
PY
  )
  deep_url="$list_url&token=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$deep_token")"
  count=$(curl -fsS "${auth[@]}" "$deep_url" | jget meta.count)
  [[ $count == "$PAGE" ]] || die "the page at depth $DEPTH has $count items, expected $PAGE"
  curl -fsS -o /dev/null "${auth[@]}" "$base/api/orgs/$org/assets/$asset" || die "GET asset failed"

  # The baseline runs next to each backend's measurements, so drift in the machine's load between
  # backends does not skew the ratios; rounds interleave for the same reason.
  for round in $(seq 1 "$BENCH_ROUNDS"); do
    run_wrk "bare-$backend" "$backend" "bare axum JSON (a)" "http://$BARE_ADDR/"
    [[ $backend == postgres ]] && run_pgbench
    run_wrk "get-asset-$backend" "$backend" "GET asset by id, X-API-Key (b)" \
      "$base/api/orgs/$org/assets/$asset" "${auth[@]}"
    # A fresh access token each round: they live 15 minutes.
    session=$(curl -fsS -X POST -H 'Content-Type: application/json' \
      -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/auth/login" | jget data.accessToken)
    run_wrk "get-asset-session-$backend" "$backend" "GET asset by id, session token (c)" \
      "$base/api/orgs/$org/assets/$asset" -H "Authorization: Bearer $session"
    run_wrk "list-first-$backend" "$backend" "list, first page of $PAGE" "$list_url" "${auth[@]}"
    run_wrk "list-deep-$backend" "$backend" "list, page of $PAGE at depth $DEPTH" "$deep_url" "${auth[@]}"
  done

  stop_pid "$server"
done

# ---------------------------------------------------------------------------------------------- report
python3 - "$RESULTS" "$OUT/results.md" "$BENCH_THREADS" "$BENCH_CONNECTIONS" "$BENCH_SECONDS" "$BENCH_ASSETS" \
  "$DEPTH" "$BENCH_ROUNDS" <<'PY'
import datetime, os, statistics, subprocess, sys
threads, conns, secs, assets, depth, rounds = sys.argv[3:9]
lines = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
# One row per measurement: the median of each column over the rounds, non-2xx summed.
def median(vals):
    vals = [float(v) for v in vals if v]
    return str(statistics.median(vals)) if vals else ""
rows, res = [], {}
for l in lines:
    if l[0] not in res:
        res[l[0]] = [l[0], l[1], l[2], [], [], [], 0]
        rows.append(res[l[0]])
    r = res[l[0]]
    r[3].append(l[3]); r[4].append(l[4]); r[5].append(l[5]); r[6] += int(l[6] or 0)
for r in rows:
    r[3], r[4], r[5] = median(r[3]), median(r[4]), median(r[5])
def f(v):
    return float(v) if v else None
def num(v, fmt):
    return format(v, fmt) if v is not None else "n/a"
try:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    rev += " (+ local changes)" if dirty else ""
except OSError:
    rev = "unknown"
out = []
out.append("# tlink benchmark results")
out.append("")
out.append(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {rev}, {os.cpu_count()} CPUs shared by wrk and the servers. "
           f"wrk -t{threads} -c{conns} -d{secs}s on loopback after a 1 s warm-up; "
           f"{assets} assets in the org; deep page at depth {depth}. "
           + (f"Median of {rounds} interleaved rounds. " if rounds != "1" else "") + "Latency in ms.")
out.append("")
out.append("| backend | request | req/s | p50 | p99 | non-2xx |")
out.append("|---|---|---:|---:|---:|---:|")
for r in rows:
    out.append(f"| {r[1]} | {r[2]} | {num(f(r[3]), '.0f')} | {num(f(r[4]), '.3f')} | {num(f(r[5]), '.3f')} | {r[6]} |")
out.append("")
out.append("| ratio | measured | goal | met |")
out.append("|---|---:|---|---|")
def ratio(name, value, goal, ok):
    met = "n/a" if value is None else "—" if goal.startswith("(") else "yes" if ok(value) else "NO"
    out.append(f"| {name} | {num(value, '.2f')} | {goal} | {met} |")
def rate(name):
    return f(res[name][3]) if name in res else None
def quotient(x, y):
    return x / y if x and y else None
# Goals: on SQLite against the bare handler; on PostgreSQL against what the database alone does.
if "get-asset-sqlite" in res:
    ratio("sqlite: GET asset (X-API-Key) req/s ÷ bare req/s", quotient(rate("get-asset-sqlite"), rate("bare-sqlite")),
          "≥ 0.50", lambda v: v >= 0.5)
    ratio("sqlite: GET asset (session) req/s ÷ bare req/s", quotient(rate("get-asset-session-sqlite"), rate("bare-sqlite")),
          "≥ 0.45", lambda v: v >= 0.45)
if "get-asset-postgres" in res:
    ratio("postgres: GET asset (X-API-Key) req/s ÷ pgbench -S tps",
          quotient(rate("get-asset-postgres"), rate("pgbench-postgres")), "≥ 0.40", lambda v: v >= 0.4)
    ratio("postgres: GET asset (session) req/s ÷ pgbench -S tps",
          quotient(rate("get-asset-session-postgres"), rate("pgbench-postgres")), "(reported)", lambda v: True)
    ratio("postgres: GET asset req/s ÷ bare req/s (for reference)",
          quotient(rate("get-asset-postgres"), rate("bare-postgres")), "(reported)", lambda v: True)
for backend in ("sqlite", "postgres"):
    if f"get-asset-{backend}" in res:
        row = res[f"get-asset-{backend}"]
        ratio(f"{backend}: GET asset p99 ÷ p50", quotient(f(row[5]), f(row[4])), "≤ 3", lambda v: v <= 3)
for backend in ("sqlite", "postgres"):
    if f"list-first-{backend}" not in res:
        continue
    first, deep = res[f"list-first-{backend}"], res[f"list-deep-{backend}"]
    ratio(f"{backend}: deep page cost, first req/s ÷ deep req/s", quotient(f(first[3]), f(deep[3])), "≤ 1.1",
          lambda v: v <= 1.1)
    ratio(f"{backend}: deep page p50 ÷ first page p50", quotient(f(deep[4]), f(first[4])), "≤ 1.1", lambda v: v <= 1.1)
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print()
print(text)
PY
log "wrote $OUT/results.md"
