"""Words every package shares: dates and ``as_of``, country and group codes, source kinds,
transaction types, bounded strings.

Pure: typing and pydantic constraints only (no FastAPI, database or clock), so the engine
(``app.rules``) may use it too. A package that needs one of these imports it from here; none
defines its own.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from app.text import NO_CONTROLS, NoControls

# --- dates -------------------------------------------------------------------------------------

EARLIEST_AS_OF = date(1990, 1, 1)
LATEST_AS_OF = date(2100, 12, 31)
AS_OF_DESCRIPTION = "The day to evaluate (YYYY-MM-DD); default today (UTC)"

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def iso_date_text(value: object) -> object:
    """A date from a caller is text ``YYYY-MM-DD`` (a ``date`` built in code passes as it is)."""
    if isinstance(value, date) or value is None:
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(iso_date_text)]
"""A date a caller sends (body or query) is ``YYYY-MM-DD``, as the OpenAPI document says: never a Unix
timestamp, number or text, which pydantic would otherwise read (``946684800`` as 2000-01-01)."""

AsOf = Annotated[
    date, Field(ge=EARLIEST_AS_OF, le=LATEST_AS_OF, description=AS_OF_DESCRIPTION), BeforeValidator(iso_date_text)
]
"""The day an answer is given for (request bodies); query parameters use ``app.deps.AsOfQuery``."""


def in_force(effective_from: date | None, effective_to: date | None, on: date) -> bool:
    """Whether ``on`` falls in [effective_from, effective_to): the first day counts, the end day does
    not (it is the first day something no longer applies); None is open on that side."""
    return (effective_from is None or effective_from <= on) and (effective_to is None or on < effective_to)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A stored timestamp as RFC 3339 with an offset (SQLite hands back naive UTC datetimes)."""

# --- places ------------------------------------------------------------------------------------

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2, upper case, as stored in reference documents."""

CountryInput = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$", to_upper=True),
]
"""ISO 3166-1 alpha-2 as a caller sends it (either case); upper case once parsed."""

COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
"""The pattern of a country code in a path or query parameter (either case)."""

GROUP_PATTERN = r"^[A-E]:[0-9]$"
GroupCode = Annotated[str, StringConstraints(pattern=GROUP_PATTERN)]
"""An EAR Country Group, e.g. ``D:5`` (Supplement No. 1 to part 740)."""

# --- rules -------------------------------------------------------------------------------------

SourceKind = Literal["regulation", "guidance", "company_letter", "reported"]
"""How authoritative a citation is: the regulation itself, agency guidance, a letter to a company,
or a secondary report."""

TransactionType = Literal["export", "reexport", "transfer"]
"""Export from the US, reexport, or in-country transfer (EAR part 734)."""

ALL_TRANSACTIONS: tuple[TransactionType, ...] = get_args(TransactionType)

Basis = Literal["destination", "headquarters", "embargo"]
"""Why a licence is required: where the item goes, where the buyer (or its parent) is headquartered,
or an embargo on the destination (part 746, whatever the item)."""

PartyBasis = Literal["destination", "headquarters"]
"""The bases a review policy can rewrite (a ``Basis`` that names a party)."""

# --- bounded text ------------------------------------------------------------------------------

Short = Annotated[str, NoControls, StringConstraints(min_length=1, max_length=300, pattern=NO_CONTROLS)]
"""A title, label or citation line (no control or bidi characters: ``app.text``)."""

Text = Annotated[str, NoControls, StringConstraints(min_length=1, max_length=2000, pattern=NO_CONTROLS)]
"""A paragraph: a clause's text, a note."""
