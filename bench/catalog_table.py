# ruff: noqa: S603, S310  (a report driver: starts a local service and fetches from it)
"""The catalog table from a running service: id, ECCN, TPP, PD, US-available, to CN today.

Everything comes from the HTTP API: the catalog (GET /v1/accelerators, all pages) and one
screening of every item to a company located and headquartered in China today (POST
/v1/screenings, as a hypothetical-free order so it is the answer an order desk would get).

    .venv/bin/python bench/catalog_table.py                  # starts its own service (temp SQLite)
    .venv/bin/python bench/catalog_table.py --url URL --key KEY   # against a running one

Columns: ECCN and TPP/PD as the screening line classifies them today ("?" marks an answer a ranged
figure decides; the line then shows the most restrictive outcome), US-available from the catalog's
dated fact, and "to CN today" = licence required?, review policy, exceptions.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(base: str, key: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


@contextmanager
def service() -> Iterator[tuple[str, str]]:
    """A throw-away service on a free port with a fresh SQLite database (migrated and seeded on start)."""
    work = Path(tempfile.mkdtemp(prefix="chipclass-table-"))
    key = "cc_table_" + os.urandom(24).hex()
    port = free_port()
    env = {
        **os.environ,
        "CHIPCLASS_DATABASE_URL": f"sqlite:///{work}/table.db",
        "CHIPCLASS_BOOTSTRAP_ADMIN_KEY": key,
        "CHIPCLASS_LOG_LEVEL": "WARNING",
    }
    log = (work / "service.log").open("ab")
    proc = subprocess.Popen(
        [str(BIN / "chipclass"), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"service exited with {proc.returncode}; see {work / 'service.log'}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"service not ready; see {work / 'service.log'}")
            time.sleep(0.2)
        yield base, key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def catalog(base: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = call(base, key, "GET", "/v1/accelerators?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def num(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def to_cn(line: dict[str, Any]) -> str:
    if not line["license_required"]:
        text = "no licence"
    else:
        codes = "/".join(e["code"] for e in line["license_exceptions"])
        text = f"licence, {line['review_policy'] or 'policy not published'}" + (f", {codes}" if codes else "")
    return text if line.get("determined", True) else text + " (range decides)"


def table(base: str, key: str) -> str:
    items = catalog(base, key)
    order = {
        "destination": "CN",
        "end_user": {"name": "Example Beijing Co., Ltd.", "headquarters": "CN"},
        "reference": "catalog table",
        "lines": [{"key": i["id"], "accelerator_id": i["id"], "quantity": 1} for i in items],
    }
    screening = call(base, key, "POST", "/v1/screenings", order)
    lines = {line["key"]: line for line in screening["lines"]}
    head = ("id", "ECCN", "TPP", "PD", "US-available", "to CN today")
    rows = []
    for item in items:
        line = lines[item["id"]]
        c = line["classification"]
        mark = "" if line.get("determined", True) else "?"
        analysis = line.get("range_analysis") or {}
        tpp = c["tpp"]["value"] if c["tpp"] else None
        pd = c["performance_density"]
        if analysis.get("tpp_min") is not None and analysis["tpp_min"] != analysis["tpp_max"]:
            tpp_text = f"{num(analysis['tpp_min'])}-{num(analysis['tpp_max'])}"
        else:
            tpp_text = num(tpp) if tpp is not None else "-"
        if analysis.get("performance_density_min") is not None and (
            analysis["performance_density_min"] != analysis["performance_density_max"]
        ):
            pd_text = f"{analysis['performance_density_min']:.2f}-{analysis['performance_density_max']:.2f}"
        else:
            pd_text = f"{pd:.2f}" if pd is not None else "-"
        us = item.get("us_available")
        us_text = ("yes" if us["value"] else "no") + f" ({us['as_of']})" if us else "not recorded"
        rows.append((item["id"], (c["eccn"] or "not 3A090") + mark, tpp_text, pd_text, us_text, to_cn(line)))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    out = [
        f"Catalog table, data {screening['provenance']['data_version']}, as of {screening['provenance']['as_of']}",
        "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    out.append(f"{len(rows)} items; '?' = a ranged figure decides (most restrictive outcome shown)")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="A running service (default: start one)")
    parser.add_argument("--key", help="An API key with read and screen scopes (with --url)")
    args = parser.parse_args()
    if args.url:
        if not args.key:
            parser.error("--key is required with --url")
        print(table(args.url.rstrip("/"), args.key))
        return 0
    with service() as (base, key):
        print(table(base, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
