"""The details of an answer a compliance officer reads, on the shipped rules: which licence
exceptions are offered for which transaction and buyer (with their names, citations and notes as
the reference data gives them), the review-band note with its numbered conditions, why the US
availability limit leaves a policy unchanged, destination advisories and their source kind, the
first day of a country alias. Each is written against a surviving mutant of the engine run
(docs/mutation.md)."""

from __future__ import annotations

import dataclasses
from datetime import date
from fractions import Fraction

import pytest

from app.regulations import loader
from app.rules import licensing, metrics
from app.rules.book import RuleBook, Spec, Throughput
from app.rules.classify import CitationOut, RulesetRef
from app.rules.licensing import ExceptionOut, Licensing, Party

NAC_NOTIFIED = ExceptionOut(
    "NAC",
    "Notified Advanced Computing",
    "15 CFR 740.8(a)(2)",
    True,
    "Exports and reexports: prior notification to BIS, about 25 days' review; BIS may still require a licence. "
    "Not for datacenter 3A090.a items.",
)
NAC_TRANSFER = ExceptionOut(
    "NAC",
    "Notified Advanced Computing",
    "15 CFR 740.8 (88 FR 73458)",
    False,
    "In-country transfers within Macau/D:5 needed no notification before 2024-04-04 (CBP CSMS #61882672)",
)
ACA_TRANSFER = ExceptionOut(
    "ACA",
    "Advanced Computing Authorized",
    "15 CFR 740.8(b), 89 FR 23876",
    False,
    "From 2024-04-04 ACA covers in-country transfers within Macau/D:5 and to Macau/D:5-headquartered entities "
    "(CBP CSMS #61882672)",
)
BAND = (
    "China/Macau case-by-case band (TPP < 21,000 and total DRAM bandwidth < 6,500 GB/s, commercially "
    "available in the US on 2026-01-15) (91 FR 1684)"
)


def answer(book: RuleBook, spec: Spec, party: Party, on: date) -> Licensing:
    selection = licensing.select(book, on, on)
    _, lic = licensing.classify_and_license(
        book, selection, metrics.compute(spec, book.definitions.bit_lengths), party, on
    )
    return lic


