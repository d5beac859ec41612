"""Every table, imported in one place for Alembic (``alembic/env.py``)."""

from app.catalog.models import Accelerator
from app.changes.models import ChangeChain, ReferenceChange
from app.decisions.models import Decision, DecisionChain, DecisionRuleset, IdempotencyRecord
from app.events.models import Event, EventHead
from app.keys.models import ApiKey
from app.regulations.models import CountryGroupChange, RulesetRevision, StoredRuleset
from app.revision import ReferenceState
from app.screening.models import ScreeningMonitor, ScreeningVersion
from app.webhooks.models import WebhookDelivery, WebhookSubscription

__all__ = [
    "Accelerator",
    "ApiKey",
    "ChangeChain",
    "CountryGroupChange",
    "Decision",
    "DecisionChain",
    "DecisionRuleset",
    "Event",
    "EventHead",
    "IdempotencyRecord",
    "ReferenceChange",
    "ReferenceState",
    "RulesetRevision",
    "ScreeningMonitor",
    "ScreeningVersion",
    "StoredRuleset",
    "WebhookDelivery",
    "WebhookSubscription",
]
