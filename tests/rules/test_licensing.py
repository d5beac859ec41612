"""Who needs a licence: destinations, headquarters, exceptions, review policy, over time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from fractions import Fraction

import pytest

from app.rules import licensing, metrics
from app.rules.book import RuleBook, Spec, UsAvailability
from app.rules.classify import Classification
from app.rules.licensing import Licensing, Party, RulesetError

TODAY = date(2026, 11, 28)
H100 = "nvidia-h100-sxm5-80gb"  # datacenter 3A090.a
A30 = "nvidia-a30-24gb"  # datacenter 3A090.b
RTX4090 = "nvidia-geforce-rtx-4090"  # 3A090.a, not designed or marketed for datacenters
H20 = "nvidia-h20-96gb"  # not 3A090; reached by the 2025 bandwidth letters
H800 = "nvidia-h800-sxm5-80gb"
B200 = "nvidia-b200-sxm-192gb"  # TPP 36,000: above the 2026 China band
DIFFUSION = "ai-diffusion-2025-01-13"
LETTER_POLICY = "not published (reported: licences issued from 2025-08)"
# part 746 embargoes in force from 2022-03-02 on
EMBARGOES_2022 = [
    "embargo-cuba-1996-03-25",
    "embargo-iran-1996-03-25",
    "embargo-north-korea-1996-03-25",
    "embargo-syria-1996-03-25",
    "embargo-russia-2022-02-24",
    "embargo-belarus-2022-03-02",
]


@dataclass(frozen=True)
class Answer:
    classification: Classification
    licensing: Licensing
    warnings: tuple[str, ...]

    @property
    def rules(self) -> list[str]:
        return [r.rule_id for r in self.licensing.reasons]

    @property
    def bases(self) -> list[str]:
        return [r.basis for r in self.licensing.reasons]

    @property
    def exceptions(self) -> dict[str, bool]:
        """Exception code -> notification required, for exceptions covering every reason."""
        return {e.code: e.notification_required for e in self.licensing.license_exceptions}


def answer(
    book: RuleBook,
    item: Spec,
    destination: str,
    on: date,
    *,
    hq: str | None = None,
    parent: str | None = None,
    transaction: str = "export",
    hypothetical: tuple[str, ...] = (),
) -> Answer:
    dest, alias = book.resolve_country(destination, on)
    party = Party(
        destination=dest,
        headquarters=book.resolve_country(hq, on)[0] if hq else None,
        parent_headquarters=book.resolve_country(parent, on)[0] if parent else None,
        transaction_type=transaction,
    )
    selection = licensing.select(book, on, TODAY, hypothetical)
    m = metrics.compute(item, book.definitions.bit_lengths)
    c, lic = licensing.classify_and_license(book, selection, m, party, on)
    warnings = selection.warnings + lic.warnings + licensing.destination_warnings(book, party, destination, alias, on)
    return Answer(c, lic, warnings)


D14 = "742.6(a)(6)(iii)-d1-d4"
D5 = "742.6(a)(6)(iii)-d5-macau"
HQ = "744.23(a)(3)-headquarters"  # the headquarters rule from 2023-11-17 (and for .b items after 2025-01-13)
HQA = "742.6(a)(6)(iii)(A)-headquarters"  # the headquarters rule for .a items from 2025-01-13
LETTER = "bandwidth-letter-2025"
DENIAL = "presumption of denial"
CONDITIONAL = "case-by-case if the listed conditions are met; otherwise presumption of denial"
APPROVAL = "presumption of approval"
Y2024 = date(2024, 6, 1)

# (item, destination, hq, parent, date) -> (licence required, reason rule ids, exceptions {code: notify}, review)
DESTINATIONS = [
    # China and Hong Kong (treated as China)
    pytest.param(H100, "CN", None, None, Y2024, True, [D5], {}, DENIAL, id="cn-datacenter-a-denial-no-exception"),
    pytest.param(H100, "HK", None, None, Y2024, True, [D5], {}, DENIAL, id="hk-treated-as-cn"),
    pytest.param(A30, "CN", None, None, Y2024, True, [D5], {"NAC": True}, DENIAL, id="cn-b-item-nac-with-notice"),
    pytest.param(A30, "HK", None, None, Y2024, True, [D5], {"NAC": True}, DENIAL, id="hk-b-item-nac-with-notice"),
    # Macau
    pytest.param(H100, "MO", None, None, Y2024, True, [D5], {}, DENIAL, id="macau-datacenter-a-no-exception"),
    pytest.param(RTX4090, "MO", None, None, Y2024, True, [D5], {"NAC": True}, DENIAL, id="macau-non-dc-a-nac"),
    # Israel: D:4 but also A:6
    pytest.param(H100, "IL", None, None, Y2024, False, [], {}, None, id="israel-d4-and-a6-no-licence"),
    pytest.param(A30, "IL", None, None, Y2024, False, [], {}, None, id="israel-b-item-no-licence"),
    # UAE and Saudi Arabia: D:4 only
    pytest.param(A30, "AE", None, None, Y2024, True, [D14], {"ACA": False}, APPROVAL, id="uae-b-item-aca"),
    pytest.param(A30, "SA", None, None, Y2024, True, [D14], {"ACA": False}, APPROVAL, id="saudi-b-item-aca"),
    pytest.param(RTX4090, "AE", None, None, Y2024, True, [D14], {"ACA": False}, APPROVAL, id="uae-non-dc-a-aca"),
    pytest.param(RTX4090, "SA", None, None, Y2024, True, [D14], {"ACA": False}, APPROVAL, id="saudi-non-dc-a-aca"),
    pytest.param(H100, "AE", None, None, Y2024, True, [D14], {}, APPROVAL, id="uae-datacenter-a-no-exception"),
    pytest.param(H100, "SA", None, None, Y2024, True, [D14], {}, APPROVAL, id="saudi-datacenter-a-no-exception"),
    # before ACA (2024-04-04) NAC covered D:1/D:4 destinations, without notification
    pytest.param(A30, "AE", None, None, date(2024, 4, 3), True, [D14], {"NAC": False}, APPROVAL, id="uae-pre-aca-nac"),
    pytest.param(A30, "AE", None, None, date(2024, 4, 4), True, [D14], {"ACA": False}, APPROVAL, id="uae-aca-0404"),
    # A:5 and unlisted destinations
    pytest.param(H100, "DE", None, None, Y2024, False, [], {}, None, id="germany-no-licence"),
    pytest.param(H100, "MY", None, None, Y2024, False, [], {}, None, id="malaysia-no-licence"),
    pytest.param(H100, "TH", None, None, Y2024, False, [], {}, None, id="thailand-no-licence"),
    pytest.param(H100, "IN", None, None, Y2024, False, [], {}, None, id="india-a5-no-licence"),
    # the headquarters rule (744.23(a)(3)): Macau or D:5 headquarters, wherever outside the US the buyer is
    pytest.param(A30, "SG", "SG", "CN", Y2024, True, [HQ], {"NAC": True}, DENIAL, id="sg-buyer-cn-parent-nac"),
    pytest.param(H100, "SG", "SG", "CN", Y2024, True, [HQ], {}, DENIAL, id="sg-buyer-cn-parent-datacenter-a"),
    pytest.param(A30, "SG", "CN", None, Y2024, True, [HQ], {"NAC": True}, DENIAL, id="sg-subsidiary-of-cn-hq"),
    pytest.param(A30, "DE", "DE", "MO", Y2024, True, [HQ], {"NAC": True}, DENIAL, id="de-buyer-macau-parent"),
    pytest.param(A30, "SG", "SG", "HK", Y2024, True, [HQ], {"NAC": True}, DENIAL, id="sg-buyer-hk-parent-is-cn"),
    pytest.param(A30, "US", "US", "CN", Y2024, False, [], {}, None, id="us-located-cn-parent-no-licence"),
    pytest.param(H100, "US", "CN", None, Y2024, False, [], {}, None, id="us-located-cn-hq-no-licence"),
    pytest.param(A30, "SG", "SG", "AE", Y2024, False, [], {}, None, id="d4-parent-is-not-the-hq-rule"),
    pytest.param(A30, "SG", "SG", "VN", Y2024, False, [], {}, None, id="d1-parent-is-not-the-hq-rule"),
    pytest.param(A30, "SG", "SG", None, Y2024, False, [], {}, None, id="sg-buyer-sg-parent-no-licence"),
    # a D:5-headquartered buyer in a D:4 destination: two reasons; NAC with notification covers the
    # headquartered buyer wherever located, so it covers both (740.8(a), CBP CSMS #61882672)
    pytest.param(
        A30, "AE", "AE", "CN", Y2024, True, [HQ, D14], {"NAC": True}, DENIAL, id="uae-buyer-cn-parent-nac-covers-both"
    ),
    # before ACA both reasons were NAC; one needed notice, so the combined exception does
    pytest.param(
        A30, "AE", "AE", "CN", date(2024, 1, 2), True, [HQ, D14], {"NAC": True}, DENIAL, id="pre-aca-nac-notice-wins"
    ),
    # Cambodia: D:5 until 2026-02-03, then D:1 only
    pytest.param(A30, "KH", None, None, date(2026, 2, 2), True, [D5], {"NAC": True}, DENIAL, id="kh-d5-day-before"),
    pytest.param(A30, "KH", None, None, date(2026, 2, 3), True, [D14], {"ACA": False}, APPROVAL, id="kh-d1-day-of"),
    pytest.param(A30, "SG", "SG", "KH", date(2026, 2, 2), True, [HQ], {"NAC": True}, DENIAL, id="kh-hq-day-before"),
    pytest.param(A30, "SG", "SG", "KH", date(2026, 2, 3), False, [], {}, None, id="kh-hq-rule-gone-day-of"),
    # Nicaragua: from Country Group B into D:1 and D:5 on 2024-03-15 (89 FR 18780): no licence before.
    # Before ACA (2024-04-04) NAC needed notification for Macau and every D:5 destination or
    # D:5/Macau-headquartered entity (740.8(a)(2) as of 88 FR 73458), not only for China and Macau.
    pytest.param(A30, "NI", None, None, date(2024, 3, 14), False, [], {}, None, id="ni-group-b-before-no-licence"),
    pytest.param(A30, "NI", None, None, date(2024, 3, 15), True, [D5], {"NAC": True}, DENIAL, id="ni-d5-day-of"),
    pytest.param(A30, "SG", "SG", "NI", date(2024, 3, 14), False, [], {}, None, id="ni-hq-rule-not-day-before"),
    pytest.param(A30, "SG", "SG", "NI", date(2024, 3, 15), True, [HQ], {"NAC": True}, DENIAL, id="ni-hq-rule-day-of"),
]


@pytest.mark.parametrize(
    ("item", "destination", "hq", "parent", "on", "required", "rules", "exceptions", "review"), DESTINATIONS
)
def test_licence_by_destination_headquarters_and_date(
    book: RuleBook,
    catalog: dict[str, Spec],
    item: str,
    destination: str,
    hq: str | None,
    parent: str | None,
    on: date,
    required: bool,
    rules: list[str],
    exceptions: dict[str, bool],
    review: str | None,
) -> None:
    a = answer(book, catalog[item], destination, on, hq=hq, parent=parent)
    assert a.licensing.license_required is required
    assert a.rules == rules
    assert a.exceptions == exceptions
    assert a.licensing.review_policy == review


def test_hong_kong_resolves_to_china_with_a_warning_saying_so(book: RuleBook, catalog: dict[str, Spec]) -> None:
    assert book.resolve_country("HK", Y2024)[0] == "CN"
    a = answer(book, catalog[H100], "HK", Y2024)
    assert any("HK is treated as CN" in w for w in a.warnings)


@pytest.mark.parametrize(
    ("parent", "basis", "detail"),
    [
        pytest.param("CN", "headquarters", "ultimate parent headquartered in CN", id="parent-in-cn"),
        pytest.param("MO", "headquarters", "ultimate parent headquartered in MO", id="parent-in-macau"),
    ],
)
def test_headquarters_rule_reason_names_its_basis(
    book: RuleBook, catalog: dict[str, Spec], parent: str, basis: str, detail: str
) -> None:
    a = answer(book, catalog[A30], "SG", Y2024, hq="SG", parent=parent)
    (reason,) = a.licensing.reasons
    assert reason.basis == basis
    assert detail in reason.detail


@pytest.mark.parametrize(
    ("destination", "on", "warned"),
    [
        pytest.param("MY", Y2024, ["Transshipment hub"], id="malaysia-hub"),
        pytest.param("TH", Y2024, ["Transshipment hub"], id="thailand-hub"),
        pytest.param("SG", Y2024, ["Transshipment hub"], id="singapore-hub"),
        pytest.param("AE", Y2024, ["Transshipment hub"], id="uae-hub"),
        pytest.param("MY", date(2025, 7, 13), ["Transshipment hub"], id="malaysia-permit-not-day-before"),
        pytest.param("MY", date(2025, 7, 14), ["Transshipment hub", "Malaysia requires"], id="malaysia-permit-day-of"),
        pytest.param("IR", Y2024, ["Embargoed"], id="iran-e1-embargo"),
        pytest.param("DE", Y2024, [], id="germany-no-warning"),
    ],
)
def test_destination_warnings_flag_hubs_permits_and_embargoes(
    book: RuleBook, destination: str, on: date, warned: list[str]
) -> None:
    party = Party(destination)
    found = licensing.destination_warnings(book, party, destination, None, on)
    assert len(found) == len(warned)
    for prefix, text in zip(warned, found, strict=True):
        assert text.startswith(prefix)


def test_malaysia_and_thailand_need_no_licence_but_get_a_transshipment_warning(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    for country in ("MY", "TH"):
        a = answer(book, catalog[H100], country, date(2026, 3, 1))
        assert a.licensing.license_required is False
        assert any(w.startswith("Transshipment hub") for w in a.warnings)


# The 2025-04-09 bandwidth letters (company letters, reported criteria)
@pytest.mark.parametrize(
    ("item", "destination", "hq", "parent", "on", "required"),
    [
        pytest.param(H20, "CN", None, None, date(2025, 4, 8), False, id="h20-cn-day-before-no-licence"),
        pytest.param(H20, "CN", None, None, date(2025, 4, 9), True, id="h20-cn-day-of-licence"),
        pytest.param(H20, "HK", None, None, date(2025, 4, 9), True, id="h20-hk-licence"),
        pytest.param(H20, "MO", None, None, date(2025, 4, 9), True, id="h20-macau-licence"),
        pytest.param(H20, "VE", None, None, date(2025, 4, 9), True, id="h20-d5-licence"),
        pytest.param(H20, "SG", "SG", "CN", date(2025, 4, 9), True, id="h20-d5-headquartered-buyer-licence"),
        pytest.param(H20, "AE", None, None, date(2025, 4, 9), False, id="h20-uae-no-licence"),
        pytest.param(H20, "DE", None, None, date(2025, 4, 9), False, id="h20-germany-no-licence"),
    ],
)
def test_bandwidth_letters_require_a_licence_for_h20_class_items(
    book: RuleBook,
    catalog: dict[str, Spec],
    item: str,
    destination: str,
    hq: str | None,
    parent: str | None,
    on: date,
    required: bool,
) -> None:
    a = answer(book, catalog[item], destination, on, hq=hq, parent=parent)
    assert a.classification.eccn is None
    assert a.licensing.license_required is required
    if required:
        assert a.rules == ["bandwidth-letter-2025"]
        assert {r.source_kind for r in a.licensing.reasons} == {"company_letter"}
        assert any("rests on a company letter source" in w for w in a.licensing.warnings)
    else:
        assert a.licensing.reasons == ()


# The 2026-01-15 China review band: case-by-case for exports from the US only
@pytest.mark.parametrize(
    ("item", "destination", "parent", "transaction", "on", "review"),
    [
        pytest.param(H100, "CN", None, "export", date(2026, 1, 14), DENIAL, id="h100-cn-export-day-before-denial"),
        pytest.param(H100, "CN", None, "export", date(2026, 1, 15), CONDITIONAL, id="h100-cn-export-day-of-band"),
        pytest.param(H100, "HK", None, "export", date(2026, 1, 15), CONDITIONAL, id="h100-hk-export-band"),
        pytest.param(H100, "MO", None, "export", date(2026, 1, 15), CONDITIONAL, id="h100-macau-export-band"),
        pytest.param(H100, "CN", None, "reexport", date(2026, 1, 15), DENIAL, id="h100-cn-reexport-stays-denial"),
        pytest.param(H100, "CN", None, "transfer", date(2026, 1, 15), DENIAL, id="h100-cn-transfer-stays-denial"),
        pytest.param(H100, "SG", "CN", "export", date(2026, 1, 15), DENIAL, id="h100-hq-rule-stays-denial"),
        pytest.param(B200, "CN", None, "export", date(2026, 1, 15), DENIAL, id="b200-tpp-36000-above-band-denial"),
        pytest.param(H100, "VE", None, "export", date(2026, 1, 15), DENIAL, id="band-is-china-macau-only"),
        # the 2025 letters are not 742.6 requirements: the band leaves them alone
        pytest.param(H20, "CN", None, "export", date(2026, 1, 15), LETTER_POLICY, id="h20-letter-reason-not-rewritten"),
        # never a US product: the band does not apply
        pytest.param(H800, "CN", None, "export", date(2026, 1, 15), DENIAL, id="h800-china-only-stays-denial"),
    ],
)
def test_2026_china_band_changes_review_of_exports_not_the_requirement(
    book: RuleBook,
    catalog: dict[str, Spec],
    item: str,
    destination: str,
    parent: str | None,
    transaction: str,
    on: date,
    review: str,
) -> None:
    a = answer(book, catalog[item], destination, on, parent=parent, transaction=transaction)
    assert a.licensing.license_required is True
    assert a.licensing.review_policy == review
    if transaction != "export":
        assert any("covers only export transactions" in w for w in a.licensing.warnings)


def test_2026_china_band_reaches_a_chinese_buyer_located_in_china_on_every_advanced_computing_basis(
    book: RuleBook, catalog: dict[str, Spec]
) -> None:
    # a CN-headquartered buyer located in CN: both 742.6 reasons are in the band, the letter is not
    a = answer(book, catalog[H100], "CN", date(2026, 1, 15), hq="CN")
    policies = {(r.rule_id, r.basis): r.review_policy for r in a.licensing.reasons}
    assert policies == {
        (D5, "destination"): CONDITIONAL,
        (HQA, "headquarters"): CONDITIONAL,
        (LETTER, "destination"): LETTER_POLICY,
        (LETTER, "headquarters"): LETTER_POLICY,
    }
    assert a.licensing.review_policy == CONDITIONAL
    banded = [r for r in a.licensing.reasons if r.review_policy == CONDITIONAL]
    assert all(any("50%" in c for c in r.review_conditions) for r in banded)


@pytest.mark.parametrize(
    ("fact", "review", "why"),
    [
        pytest.param(UsAvailability(True, date(2026, 1, 15)), CONDITIONAL, None, id="available-on-publication"),
        pytest.param(UsAvailability(True, date(2024, 1, 1)), CONDITIONAL, None, id="available-earlier-still-known"),
        pytest.param(UsAvailability(False, date(2026, 1, 15)), DENIAL, "was not commercially", id="never-a-us-product"),
        pytest.param(UsAvailability(True, date(2026, 6, 1)), DENIAL, "is not known", id="only-known-later"),
        pytest.param(None, DENIAL, "is not known", id="missing-fact-never-less-restrictive"),
    ],
)
def test_2026_china_band_needs_us_availability_on_the_publication_day(
    book: RuleBook, catalog: dict[str, Spec], fact: UsAvailability | None, review: str, why: str | None
) -> None:
    spec = replace(catalog[H100], us_available=fact)
    a = answer(book, spec, "CN", date(2026, 3, 1))
    assert a.licensing.license_required is True
    assert a.licensing.review_policy == review
    if why:
        assert any(why in w and "91 FR 1684" in w for w in a.licensing.warnings)


@pytest.mark.parametrize(
    ("destination", "on", "transaction", "exceptions"),
    [
        # before ACA: NAC with notification for exports and reexports, without for in-country transfers
        pytest.param("CN", date(2024, 4, 3), "export", {"NAC": True}, id="cn-export-nac-notified"),
        pytest.param("CN", date(2024, 4, 3), "reexport", {"NAC": True}, id="cn-reexport-nac-notified"),
        pytest.param("CN", date(2024, 4, 3), "transfer", {"NAC": False}, id="cn-transfer-nac-unnotified"),
        # from 2024-04-04: in-country transfers within Macau/D:5 are ACA
        pytest.param("CN", date(2024, 4, 4), "export", {"NAC": True}, id="cn-export-still-nac"),
        pytest.param("CN", date(2024, 4, 4), "transfer", {"ACA": False}, id="cn-transfer-aca"),
        pytest.param("MO", date(2024, 4, 4), "transfer", {"ACA": False}, id="macau-transfer-aca"),
        pytest.param("AE", date(2024, 4, 4), "transfer", {"ACA": False}, id="d4-transfer-aca"),
    ],
)
def test_licence_exceptions_depend_on_the_transaction_type(
    book: RuleBook, catalog: dict[str, Spec], destination: str, on: date, transaction: str, exceptions: dict[str, bool]
) -> None:
    a = answer(book, catalog[A30], destination, on, transaction=transaction)
    assert a.exceptions == exceptions


# AI Diffusion exists but is not enforced: only as a hypothetical
@pytest.mark.parametrize(
    ("item", "destination", "rules", "exceptions", "review"),
    [
        pytest.param(H100, "DE", ["ai-diffusion-tier-1"], {"AIA": False}, APPROVAL, id="tier1-germany-aia"),
        pytest.param(H100, "JP", ["ai-diffusion-tier-1"], {"AIA": False}, APPROVAL, id="tier1-japan-aia"),
        pytest.param(H100, "MY", ["ai-diffusion-tier-2"], {"LPP": True}, APPROVAL, id="tier2-malaysia-lpp"),
        pytest.param(H100, "IN", ["ai-diffusion-tier-2"], {"LPP": True}, APPROVAL, id="tier2-india-lpp"),
        pytest.param(H100, "IL", ["ai-diffusion-tier-2"], {"LPP": True}, APPROVAL, id="tier2-israel-lpp"),
        pytest.param(H100, "CN", [D5, LETTER, "ai-diffusion-tier-3"], {}, DENIAL, id="tier3-china-denial"),
        pytest.param(H100, "MO", [D5, LETTER, "ai-diffusion-tier-3"], {}, DENIAL, id="tier3-macau-denial"),
        pytest.param(H100, "US", [], {}, None, id="united-states-no-licence"),
        pytest.param(A30, "DE", [], {}, None, id="b-items-not-reached"),
    ],
)
def test_ai_diffusion_applies_only_as_a_hypothetical(
    book: RuleBook,
    catalog: dict[str, Spec],
    item: str,
    destination: str,
    rules: list[str],
    exceptions: dict[str, bool],
    review: str | None,
) -> None:
    on = date(2025, 6, 1)
    real = answer(book, catalog[item], destination, on)
    assert not any(r.startswith("ai-diffusion") for r in real.rules)
    a = answer(book, catalog[item], destination, on, hypothetical=(DIFFUSION,))
    assert a.licensing.license_required is bool(rules)
    assert a.rules == rules
    assert a.exceptions == exceptions
    assert a.licensing.review_policy == review
    assert any(w.startswith(f"Hypothetical: evaluated as if {DIFFUSION} (not enforced)") for w in a.warnings)


def test_select_marks_hypothetical_and_unknown_ids_raise(book: RuleBook) -> None:
    on = date(2025, 6, 1)
    assert licensing.select(book, on, TODAY).hypothetical is False
    chosen = licensing.select(book, on, TODAY, (DIFFUSION,))
    assert chosen.hypothetical is True
    assert DIFFUSION in [r.id for r in chosen.rulesets]
    with pytest.raises(RulesetError) as err:
        licensing.select(book, on, TODAY, ("no-such-ruleset",))
    assert err.value.ruleset_id == "no-such-ruleset"


@pytest.mark.parametrize(
    ("on", "rulesets", "required", "warning"),
    [
        pytest.param(date(2022, 8, 25), EMBARGOES_2022, False, "No 3A090 control", id="before-the-2022-letters"),
        pytest.param(
            date(2022, 8, 26),
            ["company-letters-2022-08-26", *EMBARGOES_2022],
            True,
            "No 3A090 control",
            id="2022-letters-before-the-rule",
        ),
        pytest.param(
            date(2022, 10, 7), ["ac-2022-10-07", *EMBARGOES_2022], True, None, id="from-2022-10-07-china-rule"
        ),
        pytest.param(
            date(2027, 1, 1),
            [
                "ac-2025-01-13",
                "bandwidth-letters-2025-04-09",
                "embargo-syria-2025-09-02",
                "china-review-band-2026-01-15",
                *(e for e in EMBARGOES_2022 if e != "embargo-syria-1996-03-25"),
            ],
            True,
            "as_of 2027-01-01 is in the future",
            id="future-date-warns",
        ),
    ],
)
def test_selection_by_date_warns_when_nothing_or_the_future_is_asked(
    book: RuleBook, catalog: dict[str, Spec], on: date, rulesets: list[str], required: bool, warning: str | None
) -> None:
    selection = licensing.select(book, on, TODAY)
    assert sorted(r.id for r in selection.rulesets) == sorted(rulesets)
    a = answer(book, catalog[H100], "CN", on)
    assert a.licensing.license_required is required
    if warning:
        assert any(w.startswith(warning) for w in selection.warnings)
    else:
        assert selection.warnings == ()


# The early effect (2023-10-23, reported) and the 2022 rule each read their own classification
@pytest.mark.parametrize(
    ("item", "destination", "on", "rules", "source_kinds"),
    [
        pytest.param(H800, "CN", date(2023, 10, 22), [], set(), id="h800-cn-not-a-under-2022-rule"),
        pytest.param(
            H800, "CN", date(2023, 10, 23), ["early-2023-d5-macau"], {"reported"}, id="h800-cn-early-effect-only"
        ),
        pytest.param(
            "nvidia-a100-sxm4-80gb",
            "CN",
            date(2023, 10, 23),
            ["742.6(a)(6)(i)-china-macau", "early-2023-d5-macau"],
            {"regulation", "reported"},
            id="a100-cn-both-rules",
        ),
        pytest.param(H800, "AE", date(2023, 10, 23), ["early-2023-d1-d4"], {"reported"}, id="h800-uae-early-effect"),
        pytest.param(A30, "CN", date(2023, 10, 23), [], set(), id="a30-tpp-below-4800-no-early-effect"),
    ],
)
def test_destination_rules_read_their_own_rulesets_classification(
    book: RuleBook,
    catalog: dict[str, Spec],
    item: str,
    destination: str,
    on: date,
    rules: list[str],
    source_kinds: set[str],
) -> None:
    a = answer(book, catalog[item], destination, on)
    assert a.rules == rules
    assert {r.source_kind for r in a.licensing.reasons} == source_kinds
    if "reported" in source_kinds:
        assert any("rests on a reported source" in w for w in a.licensing.warnings)


@pytest.mark.parametrize(
    ("country", "on", "groups"),
    [
        pytest.param("CN", Y2024, {"D:1", "D:4", "D:5"}, id="china-d1-d4-d5"),
        pytest.param("MO", Y2024, {"D:1", "D:4"}, id="macau-d1-d4-not-d5"),
        pytest.param("IL", Y2024, {"D:4", "A:6"}, id="israel-d4-and-a6"),
        pytest.param("AE", Y2024, {"D:4"}, id="uae-d4"),
        pytest.param("SA", Y2024, {"D:4"}, id="saudi-d4"),
        pytest.param("SG", Y2024, {"A:6"}, id="singapore-a6"),
        pytest.param("IN", Y2024, {"A:5"}, id="india-a5"),
        pytest.param("MY", Y2024, set(), id="malaysia-no-group"),
        pytest.param("TH", Y2024, set(), id="thailand-no-group"),
        pytest.param("HK", Y2024, set(), id="hong-kong-has-no-groups-of-its-own-resolve-first"),
        pytest.param("NI", date(2024, 3, 14), set(), id="nicaragua-group-b-day-before"),
        pytest.param("NI", date(2024, 3, 15), {"D:1", "D:5"}, id="nicaragua-d5-day-of"),
        pytest.param("KH", date(2026, 2, 2), {"D:1", "D:5"}, id="cambodia-d5-day-before-removal"),
        pytest.param("KH", date(2026, 2, 3), {"D:1"}, id="cambodia-d1-only-day-of-removal"),
        pytest.param("IR", Y2024, {"D:4", "D:5", "E:1"}, id="iran-e1"),
        pytest.param("CU", Y2024, {"D:5", "E:2"}, id="cuba-e2"),
    ],
)
def test_country_group_memberships_change_on_their_dates(
    book: RuleBook, country: str, on: date, groups: set[str]
) -> None:
    assert book.groups_of(country, on) == groups


def hbm_stack(bandwidth: str) -> Spec:
    return Spec((), True, Fraction(1000), memory_bandwidth_gbps=Fraction(bandwidth), kind="hbm")


@pytest.mark.parametrize(
    ("bandwidth", "destination", "on", "rules", "exceptions"),
    [
        pytest.param("2500", "CN", date(2024, 12, 1), [], {}, id="hbm-cn-day-before-3A090c"),
        pytest.param(
            "2500", "CN", date(2024, 12, 2), ["742.6(a)(6)(iii)-hbm"], {"HBM": False}, id="hbm-2.5-cn-hbm-exc"
        ),
        pytest.param("3300", "CN", date(2024, 12, 2), ["742.6(a)(6)(iii)-hbm"], {}, id="hbm-3.3-cn-no-exception"),
        pytest.param("2500", "AE", date(2024, 12, 2), [], {}, id="hbm-uae-no-licence"),
        # the 2025 letters reach H20-class accelerators, not a stand-alone HBM stack
        pytest.param(
            "2500", "CN", date(2025, 4, 9), ["742.6(a)(6)(iii)-hbm"], {"HBM": False}, id="hbm-not-an-h20-equivalent"
        ),
    ],
)
def test_3A090_c_hbm_licence_and_exception_hbm_below_3_3(
    book: RuleBook,
    bandwidth: str,
    destination: str,
    on: date,
    rules: list[str],
    exceptions: dict[str, bool],
) -> None:
    a = answer(book, hbm_stack(bandwidth), destination, on)
    assert a.rules == rules
    assert a.exceptions == exceptions
