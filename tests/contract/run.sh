#!/usr/bin/env bash
# The OpenAPI document as a contract: schemathesis (PyPI, pinned) against a real `tlink serve` on SQLite,
# every operation, every check, the stateful phase included, with a fixed seed — once with an owner's API
# key and once with a viewer's. Any failure fails the run.
#
#   tests/contract/run.sh                       # both roles, CONTRACT_EXAMPLES examples per operation
#   CONTRACT_EXAMPLES=20 CONTRACT_ROLES=owner tests/contract/run.sh
#
# Settings: CONTRACT_EXAMPLES (50), CONTRACT_SEED (20261207), CONTRACT_ROLES ("viewer owner": the viewer first, as it cannot change what the owner's run reads),
# CONTRACT_PORT (a free one), CONTRACT_KEEP=1 keeps the data directory, the server log and the reports.
# Builds the debug binary (`cargo build`), installs schemathesis and mohawk with pip when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${CONTRACT_EXAMPLES:-50}
SEED=${CONTRACT_SEED:-20261207}
ROLES=${CONTRACT_ROLES:-viewer owner}
PORT=${CONTRACT_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
KEEP=${CONTRACT_KEEP:-0}
BASE="http://127.0.0.1:$PORT"
OWNER_EMAIL=contract-owner@example.com
VIEWER_EMAIL=contract-viewer@example.com
PASSWORD=contract-password-123

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

pip_need() { # MODULE REQUIREMENT
  python3 - "$1" "$2" <<'PY' && return 0
import importlib.metadata, sys
module, requirement = sys.argv[1:]
name, _, version = requirement.partition("==")
sys.exit(0 if importlib.metadata.version(name) == version else 1)
PY
  log "installing $2"
  python3 -m pip install --quiet "$2" || python3 -m pip install --quiet --user "$2" \
    || python3 -m pip install --quiet --break-system-packages "$2"
}
pip_need schemathesis "schemathesis==$SCHEMATHESIS_VERSION"
pip_need mohawk mohawk==1.1.0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-contract.XXXXXX")
SERVER=
cleanup() {
  if [[ -n $SERVER ]]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  if [[ $KEEP == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building"
cargo build --locked -q -p tlink --bin tlink
TLINK="$ROOT/target/debug/tlink"

# The server: SQLite in $WORK, workers and the scheduler off (no tool reaches the network; runs stay
# queued), rate limits on but far above what the run sends, so their headers are real.
# (An array, not a function: a function run in the background is a subshell whose PID is not the server's,
# and killing it would leave the server running.)
TLINK_ENV=(env -u RUST_LOG -u TLINK_CONFIG -u TLINK_DATABASE_URL -u TLINK_REDIS_URL
  TLINK_DATA_DIR="$WORK/data" TLINK_LISTEN="127.0.0.1:$PORT" TLINK_LOG_LEVEL=warn
  TLINK_WORKER__ENABLED=false TLINK_MONITORING__ENABLED=false
  TLINK_LIMITS__IP_PER_MINUTE=100000000 TLINK_LIMITS__ACCOUNT_PER_MINUTE=100000000
  TLINK_LIMITS__ORG_PER_MINUTE=100000000 TLINK_LIMITS__ENTERPRISE_DEFAULT_PER_MINUTE=100000000)

# Two ordinary users (neither an instance operator, as the clients of a deployment are): the owner of an
# organization and a viewer in it.
"${TLINK_ENV[@]}" "$TLINK" user create --email "$OWNER_EMAIL" --password "$PASSWORD" --org Contract >/dev/null
"${TLINK_ENV[@]}" "$TLINK" user create --email "$VIEWER_EMAIL" --password "$PASSWORD" >/dev/null
"${TLINK_ENV[@]}" "$TLINK" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || die "tlink serve stopped; see $WORK/server.log"
  sleep 0.2
done
curl -fsS -o /dev/null "$BASE/readyz" || die "tlink serve did not become ready"

api() { # METHOD PATH [JSON] with $AUTH_HEADER set
  curl -fsS -X "$1" -H "$AUTH_HEADER" -H 'Content-Type: application/json' ${3:+-d "$3"} "$BASE$2"
}
login() { # EMAIL -> access token
  curl -fsS -X POST -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$PASSWORD\"}" "$BASE/api/auth/login" | jget data.accessToken
}
AUTH_HEADER="Authorization: Bearer $(login "$OWNER_EMAIL")"
ORG=$(api GET /api/orgs | jget data.0.id)
# ENTERPRISE, whose per-credential limit is the (raised) enterprise default, before any request names it.
"${TLINK_ENV[@]}" "$TLINK" org set-plan "$ORG" ENTERPRISE >/dev/null
OWNER_USER=$(api GET /api/users/me | jget data.id)
OWNER_KEY_JSON=$(api POST /api/users/me/api-keys '{"name":"contract owner"}')
OWNER_KEY=$(jget data.key <<<"$OWNER_KEY_JSON")
OWNER_KEY_ID=$(jget data.id <<<"$OWNER_KEY_JSON")
api POST "/api/orgs/$ORG/members" "{\"email\":\"$VIEWER_EMAIL\",\"role\":\"VIEWER\"}" >/dev/null
AGENT_TOKEN=$(api POST "/api/orgs/$ORG/agent-enrollments" '{"name":"contract host"}' | jget data.token)
# Something to read: an asset, a rule and a queued run.
api POST "/api/orgs/$ORG/assets" '{"type":"DOMAIN","value":"contract.example.com","label":"contract"}' >/dev/null
AUTH_HEADER="Authorization: Bearer $(login "$VIEWER_EMAIL")"
VIEWER_USER=$(api GET /api/users/me | jget data.id)
VIEWER_KEY_JSON=$(api POST /api/users/me/api-keys '{"name":"contract viewer"}')
VIEWER_KEY=$(jget data.key <<<"$VIEWER_KEY_JSON")
VIEWER_KEY_ID=$(jget data.id <<<"$VIEWER_KEY_JSON")

failed=0
for role in $ROLES; do
  case $role in
    owner) key=$OWNER_KEY key_id=$OWNER_KEY_ID user=$OWNER_USER ;;
    viewer) key=$VIEWER_KEY key_id=$VIEWER_KEY_ID user=$VIEWER_USER ;;
    *) die "unknown role '$role' in CONTRACT_ROLES (owner, viewer)" ;;
  esac
  log "schemathesis as the $role: $EXAMPLES examples per operation, seed $SEED"
  if ! CONTRACT_KEY=$key CONTRACT_KEY_ID=$key_id CONTRACT_USER=$user CONTRACT_ORG=$ORG CONTRACT_BASE=$BASE CONTRACT_AGENT_TOKEN=$AGENT_TOKEN \
    SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/tests/contract" \
    st --config-file "$ROOT/tests/contract/schemathesis.toml" run "$BASE/api/openapi.json" --url "$BASE" --checks all --phases examples,coverage,fuzzing,stateful \
      --max-examples "$EXAMPLES" --seed "$SEED" --generation-deterministic --workers 1 --no-color \
      --suppress-health-check all --request-timeout 20 \
      --report junit --report-dir "$WORK/reports-$role" >"$WORK/schemathesis-$role.txt" 2>&1; then
    failed=1
  fi
  tail -n 40 "$WORK/schemathesis-$role.txt"
done
kill -0 "$SERVER" 2>/dev/null || die "tlink serve stopped during the run; see $WORK/server.log"
if [[ $failed == 1 ]]; then
  KEEP=1
  die "schemathesis found failures (full output in $WORK)"
fi
log "no failures"
