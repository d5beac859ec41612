"""Details of a licence answer a compliance officer reads: hypothetical rulesets named with their
enforcement state, source warnings only for rules not from published regulation text, and a licence
exception's notification requirement when reasons disagree on it (each written against a mutant that
the engine tests let through; docs/mutation.md)."""

from __future__ import annotations

from datetime import date

import pytest

from app.rules import licensing, metrics
from app.rules.book import RuleBook, Spec
from app.rules.licensing import Party, RulesetError

SOURCE_WARNING = "not published regulation text: verify before relying on it."


def answer(book: RuleBook, spec: Spec, party: Party, on: date) -> licensing.Licensing:
    selection = licensing.select(book, on, on)
    _, lic = licensing.classify_and_license(
        book, selection, metrics.compute(spec, book.definitions.bit_lengths), party, on
    )
    return lic


def test_an_unknown_hypothetical_ruleset_is_named_in_the_error(book: RuleBook) -> None:
    with pytest.raises(RulesetError) as err:
        licensing.select(book, date(2025, 6, 1), date(2025, 6, 1), ("no-such-ruleset",))
    assert str(err.value) == "unknown ruleset 'no-such-ruleset'"
    assert err.value.ruleset_id == "no-such-ruleset"


def test_a_hypothetical_ruleset_says_whether_it_was_ever_enforced(book: RuleBook) -> None:
    on = date(2025, 6, 1)
    never = licensing.select(book, on, on, ("ai-diffusion-2025-01-13",)).warnings
    assert never == (f"Hypothetical: evaluated as if ai-diffusion-2025-01-13 (not enforced) applied on {on}.",)
    enforced = licensing.select(book, on, on, ("ac-2023-11-17",)).warnings
    assert enforced == (f"Hypothetical: evaluated as if ac-2023-11-17 applied on {on}.",)


def test_only_reasons_from_sources_other_than_regulation_text_carry_the_source_warning(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    lic = answer(book, catalog["nvidia-h100-sxm5-80gb"], Party("CN"), date(2024, 6, 1))
    assert lic.license_required and {r.source_kind for r in lic.reasons} == {"regulation"}
    assert not [w for w in lic.warnings if SOURCE_WARNING in w], lic.warnings

    reported = answer(book, catalog["nvidia-h100-sxm5-80gb"], Party("CN"), date(2023, 10, 30))
    kinds = {r.rule_id: r.source_kind for r in reported.reasons}
    assert "reported" in kinds.values(), kinds
    for rule_id, kind in kinds.items():
        expected = f"{rule_id} rests on a {kind.replace('_', ' ')} source, {SOURCE_WARNING}"
        assert (expected in reported.warnings) is (kind != "regulation"), (rule_id, reported.warnings)


def test_an_exception_needs_notification_when_any_reason_it_covers_needs_it(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    """NAC to a D:1 destination for a buyer headquartered in China (2023-11-17): the headquarters reason
    requires notification, the destination reason does not; the answer must say notification."""
    lic = answer(book, catalog["nvidia-a30-24gb"], Party("AE", headquarters="CN"), date(2023, 11, 17))
    flags = {(r.rule_id, x.notification_required) for r in lic.reasons for x in r.license_exceptions if x.code == "NAC"}
    assert {flag for _, flag in flags} == {True, False}, flags
    assert [(e.code, e.notification_required) for e in lic.license_exceptions] == [("NAC", True)]
