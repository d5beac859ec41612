#!/usr/bin/env bash
# Throughput and latency of the hot paths, against /healthz measured in the same run.
# Server pinned to core 0, wrk to core 1; one uvicorn worker, uvloop + httptools, no access log.
# Each endpoint: warm-up, then RUNS runs of DURATION; prints median and range of req/s, p50/p99.
# Usage: bench/run.sh            (needs wrk: apt-get install -y wrk)
#        BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench bench/run.sh   (an empty database)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-8s}
CONNS=${CONNS:-50}
PORT=${PORT:-18321}
KEY="cc_bench_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
WORK=$(mktemp -d)
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)"; exit 2; }

export CHIPCLASS_DATABASE_URL="${BENCH_DATABASE_URL:-sqlite:///$WORK/bench.db}" CHIPCLASS_BOOTSTRAP_ADMIN_KEY="$KEY" CHIPCLASS_LOG_LEVEL=WARNING
taskset -c 0 .venv/bin/chipclass serve --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

lua() {  # method body -> a wrk script
  cat >"$WORK/$1.lua" <<LUA
wrk.method = "$2"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$3]]
LUA
}
lua get GET ""
lua classify POST '{"accelerator_id": "nvidia-h100-sxm5-80gb", "as_of": "2026-01-20"}'
lua spec POST '{"spec": {"throughput": [{"precision": "fp16", "dense_tops": 148}, {"precision": "fp8", "dense_tops": 296}], "die_area_mm2": 814, "memory_bandwidth_gbps": 4000, "interconnect_bandwidth_gbps": 900, "datacenter": true}}'
lua screen POST '{"destination": "SG", "end_user": {"name": "Bench", "parent_headquarters": "CN"}, "lines": [{"key": "1", "accelerator_id": "nvidia-h20-96gb", "quantity": 1}, {"key": "2", "accelerator_id": "nvidia-l40-48gb", "quantity": 2}]}'

measure() {  # name script path
  local name=$1 script=$2 path=$3 rates=() p50s=() p99s=()
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$WORK/$script.lua" "http://127.0.0.1:$PORT$path" >/dev/null
  for _ in $(seq "$RUNS"); do
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/$script.lua" "http://127.0.0.1:$PORT$path")
    if echo "$out" | grep -q "Non-2xx"; then echo "$name: non-2xx responses"; echo "$out"; exit 1; fi
    rates+=("$(echo "$out" | awk '/Requests\/sec/ {print $2}')")
    p50s+=("$(echo "$out" | awk '$1=="50%" {print $2}')")
    p99s+=("$(echo "$out" | awk '$1=="99%" {print $2}')")
  done
  median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  range=$(printf '%s\n' "${rates[@]}" | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "-" hi}')
  printf '%-34s %10s req/s  (range %s)  p50 %s  p99 %s\n' "$name" "$median" "$range" "${p50s[*]}" "${p99s[*]}"
  eval "RATE_$script=$median"
}

echo "chipclass bench: $RUNS x $DURATION, $CONNS connections, server on core 0, wrk on core 1"
measure "GET /healthz (reference)" get /healthz
REF=$RATE_get
measure "GET /v1/accelerators/{id}/classification" get /v1/accelerators/nvidia-h100-sxm5-80gb/classification
CLS_GET=$RATE_get
measure "POST /v1/classifications (catalog id)" classify /v1/classifications
measure "POST /v1/classifications (spec)" spec /v1/classifications
measure "POST /v1/screenings (2 lines, stored)" screen /v1/screenings
echo
awk -v r="$REF" -v a="$CLS_GET" -v b="$RATE_classify" -v c="$RATE_spec" -v d="$RATE_screen" 'BEGIN {
  printf "ratio to /healthz: GET classification %.2f, POST classification %.2f, spec %.2f, screening %.2f\n", a/r, b/r, c/r, d/r }'
echo "database: ${CHIPCLASS_DATABASE_URL%%\?*}"
echo "decisions written: $(.venv/bin/chipclass decisions verify | awk -F': ' '/"checked"/ {gsub(",","",$2); print $2}') (chain verified)"
