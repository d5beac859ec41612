#!/usr/bin/env bash
# Contract gates (issue 5): the committed OpenAPI spec, proven against a live server.
#   1. a Python client generated with openapi-python-client runs the order-system path end to end
#   2. TypeScript types generated with openapi-typescript type-check a client program (tsc --noEmit)
#   3. schemathesis fuzzes every operation: no 5xx, every response conforms to the spec
# Run from anywhere (works from the repo root) with the project venv at .venv. Installs its tools,
# pinned, into a temporary directory (pip and npm caches make reruns fast). Exits non-zero on failure.
# Knobs: CONTRACT_MAX_EXAMPLES (default 25), CONTRACT_SEED (default: random, printed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=$ROOT/.venv
SPEC=$ROOT/openapi/openapi.json
HERE=$ROOT/.ci/contract

OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${CONTRACT_MAX_EXAMPLES:-25}
SEED=${CONTRACT_SEED:-$((RANDOM * 32768 + RANDOM))}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chipclass-contract.XXXXXX")
SERVER_PID=""
START=$SECONDS

section() { printf '\n======== %s ========\n' "$*"; }
fail() {
  printf 'CONTRACT FAILED: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -f $WORK/server.log ]]; then
    echo "---- last server log lines ----" >&2
    tail -n 40 "$WORK/server.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x $VENV/bin/chipclass ]] || fail "no $VENV/bin/chipclass: create the venv and pip install -e '.[dev]'"
[[ -x $VENV/bin/ruff ]] || fail "no $VENV/bin/ruff (openapi-python-client formats its output with ruff)"
command -v npm >/dev/null || fail "npm is needed for openapi-typescript and typescript"

section "spec: openapi/openapi.json is the app's spec"
"$VENV/bin/chipclass" export-openapi --output "$WORK/openapi.json" >/dev/null
if ! cmp -s "$WORK/openapi.json" "$SPEC"; then
  diff -u "$SPEC" "$WORK/openapi.json" | head -40 || true
  fail "openapi/openapi.json is stale: run \`chipclass export-openapi\` and commit it"
fi
"$VENV/bin/python" - "$SPEC" <<'PY'
import json, sys
from openapi_spec_validator import validate
spec = json.load(open(sys.argv[1]))
validate(spec)
ops = sum(1 for item in spec["paths"].values() for m in item if m in {"get", "post", "put", "patch", "delete"})
print(f"openapi {spec['openapi']}: {len(spec['paths'])} paths, {ops} operations, valid (openapi-spec-validator)")
PY

section "tools (pinned): openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION, schemathesis $SCHEMATHESIS_VERSION, npm ci"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python_bin=$(command -v python3.11 || command -v python3)
"$python_bin" -m venv "$WORK/gen"
"$WORK/gen/bin/pip" install -q "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION"
"$python_bin" -m venv "$WORK/fuzz"
"$WORK/fuzz/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
# the TypeScript project is copied to the temp dir: npm ci there, never in the work tree (parallel runs)
mkdir -p "$WORK/ts"
cp "$HERE/ts/package.json" "$HERE/ts/package-lock.json" "$HERE/ts/tsconfig.json" "$HERE/ts/client.ts" "$WORK/ts/"
(cd "$WORK/ts" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "installed: $("$WORK/gen/bin/openapi-python-client" --version 2>&1 | tail -1); $("$WORK/fuzz/bin/schemathesis" --version);" \
  "openapi-typescript $("$WORK/ts/node_modules/.bin/openapi-typescript" --version | tail -1); tsc $("$WORK/ts/node_modules/.bin/tsc" --version)"

section "live server: chipclass serve on a temporary SQLite database"
PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
ADMIN_KEY="cc_contract_$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')"
CHIPCLASS_DATABASE_URL="sqlite:///$WORK/contract.db" \
  CHIPCLASS_BOOTSTRAP_ADMIN_KEY="$ADMIN_KEY" \
  CHIPCLASS_ENVIRONMENT=development \
  CHIPCLASS_LOG_LEVEL=WARNING \
  CHIPCLASS_RATE_LIMIT_PER_S=0 \
  CHIPCLASS_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 \
  CHIPCLASS_WEBHOOK_ALLOW_PRIVATE=true \
  "$VENV/bin/chipclass" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
"$VENV/bin/python" - "$BASE" "$SERVER_PID" <<'PY'
import json, os, sys, time, urllib.request
base, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("server exited before it was ready")
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
            body = json.load(r)
            print(f"ready at {base}: {body['checks']} data_version={body['data_version'][:12]}")
            break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("server not ready within 60 s")
with urllib.request.urlopen(base + "/openapi.json", timeout=10) as r:
    live = json.load(r)
if live != json.load(open("openapi/openapi.json")):
    sys.exit("the live server's /openapi.json differs from openapi/openapi.json")
print("live /openapi.json == openapi/openapi.json")
PY

section "gate 1: generated Python client (openapi-python-client), end to end"
mkdir -p "$WORK/bin" "$WORK/client"
ln -s "$VENV/bin/ruff" "$WORK/bin/ruff"
PATH="$WORK/bin:$PATH" "$WORK/gen/bin/openapi-python-client" generate --path "$SPEC" --meta none \
  --output-path "$WORK/client/chipclass_client" --overwrite >"$WORK/generate.log" 2>&1 ||
  { cat "$WORK/generate.log"; fail "openapi-python-client could not generate a client"; }
if grep -qiE "warning|unable to|error" "$WORK/generate.log"; then
  cat "$WORK/generate.log"
  fail "openapi-python-client skipped parts of the spec (see above)"
fi
echo "generated $(find "$WORK/client/chipclass_client/api" -name '*.py' ! -name '__init__.py' | wc -l) operations," \
  "$(find "$WORK/client/chipclass_client/models" -name '*.py' ! -name '__init__.py' | wc -l) models, no warnings"
CHIPCLASS_CONTRACT_ADMIN_KEY="$ADMIN_KEY" PYTHONPATH="$WORK/client" \
  "$WORK/gen/bin/python" "$HERE/client_e2e.py" --base-url "$BASE"

section "gate 2: TypeScript types (openapi-typescript) + tsc --noEmit on .ci/contract/ts/client.ts"
(
  cd "$WORK/ts"
  node_modules/.bin/openapi-typescript "$SPEC" --default-non-nullable false --output generated/chipclass.d.ts 2>&1 | tail -1
  node_modules/.bin/tsc --noEmit -p tsconfig.json
  echo "tsc --noEmit: client.ts type-checks against $(grep -c '^    [a-z_]*: {$' generated/chipclass.d.ts) generated operation types"
)

section "gate 3: schemathesis $SCHEMATHESIS_VERSION (all operations, --checks all, max $MAX_EXAMPLES examples, seed $SEED)"
# Excluded check: positive_data_acceptance. It requires every schema-valid request to be answered 2xx,
# but schema-valid requests are legitimately refused for reasons JSON Schema cannot express: ids that
# are not in the catalog (404), a spec that lacks the figure deciding the answer (422 undetermined),
# a ruleset overlapping its family (409/422), an Idempotency-Key reused with another body (422).
# Those answers are documented problem+json responses, which the other checks verify.
SCHEMATHESIS_EXCLUDED=positive_data_acceptance
# Webhooks: the server delivers to 127.0.0.1 only (allowlist; loopback allowed for that), and
# hooks.py points every schema-valid subscription URL there (the server itself, an unknown path), so
# the stateful phase follows the webhook links on every seed instead of seeing only 422s.
# Time: --max-time bounds the run; fuzzing and stateful repeat until it is spent, so how many cases
# run depends on the machine, not the answers: a failure prints the exact request to replay (curl).
# Response time: --checks all includes max_response_time, whose default limit is 10 s. GET /v1/events
# long-polls for up to 9 s by design, and the gate shares a loaded CI machine: 10 s failed on timing,
# not on the API. The limit is the request timeout (20 s); latency is bench/bench.py's job.
# Excluded operation: revoke_key. Its stateful links (list_keys -> revoke_key) revoke the admin key the
# fuzzer authenticates with, after which every operation answers only 401. Revocation is covered by
# tests/api (access tests); gate 1 proves its client method is generated.
set +e
(cd "$WORK" && SCHEMATHESIS_HOOKS="$HERE/hooks.py" CONTRACT_WEBHOOK_URL="$BASE/contract/webhook-receiver" \
  "$WORK/fuzz/bin/schemathesis" run "$BASE/openapi.json" \
  --checks all --exclude-checks "$SCHEMATHESIS_EXCLUDED" \
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
  --exclude-operation-id revoke_key \
  --workers 1 --request-timeout 20 --max-response-time 20 --max-time 280 \
  --suppress-health-check all --no-color \
  -H "Authorization: Bearer $ADMIN_KEY" \
  --generation-database none --report junit --report-junit-path "$WORK/schemathesis.xml") 2>&1 | tee "$WORK/schemathesis.log"
ST_RC=${PIPESTATUS[0]}
set -e
SERVER_ERRORS=$(grep -c '"levelname": "ERROR"\|"level": "ERROR"\|"level": "CRITICAL"' "$WORK/server.log" || true)
if [[ $SERVER_ERRORS -gt 0 ]]; then
  echo "the server logged $SERVER_ERRORS error(s) during the run; the first:"
  { grep '"level": "ERROR"\|"level": "CRITICAL"' "$WORK/server.log" || true; } | head -5 | cut -c1-600 || true
fi
[[ $ST_RC -eq 0 ]] || fail "schemathesis found failures (exit $ST_RC; reproduce with CONTRACT_SEED=$SEED)"
[[ $SERVER_ERRORS -eq 0 ]] || fail "the server logged errors during fuzzing"

section "contract gates passed in $((SECONDS - START)) s"
echo "generated Python client e2e: passed; TypeScript types: type-check; schemathesis: no failures" \
  "(excluded check: $SCHEMATHESIS_EXCLUDED; excluded operation: revoke_key)"