def test_an_export_is_offered_the_notified_exception_as_the_data_words_it(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    lic = answer(book, catalog["nvidia-a30-24gb"], Party("AE", headquarters="CN"), date(2023, 11, 17))
    assert lic.license_exceptions == (NAC_NOTIFIED,)


@pytest.mark.parametrize(
    ("on", "offered"),
    [
        pytest.param(date(2023, 12, 1), NAC_TRANSFER, id="before-2024-04-04-nac-without-notice"),
        pytest.param(date(2024, 5, 1), ACA_TRANSFER, id="from-2024-04-04-aca"),
    ],
)
def test_an_in_country_transfer_is_offered_the_transfer_exception_listed_after_the_export_one(
    book: RuleBook, catalog: dict[str, Spec], on: date, offered: ExceptionOut
) -> None:
    """The rule lists NAC for exports first: a transfer skips it and still gets the transfer exception."""
    lic = answer(book, catalog["nvidia-a30-24gb"], Party("CN", transaction_type="transfer"), on)
    assert lic.license_required
    assert lic.license_exceptions == (offered,)


def test_an_exception_limited_to_d5_headquartered_buyers_is_offered_to_one(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    lic = answer(book, catalog["nvidia-a30-24gb"], Party("AE", headquarters="CN"), date(2024, 5, 1))
    offered = {r.rule_id: [(e.code, e.notification_required) for e in r.license_exceptions] for r in lic.reasons}
    assert offered == {
        "744.23(a)(3)-headquarters": [("NAC", True)],
        "742.6(a)(6)(iii)-d1-d4": [("ACA", False), ("NAC", True)],
    }
    local = answer(book, catalog["nvidia-a30-24gb"], Party("AE", headquarters="AE"), date(2024, 5, 1))
    assert [[e.code for e in r.license_exceptions] for r in local.reasons] == [["ACA"]]


def test_the_review_band_note_lists_its_conditions_numbered_with_non_regulation_sources_named(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    lic = answer(book, catalog["nvidia-h100-sxm5-80gb"], Party("CN"), date(2026, 2, 2))
    (note,) = [w for w in lic.warnings if w.startswith(BAND)]
    assert note.startswith(
        f"{BAND}: review policy case-by-case if the listed conditions are met; otherwise presumption of denial. "
        "Conditions: (1) the item was commercially available in the United States when the rule was published "
        "(2026-01-15); (2) the exporter states how many units of the item it has shipped in the United States "
        "[reported: ST&R trade report on 91 FR 1684]; (3) the item performs below"
    ), note
    assert note.endswith(
        "; (9) every shipment is tested by an independent third-party laboratory in the United States before "
        "export to verify its performance."
    ), note


def test_a_band_limited_to_items_sold_in_the_us_says_why_it_leaves_the_policy_unchanged(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    lic = answer(book, catalog["nvidia-h800-sxm5-80gb"], Party("CN"), date(2026, 2, 2))
    assert (
        f"{BAND} does not apply: the item was not commercially available in the United States on 2026-01-15 "
        "(philisun-h800), so the review policy does not change."
    ) in lic.warnings
    unknown = dataclasses.replace(catalog["nvidia-h800-sxm5-80gb"], us_available=None)
    assert (
        f"{BAND} does not apply: the item's commercial availability in the United States on 2026-01-15 is not "
        "known, so the review policy does not change."
    ) in answer(book, unknown, Party("CN"), date(2026, 2, 2)).warnings


def test_destination_advisories_name_their_source_and_say_when_it_is_not_regulation_text(book: RuleBook) -> None:
    hub = licensing.destination_warnings(book, Party("MY"), "MY", None, date(2025, 7, 14))
    assert hub == (
        "Transshipment hub watched for diversion of advanced AI chips: check end use, end user and re-export paths "
        "(BIS guidance on diversion red flags for advanced computing ICs (2025-05-13) and press reports on "
        "enforcement in MY/SG/TH/AE) [reported]",
        "Malaysia requires a Strategic Trade permit to export, transship or transit US-origin high-performance AI "
        "chips (Malaysia MITI notice under the Strategic Trade Act 2010 (effective 2025-07-14), as reported) "
        "[reported]",
    )
    assert len(licensing.destination_warnings(book, Party("MY"), "MY", None, date(2025, 7, 13))) == 1
    (embargo,) = licensing.destination_warnings(book, Party("IR"), "IR", None, date(2025, 7, 14))
    assert embargo.endswith("(15 CFR part 746; Supplement No. 1 to part 740 (E:1, E:2))"), embargo


def test_an_advisory_reaches_a_destination_by_the_code_sent_or_by_the_country_it_is_treated_as(
    files: loader.ReferenceFiles,
) -> None:
    """Advisories on HK alone and on CN alone: HK (treated as CN) gets both, with the alias note."""
    docs = [
        type(files.advisories[0]).model_validate(
            {
                "id": f"on-{code}",
                "text": f"about {code}",
                "countries": [code],
                "citation": {"source": code, "source_kind": "regulation"},
            }
        )
        for code in ("HK", "CN")
    ]
    docs.append(
        type(files.advisories[0]).model_validate(
            {
                "id": "on-chip",
                "text": "about the chip",
                "accelerators": ["x-chip"],
                "effective_from": "2024-01-01",
                "citation": {"source": "a rule", "source_kind": "regulation"},
            }
        )
    )
    book = loader.build_book(
        dataclasses.replace(files, advisories=docs), files.rulesets, files.group_changes, "advisories"
    )
    on = date(2025, 1, 1)
    dest, alias = book.resolve_country("HK", on)
    assert dest == "CN" and alias is not None
    assert licensing.destination_warnings(book, Party(dest), "HK", alias, on) == (
        "HK is treated as CN for the EAR since 2020-12-23 (85 FR 83765 (2020-12-23)).",
        "about HK (HK)",
        "about CN (CN)",
    )
    assert licensing.destination_warnings(book, Party("CN"), "CN", None, on) == ("about CN (CN)",)
    # an item advisory from regulation text carries no source-kind mark
    assert licensing.item_warnings(book, "x-chip", on) == ("about the chip (a rule)",)


def test_hong_kong_is_treated_as_china_from_the_alias_s_first_day(book: RuleBook) -> None:
    assert book.resolve_country("HK", date(2020, 12, 23))[0] == "CN"
    assert book.resolve_country("HK", date(2020, 12, 22)) == ("HK", None)


def test_a_book_finds_its_rulesets_by_id(files: loader.ReferenceFiles) -> None:
    book = loader.build_book(files, files.rulesets, files.group_changes, "fresh")
    first = book.rulesets[0]
    assert book.ruleset(first.id) is first
    assert book.ruleset("no-such-ruleset") is None


def test_memory_plus_interconnect_bandwidth_is_their_sum(book: RuleBook) -> None:
    spec = Spec(
        (Throughput("fp16", Fraction(100)),),
        datacenter=True,
        memory_bandwidth_gbps=Fraction(1000),
        interconnect_bandwidth_gbps=Fraction(300),
    )
    m = metrics.compute(spec, book.definitions.bit_lengths)
    assert m.value("memory_plus_interconnect_gbps") == Fraction(1300)
    assert (
        metrics.compute(
            dataclasses.replace(spec, interconnect_bandwidth_gbps=None), book.definitions.bit_lengths
        ).value("memory_plus_interconnect_gbps")
        is None
    )


def test_an_answer_cites_each_ruleset_with_every_citation_field(book: RuleBook) -> None:
    on = date(2026, 2, 2)
    selection = licensing.select(book, on, on)
    for ruleset, ref in zip(selection.rulesets, selection.refs, strict=True):
        assert ref == RulesetRef(
            ruleset.id,
            ruleset.family,
            ruleset.title,
            ruleset.effective_from,
            ruleset.effective_to,
            ruleset.enforced,
            ruleset.source_kind,
            tuple(CitationOut(c.source, c.source_kind, c.url, c.document, c.note) for c in ruleset.citations),
        )
    (band,) = [ref for ref in selection.refs if ref.id == "china-review-band-2026-01-15"]
    first = band.citations[0]
    assert (first.source_kind, first.document, first.url) == (
        "regulation",
        "FR Doc 2026-00789",
        "https://www.federalregister.gov/d/2026-00789",
    )
    assert first.source.startswith("91 FR 1684 (2026-01-15)") and (first.note or "").startswith("Summary: ")
