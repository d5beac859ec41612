"""Every table, imported in one place for Alembic."""

from app.catalog.models import Accelerator
from app.decisions.models import Decision, DecisionChain, IdempotencyRecord
from app.regulations.models import CountryGroupChange, ReferenceState, Ruleset
from app.security import ApiKey

__all__ = [
    "Accelerator",
    "ApiKey",
    "CountryGroupChange",
    "Decision",
    "DecisionChain",
    "IdempotencyRecord",
    "ReferenceState",
    "Ruleset",
]
