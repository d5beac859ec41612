"""Impact analysis timing: the whole catalog x every ISO country x the buyer profiles, both sides.

Runs the same comparison POST /v1/impact makes (without HTTP and database) for three proposals
on the shipped data: the 2025-04-09 letters ruleset replayed, the 2026-02-03 Cambodia change,
and a no-op. Prints wall and CPU time (best of RUNS, each on fresh rule books so nothing is
memoised from a previous run). Pin it to one core for the figure the README quotes:

    taskset -c 0 .venv/bin/python bench/impact.py        (RUNS=5 by default)
"""

from __future__ import annotations

import os
import time
from datetime import date

from app.catalog.service import spec_from_record
from app.impact import service
from app.regulations import loader
from app.rules import impact

RUNS = int(os.environ.get("RUNS", "5"))
FILES = loader.read_reference_files()
SPECS = {a.id: spec_from_record(a) for a in FILES.accelerators}


def case_letters() -> tuple[impact.Side, impact.Side]:
    on = date(2025, 4, 9)
    without = [d for d in FILES.rulesets if d.id != "bandwidth-letters-2025-04-09"]
    before = loader.build_book(FILES, without, FILES.group_changes, "before")
    after = loader.build_book(FILES, FILES.rulesets, FILES.group_changes, "after")
    return impact.Side(before, on, SPECS), impact.Side(after, on, SPECS)


def case_cambodia() -> tuple[impact.Side, impact.Side]:
    on = date(2026, 2, 3)
    without = [c for c in FILES.group_changes if c.country != "KH"]
    before = loader.build_book(FILES, FILES.rulesets, without, "before")
    after = loader.build_book(FILES, FILES.rulesets, FILES.group_changes, "after")
    return impact.Side(before, on, SPECS), impact.Side(after, on, SPECS)


def case_noop() -> tuple[impact.Side, impact.Side]:
    book = loader.build_book(FILES, FILES.rulesets, FILES.group_changes, "same")
    fresh = loader.build_book(FILES, FILES.rulesets, FILES.group_changes, "same")
    return impact.Side(book, date(2026, 3, 1), SPECS), impact.Side(fresh, date(2026, 3, 1), SPECS)


def main() -> None:
    print(f"catalog {len(SPECS)} items x {len(loader.COUNTRY_NAMES)} countries; best of {RUNS} runs")
    for name, case in (
        ("letters 2025-04-09", case_letters),
        ("Cambodia 2026-02-03", case_cambodia),
        ("no-op", case_noop),
    ):
        walls, cpus = [], []
        for _ in range(RUNS):
            before, after = case()
            wall, cpu = time.perf_counter(), time.process_time()
            result = impact.compare(before, after, loader.COUNTRY_NAMES)
            service.to_result(result)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        print(
            f"{name:22} {len(result.profiles):2} profiles  {result.evaluations:6} engine runs  "
            f"{len(result.differences):4} differences  wall {min(walls):.3f} s  cpu {min(cpus):.3f} s"
        )


if __name__ == "__main__":
    main()
