"""A review policy scoped by ECCN rewrites the review policy only for items of that ECCN.

No shipped policy is scoped by ECCN today (the 2026 China band is scoped by TPP and bandwidth), so
this runs on the shipped rule book with that one policy re-scoped to 3A090.a items: an engine
feature tested on a fixture, apart from the regulatory data."""

from __future__ import annotations

from datetime import date

import pytest

from app.regulations import loader
from app.rules import licensing, metrics
from app.rules.book import RuleBook, Spec
from app.rules.classify import UndeterminedError
from app.rules.licensing import Party

ON = date(2026, 2, 2)
POLICY = "china-review-band-2026"


@pytest.fixture(scope="module")
def eccn_scoped_book(files: loader.ReferenceFiles) -> RuleBook:
    docs = []
    for doc in files.rulesets:
        data = doc.model_dump(mode="json")
        for policy in data.get("review_policies") or []:
            if policy["id"] == POLICY:
                policy["items"] = {"eccns": ["3A090.a"]}
                policy["us_available_on"] = None
        docs.append(type(doc).model_validate(data))
    return loader.build_book(files, docs, files.group_changes, "fixture")


def policy_of(book: RuleBook, spec: Spec) -> tuple[str | None, str | None]:
    selection = licensing.select(book, ON, ON)
    c, lic = licensing.classify_and_license(
        book, selection, metrics.compute(spec, book.definitions.bit_lengths), Party("CN"), ON
    )
    return c.eccn, lic.review_policy


def test_a_policy_scoped_to_3a090a_rewrites_the_review_policy_of_a_3a090a_item(
    eccn_scoped_book: RuleBook, catalog: dict[str, Spec]
) -> None:
    eccn, policy = policy_of(eccn_scoped_book, catalog["nvidia-h100-sxm5-80gb"])
    assert eccn == "3A090.a"
    assert policy is not None and policy.startswith("case-by-case if the listed conditions are met"), policy


def test_a_policy_scoped_to_3a090a_leaves_other_items_alone(
    eccn_scoped_book: RuleBook, catalog: dict[str, Spec]
) -> None:
    checked = []
    for product, spec in catalog.items():
        try:
            eccn, policy = policy_of(eccn_scoped_book, spec)
        except UndeterminedError:
            continue  # a catalog figure is a range the rules cannot decide on: not this test's subject
        if eccn != "3A090.a" and policy is not None:
            checked.append(product)
            assert not policy.startswith("case-by-case if the listed"), (product, eccn, policy)
    assert checked, "no item outside 3A090.a needed a licence to CN: the test would prove nothing"
