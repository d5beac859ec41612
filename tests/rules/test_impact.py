"""Impact in the pure engine: country classes give exactly the per-country answers, a no-op has no
impact, and a value the engine does not know never makes an answer less restrictive."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction

import pytest

from app.regulations import loader
from app.rules import impact, licensing
from app.rules.book import Condition, RuleBook, Spec
from app.rules.licensing import Party
from app.rules.metrics import compute
from app.rules.vocabulary import contradiction

WORLD = tuple(loader.COUNTRY_NAMES)


def _without(files: loader.ReferenceFiles, ruleset_id: str) -> RuleBook:
    docs = [d for d in files.rulesets if d.id != ruleset_id]
    return loader.build_book(files, docs, files.group_changes, "without")


@pytest.mark.parametrize(
    ("ruleset_id", "on"),
    [("bandwidth-letters-2025-04-09", date(2025, 4, 9)), ("ac-2024-04-04", date(2024, 4, 4))],
)
def test_country_classes_give_the_same_answers_as_asking_every_country(
    files: loader.ReferenceFiles, book: RuleBook, catalog: dict[str, Spec], ruleset_id: str, on: date
) -> None:
    before = impact.Side(_without(files, ruleset_id), on, catalog)
    after = impact.Side(book, on, catalog)
    result = impact.compare(before, after, WORLD)
    rows: dict[tuple[str, str | None, str], tuple[impact.Outcome, impact.Outcome]] = {}
    for d in result.differences:
        parents = [None] if d.profile == impact.LOCAL else d.profile.removeprefix(impact.PARENT).strip().split(", ")
        for parent in parents:
            rows.update({(d.accelerator_id, parent, c): (d.before, d.after) for c in d.destinations})
    eb, ea = impact.Evaluator(before), impact.Evaluator(after)
    for item in ("nvidia-h20-96gb", "nvidia-l40-48gb", "nvidia-h100-sxm5-80gb"):
        for parent in (None, "CN", "MO", "KH", "RU"):
            for country in WORLD:
                ob = eb.outcome(item, catalog[item], eb.party(country, country, parent))
                oa = ea.outcome(item, catalog[item], ea.party(country, country, parent))
                assert rows.get((item, parent, country)) == ((ob, oa) if ob != oa else None), (item, parent, country)


def test_a_change_that_alters_nothing_has_an_empty_impact(book: RuleBook, catalog: dict[str, Spec]) -> None:
    side = impact.Side(book, date(2026, 3, 1), catalog)
    result = impact.compare(side, side, WORLD)
    assert result.empty and result.differences == () and result.eccn_changes == ()


def test_the_letters_add_a_licence_only_for_items_that_were_not_3a090(
    files: loader.ReferenceFiles, book: RuleBook, catalog: dict[str, Spec]
) -> None:
    on = date(2025, 4, 9)
    result = impact.compare(
        impact.Side(_without(files, "bandwidth-letters-2025-04-09"), on, catalog), impact.Side(book, on, catalog), WORLD
    )
    now_required = {d.accelerator_id for d in result.differences if d.summary.startswith("licence now required")}
    assert {"nvidia-h20-96gb", "nvidia-geforce-rtx-5090-d"} <= now_required
    assert "nvidia-h100-sxm5-80gb" not in now_required  # already licensed under 742.6
    assert "nvidia-geforce-rtx-4090-d" not in {d.accelerator_id for d in result.differences}  # 1,008 GB/s
    local = [d for d in result.differences if d.profile == impact.LOCAL and d.accelerator_id in now_required]
    assert all({"CN", "HK", "MO"} <= set(d.destinations) and "SG" not in d.destinations for d in local)


def _policy_book(book: RuleBook, policy: str) -> RuleBook:
    rulesets = []
    for r in book.rulesets:
        if r.id == "ac-2024-04-04":
            rules = tuple(
                replace(rule, review_policy=policy) if "d1-d4" in rule.id else rule for rule in r.destination_rules
            )
            r = replace(r, destination_rules=rules)
        rulesets.append(r)
    return replace(book, rulesets=tuple(rulesets))


def test_an_unknown_review_policy_ranks_most_restrictive_and_the_answer_warns(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    on = date(2024, 6, 1)
    bad = _policy_book(book, "presumption of aproval")
    selection = licensing.select(bad, on, on)
    m = compute(catalog["nvidia-h100-sxm5-80gb"], bad.definitions.bit_lengths)
    # AE (D:4) buyer with a CN parent: 742.6 D:1/D:4 reason (the typo) and the D:5 headquarters reason (denial)
    _, lic = licensing.classify_and_license(bad, selection, m, Party("AE", "AE", "CN"), on)
    assert lic.review_policy == "presumption of aproval"  # ranks above "presumption of denial"
    assert any("not one the rules rank" in w for w in lic.warnings)
    _, alone = licensing.classify_and_license(bad, selection, m, Party("AE", "AE"), on)
    assert alone.review_policy == "presumption of aproval" and alone.license_required


@pytest.mark.parametrize(
    ("conditions", "impossible"),
    [
        ([("tpp", ">=", 5), ("tpp", "<", 1)], True),
        ([("tpp", ">=", 5), ("tpp", "<", 5)], True),
        ([("tpp", ">", 5), ("tpp", "<=", 5)], True),
        ([("tpp", ">=", 5), ("tpp", "<=", 5)], False),
        ([("tpp", "==", 5), ("tpp", "==", 6)], True),
        ([("tpp", ">=", 1600), ("performance_density", "<", 1)], False),
        ([("datacenter", "==", True), ("datacenter", "==", False)], True),
        ([("kind", "in", ("logic",)), ("kind", "in", ("hbm",))], True),
        ([("kind", "in", ("logic", "hbm")), ("kind", "in", ("hbm",))], False),
    ],
)
def test_conditions_that_can_never_all_hold_are_found(
    conditions: list[tuple[str, str, object]], impossible: bool
) -> None:
    conds = [
        Condition(m, op, Fraction(v) if isinstance(v, int) and not isinstance(v, bool) else v, str(v))  # type: ignore[arg-type]
        for m, op, v in conditions
    ]
    assert (contradiction(conds) is not None) is impossible
