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
    CountryAlias,
    CountrySet,
    DestinationRule,
    LicenseException,
    ReviewPolicyRule,
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
from app.vocabulary import Basis, TransactionType

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
    transaction_type: TransactionType = "export"


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
    section: str | None = None
    review_conditions: tuple[str, ...] = ()


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
    if not any(r.clauses for r in chosen):
        warnings.append(f"No 3A090 control was in force on {on.isoformat()} in the reference data.")
    latest = book.latest_change()
    if on > today and latest is not None:
        warnings.append(
            f"as_of {on.isoformat()} is in the future: the latest rules known "
            f"(last change {latest.isoformat()}) are used; rules may change before then."
        )
    return Selection(tuple(chosen), bool(hypothetical), tuple(warnings))


def _headquartered_in(book: RuleBook, where: CountrySet, party: Party, on: date) -> str | None:
    """The role ("end user", "ultimate parent") headquartered in ``where``, if any."""
    for role, code in (("end user", party.headquarters), ("ultimate parent", party.parent_headquarters)):
        if code and where.contains(code, book.groups_of(code, on)):
            return f"{role} headquartered in {code}"
    return None


def _exceptions(
    book: RuleBook,
    items: tuple[LicenseException, ...],
    metrics: Metrics,
    eccn: str | None,
    party: Party,
    on: date,
) -> tuple[ExceptionOut, ...]:
    out = []
    for exc in items:
        if party.transaction_type not in exc.transaction_types:
            continue
        if exc.headquarters is not None and _headquartered_in(book, exc.headquarters, party, on) is None:
            continue
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
) -> tuple[list[Reason], list[str]]:
    bases: list[tuple[Basis, str]] = []
    notes: list[str] = []
    dest_groups = book.groups_of(party.destination, on)
    if rule.destinations and rule.destinations.contains(party.destination, dest_groups):
        embargo = "embargoed " if rule.destination_basis == "embargo" else ""
        bases.append((rule.destination_basis, f"{embargo}destination {party.destination}"))
    if rule.headquarters:
        why = _headquartered_in(book, rule.headquarters, party, on)
        located = rule.headquarters_located
        if why and located is not None and not located.contains(party.destination, dest_groups):
            notes.append(
                f"{rule.id} does not apply: its headquarters basis reaches only entities located outside "
                f"{', '.join(located.except_countries) or 'the listed places'}, and this one is in "
                f"{party.destination} ({rule.citation})."
            )
        elif why:
            bases.append(("headquarters", why))
    if not bases:
        # say why the headquarters basis was left out only where it would otherwise have applied
        return [], notes if notes and in_scope(rule.items, metrics, eccn)[0] else []
    verdict, missing = in_scope(rule.items, metrics, eccn)
    if verdict is None:
        raise UndeterminedError(missing, f"{rule.id} may apply; it needs {', '.join(sorted(missing))} to decide")
    if not verdict:
        return [], []
    if rule.items.all_items:
        item = "any item subject to the EAR"
    elif eccn and eccn in rule.items.eccns:
        item = f"{eccn} item"
    else:
        item = "item meeting the rule's criteria"
    if rule.compliance_from is not None and on < rule.compliance_from:
        notes.append(
            f"{rule.id} is in effect but compliance is required only from {rule.compliance_from.isoformat()} "
            f"({rule.citation}); the requirement is shown so that nothing shipped now is missed."
        )
    exceptions = _exceptions(book, rule.exceptions, metrics, eccn, party, on)
    reasons = [
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
            section=rule.section,
        )
        for basis, why in bases
    ]
    return reasons, notes


def _conditions_text(policy: ReviewPolicyRule) -> str:
    if policy.conditions:
        listed = "; ".join(
            f"({i}) {c.text}" + ("" if c.source_kind == "regulation" else f" [{c.source_kind}: {c.source}]")
            for i, c in enumerate(policy.conditions, 1)
        )
        return f" Conditions: {listed}."
    return f" Conditions: {policy.conditions_text}" if policy.conditions_text else ""


