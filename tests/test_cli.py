"""The `chipclass` command: keys (the key is the last line), seed, offline classify, bad config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings

runner = CliRunner()


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CHIPCLASS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_keys_create_prints_the_key_last_and_it_works(env: str, client: TestClient) -> None:
    result = runner.invoke(cli, ["keys", "create", "--name", "erp", "--scope", "read", "--scope", "screen"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("cc_")
    anon = TestClient(client.app)
    assert anon.get("/v1/rulesets", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = runner.invoke(cli, ["keys", "list"])
    assert "erp" in listed.stdout and key not in listed.stdout
    key_id = key.split("_")[1]
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
    client.app.state.keys.forget()  # the CLI is another process: this replica's cache expires by TTL
    assert anon.get("/v1/rulesets", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_keys_create_refuses_an_unknown_scope_naming_the_valid_ones(env: str) -> None:
    result = runner.invoke(cli, ["keys", "create", "--name", "x", "--scope", "superuser"])
    assert result.exit_code == 2
    # exit 2 is also what a mistyped option gives: the message tells them apart
    assert "scopes must be among read, screen, admin, audit" in result.stderr
    assert runner.invoke(cli, ["keys", "list"]).stdout.count("\tx\t") == 0


def test_revoking_an_unknown_key_id_fails_naming_it(env: str) -> None:
    result = runner.invoke(cli, ["keys", "revoke", "no-such-key"])
    assert result.exit_code == 1
    assert "no key no-such-key" in result.stderr


def test_classifying_an_unknown_accelerator_fails_naming_it() -> None:
    result = runner.invoke(cli, ["classify", "no-such-chip"])
    assert result.exit_code == 2
    assert "unknown accelerator no-such-chip" in result.stderr
    assert result.stdout == ""


def test_seed_is_idempotent(env: str) -> None:
    result = runner.invoke(cli, ["seed"])
    assert result.exit_code == 0, result.output
    assert '"rulesets_added": []' in result.stdout


def test_classify_offline_explains_every_clause() -> None:
    result = runner.invoke(cli, ["classify", "nvidia-l4-24gb", "--as-of", "2025-01-01"])
    assert result.exit_code == 0, result.output
    assert "3A090.a: meets 3A090.a.2" in result.stdout
    assert "performance density" in result.stdout


def test_bad_configuration_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIPCLASS_DATABASE_URL", "mysql://db/x")
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "CHIPCLASS_DATABASE_URL" in result.stderr
