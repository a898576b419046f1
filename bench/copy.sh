#!/usr/bin/env bash
# What moving data costs: a SQLite database holding BENCH_ROWS assets and BENCH_ROWS completed reports (about a
# kilobyte of result each), filled through the store by the `copy_seed` example, then timed with the release
# binary:
#   tlink backup              (VACUUM INTO a new file, checked)
#   tlink restore             (into a new, empty database)
#   tlink db copy             (into a new SQLite file)
#   tlink db copy             (into PostgreSQL, when TLINK_BENCH_DATABASE_URL names a database: a new schema
#                              is created in it for the run and dropped afterwards; needs psql)
#
#   bench/copy.sh                                                   # BENCH_ROWS=100000
#   BENCH_ROWS=20000 TLINK_BENCH_DATABASE_URL=postgres://tlink:secret@127.0.0.1/tlink bench/copy.sh
#
# Needs: Rust. Writes bench/out/copy.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROWS=${BENCH_ROWS:-100000}
PG_URL=${TLINK_BENCH_DATABASE_URL:-}
OUT=bench/out

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlink-copy.XXXXXX")
SCHEMA=""
cleanup() {
  if [[ -n $SCHEMA ]]; then
    psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building (release)"
cargo build --release --locked -p tlink --bin tlink --example copy_seed
TLINK="$RELEASE_DIR/tlink"
SEED="$RELEASE_DIR/examples/copy_seed"
export TLINK_DATA_DIR="$WORK" TLINK_LOG_LEVEL=warn
# TLINK_* variables are tlink's configuration: the script's own is read above and removed here.
unset TLINK_DATABASE_URL TLINK_COPY_FROM TLINK_COPY_TO TLINK_BENCH_DATABASE_URL
SOURCE="sqlite://$WORK/source.db"

# Milliseconds the command takes; its output goes to $WORK/last.log.
timed() {
  local start end
  start=$(date +%s%N)
  "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; die "failed: $*"; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

seconds() { python3 -c 'import sys; print(f"{int(sys.argv[1]) / 1000:.2f} s")' "$1"; }
size() { du -h "$1" | cut -f1; }

log "seeding $ROWS assets and $ROWS reports"
seed_ms=$(timed "$SEED" "$SOURCE" "$ROWS")

log "tlink backup"
backup_ms=$(timed env TLINK_DATABASE_URL="$SOURCE" "$TLINK" backup "$WORK/backup.db")
grep -q "integrity ok" "$WORK/last.log" || die "the backup was not checked: $(cat "$WORK/last.log")"

log "tlink restore"
restore_ms=$(timed env TLINK_DATABASE_URL="sqlite://$WORK/restored.db" "$TLINK" restore "$WORK/backup.db")

log "tlink db copy into SQLite"
sqlite_ms=$(timed "$TLINK" db copy --from "$SOURCE" --to "sqlite://$WORK/copy.db")
grep -q "^verified: " "$WORK/last.log" || die "the copy was not verified: $(cat "$WORK/last.log")"

pg_line=""
if [[ -n $PG_URL ]]; then
  command -v psql >/dev/null || die "psql is needed to create the schema for the PostgreSQL run"
  SCHEMA="tlink_copy_bench_$$"
  psql -q "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
  if [[ $PG_URL == *\?* ]]; then sep='&'; else sep='?'; fi
  log "tlink db copy into PostgreSQL"
  pg_ms=$(timed "$TLINK" db copy --from "$SOURCE" --to "$PG_URL${sep}options=-c%20search_path%3D$SCHEMA")
  grep -q "^verified: " "$WORK/last.log" || die "the copy was not verified: $(cat "$WORK/last.log")"
  pg_line="| \`tlink db copy\` SQLite → PostgreSQL | $(seconds "$pg_ms") |"
fi

mkdir -p "$OUT"
{
  echo "# Moving data: $ROWS assets and $ROWS reports"
  echo
  echo "SQLite database: $(size "$WORK/source.db"); backup file: $(size "$WORK/backup.db"). $(nproc) cores."
  echo
  echo "| step | time |"
  echo "|---|---|"
  echo "| seeding (copy_seed, through the store) | $(seconds "$seed_ms") |"
  echo "| \`tlink backup\` | $(seconds "$backup_ms") |"
  echo "| \`tlink restore\` into an empty database | $(seconds "$restore_ms") |"
  echo "| \`tlink db copy\` SQLite → SQLite | $(seconds "$sqlite_ms") |"
  [[ -n $pg_line ]] && echo "$pg_line"
  echo
  echo "Each time includes starting the binary, the checks, and for copies the verification of every table's count."
} | tee "$OUT/copy.md"
