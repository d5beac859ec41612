"""Destination + end user + classified item -> licence requirement, reasons, exceptions.

Every destination rule in force is tried: a licence is required when the destination, or the
end user's (or its ultimate parent's) headquarters, falls in the rule's country set and the item
falls in its scope. Each such match is one reason, with its review policy and the licence
exceptions whose eligibility the item meets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from app.rules.book import (
    Basis,
    CountryAlias,
    DestinationRule,
    LicenseException,
    RuleBook,
    Ruleset,
)
from app.rules.classify import (
    Classification,
    RulesetRef,
    UndeterminedError,
    classify,
    in_scope,
    ruleset_ref,
)
from app.rules.metrics import Metrics

DISCLAIMER = (
    "Decision support for a compliance officer under the EAR as modelled in chipclass's "
    "reference data; not a licence, a licence determination or legal advice."
)


class RulesetError(ValueError):
    def __init__(self, ruleset_id: str, message: str) -> None:
        super().__init__(message)
        self.ruleset_id = ruleset_id


@dataclass(frozen=True, slots=True)
class Party:
    """Where the goods go and who takes them (ISO 3166-1 alpha-2 codes)."""

    destination: str
    headquarters: str | None = None
    parent_headquarters: str | None = None
    transaction_type: str = "export"


@dataclass(frozen=True, slots=True)
class ExceptionOut:
    code: str
    name: str
    citation: str
    notification_required: bool
    note: str | None


@dataclass(frozen=True, slots=True)
class Reason:
    ruleset_id: str
    rule_id: str
    basis: Basis
    label: str
    detail: str
    citation: str
    source_kind: str
    review_policy: str | None
    license_exceptions: tuple[ExceptionOut, ...]


@dataclass(frozen=True, slots=True)
class Licensing:
    license_required: bool
    reasons: tuple[Reason, ...]
    license_exceptions: tuple[ExceptionOut, ...]
    review_policy: str | None
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Selection:
    """The rulesets an answer uses, and what the caller should know about the choice."""

    rulesets: tuple[Ruleset, ...]
    hypothetical: bool
    warnings: tuple[str, ...]

    @property
    def refs(self) -> tuple[RulesetRef, ...]:
        return tuple(ruleset_ref(r) for r in self.rulesets)


def select(book: RuleBook, on: date, today: date, hypothetical: tuple[str, ...] = ()) -> Selection:
    """Rulesets in force on ``on``; named ``hypothetical`` ones replace their family's."""
    chosen = list(book.in_force(on))
    warnings: list[str] = []
    for ruleset_id in hypothetical:
        extra = book.ruleset(ruleset_id)
        if extra is None:
            raise RulesetError(ruleset_id, f"unknown ruleset {ruleset_id!r}")
        chosen = [r for r in chosen if r.family != extra.family] + [extra]
        state = "" if extra.enforced else " (not enforced)"
        warnings.append(f"Hypothetical: evaluated as if {extra.id}{state} applied on {on.isoformat()}.")
    if not chosen:
        warnings.append(f"No advanced-computing controls were in force on {on.isoformat()} in the reference data.")
    latest = book.latest_change()
    if on > today and latest is not None:
        warnings.append(
            f"as_of {on.isoformat()} is in the future: the latest rules known "
            f"(last change {latest.isoformat()}) are used; rules may change before then."
        )
    return Selection(tuple(chosen), bool(hypothetical), tuple(warnings))


def _exceptions(items: tuple[LicenseException, ...], metrics: Metrics, eccn: str | None) -> tuple[ExceptionOut, ...]:
    out = []
    for exc in items:
        verdict, _ = in_scope(exc.eligible, metrics, eccn)
        if verdict:
            out.append(ExceptionOut(exc.code, exc.name, exc.citation, exc.notification_required, exc.note))
    return tuple(out)


def _reasons_for(
    book: RuleBook,
    ruleset: Ruleset,
    rule: DestinationRule,
    metrics: Metrics,
    eccn: str | None,
    party: Party,
    on: date,
) -> list[Reason]:
    bases: list[tuple[Basis, str]] = []
    dest_groups = book.groups_of(party.destination, on)
    if rule.destinations and rule.destinations.contains(party.destination, dest_groups):
        bases.append(("destination", f"destination {party.destination}"))
    if rule.headquarters:
        for role, code in (("end user", party.headquarters), ("ultimate parent", party.parent_headquarters)):
            if code and rule.headquarters.contains(code, book.groups_of(code, on)):
                bases.append(("headquarters", f"{role} headquartered in {code}"))
                break
    if not bases:
        return []
    verdict, missing = in_scope(rule.items, metrics, eccn)
    if verdict is None:
        raise UndeterminedError(missing, f"{rule.id} may apply; it needs {', '.join(sorted(missing))} to decide")
    if not verdict:
        return []
    item = f"{eccn} item" if eccn and eccn in rule.items.eccns else "item meeting the rule's criteria"
    exceptions = _exceptions(rule.exceptions, metrics, eccn)
    return [
        Reason(
            ruleset_id=ruleset.id,
            rule_id=rule.id,
            basis=basis,
            label=rule.label,
            detail=f"{item}; {why}",
            citation=rule.citation,
            source_kind=ruleset.source_kind,
            review_policy=rule.review_policy,
            license_exceptions=exceptions,
        )
        for basis, why in bases
    ]