def _us_availability_note(policy: ReviewPolicyRule, metrics: Metrics) -> str | None:
    """Why a policy limited to items available in the US does not apply; None when it may."""
    day = policy.us_available_on
    if day is None:
        return None
    fact = metrics.spec.us_available
    known = fact.on(day) if fact is not None else None
    if known is True:
        return None
    where = f" ({fact.source})" if fact is not None and fact.source else ""
    if known is False:
        state = f"the item was not commercially available in the United States on {day.isoformat()}{where}"
    else:
        state = f"the item's commercial availability in the United States on {day.isoformat()} is not known{where}"
    return f"{policy.label} ({policy.citation}) does not apply: {state}, so the review policy does not change."


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
            targets = [
                i
                for i, r in enumerate(reasons)
                if r.basis in policy.bases and (not policy.sections or r.section in policy.sections)
            ]
            if not targets:
                continue
            verdict, missing = in_scope(policy.items, metrics, eccn)
            if verdict is None:
                notes.append(
                    f"{policy.label} ({policy.citation}) cannot be applied without "
                    f"{', '.join(sorted(missing))}, so the review policy does not change."
                )
                continue
            if not verdict:
                continue
            if party.transaction_type not in policy.transaction_types:
                notes.append(
                    f"{policy.label} ({policy.citation}) covers only "
                    f"{'/'.join(policy.transaction_types)} transactions; this one is a "
                    f"{party.transaction_type}, so its review policy does not change."
                )
                continue
            unavailable = _us_availability_note(policy, metrics)
            if unavailable is not None:
                notes.append(unavailable)
                continue
            conditions = tuple(c.text for c in policy.conditions)
            for i in targets:
                reasons[i] = replace(reasons[i], review_policy=policy.review_policy, review_conditions=conditions)
            notes.append(
                f"{policy.label} ({policy.citation}): review policy {policy.review_policy}.{_conditions_text(policy)}"
            )
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
    # Rulesets without clauses (letters, AI Diffusion) are not in `own` and read the overall classification.
    own = {r.ruleset.id: r.eccn for r in classification.rulesets}
    reasons: list[Reason] = []
    notes: list[str] = []
    for ruleset in selection.rulesets:
        ruleset_eccn = own.get(ruleset.id, eccn)
        for rule in ruleset.destination_rules:
            found, why = _reasons_for(book, ruleset, rule, metrics, ruleset_eccn, party, on)
            reasons.extend(found)
            notes.extend(why)
    reasons, warnings = _apply_review_policies(book, selection.rulesets, reasons, metrics, eccn, party, on)
    warnings = notes + warnings
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
    policy, unknown = strictest_policy(book.definitions.review_policy_order, reasons)
    warnings.extend(
        f"Review policy {p!r} is not one the rules rank; it is treated as the most restrictive: "
        "check the ruleset that sets it."
        for p in unknown
    )
    return Licensing(
        license_required=bool(reasons),
        reasons=tuple(reasons),
        license_exceptions=common,
        review_policy=policy,
        warnings=tuple(dict.fromkeys(warnings)),
    )


def strictest_policy(order: tuple[str, ...], reasons: list[Reason]) -> tuple[str | None, list[str]]:
    """The most restrictive review policy among the reasons, and the ones the ranking lacks.

    Defence in depth: a policy the ranking does not know ranks above every known one, so a
    typo can never make an answer less restrictive (validation refuses such documents first).
    """
    policies = [r.review_policy for r in reasons if r.review_policy]
    unknown = sorted({p for p in policies if p not in order})
    if unknown:
        return unknown[0], unknown
    return (min(policies, key=order.index) if policies else None), []


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


def item_warnings(book: RuleBook, accelerator_id: str | None, on: date) -> tuple[str, ...]:
    """Advisories on named catalog items, whatever the destination (e.g. General Prohibition 10)."""
    if accelerator_id is None:
        return ()
    out = []
    for adv in book.advisories:
        if accelerator_id in adv.accelerators and (adv.effective_from is None or on >= adv.effective_from):
            kind = "" if adv.citation.source_kind == "regulation" else f" [{adv.citation.source_kind}]"
            out.append(f"{adv.text} ({adv.citation.source}){kind}")
    return tuple(out)


def classify_and_license(
    book: RuleBook, selection: Selection, metrics: Metrics, party: Party, on: date
) -> tuple[Classification, Licensing]:
    classification = classify(metrics, selection.rulesets, book.definitions)
    return classification, license_for(book, selection, metrics, classification, party, on)
