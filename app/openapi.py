"""The published contract: generated from the app, committed as openapi/openapi.json."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from app.config import Settings


def render() -> str:
    """The app's OpenAPI document as stable JSON (sorted keys, two-space indent, final newline).

    The app is built on a throwaway SQLite file that is never opened: rendering touches no database.
    """
    from app.main import create_app

    with tempfile.TemporaryDirectory(prefix="chipclass-openapi-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'unused.db'}"
        app = create_app(Settings(database_url=url, log_level="WARNING"))
        spec = app.openapi()
        app.state.engine.dispose()
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
