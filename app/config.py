"""Settings from the environment (prefix CHIPCLASS_); refuses unsafe production defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///./chipclass.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHIPCLASS_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(5, ge=1, le=100)
    db_max_overflow: int = Field(10, ge=0, le=100)
    db_pool_timeout_s: float = Field(5.0, gt=0, le=60)
    db_connect_timeout_s: int = Field(5, ge=1, le=60)
    db_statement_timeout_ms: int = Field(10_000, ge=100, le=600_000)
    sqlite_busy_timeout_ms: int = Field(10_000, ge=0, le=600_000)
    migrate_on_start: bool = True
    seed_on_start: bool = True
    bootstrap_admin_key: SecretStr | None = None
    reload_interval_s: float = Field(2.0, gt=0, le=3600)
    key_cache_ttl_s: float = Field(10.0, ge=0, le=3600)
    key_cache_stale_if_error_s: float = Field(300.0, ge=0, le=86400)
    max_body_bytes: int = Field(2_000_000, ge=1024, le=50_000_000)
    rate_limit_per_s: float = Field(0, ge=0, description="per API key; 0 disables")
    rate_limit_burst: int = Field(200, ge=1)
    idempotency_ttl_h: int = Field(48, ge=24)
    shutdown_grace_s: int = Field(20, ge=1, le=600)
    db_retry_max_s: float = Field(30.0, gt=0)
    monitor_max_days: int = Field(366, ge=1, le=3660, description="how far ahead open_until may be")
    monitor_interval_s: float = Field(2.0, gt=0, le=3600, description="how often open screenings are checked")
    monitor_batch: int = Field(100, ge=1, le=10_000, description="open screenings re-screened per round")
    webhook_allow_private: bool = False
    webhook_allowed_hosts: str = Field(
        "", max_length=2000, description="comma-separated hosts webhooks may reach (.example.com: any under it)"
    )
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    webhook_backoff_base_s: float = Field(1.0, gt=0, le=3600)
    webhook_backoff_max_s: float = Field(300.0, gt=0, le=86_400)
    webhook_retry_window_s: float = Field(86_400.0, gt=0, description="retry a failing delivery this long")
    webhook_poll_s: float = Field(1.0, gt=0, le=60, description="how often other replicas' events are looked for")
    test_hold_dir: Path | None = Field(
        None,
        description="Tests only (refused in production): requests marked X-Chipclass-Test-Hold wait in the "
        "server until a file in this directory releases them (app/testhooks.py)",
    )
    docs_access: Literal["public", "key", "off"] = "public"
    metrics_access: Literal["public", "key", "off"] = "public"
    log_level: str = "INFO"
    loop_lag_probe_ms: float = Field(
        100, ge=0, le=10_000, description="event-loop lag probe period (0 = off); chipclass_event_loop_lag_seconds"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError as exc:
            raise ValueError(f"CHIPCLASS_DATABASE_URL is not a database URL: {exc}") from exc
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"CHIPCLASS_DATABASE_URL must be sqlite:/// or postgresql://, not {backend}://")
        return value

    @model_validator(mode="after")
    def _production_is_safe(self) -> Settings:
        if self.environment == "production":
            key = self.bootstrap_admin_key.get_secret_value() if self.bootstrap_admin_key else None
            if key is not None and len(key) < 32:
                raise ValueError("CHIPCLASS_BOOTSTRAP_ADMIN_KEY must be at least 32 characters in production")
            if self.test_hold_dir is not None:
                raise ValueError("CHIPCLASS_TEST_HOLD_DIR is for tests only and is refused in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
