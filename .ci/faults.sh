#!/usr/bin/env bash
# Fault drills (issue 10; docs/operations.md): poison reference rows at every figure's extremes,
# idempotency conflicts mixed with normal traffic, a PostgreSQL cut during a screening stream, a
# SQLite writer lock past the busy timeout, SIGSTOP/SIGCONT of the server, a full disk on the SQLite
# volume (a size-limited tmpfs this script's tests mount as root and unmount), then a soak that prints
# RSS growth, error counts and p99.
#
#   bash .ci/faults.sh                  # the short form CI runs (about 2-3 minutes)
#   SOAK_SECONDS=600 bash .ci/faults.sh # the full drill: a 10-minute soak
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "faults: run after the install (.venv)" >&2; exit 2; }
export SOAK_SECONDS="${SOAK_SECONDS:-30}"
section() { printf '\n==== faults: %s ====\n' "$*"; }

section "drills on SQLite"
.venv/bin/pytest -q -m fault -p no:randomly -s tests/api/test_poison_data.py tests/e2e/test_faults.py

PG_URL="${CHIPCLASS_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  section "drills on PostgreSQL"
  CHIPCLASS_TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q -m fault -p no:randomly -s \
    tests/api/test_poison_data.py tests/e2e/test_faults.py
elif [ "${CI:-}" = "true" ]; then
  echo "faults: PostgreSQL is not reachable on 127.0.0.1:5432" >&2
  exit 1
else
  echo "faults: PostgreSQL not reachable: its drills skipped"
fi

section "soak (${SOAK_SECONDS}s)"
$PY bench/soak.py
