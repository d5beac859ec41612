"""Exact decimal inputs whose bounds a client can see in the schema.

A figure may be sent as a JSON number or as a plain decimal string ("148.5"); the string form is
held to the pattern the schema publishes, so the spec and the server agree on what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema

UNSIGNED_TEXT = r"^[0-9]{1,12}(\.[0-9]{1,12})?$"
SIGNED_TEXT = r"^-?[0-9]{1,12}(\.[0-9]{1,12})?$"


def _text(pattern: str) -> Callable[[object], object]:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not compiled.match(value):
            raise ValueError(f'a number, or a plain decimal string like "148.5" (pattern {pattern})')
        return value

    return check


PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(_text(UNSIGNED_TEXT)),
    Field(gt=0, le=Decimal("1e9"), allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000_000},
                {"type": "string", "pattern": UNSIGNED_TEXT, "maxLength": 25},
            ]
        },
        mode="validation",
    ),
]
"""A positive figure up to 1e9 (zero is rejected in either form)."""

ThresholdDecimal = Annotated[
    Decimal,
    BeforeValidator(_text(SIGNED_TEXT)),
    Field(ge=Decimal("-1e12"), le=Decimal("1e12"), allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": -1_000_000_000_000, "maximum": 1_000_000_000_000},
                {"type": "string", "pattern": SIGNED_TEXT, "maxLength": 26},
            ]
        },
        mode="validation",
    ),
]
"""A threshold value in a ruleset condition."""
