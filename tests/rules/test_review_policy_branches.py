"""Each way a review policy can be passed over, and the one after it still applied; the wording of
a reason's detail for each kind of rule scope; the undetermined message; the days the rules
change. On the engine fixture book plus one synthetic family, epsilon: six review policies for MY,
the first six each passed over for a different reason, the last one applied (written against
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
            "exceptions": [
                {
                    "code": "HQX",
                    "name": "D:5 buyers",
                    "citation": "fixture hqx",
                    "notification_required": False,
                    "headquarters": {"groups": ["D:5"]},
                    "eligible": {"all_items": True},
                },
                {
                    "code": "ANY",
                    "name": "anyone",
                    "citation": "fixture any",
                    "notification_required": False,
                    "eligible": {"all_items": True},
                },
            ],
        },
        {
            "id": "epsilon-hq-listed",
            "label": "3A090.a to an IR-headquartered entity outside US and CA",
            "citation": "fixture 11",
            "items": {"eccns": ["3A090.a"]},
            "headquarters": {"countries": ["IR"]},
            "headquarters_located": {"all_countries": True, "except_countries": ["US", "CA"]},
        },
        {
            "id": "epsilon-hq-a5",
            "label": "3A090.a to an IR-headquartered entity in A:5",
            "citation": "fixture 12",
            "items": {"eccns": ["3A090.a"]},
            "headquarters": {"countries": ["IR"]},
            "headquarters_located": {"groups": ["A:5"]},
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
        policy("p-reexport-only", "denial", transaction_types=["reexport", "transfer"]),
        policy("p-us-sold", "denial", us_available_on="2025-01-15"),
        policy("p-by-group", "case-by-case", destinations={"groups": ["A:5"]}, conditions_text="as the fixture says"),
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
        "policy p-reexport-only (fixture p-reexport-only) covers only reexport/transfer transactions; "
        "this one is a export, so its review policy does not change.",
        "policy p-us-sold (fixture p-us-sold) does not apply: the item's commercial availability in the United "
        "States on 2025-01-15 is not known, so the review policy does not change.",
        "policy p-by-group (fixture p-by-group): review policy case-by-case. Conditions: as the fixture says",
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
    assert str(both.value) == (
        "epsilon-bw may apply; it needs interconnect_bandwidth_gbps, memory_bandwidth_gbps to decide"
    )


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


def test_an_exception_for_d5_headquartered_buyers_is_skipped_for_others_and_the_next_still_offered(
    book: RuleBook,
) -> None:
    assert [e.code for e in answer(book, chip(500), Party("MY")).license_exceptions] == ["ANY"]
    assert [e.code for e in answer(book, chip(500), Party("MY", headquarters="CN")).license_exceptions] == [
        "HQX",
        "ANY",
    ]
    # VN joins D:5 on 2025-01-01 in the fixture: a VN-headquartered buyer gets HQX from that day only
    assert [e.code for e in answer(book, chip(500), Party("MY", headquarters="VN")).license_exceptions] == [
        "HQX",
        "ANY",
    ]
    before = answer(book, chip(500), Party("MY", headquarters="VN"), date(2024, 6, 1))
    assert [e.code for e in before.license_exceptions] == ["ANY"]


def test_a_headquarters_rule_left_out_by_where_the_entity_is_says_where_it_reaches(book: RuleBook) -> None:
    notes = [w for w in answer(book, chip(900), Party("US", headquarters="IR")).warnings if "does not apply" in w]
    assert notes == [
        "epsilon-hq-listed does not apply: its headquarters basis reaches only entities located outside US, CA, "
        "and this one is in US (fixture 11).",
        "epsilon-hq-a5 does not apply: its headquarters basis reaches only entities located outside the listed "
        "places, and this one is in US (fixture 12).",
    ]
    # an item the rule does not reach (not 3A090.a) gets no such note
    assert not [w for w in answer(book, chip(100), Party("US", headquarters="IR")).warnings if "does not apply" in w]


ZETA = {
    "id": "zeta-v1",
    "family": "zeta",
    "title": "zeta: a note that needs a figure",
    "effective_from": "2024-01-01",
    "source_kind": "regulation",
    "citations": [{"source": "fixture zeta", "source_kind": "regulation"}],
    "classification": {
        "clauses": [
            {"id": "z1", "eccn": "3A090.a", "text": "TPP 1000 or more", "all": [["tpp", ">=", "1000"]]},
            {
                "id": "z2",
                "eccn": "3A090.b",
                "text": "TPP 100 or more with bandwidth",
                "all": [
                    ["tpp", ">=", "100"],
                    ["memory_bandwidth_gbps", ">=", "1"],
                    ["interconnect_bandwidth_gbps", ">=", "1"],
                ],
            },
        ],
        "notes": [
            {"id": "zeta note", "text": "not by bandwidth", "all": [["memory_plus_interconnect_gbps", "<=", "100"]]}
        ],
    },
}


@pytest.fixture(scope="module")
def zeta(files: loader.ReferenceFiles) -> RuleBook:
    return loader.build_book(files, [type(files.rulesets[0]).model_validate(ZETA)], [], "zeta")


def classified(book: RuleBook, spec: Spec) -> str | None:
    selection = licensing.select(book, ON, ON)
    c, _ = licensing.classify_and_license(
        book, selection, metrics.compute(spec, book.definitions.bit_lengths), Party("DE"), ON
    )
    return c.eccn


def test_a_note_that_could_exclude_a_controlled_item_needs_its_figures(zeta: RuleBook) -> None:
    with pytest.raises(UndeterminedError) as err:
        classified(zeta, chip(2000))
    assert err.value.fields == ("interconnect_bandwidth_gbps", "memory_bandwidth_gbps")
    assert str(err.value) == (
        "zeta-v1: cannot decide zeta note without interconnect_bandwidth_gbps, memory_bandwidth_gbps"
    )
    with pytest.raises(UndeterminedError) as one:
        classified(zeta, chip(2000, memory_bandwidth_gbps=Fraction(50)))
    assert one.value.fields == ("interconnect_bandwidth_gbps",)
    # the note's bound is "<=": exactly 100 GB/s in all is excluded, 101 is not
    bandwidth = {"memory_bandwidth_gbps": Fraction(50), "interconnect_bandwidth_gbps": Fraction(50)}
    assert classified(zeta, chip(2000, **bandwidth)) is None
    bandwidth["interconnect_bandwidth_gbps"] = Fraction(51)
    assert classified(zeta, chip(2000, **bandwidth)) == "3A090.a"


def test_a_clause_that_cannot_be_decided_names_every_missing_figure(zeta: RuleBook) -> None:
    with pytest.raises(UndeterminedError) as err:
        classified(zeta, chip(500))
    assert err.value.fields == ("interconnect_bandwidth_gbps", "memory_bandwidth_gbps")
    assert str(err.value) == (
        "zeta-v1: cannot decide 3A090.b without interconnect_bandwidth_gbps, memory_bandwidth_gbps"
    )


def test_a_superseded_ruleset_is_cited_with_the_day_it_ended(book: RuleBook) -> None:
    refs = {r.id: r for r in licensing.select(book, date(2024, 6, 1), date(2024, 6, 1)).refs}
    assert (refs["alpha-v1"].effective_from, refs["alpha-v1"].effective_to) == (date(2024, 1, 1), date(2025, 1, 1))
    assert refs["beta-v1"].effective_to == date(2026, 1, 1)
