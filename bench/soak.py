"""Soak: drive a real `chipclass serve` with mixed traffic and report RSS growth, error counts and p99.

    .venv/bin/python bench/soak.py                 # 10 minutes (the full drill)
    SOAK_SECONDS=45 .venv/bin/python bench/soak.py # the short form .ci/faults.sh runs

SOAK_DATABASE_URL=postgresql://... soaks on PostgreSQL (default: a fresh SQLite file). Traffic, from
SOAK_CONCURRENCY (16) clients: catalog classifications, spec classifications, screenings with their
own Idempotency-Key, replays of an earlier key, and conflicting reuses (422). Exits 1 on any 5xx or
dropped connection, or when RSS grew by more than SOAK_MAX_RSS_GROWTH_MB (64) after the warm-up.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "cc_soakadmin_" + "s" * 40
IDS = ["nvidia-h100-sxm5-80gb", "nvidia-h20-96gb", "nvidia-l4-24gb", "nvidia-geforce-rtx-4090", "amd-instinct-mi300x"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def screening(n: int, dest: str = "SG") -> dict[str, object]:
    return {
        "destination": dest,
        "end_user": {"name": f"Soak customer {n % 50}"},
        "lines": [{"key": str(i), "accelerator_id": IDS[(n + i) % len(IDS)], "quantity": 1 + i} for i in range(2)],
    }


async def client(base: str, deadline: float, seed: int, counts: Counter[str], latencies: list[float]) -> None:
    rng = random.Random(seed)
    n = 0
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30) as c:
        while time.monotonic() < deadline:
            n += 1
            pick = rng.random()
            start = time.perf_counter()
            try:
                if pick < 0.4:
                    r = await c.get(f"/v1/accelerators/{rng.choice(IDS)}/classification")
                elif pick < 0.6:
                    spec = {
                        "throughput": [{"precision": "fp16", "dense_tops": rng.randint(50, 2000)}],
                        "datacenter": True,
                    }
                    r = await c.post("/v1/classifications", json={"spec": {**spec, "die_area_mm2": 800}})
                elif pick < 0.9:
                    r = await c.post("/v1/screenings", json=screening(n), headers={"Idempotency-Key": f"{seed}-{n}"})
                elif pick < 0.95:  # a retry of an earlier screening: replayed
                    m = max(1, n - 1)
                    r = await c.post("/v1/screenings", json=screening(m), headers={"Idempotency-Key": f"{seed}-{m}"})
                else:  # the same key with another body: 422 for this client only
                    r = await c.post(
                        "/v1/screenings", json=screening(n, "DE"), headers={"Idempotency-Key": f"{seed}-1"}
                    )
                counts[str(r.status_code)] += 1
            except httpx.TransportError as exc:
                counts[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - start)


def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    concurrency = int(os.environ.get("SOAK_CONCURRENCY", "16"))
    max_growth = float(os.environ.get("SOAK_MAX_RSS_GROWTH_MB", "64"))
    tmp = tempfile.mkdtemp(prefix="chipclass-soak-")
    url = os.environ.get("SOAK_DATABASE_URL") or f"sqlite:///{tmp}/soak.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIPCLASS_")}
    env.update(
        CHIPCLASS_DATABASE_URL=url,
        CHIPCLASS_BOOTSTRAP_ADMIN_KEY=ADMIN,
        CHIPCLASS_PORT=str(port),
        CHIPCLASS_LOG_LEVEL="WARNING",
    )
    log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 (open for the server's lifetime)
    server = subprocess.Popen(  # noqa: S603 (our own console script)
        [str(Path(sys.executable).with_name("chipclass")), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            print("soak: the server never became ready", file=sys.stderr)
            return 1
        counts: Counter[str] = Counter()
        latencies: list[float] = []
        warmup = min(10.0, seconds / 6)

        async def run() -> tuple[float, float, list[tuple[float, float, int]]]:
            start = time.monotonic()
            deadline = start + seconds
            tasks = [asyncio.create_task(client(base, deadline, i, counts, latencies)) for i in range(concurrency)]
            samples: list[tuple[float, float, int]] = []
            base_rss = rss_mb(server.pid)
            while time.monotonic() < deadline:
                await asyncio.sleep(min(5.0, max(0.5, seconds / 12)))
                elapsed = time.monotonic() - start
                samples.append((elapsed, rss_mb(server.pid), sum(counts.values())))
                print(f"  t={elapsed:6.1f}s  rss={samples[-1][1]:7.1f} MB  requests={samples[-1][2]}", flush=True)
            await asyncio.gather(*tasks)
            after_warmup = [s for s in samples if s[0] >= warmup] or samples
            return after_warmup[0][1] if after_warmup else base_rss, rss_mb(server.pid), samples

        rss_start, rss_end, _ = asyncio.run(run())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        log.close()
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000 if ordered else float("nan")
    p99 = ordered[int(len(ordered) * 0.99)] * 1000 if ordered else float("nan")
    bad = {k: v for k, v in counts.items() if k[0] not in "24"}
    total = sum(counts.values())
    print(
        f"soak {seconds:.0f}s x {concurrency} clients: {total} requests ({total / seconds:.0f}/s), "
        f"statuses {dict(sorted(counts.items()))}"
    )
    print(f"  RSS after warm-up {rss_start:.1f} MB -> end {rss_end:.1f} MB: growth {rss_end - rss_start:+.1f} MB")
    print(f"  latency p50 {p50:.1f} ms, p99 {p99:.1f} ms; errors (5xx or dropped): {sum(bad.values())}")
    if bad:
        print(f"soak FAILED: errors {bad} (server log: {tmp}/server.log)", file=sys.stderr)
        return 1
    if rss_end - rss_start > max_growth:
        print(f"soak FAILED: RSS grew {rss_end - rss_start:.1f} MB (limit {max_growth} MB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
