#!/usr/bin/env python3
# ruff: noqa: S603  (a benchmark driver: starts its own server)
"""How long the officer's page takes to show the chip page and the chart, in Debian's Chromium.

    .venv/bin/python bench/ui_timings.py [--runs 7]

Starts `chipclass serve` on a fresh SQLite file and a free port, signs in once (key kept in the
tab's session storage), then for each page loads it `--runs` times, each a full navigation (a new
document: HTML, CSS, the vendored libraries revalidated, the key's scopes and every API call the
view makes). A page's time is from navigation start to the view marking itself ready
(`main[data-ready]`, set once its tables and charts are in the document), read from the page's own
`performance.now()`. Prints median, min and max in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

KEY = "cc_benchui_" + "k" * 40
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = {
    "chip page (H100, today)": ("#/chip/nvidia-h100-sxm5-80gb", "chip"),
    "chart (2024-06-01)": ("#/chart?date=2024-06-01", "chart"),
    "chart (2022-11-01)": ("#/chart?date=2022-11-01", "chart"),
    "catalog": ("#/catalog", "catalog"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ui-timings-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIPCLASS_")}
    env |= {
        "CHIPCLASS_DATABASE_URL": f"sqlite:///{work / 'ui.db'}",
        "CHIPCLASS_BOOTSTRAP_ADMIN_KEY": KEY,
        "CHIPCLASS_PORT": str(port),
        "CHIPCLASS_LOG_LEVEL": "WARNING",
    }
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("chipclass")), "serve"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/ui")
            page.get_by_label("API key").fill(KEY)
            page.get_by_label("Keep me signed in").check()
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("main[data-ready=catalog]")
            print(f"{'page':28} {'median ms':>9} {'min':>6} {'max':>6}   ({args.runs} full loads each)")
            for name, (route, view) in PAGES.items():
                times = []
                for _ in range(args.runs + 1):  # the first load warms the server's caches: not counted
                    page.goto("about:blank")
                    page.goto(f"{base}/ui{route}")
                    page.wait_for_selector(f"main[data-ready={view}]", timeout=30_000)
                    times.append(float(page.get_attribute("main", "data-ready-at") or "nan"))
                times = times[1:]
                print(f"{name:28} {statistics.median(times):9.0f} {min(times):6.0f} {max(times):6.0f}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
