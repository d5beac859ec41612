"""Hash-chained records hash canonical JSON; the fast (orjson) form must be the same bytes as the
standard library's, or old records and replays would stop matching."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.canonical import canonical, canonical_plain

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@given(plain)
@settings(max_examples=400, deadline=None)
def test_the_fast_canonical_form_is_byte_identical_to_the_standard_one(value: Any) -> None:
    assert canonical_plain(value) == canonical(value)


def test_control_characters_quotes_and_non_ascii_match() -> None:
    value = {"z": '\x00\x1f\x7f\u2028"\\/é漢🙂', "a": [2**70, -(2**63), True, None], "\ud800": "lone"}
    assert canonical_plain(value) == canonical(value)
