"""The published contract: generated from the app, committed as openapi/openapi.json."""

from __future__ import annotations

import json

from app.config import Settings


def render() -> str:
    from app.main import create_app

    app = create_app(Settings(database_url="sqlite:///:memory:", log_level="WARNING"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
