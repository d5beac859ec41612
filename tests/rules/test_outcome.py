"""What an order system does with an answer (app/rules/outcome.py): the outcome and action of a
line and of an order. The API tests reach these through whole screenings; these pin each branch
on the engine's own types (each was a surviving mutant of the engine run: docs/mutation.md)."""

from __future__ import annotations

from datetime import date

import pytest

from app.rules import licensing, outcome
from app.rules.book import RuleBook
from app.rules.licensing import ExceptionOut, Licensing
from app.rules.outcome import Disposition


def exc(code: str, notice: bool) -> ExceptionOut:
    return ExceptionOut(code, code, "15 CFR 740", notice, None)


def lic(required: bool, *exceptions: ExceptionOut) -> Licensing:
    return Licensing(required, (), exceptions, None, ())


@pytest.mark.parametrize(
    ("answer", "undetermined", "expected"),
    [
        pytest.param(lic(False), False, Disposition("clear", "release", False), id="no-licence-is-clear"),
        pytest.param(lic(True), False, Disposition("license_required", "hold", False), id="licence-holds"),
        pytest.param(
            lic(True, exc("NAC", False)), False, Disposition("exception", "release", False), id="exception-releases"
        ),
        pytest.param(
            lic(True, exc("NAC", True)), False, Disposition("exception", "hold", True), id="notified-exception-holds"
        ),
        pytest.param(
            lic(True, exc("NAC", True), exc("ACA", False)),
            False,
            Disposition("exception", "release", False),
            id="one-exception-without-notice-releases",
        ),
        pytest.param(
            lic(True, exc("NAC", True), exc("ACA", True)),
            False,
            Disposition("exception", "hold", True),
            id="all-exceptions-need-notice-hold",
        ),
        pytest.param(lic(False), True, Disposition("undetermined", "hold", False), id="undetermined-beats-clear"),
        pytest.param(
            lic(True, exc("NAC", False)), True, Disposition("undetermined", "hold", False), id="undetermined-beats-all"
        ),
    ],
)
def test_a_line_outcome_and_action_follow_from_its_licence_answer(
    answer: Licensing, undetermined: bool, expected: Disposition
) -> None:
    assert outcome.of_line(answer, undetermined=undetermined) == expected


def test_a_line_is_determined_unless_said_otherwise() -> None:
    assert outcome.of_line(lic(False)) == Disposition("clear", "release", False)
    assert outcome.of_line(lic(True)) == Disposition("license_required", "hold", False)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], "clear"),
        (["clear"], "clear"),
        (["clear", "exception"], "exception"),
        (["license_required", "exception", "clear"], "license_required"),
        (["clear", "undetermined", "license_required"], "undetermined"),
        (["undetermined", "clear"], "undetermined"),
    ],
)
def test_an_order_outcome_is_its_most_restrictive_line(lines: list[outcome.Outcome], expected: str) -> None:
    assert outcome.most_restrictive(lines) == expected
    assert outcome.most_restrictive(iter(lines)) == expected


def test_a_named_item_advisory_applies_from_its_date_whatever_the_destination(book: RuleBook) -> None:
    """General Prohibition 10 guidance on Huawei Ascend chips (from 2025-05-13): named items only."""
    on = date(2025, 5, 13)
    (warning,) = licensing.item_warnings(book, "huawei-ascend-910b", on)
    assert warning.startswith("General Prohibition 10 risk, any destination: ")
    assert warning.endswith(
        "(BIS guidance of 2025-05-13 on applying General Prohibition 10 to PRC advanced-computing ICs) [guidance]"
    )
    assert licensing.item_warnings(book, "huawei-ascend-910b", date(2025, 5, 12)) == ()
    assert licensing.item_warnings(book, "huawei-ascend-910c", date(2026, 1, 1)) == (warning,)
    assert licensing.item_warnings(book, "nvidia-h100-sxm5-80gb", on) == ()
    assert licensing.item_warnings(book, None, on) == ()
