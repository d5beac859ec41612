"""Catalog products classified under the rules in force on 2026-11-28, against the domain's worked figures."""

from __future__ import annotations

from datetime import date

import pytest

from app.rules import licensing, metrics, ranges
from app.rules.book import RuleBook, Spec
from app.rules.classify import Classification, classify, display
from app.rules.licensing import Party

ON = date(2026, 11, 28)


def run(book: RuleBook, item: Spec) -> Classification:
    return classify(metrics.compute(item, book.definitions.bit_lengths), book.in_force(ON), book.definitions)


def clauses(c: Classification) -> dict[str, bool | None]:
    return {cl.id: cl.met for r in c.rulesets for cl in r.clauses}


# (catalog id) -> (ECCN, TPP, PD to 2 places, clauses met, notes applied)
PRODUCTS = [
    pytest.param("nvidia-h100-sxm5-80gb", "3A090.a", 15832, 19.45, {"3A090.a.1", "3A090.a.2"}, (), id="h100-sxm-a"),
    pytest.param("nvidia-h20-96gb", None, 2368, 2.91, set(), (), id="h20-not-3A090"),
    pytest.param("nvidia-l20-48gb", None, 1912, 3.14, set(), (), id="l20-not-3A090"),
    pytest.param("nvidia-a30-24gb", "3A090.b", 2640, 3.20, {"3A090.b.1"}, (), id="a30-b1"),
    pytest.param("nvidia-l40-48gb", "3A090.b", 2896.8, 4.76, {"3A090.b.1", "3A090.b.2"}, (), id="l40-b"),
    pytest.param(
        "nvidia-geforce-rtx-4090", "3A090.a", 5284.8, 8.68, {"3A090.a.1", "3A090.a.2"}, (), id="rtx4090-a-by-tpp"
    ),
    pytest.param(
        "nvidia-geforce-rtx-4090-d",
        None,
        4706.8,
        7.74,
        {"3A090.a.2"},
        ("3A090 Note 2",),
        id="rtx4090d-out-by-note-2",
    ),
    pytest.param("nvidia-l4-24gb", "3A090.a", 1940, 6.59, {"3A090.a.2"}, (), id="l4-a-through-density"),
]


@pytest.mark.parametrize(("product", "eccn", "tpp", "pd", "met", "notes"), PRODUCTS)
def test_catalog_products_classify_as_the_domain_reference_says(
    book: RuleBook,
    catalog: dict[str, Spec],
    product: str,
    eccn: str | None,
    tpp: float,
    pd: float,
    met: set[str],
    notes: tuple[str, ...],
) -> None:
    c = run(book, catalog[product])
    assert c.eccn == eccn
    assert c.tpp is not None
    assert c.tpp.value == pytest.approx(tpp)
    assert c.performance_density == pytest.approx(pd, abs=0.005)
    assert {k for k, v in clauses(c).items() if v} == met
    assert c.notes_applied == notes


def test_h100_tpp_is_989_5_fp16_times_16(book: RuleBook, catalog: dict[str, Spec]) -> None:
    m = metrics.compute(catalog["nvidia-h100-sxm5-80gb"], book.definitions.bit_lengths)
    assert m.tpp == 15832
    assert m.performance_density is not None
    assert display(m.performance_density) == pytest.approx(19.45, abs=0.005)


def test_l4_meets_a2_by_density_but_not_a1_by_tpp(book: RuleBook, catalog: dict[str, Spec]) -> None:
    met = clauses(run(book, catalog["nvidia-l4-24gb"]))
    assert met["3A090.a.1"] is False
    assert met["3A090.a.2"] is True


def test_h20_misses_b1_by_32_tpp(book: RuleBook, catalog: dict[str, Spec]) -> None:
    c = run(book, catalog["nvidia-h20-96gb"])
    b1 = next(cl for r in c.rulesets for cl in r.clauses if cl.id == "3A090.b.1")
    assert any("32 below 2,400" in cond.explanation for cond in b1.conditions)
    assert c.summary == "Not 3A090: no threshold clause is met."


@pytest.mark.parametrize(
    ("product", "destination", "required", "exceptions"),
    [
        pytest.param("nvidia-geforce-rtx-4090", "AE", True, {"ACA": False}, id="rtx4090-uae-aca-not-datacenter"),
        pytest.param("nvidia-geforce-rtx-4090", "CN", True, {"NAC": True}, id="rtx4090-cn-nac-with-notice"),
        pytest.param("nvidia-h100-sxm5-80gb", "AE", True, {}, id="h100-uae-datacenter-a-no-exception"),
        pytest.param("nvidia-a30-24gb", "AE", True, {"ACA": False}, id="a30-uae-aca"),
        pytest.param("nvidia-l40-48gb", "SA", True, {"ACA": False}, id="l40-saudi-aca"),
        pytest.param("nvidia-geforce-rtx-4090-d", "AE", False, {}, id="rtx4090d-uae-no-licence"),
        pytest.param("nvidia-l4-24gb", "IL", False, {}, id="l4-israel-no-licence"),
    ],
)
def test_catalog_products_licence_and_exceptions(
    book: RuleBook,
    catalog: dict[str, Spec],
    product: str,
    destination: str,
    required: bool,
    exceptions: dict[str, bool],
) -> None:
    selection = licensing.select(book, ON, ON)
    m = metrics.compute(catalog[product], book.definitions.bit_lengths)
    _, lic = licensing.classify_and_license(book, selection, m, Party(destination), ON)
    assert lic.license_required is required
    assert {e.code: e.notification_required for e in lic.license_exceptions} == exceptions


def test_every_catalog_product_classifies_on_every_change_date(book: RuleBook, catalog: dict[str, Spec]) -> None:
    """No shipped product lacks a figure some ruleset needs (no UndeterminedError, no SpecError)."""
    days = sorted({r.effective_from for r in book.rulesets} | {r.effective_to for r in book.rulesets if r.effective_to})
    eccns: set[str | None] = set()
    answered = 0
    for item in catalog.values():
        for day in days:
            selection = licensing.select(book, day, day)
            for destination in ("CN", "AE", "SG"):
                c, lic, _ = ranges.classify_and_license(
                    book, selection, item, Party(destination, parent_headquarters="CN"), day
                )
                assert c.summary and isinstance(lic.license_required, bool)
                eccns.add(c.eccn)
                answered += 1
    assert answered == len(catalog) * len(days) * 3 and len(catalog) >= 55
    # the walk covered controlled and uncontrolled products alike
    assert {None, "3A090.a", "3A090.b"} <= eccns, eccns
