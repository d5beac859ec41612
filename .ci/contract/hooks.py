"""Schemathesis hooks for the contract gate (.ci/contract.sh loads them with SCHEMATHESIS_HOOKS).

Webhook subscriptions on this machine, on every seed. The gate's server delivers only to
CHIPCLASS_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 (nothing leaves the machine), so a URL schemathesis draws
from the schema (any host) is refused with 422, and without a subscription the stateful phase never
followed the webhook links (get, test, enable, disable, deliveries, redeliver, delete) with an id
that exists. Here every schema-valid webhook URL is replaced
by CONTRACT_WEBHOOK_URL, a schema-valid URL on the allowed host (the gate's own server, an unknown path:
each delivery is a prompt 404, logged as a failed attempt and retried later). A URL that breaks the
schema is left alone, so negative cases stay negative; the host checks themselves are tested in
tests/events/test_webhooks_api.py.
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis

WEBHOOK_URL = os.environ["CONTRACT_WEBHOOK_URL"]
# WebhookCreate.url in openapi/openapi.json
URL_SCHEMA = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$")


def _schema_valid(url: object) -> bool:
    return isinstance(url, str) and 8 <= len(url) <= 2000 and URL_SCHEMA.search(url) is not None


assert _schema_valid(WEBHOOK_URL), WEBHOOK_URL


@schemathesis.hook("map_body").apply_to(method="POST", path="/v1/webhooks")
def webhooks_on_the_allowed_host(context: Any, body: Any) -> Any:
    if isinstance(body, dict) and _schema_valid(body.get("url")):
        return {**body, "url": WEBHOOK_URL}
    return body
