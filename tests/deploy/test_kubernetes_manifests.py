"""deploy/kubernetes/: the settings the manifests give are the service's settings, and the pieces
agree with each other (schema validity and policy are checked by .ci/kubernetes.sh)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings

DIR = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# settings that mean nothing on PostgreSQL, the only database replicas share
SQLITE_ONLY = {"CHIPCLASS_SQLITE_BUSY_TIMEOUT_MS"}
TEST_ONLY = {"CHIPCLASS_TEST_HOLD_DIR"}  # refused in production


def _docs() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[doc["kind"]] = doc
    return docs


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    return _docs()


def _env_names(docs: dict[str, dict[str, Any]]) -> set[str]:
    return set(docs["ConfigMap"]["data"]) | set(docs["Secret"]["stringData"])


def test_every_configmap_and_secret_key_is_a_chipclass_setting(docs: dict[str, dict[str, Any]]) -> None:
    known = {f"CHIPCLASS_{name.upper()}" for name in Settings.model_fields}
    assert _env_names(docs) - known == set()


def test_every_setting_is_given_by_the_configmap_or_the_secret(docs: dict[str, dict[str, Any]]) -> None:
    known = {f"CHIPCLASS_{name.upper()}" for name in Settings.model_fields} - SQLITE_ONLY - TEST_ONLY
    missing = known - _env_names(docs)
    assert missing == set(), f"add {sorted(missing)} to deploy/kubernetes/configmap.yaml (or secret.yaml)"


def test_the_configmap_is_a_valid_production_configuration(docs: dict[str, dict[str, Any]]) -> None:
    env = {k.removeprefix("CHIPCLASS_").lower(): v for k, v in docs["ConfigMap"]["data"].items()}
    env |= {k.removeprefix("CHIPCLASS_").lower(): v for k, v in docs["Secret"]["stringData"].items()}
    settings = Settings(**env)
    assert settings.environment == "production"
    assert settings.migrate_on_start is False, "replicas must leave migrations to the Job"


def test_replicas_at_most_stay_within_postgresql_default_max_connections(docs: dict[str, dict[str, Any]]) -> None:
    data = docs["ConfigMap"]["data"]
    per_replica = int(data["CHIPCLASS_DB_POOL_SIZE"]) + int(data["CHIPCLASS_DB_MAX_OVERFLOW"])
    replicas = docs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
    superuser_reserved, job = 3, 1
    assert replicas * per_replica + job <= 100 - superuser_reserved


def test_the_grace_period_outlasts_the_shutdown_grace(docs: dict[str, dict[str, Any]]) -> None:
    grace = int(docs["ConfigMap"]["data"]["CHIPCLASS_SHUTDOWN_GRACE_S"])
    assert docs["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


def test_probes_use_healthz_for_liveness_and_readyz_for_readiness(docs: dict[str, dict[str, Any]]) -> None:
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_service_pdb_and_hpa_select_the_deployment(docs: dict[str, dict[str, Any]]) -> None:
    deployment = docs["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        docs["Service"]["spec"]["selector"],
        docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (
        docs["PodDisruptionBudget"]["spec"]["maxUnavailable"] < docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    )


def test_pods_run_as_the_image_user_without_privileges(docs: dict[str, dict[str, Any]]) -> None:
    dockerfile = (DIR.parents[1] / "Dockerfile").read_text()
    for kind in ("Deployment", "Job"):
        pod = docs[kind]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert f"APP_UID={pod['securityContext']['runAsUser']}" in dockerfile
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"]["memory"]
