#!/usr/bin/env bash
# Soak test: one release `tlink serve` under a steady mixed workload for a set time, reporting every minute
# whether memory, file descriptors, the queue and latency stay flat.
#
#   bench/soak.sh                     # 30 minutes, SQLite
#   bench/soak.sh 60                  # or SOAK_MINUTES=60
#   SOAK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tlink_soak bench/soak.sh
#
# It builds the release binary (or uses SOAK_TLINK), starts loopback stand-ins (bench/soak_peers.py: an
# AbuseIPDB stand-in and a webhook receiver over HTTP, a TLS server with a self-signed certificate, a WHOIS
# server, a DNS responder), then `tlink serve` on 127.0.0.1 with a fresh SQLite data directory (or the
# PostgreSQL database of SOAK_DATABASE_URL, which should be empty), configured so that tools may reach
# 127.0.0.0/8 (tools.egress_allow), providers, WHOIS and DNS point at the stand-ins, monitored assets are
# scanned every minute (monitoring.min_interval_minutes = 1, tick 5 s) by ip-reputation and whois (IPs) and
# dns, ssl and whois (domains), and request rate limits are off. bench/soak_load.py then sets up an
# organization (API key, ENTERPRISE plan, two alert rules with webhooks to the receiver, assets) and drives
# reads, writes, tool runs and alert triage at SOAK_RATE requests a second for the whole time, printing one
# line a minute: RSS, open file descriptors, threads, queue depth, requests, errors, p50/p99 latency, tool
# runs finished, scheduled scans and webhook deliveries received.
#
# At the end: the first and last minutes and a verdict, "flat" or "grew" (RSS growth over the second half
# < 10 %, lowest fd count up by at most 5). Exit status: 0 flat and errors ≤ 1 %; 1 grew, too many errors,
# or part of the workload never ran; 2 set-up failed, the server died, or most requests of the first minute
# failed (the run stops there); 130 interrupted.
#
# Needs: Rust (unless SOAK_TLINK is set), curl, python3 (standard library), openssl (installed with apt-get
# when missing). Settings: SOAK_MINUTES (30; the first argument wins), SOAK_RATE (100 requests/s in all),
# SOAK_MONITORED (30 monitored assets), SOAK_PORT (a free port), SOAK_DATABASE_URL (empty: SQLite),
# SOAK_TLINK (a tlink binary to use instead of building one), SOAK_WEBHOOK_FAIL_EVERY (20: the receiver
# answers 503 to every 20th delivery request, which is retried; 0 never), SOAK_KEEP=1 keeps the data
# directory. Writes target/soak/soak.csv (one row a minute), soak.log (what it printed), serve.log (the
# server's warnings and errors, JSON lines) and peers.log.
#
# The server is started with no TLINK_* variable from this environment: its whole configuration is the file
# written below, so the run is the same wherever it starts.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SOAK_MINUTES=${1:-${SOAK_MINUTES:-30}}
SOAK_RATE=${SOAK_RATE:-100}
SOAK_MONITORED=${SOAK_MONITORED:-30}
SOAK_PORT=${SOAK_PORT:-}
SOAK_DATABASE_URL=${SOAK_DATABASE_URL:-}
SOAK_TLINK=${SOAK_TLINK:-}
SOAK_WEBHOOK_FAIL_EVERY=${SOAK_WEBHOOK_FAIL_EVERY:-20}
SOAK_KEEP=${SOAK_KEEP:-0}
OUT=target/soak
EMAIL=soak@example.com
PASSWORD=soak-password-123
ABUSEIPDB_KEY=soak-abuseipdb-key

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# ---------------------------------------------------------------------------------------------- clean-up
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-soak.XXXXXX")
LOAD_PID=""
SERVER_PID=""
PEERS_PID=""
# shellcheck disable=SC2317 # stop_pid and cleanup run from the EXIT trap
# stop_pid PID SECONDS: SIGTERM, then SIGKILL if it is still there after SECONDS.
stop_pid() {
  local pid=$1 tenths=$(($2 * 10))
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || {
    wait "$pid" 2>/dev/null || true
    return 0
  }
  while ((tenths > 0)) && kill -0 "$pid" 2>/dev/null; do
    sleep 0.1
    tenths=$((tenths - 1))
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317
cleanup() {
  # The load first (it prints its summary on SIGTERM), then the server (graceful shutdown), then the peers.
  stop_pid "$LOAD_PID" 90
  stop_pid "$SERVER_PID" 40
  stop_pid "$PEERS_PID" 10
  if [[ $SOAK_KEEP == 1 ]]; then
    echo "kept the data directory and configuration in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------- set-up
[[ $SOAK_MINUTES =~ ^[1-9][0-9]*$ ]] || die "the number of minutes must be a positive integer, not '$SOAK_MINUTES'"
if [[ ! $SOAK_RATE =~ ^[0-9]+([.][0-9]+)?$ || $SOAK_RATE =~ ^0+([.]0+)?$ ]]; then
  die "SOAK_RATE must be a positive number, not '$SOAK_RATE'"
fi
if [[ ! $SOAK_MONITORED =~ ^[0-9]+$ ]] || ((SOAK_MONITORED < 2)); then
  die "SOAK_MONITORED must be a number, at least 2"
fi
[[ $SOAK_WEBHOOK_FAIL_EVERY =~ ^[0-9]+$ ]] || die "SOAK_WEBHOOK_FAIL_EVERY must be a number (0: never)"
[[ -z $SOAK_PORT || $SOAK_PORT =~ ^[1-9][0-9]*$ ]] || die "SOAK_PORT must be a port number"
[[ $SOAK_DATABASE_URL != *'"'* && $SOAK_DATABASE_URL != *\\* ]] ||
  die "SOAK_DATABASE_URL must not contain quotes or backslashes"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
need openssl

if [[ -n $SOAK_TLINK ]]; then
  [[ -x $SOAK_TLINK ]] || die "SOAK_TLINK=$SOAK_TLINK is not an executable"
  built=$SOAK_TLINK
else
  log "building (release)"
  cargo build --release --locked -p tlink --bin tlink
  built="$RELEASE_DIR/tlink"
fi
# A copy, so that a rebuild during the soak neither changes the binary measured nor finds it busy.
TLINK="$WORK/tlink"
cp "$built" "$TLINK"

mkdir -p "$OUT"
rm -f "$OUT/soak.csv" "$OUT/soak.log" "$OUT/serve.log" "$OUT/peers.log"

log "starting the loopback stand-ins"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=soak.test" \
  -addext "subjectAltName=DNS:soak.test,IP:127.0.0.1" -keyout "$WORK/tls-key.pem" -out "$WORK/tls-cert.pem" \
  2>"$WORK/openssl.log" || die "openssl could not make a certificate: $(cat "$WORK/openssl.log")"
python3 "$ROOT/bench/soak_peers.py" --cert "$WORK/tls-cert.pem" --key "$WORK/tls-key.pem" \
  --ready "$WORK/peers.json" --abuseipdb-key "$ABUSEIPDB_KEY" --webhook-fail-every "$SOAK_WEBHOOK_FAIL_EVERY" \
  >"$OUT/peers.log" 2>&1 &
PEERS_PID=$!
for _ in $(seq 1 100); do
  [[ -s $WORK/peers.json ]] && break
  kill -0 "$PEERS_PID" 2>/dev/null || die "the stand-ins did not start: $(cat "$OUT/peers.log")"
  sleep 0.1
done
[[ -s $WORK/peers.json ]] || die "the stand-ins did not start within 10 s; see $OUT/peers.log"
peer() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/peers.json" "$1"; }
HTTP_PORT=$(peer http)
TLS_PORT=$(peer tls)
WHOIS_PORT=$(peer whois)
DNS_PORT=$(peer dns)

PORT=${SOAK_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
BASE="http://127.0.0.1:$PORT"
mkdir -p "$WORK/data"
cat >"$WORK/tlink.toml" <<EOF
listen = "127.0.0.1:$PORT"
data_dir = "$WORK/data"
database_url = "$SOAK_DATABASE_URL"
admin_email = "$EMAIL"
admin_password = "$PASSWORD"
log_level = "warn"
log_format = "json"

[limits]
# The workload sends far more than the per-IP and per-key limits allow; monthly quotas are lifted by
# moving the organization to ENTERPRISE.
enabled = false

[tools]
# The stand-ins are on loopback.
egress_allow = ["127.0.0.0/8"]
resolvers = ["127.0.0.1:$DNS_PORT"]

[tools.whois]
root_server = "127.0.0.1:$WHOIS_PORT"

[tools.ssl]
# Domains resolve to 127.0.0.1 through the DNS stand-in; scans of them reach the TLS stand-in here.
default_port = $TLS_PORT

[tools.abuseipdb]
base_url = "http://127.0.0.1:$HTTP_PORT/api/v2"
api_key = "$ABUSEIPDB_KEY"

[monitoring]
tick_secs = 5
first_scan_within_secs = 10
min_interval_minutes = 1

[monitoring.tools]
IP = ["ip-reputation", "whois"]
DOMAIN = ["dns", "ssl", "whois"]
EOF

# Every TLINK_* variable of this environment is left out: the file above is the whole configuration.
server_env=(env -u RUST_LOG)
while IFS= read -r name; do
  [[ $name == TLINK_* ]] && server_env+=(-u "$name")
done < <(compgen -e)

log "starting tlink serve on $BASE ($([[ -n $SOAK_DATABASE_URL ]] && echo PostgreSQL || echo "SQLite in $WORK"))"
(cd "$WORK" && exec "${server_env[@]}" "$TLINK" --config "$WORK/tlink.toml" serve) >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "tlink serve exited while starting: $(tail -n 20 "$OUT/serve.log")"
  sleep 0.2
done
curl -fsS -o /dev/null "$BASE/readyz" || die "tlink serve did not become ready within 60 s; see $OUT/serve.log"

# ---------------------------------------------------------------------------------------------- the soak
log "soak: $SOAK_MINUTES minute(s) at ~$SOAK_RATE requests/s; server pid $SERVER_PID"
# In the background and waited for, so that an interrupt reaches the trap at once; the load prints its
# summary when stopped.
python3 "$ROOT/bench/soak_load.py" --base "$BASE" --pid "$SERVER_PID" --peers "$WORK/peers.json" \
  --email "$EMAIL" --password "$PASSWORD" --minutes "$SOAK_MINUTES" --rate "$SOAK_RATE" \
  --monitored "$SOAK_MONITORED" --csv "$OUT/soak.csv" --log "$OUT/soak.log" &
LOAD_PID=$!
rc=0
wait "$LOAD_PID" || rc=$?
LOAD_PID=""

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  log "tlink serve is not running any more; see $OUT/serve.log"
  ((rc != 0)) || rc=2
fi
errors=$(grep -c '"level":"ERROR"' "$OUT/serve.log" || true)
warnings=$(grep -c '"level":"WARN"' "$OUT/serve.log" || true)
log "the server logged $errors error(s) and $warnings warning(s) (see $OUT/serve.log)"
log "stand-ins: $(curl -fsS "http://127.0.0.1:$HTTP_PORT/_soak/stats" 2>/dev/null || echo unavailable)"
log "wrote $OUT/soak.csv and $OUT/soak.log"
exit "$rc"
