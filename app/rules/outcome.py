"""What an order system does with an answer: an outcome with a fixed meaning, and an action.

- ``clear``: no licence is required (release).
- ``exception``: a licence exception covers every reason; release, unless every exception that
  covers them needs a prior notification to BIS (hold until its review period ends).
- ``license_required``: apply for a licence; the review policy says how likely approval is (hold).
- ``undetermined``: a figure that decides the answer is missing or uncertain (hold).

An order's outcome is the most restrictive of its lines. ``undetermined`` ranks above
``license_required``: an answer that cannot be vouched for is never less restrictive than one
that can.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from app.rules.licensing import Licensing

Outcome = Literal["clear", "exception", "license_required", "undetermined"]
Action = Literal["release", "hold"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)  # least to most restrictive


@dataclass(frozen=True, slots=True)
class Disposition:
    outcome: Outcome
    action: Action
    notification_required: bool


def of_line(lic: Licensing, undetermined: bool = False) -> Disposition:
    if undetermined:
        return Disposition("undetermined", "hold", False)
    if not lic.license_required:
        return Disposition("clear", "release", False)
    if lic.license_exceptions:
        # the order may use whichever offered exception suits it: it must wait only when all need notice
        notice = all(e.notification_required for e in lic.license_exceptions)
        return Disposition("exception", "hold" if notice else "release", notice)
    return Disposition("license_required", "hold", False)


def most_restrictive(outcomes: Iterable[Outcome]) -> Outcome:
    return max(outcomes, key=OUTCOMES.index, default="clear")
