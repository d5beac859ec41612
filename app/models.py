"""Every table, imported in one place for Alembic."""

from app.catalog.models import Accelerator
from app.decisions.models import Decision, DecisionChain, IdempotencyRecord
from app.events.models import Event, EventHead
from app.regulations.models import CountryGroupChange, ReferenceState, Ruleset
from app.screening.models import ScreeningMonitor, ScreeningVersion
from app.security import ApiKey
from app.webhooks.models import WebhookDelivery, WebhookSubscription

__all__ = [
    "Accelerator",
    "ApiKey",
    "CountryGroupChange",
    "Decision",
    "DecisionChain",
    "Event",
    "EventHead",
    "IdempotencyRecord",
    "ReferenceState",
    "Ruleset",
    "ScreeningMonitor",
    "ScreeningVersion",
    "WebhookDelivery",
    "WebhookSubscription",
]
