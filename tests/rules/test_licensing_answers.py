"""Details of a licence answer a compliance officer reads: hypothetical rulesets named with their
enforcement state, source warnings only for rules not from published regulation text, and a licence
exception's notification requirement when reasons disagree on it (each written against a mutant that
the engine tests let through; docs/mutation.md)."""

from __future__ import annotations

from datetime import date

import pytest

from app.regulations import loader
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


def test_only_a_date_after_today_is_warned_about_as_the_future(book: RuleBook) -> None:
    today = date(2026, 3, 10)
    assert not [w for w in licensing.select(book, today, today).warnings if "in the future" in w]
    tomorrow = licensing.select(book, date(2026, 3, 11), today).warnings
    assert [w for w in tomorrow if w.startswith("as_of 2026-03-11 is in the future")], tomorrow


@pytest.fixture(scope="module")
def reversed_book(files: loader.ReferenceFiles) -> RuleBook:
    """The shipped rules with each ruleset's destination rules in reverse order: an answer must not
    depend on the order rules are listed in (the first reason is not special)."""
    docs = []
    for doc in files.rulesets:
        data = doc.model_dump(mode="json")
        data["destination_rules"] = list(reversed(data.get("destination_rules") or []))
        docs.append(type(doc).model_validate(data))
    return loader.build_book(files, docs, files.group_changes, "reversed")


def test_notification_and_review_policy_do_not_depend_on_the_order_of_the_rules(
    book: RuleBook, reversed_book: RuleBook, catalog: dict[str, Spec]
) -> None:
    order = book.definitions.review_policy_order
    for spec, party, on in [
        (catalog["nvidia-a30-24gb"], Party("AE", headquarters="CN"), date(2023, 11, 17)),
        (catalog["nvidia-h100-sxm5-80gb"], Party("AE", headquarters="CN"), date(2025, 6, 1)),
        (catalog["nvidia-h100-sxm5-80gb"], Party("CN", headquarters="CN"), date(2026, 2, 2)),
    ]:
        shipped, flipped = answer(book, spec, party, on), answer(reversed_book, spec, party, on)
        assert [(e.code, e.notification_required) for e in flipped.license_exceptions] == [
            (e.code, e.notification_required) for e in shipped.license_exceptions
        ]
        assert flipped.review_policy == shipped.review_policy
        policies = [r.review_policy for r in flipped.reasons if r.review_policy]
        if policies:
            ranked = sorted(policies, key=lambda p: order.index(p) if p in order else len(order))
            assert flipped.review_policy == ranked[0], policies


def test_an_embargo_reason_names_the_embargoed_destination(book: RuleBook, catalog: dict[str, Spec]) -> None:
    lic = answer(book, catalog["nvidia-h100-sxm5-80gb"], Party("RU"), date(2025, 6, 1))
    details = {r.rule_id: (r.basis, r.detail) for r in lic.reasons}
    basis, detail = details["746.8-russia"]
    assert basis == "embargo" and detail.endswith("; embargoed destination RU"), detail
    assert all("embargoed" not in d for rule, (_, d) in details.items() if rule != "746.8-russia")


def test_a_headquarters_rule_that_reaches_only_entities_abroad_says_why_it_is_left_out(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    lic = answer(book, catalog["nvidia-h100-sxm5-80gb"], Party("US", headquarters="CN"), date(2025, 6, 1))
    assert not lic.license_required
    notes = [w for w in lic.warnings if "does not apply" in w]
    assert notes and all(
        "its headquarters basis reaches only entities located outside US, and this one is in US (" in n for n in notes
    ), notes


def test_a_selection_says_whether_it_is_hypothetical_and_when_no_3a090_control_was_in_force(book: RuleBook) -> None:
    before = licensing.select(book, date(2020, 1, 1), date(2026, 1, 1))
    assert before.hypothetical is False
    assert "No 3A090 control was in force on 2020-01-01 in the reference data." in before.warnings
    on = date(2025, 6, 1)
    assert licensing.select(book, on, on).hypothetical is False
    assert licensing.select(book, on, on, ("ac-2023-11-17",)).hypothetical is True
    assert not [w for w in licensing.select(book, on, on).warnings if w.startswith("No 3A090 control")]
