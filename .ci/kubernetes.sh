#!/usr/bin/env bash
# CI gate for deploy/kubernetes/ (issue 14): schema validation and a policy lint, both offline.
#
#   bash .ci/kubernetes.sh        (from .ci/run; fine by hand; ~40 s, most of it pip)
#
# 1. kubernetes-validate --strict: every manifest against the Kubernetes OpenAPI schemas (unknown
#    fields rejected). It can exit 0 while printing ERROR lines, so its output is checked too.
# 2. checkov (kubernetes framework, --skip-download: no network): security policy (non-root,
#    read-only root filesystem, probes, resources, ...). Checks skipped on purpose carry their
#    reason in an annotation in the manifest.
# The tools live in their own virtual environment (checkov pins many packages; keep them out of
# the project's).
set -euo pipefail
ROOT=$(git rev-parse --show-toplevel)
cd "$ROOT"
TOOLS=${CHIPCLASS_K8S_TOOLS_VENV:-"$ROOT/.ci/out/k8s-tools"}
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x "$TOOLS/bin/checkov" ] || [ ! -x "$TOOLS/bin/kubernetes-validate" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q 'kubernetes-validate>=1.31' 'checkov>=3.2'
fi

echo "-- kubernetes-validate --strict deploy/kubernetes/*.yaml"
out=$("$TOOLS/bin/kubernetes-validate" --strict deploy/kubernetes/*.yaml 2>&1) || { echo "$out"; exit 1; }
echo "$out"
if echo "$out" | grep -qE '^(ERROR|WARN)'; then
  echo "kubernetes-validate reported problems" >&2
  exit 1
fi
[ "$(echo "$out" | grep -c '^INFO .* passed')" -ge "$(ls deploy/kubernetes/*.yaml | wc -l)" ] || {
  echo "kubernetes-validate did not pass every manifest" >&2
  exit 1
}

echo "-- checkov (kubernetes, offline)"
"$TOOLS/bin/checkov" -d deploy/kubernetes --framework kubernetes --quiet --compact --skip-download
echo "kubernetes manifests: valid, policy clean"
