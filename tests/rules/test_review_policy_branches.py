"""Each way a review policy can be passed over, and the one after it still applied; the wording of
a reason's detail for each kind of rule scope; the undetermined message; the days the rules
change. On the engine fixture book plus one synthetic family, epsilon: six review policies for MY,
the first five each passed over for a different reason, the last one applied (written against
surviving mutants of the engine run, where `continue` became `break`; docs/mutation.md)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from app.regulations import loader
from app.rules import licensing, metrics
from app.rules.book import RuleBook, Spec, Throughput
from app.rules.classify import UndeterminedError
from app.rules.licensing import Licensing, Party

FIXTURE = Path(__file__).parent / "fixtures" / "engine"
ON = date(2025, 3, 1)


def policy(pid: str, review: str, **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": pid,
        "label": f"policy {pid}",
        "citation": f"fixture {pid}",
        "destinations": {"countries": ["MY"]},
        "bases": ["destination"],
        "transaction_types": ["export"],
        "items": {"any_of": [[["tpp", ">=", "100"]]]},
        "review_policy": review,
    }
    return base | overrides


EPSILON = {
    "id": "epsilon-v1",
    "family": "epsilon",
    "title": "epsilon: review policies passed over",
    "effective_from": "2024-01-01",
    "source_kind": "regulation",
    "citations": [{"source": "fixture epsilon", "source_kind": "regulation"}],
    "destination_rules": [
        {
            "id": "epsilon-my",
            "label": "TPP 100 or more to MY",
            "citation": "fixture 8",
            "items": {"any_of": [[["tpp", ">=", "100"]]]},
            "destinations": {"countries": ["MY"]},
            "review_policy": "approval",
        },
        {
            "id": "epsilon-all",
            "label": "anything to KP",
            "citation": "fixture 9",
            "items": {"all_items": True},
            "destinations": {"countries": ["KP"]},
            "destination_basis": "embargo",
        },
    ],
    "review_policies": [
        policy("p-other-place", "denial", destinations={"countries": ["SG"]}),
        policy("p-other-basis", "denial", bases=["headquarters"]),
        policy("p-needs-bandwidth", "denial", items={"any_of": [[["memory_bandwidth_gbps", ">=", "100"]]]}),
        policy("p-out-of-scope", "denial", items={"any_of": [[["tpp", ">=", "100000"]]]}),
        policy("p-reexport-only", "denial", transaction_types=["reexport"]),
        policy("p-by-group", "case-by-case", destinations={"groups": ["A:5"]}),
    ],
}


@pytest.fixture(scope="module")
def files() -> loader.ReferenceFiles:
    return loader.read_reference_files(FIXTURE)


@pytest.fixture(scope="module")
def book(files: loader.ReferenceFiles) -> RuleBook:
    docs = [*files.rulesets, type(files.rulesets[0]).model_validate(EPSILON)]
    # MY joins A:5 in this book (a group-scoped policy must read the destination's groups)
    changes = [
        *files.group_changes,
        type(files.group_changes[0]).model_validate(
            {
                "group": "A:5",
                "country": "MY",
                "action": "add",
                "effective": "2024-01-01",
                "citation": {"source": "fixture change", "source_kind": "regulation"},
            }
        ),
        type(files.group_changes[0]).model_validate(
            {
                "group": "D:1",
                "country": "VN",
                "action": "remove",
                "effective": "2026-03-01",
                "citation": {"source": "fixture change", "source_kind": "regulation"},
            }
        ),
    ]
    return loader.build_book(files, docs, changes, "fixture+epsilon")


def chip(tpp: int, **figures: Fraction) -> Spec:
    return Spec((Throughput("fp16", Fraction(tpp, 16)),), datacenter=True, **figures)  # type: ignore[arg-type]


def answer(book: RuleBook, spec: Spec, party: Party, on: date = ON) -> Licensing:
    selection = licensing.select(book, on, on)
    _, lic = licensing.classify_and_license(
        book, selection, metrics.compute(spec, book.definitions.bit_lengths), party, on
    )
    return lic


def test_a_review_policy_after_five_passed_over_still_applies_and_each_skip_is_explained(book: RuleBook) -> None:
    lic = answer(book, chip(500), Party("MY"))
    (reason,) = lic.reasons
    assert (reason.rule_id, reason.review_policy, lic.review_policy) == ("epsilon-my", "case-by-case", "case-by-case")
    assert [w for w in lic.warnings if w.startswith("policy ")] == [
        "policy p-needs-bandwidth (fixture p-needs-bandwidth) cannot be applied without memory_bandwidth_gbps, "
        "so the review policy does not change.",
        "policy p-reexport-only (fixture p-reexport-only) covers only reexport transactions; this one is a export, "
        "so its review policy does not change.",
        "policy p-by-group (fixture p-by-group): review policy case-by-case.",
    ]


def test_a_policy_that_cannot_be_decided_names_every_missing_figure(book: RuleBook) -> None:
    multi = {
        **EPSILON,
        "review_policies": [
            policy(
                "p-two",
                "denial",
                items={
                    "any_of": [[["memory_bandwidth_gbps", ">=", "1"]], [["interconnect_bandwidth_gbps", ">=", "1"]]]
                },
            )
        ],
    }
    files = loader.read_reference_files(FIXTURE)
    two = loader.build_book(files, [*files.rulesets, type(files.rulesets[0]).model_validate(multi)], [], "two")
    lic = answer(two, chip(500), Party("MY"))
    assert (
        "policy p-two (fixture p-two) cannot be applied without interconnect_bandwidth_gbps, memory_bandwidth_gbps, "
        "so the review policy does not change."
    ) in lic.warnings


@pytest.mark.parametrize(
    ("spec", "party", "details"),
    [
        pytest.param(
            chip(500), Party("MY"), {"epsilon-my": "item meeting the rule's criteria; destination MY"}, id="criteria"
        ),
        pytest.param(
            chip(10), Party("KP"), {"epsilon-all": "any item subject to the EAR; embargoed destination KP"}, id="all"
        ),
        pytest.param(
            chip(900),
            Party("AE", headquarters="CN"),
            {"alpha2-hq": "3A090.a item; end user headquartered in CN"},
            id="eccn-and-end-user",
        ),
        pytest.param(
            chip(900),
            Party("CN", parent_headquarters="CN"),
            {
                "alpha2-d5": "3A090.a item; destination CN",
                "alpha2-hq": "3A090.a item; ultimate parent headquartered in CN",
            },
            id="destination-and-parent",
        ),
    ],
)
def test_a_reason_says_what_item_it_reaches_and_why(
    book: RuleBook, spec: Spec, party: Party, details: dict[str, str]
) -> None:
    lic = answer(book, spec, party)
    assert {r.rule_id: r.detail for r in lic.reasons} == details
    for r in lic.reasons:
        rule = next(x for rs in book.rulesets for x in rs.destination_rules if x.id == r.rule_id)
        ruleset = next(rs for rs in book.rulesets if rule in rs.destination_rules)
        assert (r.ruleset_id, r.label, r.citation) == (ruleset.id, rule.label, rule.citation)


def test_an_undetermined_rule_names_the_figures_it_needs(files: loader.ReferenceFiles) -> None:
    needy = {
        **EPSILON,
        "destination_rules": [
            {
                "id": "epsilon-bw",
                "label": "bandwidth to MY",
                "citation": "fixture 10",
                "items": {"any_of": [[["memory_plus_interconnect_gbps", ">=", "1000"]]]},
                "destinations": {"countries": ["MY"]},
            }
        ],
        "review_policies": [],
    }
    book = loader.build_book(files, [*files.rulesets, type(files.rulesets[0]).model_validate(needy)], [], "needy")
    with pytest.raises(UndeterminedError) as err:
        answer(book, chip(500, memory_bandwidth_gbps=Fraction(800)), Party("MY"))
    # the memory bandwidth is given: only the interconnect figure is missing
    assert err.value.fields == ("interconnect_bandwidth_gbps",)
    assert str(err.value) == "epsilon-bw may apply; it needs interconnect_bandwidth_gbps to decide"
    with pytest.raises(UndeterminedError) as both:
        answer(book, chip(500), Party("MY"))
    assert both.value.fields == ("interconnect_bandwidth_gbps", "memory_bandwidth_gbps")


def test_the_days_the_rules_change_include_group_changes_and_ends(book: RuleBook, files: loader.ReferenceFiles) -> None:
    assert book.change_dates() == (
        date(2024, 1, 1),
        date(2024, 6, 1),
        date(2025, 1, 1),
        date(2025, 6, 1),
        date(2026, 1, 1),
        date(2026, 3, 1),
    )
    assert book.latest_change() == date(2026, 3, 1)
    tomorrow = licensing.select(book, date(2026, 6, 2), date(2026, 6, 1)).warnings
    assert (
        "as_of 2026-06-02 is in the future: the latest rules known (last change 2026-03-01) are used; "
        "rules may change before then."
    ) in tomorrow
    empty = loader.build_book(files, [], [], "empty")
    assert empty.change_dates() == () and empty.latest_change() is None
