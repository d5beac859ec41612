#!/usr/bin/env python3
# ruff: noqa: S603, S607  (a benchmark driver: runs git, pip and its own servers)
"""A/B: one endpoint of chipclass at another commit against this checkout, alternating, same load.

    .venv/bin/python bench/ab.py HEAD~1                      # stored screenings (the default row)
    .venv/bin/python bench/ab.py v0.1 --row classification --rounds 5 --seconds 10
    .venv/bin/python bench/ab.py HEAD~1 --postgres postgresql://postgres@127.0.0.1:5432/postgres

The commit is checked out into a temporary git worktree with its own venv (pip's cache makes that
quick), both servers run on their own empty database (SQLite, or with ``--postgres`` a fresh
PostgreSQL database each) pinned to core 0 with ``wrk -t1 -c50`` on core 1 (as ``bench/bench.py``),
and each round measures base then this checkout. It prints every run and the medians: requests per
second and server CPU per request. What a change costs or saves is the difference in one run, not
against figures taken earlier on a machine whose load moves them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # the same drivers, scripts and bodies

ROWS = {
    "screening": ("POST", "/v1/screenings", bench.SCREENING),
    "spec": ("POST", "/v1/classifications", {"spec": bench.SPEC}),
    "classification": ("GET", f"/v1/accelerators/{bench.ITEM}/classification?as_of=2026-01-20", None),
    "healthz": ("GET", "/healthz", None),
}


def checkout(rev: str, where: Path) -> Path:
    """A worktree of ``rev`` with the project installed in its own venv; returns its bin directory."""
    subprocess.run(["git", "-C", str(bench.ROOT), "worktree", "add", "--detach", str(where), rev], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(where / ".venv")], check=True)
    subprocess.run([str(where / ".venv/bin/pip"), "install", "-q", "-e", str(where)], check=True)
    return where / ".venv/bin"


def fresh_database(server_url: str, name: str) -> str:
    """An empty database ``chipclass_ab_<name>`` on that PostgreSQL server; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    database = f"chipclass_ab_{name}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="the commit to compare with (anything git rev-parse takes)")
    ap.add_argument("--row", choices=sorted(ROWS), default="screening")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL server's URL: each side gets a fresh database there"
    )
    args = ap.parse_args()
    method, path, body = ROWS[args.row]
    work = Path(tempfile.mkdtemp(prefix="chipclass-ab-"))
    key = "cc_bench_" + os.urandom(24).hex()
    auth = {"Authorization": f"Bearer {key}"}
    script = bench.lua_script(work, args.row, method, auth, body)
    base_tree = work / "base"
    try:
        bins = {"base": checkout(args.base, base_tree), "this": bench.BIN}
        servers = {}
        for name, bin_dir in bins.items():
            env = {
                **os.environ,
                "CHIPCLASS_DATABASE_URL": fresh_database(args.postgres, name)
                if args.postgres
                else f"sqlite:///{work}/{name}.db",
                "CHIPCLASS_BOOTSTRAP_ADMIN_KEY": key,
                "CHIPCLASS_LOG_LEVEL": "WARNING",
            }
            argv = [str(bin_dir / "chipclass"), "serve", "--port", "{port}"]
            servers[name] = bench.Server(name, argv, env, bench.SERVER_CORE, "/readyz", work / f"{name}.log")
        with bench.running(servers["base"]), bench.running(servers["this"]):
            for server in servers.values():  # warm-up: memoised lines, prepared answers
                bench.wrk(server.base + path, script, 2, args.connections)
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, server in servers.items():
                    pids = server.workers()
                    cpu0 = bench.cpu_seconds(pids)
                    run = bench.wrk(server.base + path, script, args.seconds, args.connections)
                    cpu_us = (bench.cpu_seconds(pids) - cpu0) / run.requests * 1e6
                    runs[name].append((run.rps, cpu_us))
                    print(
                        f"{name:<5} {run.rps:>9,.0f} req/s  p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:6.1f} ms  "
                        f"CPU {cpu_us:6.0f} us/request",
                        flush=True,
                    )
        med = {n: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for n, v in runs.items()}
        print(f"\n{args.row}: {method} {path}, {args.rounds} rounds x {args.seconds:g} s, medians")
        for name, (rps, cpu) in med.items():
            print(f"  {name:<5} {rps:>9,.0f} req/s  {cpu:6.0f} us CPU/request")
        (b_rps, b_cpu), (t_rps, t_cpu) = med["base"], med["this"]
        print(f"  this / base: {t_rps / b_rps:.3f}x req/s, {t_cpu / b_cpu:.3f}x CPU per request")
    finally:
        subprocess.run(["git", "-C", str(bench.ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
