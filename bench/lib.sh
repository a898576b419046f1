# Helpers shared by the benchmark scripts (sourced, not run).

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# JSON on stdin; prints the value at a dotted path such as data.0.id (empty for null).
jget() {
  python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print("" if v is None else v)' "$1"
}
