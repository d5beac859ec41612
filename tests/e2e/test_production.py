"""Production mode refuses what is unsafe, as the operator sees it: the exit code and one clear line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import chipclass_command, free_port

pytestmark = pytest.mark.slow


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHIPCLASS_")}
    environ.update(
        {
            "CHIPCLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
            "CHIPCLASS_HOST": "127.0.0.1",
            "CHIPCLASS_PORT": str(free_port()),
            "CHIPCLASS_ENVIRONMENT": "production",
            **env,
        }
    )
    return subprocess.run(
        [*chipclass_command(), "serve"], env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_production_with_no_api_key_refuses_to_start_exit_3(tmp_path: Path) -> None:
    result = serve(tmp_path)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    assert "refusing to start: production mode with no API keys" in result.stdout + result.stderr
    assert "created admin API key" not in result.stdout  # never a key printed to a production log


def test_production_refuses_a_short_bootstrap_key_exit_2(tmp_path: Path) -> None:
    result = serve(tmp_path, CHIPCLASS_BOOTSTRAP_ADMIN_KEY="short")
    assert result.returncode == 2
    assert "CHIPCLASS_BOOTSTRAP_ADMIN_KEY must be at least 32 characters in production" in result.stderr


def test_production_refuses_the_test_hold_gate_exit_2(tmp_path: Path) -> None:
    result = serve(tmp_path, CHIPCLASS_BOOTSTRAP_ADMIN_KEY="k" * 40, CHIPCLASS_TEST_HOLD_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "CHIPCLASS_TEST_HOLD_DIR is for tests only and is refused in production" in result.stderr
