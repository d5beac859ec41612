"""Exact decimal inputs whose bounds a client can see in the schema.

A figure may be sent as a JSON number or as a plain decimal string ("148.5"); the string form is
held to the pattern the schema publishes, so the spec and the server agree on what is accepted.
Responses and stored documents carry figures as plain decimal strings (exact, never "1E-7").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

UNSIGNED_TEXT = r"^[0-9]{1,12}(\.[0-9]{1,12})?$"
SIGNED_TEXT = r"^-?[0-9]{1,12}(\.[0-9]{1,12})?$"


def _text(pattern: str) -> Callable[[object], object]:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not compiled.match(value):
            raise ValueError(f'a number, or a plain decimal string like "148.5" (pattern {pattern})')
        return value

    return check


def plain(value: Decimal) -> str:
    """A decimal as plain text, never in exponent notation ("0.0000001", not "1E-7"): the form the
    input pattern accepts, so whatever is written can be read back."""
    return f"{value:f}"


Plain = PlainSerializer(plain, return_type=str, when_used="json")


def _range(low: Decimal, high: Decimal, low_inclusive: bool) -> Callable[[Decimal], Decimal]:
    def check(value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("must be a finite number")
        if value > high or value < low or (value == low and not low_inclusive):
            raise ValueError(f"must be {'at least' if low_inclusive else 'more than'} {low} and at most {high}")
        return value

    return check


PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(_text(UNSIGNED_TEXT)),
    AfterValidator(_range(Decimal(0), Decimal(10**9), low_inclusive=False)),
    Plain,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 10**9},
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
    AfterValidator(_range(Decimal(-(10**12)), Decimal(10**12), low_inclusive=True)),
    Plain,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": -(10**12), "maximum": 10**12},
                {"type": "string", "pattern": SIGNED_TEXT, "maxLength": 26},
            ]
        },
        mode="validation",
    ),
]
"""A threshold value in a ruleset condition."""