def _apply_review_policies(
    book: RuleBook,
    rulesets: tuple[Ruleset, ...],
    reasons: list[Reason],
    metrics: Metrics,
    eccn: str | None,
    party: Party,
    on: date,
) -> tuple[list[Reason], list[str]]:
    notes: list[str] = []
    groups = book.groups_of(party.destination, on)
    for ruleset in rulesets:
        for policy in ruleset.review_policies:
            if not policy.destinations.contains(party.destination, groups):
                continue
            verdict, _ = in_scope(policy.items, metrics, eccn)
            if not verdict:
                continue
            if party.transaction_type not in policy.transaction_types:
                notes.append(
                    f"{policy.label} ({policy.citation}) covers only "
                    f"{'/'.join(policy.transaction_types)} transactions; this one is a "
                    f"{party.transaction_type}, so its review policy does not change."
                )
                continue
            changed = False
            for i, reason in enumerate(reasons):
                if reason.basis in policy.bases:
                    reasons[i] = replace(reason, review_policy=policy.review_policy)
                    changed = True
            if changed:
                extra = f" Conditions: {policy.conditions_text}" if policy.conditions_text else ""
                notes.append(f"{policy.label} ({policy.citation}): review policy {policy.review_policy}.{extra}")
    return reasons, notes


def license_for(
    book: RuleBook,
    selection: Selection,
    metrics: Metrics,
    classification: Classification,
    party: Party,
    on: date,
) -> Licensing:
    """The licence picture for one item to one party on one date."""
    eccn = classification.eccn
    # A ruleset that classifies reads its own ECCN: the October 2022 China rule reaches only
    # what the 2022 clauses control, not what a concurrent (e.g. early-effect) ruleset does.
    # Rulesets without clauses (letters, AI Diffusion) read the overall classification.
    own = {r.ruleset.id: r.eccn for r in classification.rulesets}
    reasons: list[Reason] = []
    for ruleset in selection.rulesets:
        ruleset_eccn = own.get(ruleset.id, eccn) if ruleset.clauses else eccn
        for rule in ruleset.destination_rules:
            reasons.extend(_reasons_for(book, ruleset, rule, metrics, ruleset_eccn, party, on))
    reasons, warnings = _apply_review_policies(book, selection.rulesets, reasons, metrics, eccn, party, on)
    for reason in reasons:
        if reason.source_kind != "regulation":
            warnings.append(
                f"{reason.rule_id} rests on a {reason.source_kind.replace('_', ' ')} source, "
                "not published regulation text: verify before relying on it."
            )
    # an exception helps only if it covers every reason; where reasons differ on notification
    # (NAC to a D:1 destination for a D:5-headquartered buyer, before ACA), notification wins
    common: tuple[ExceptionOut, ...] = ()
    if reasons:
        codes = set.intersection(*({e.code for e in r.license_exceptions} for r in reasons))
        common = tuple(
            replace(
                e,
                notification_required=any(
                    x.notification_required for r in reasons for x in r.license_exceptions if x.code == e.code
                ),
            )
            for e in reasons[0].license_exceptions
            if e.code in codes
        )
    order = book.definitions.review_policy_order
    policies = [r.review_policy for r in reasons if r.review_policy]
    policy = min(policies, key=lambda p: order.index(p) if p in order else len(order)) if policies else None
    return Licensing(
        license_required=bool(reasons),
        reasons=tuple(reasons),
        license_exceptions=common,
        review_policy=policy,
        warnings=tuple(dict.fromkeys(warnings)),
    )


def destination_warnings(
    book: RuleBook, party: Party, original: str, alias: CountryAlias | None, on: date
) -> tuple[str, ...]:
    """Advisories on the destination (hubs, embargoes, local permits) and alias notes."""
    out: list[str] = []
    if alias is not None:
        out.append(
            f"{alias.country} is treated as {alias.treated_as} for the EAR since "
            f"{alias.effective_from.isoformat()} ({alias.citation.source})."
        )
    groups = book.groups_of(party.destination, on)
    for adv in book.advisories:
        if adv.effective_from is not None and on < adv.effective_from:
            continue
        if original in adv.countries or party.destination in adv.countries or groups.intersection(adv.groups):
            kind = "" if adv.citation.source_kind == "regulation" else f" [{adv.citation.source_kind}]"
            out.append(f"{adv.text} ({adv.citation.source}){kind}")
    return tuple(out)


def classify_and_license(
    book: RuleBook, selection: Selection, metrics: Metrics, party: Party, on: date
) -> tuple[Classification, Licensing]:
    classification = classify(metrics, selection.rulesets, book.definitions)
    return classification, license_for(book, selection, metrics, classification, party, on)
