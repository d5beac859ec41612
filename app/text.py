"""Free text a client sends: names, references, line keys, titles and notes.

None of it may carry control characters (NUL, CR/LF, tab, DEL, C1) or bidirectional overrides:
a NUL cannot be stored by PostgreSQL, CR/LF forge lines in logs and exports, and bidi controls make
a name read differently from what it is (CVE-2021-42574). Such a value is a 422 naming the
character, on every engine, before anything reaches the database. The schema publishes the rule
as a pattern.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator

# C0 and C1 controls, DEL, the Arabic letter mark, LRM/RLM, embeddings/overrides and isolates
CONTROLS = "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
_FOUND = re.compile(f"[{CONTROLS}]")
NO_CONTROLS = f"^[^{CONTROLS}]*$"
NOT_BLANK_NO_CONTROLS = f"^[^{CONTROLS}]*[^\\s{CONTROLS}][^{CONTROLS}]*$"


def no_controls(value: Any) -> Any:
    """Refuse a string holding a control or bidi character, naming it (a friendlier message than
    the pattern's; the pattern stays in the schema)."""
    if isinstance(value, str):
        found = _FOUND.search(value)
        if found is not None:
            raise ValueError(
                f"must not contain control or bidirectional-override characters "
                f"(U+{ord(found.group()):04X} at position {found.start()})"
            )
    return value


NoControls = BeforeValidator(no_controls)
"""Put before a string's StringConstraints(..., pattern=NO_CONTROLS): the same rule, a clear message."""
