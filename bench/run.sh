#!/usr/bin/env bash
# Kept for the old command: the benchmark is bench/bench.py (see its docstring).
#   bench/run.sh [--short]      BENCH_DATABASE_URL=postgresql://... bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/bench.py "$@"
