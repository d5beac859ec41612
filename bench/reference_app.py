"""The bare FastAPI reference the benchmark measures chipclass against (issue 14).

One ``async def`` GET returning a small dict, and one POST taking a pydantic-validated one-line
order (destination, end user, a line with a spec) and returning a small dict. Run on the same
uvicorn as chipclass (uvloop, httptools, no access log) by ``bench/bench.py``.

It runs the same event-loop lag probe as chipclass (a task sleeping 10 ms again and again and
noting how late it wakes; ``CHIPCLASS_LOOP_LAG_PROBE_MS``), read and reset through ``GET /lag``: a
saturated loop on a shared core is late now and then with no stall in the code at all, and the bare
app's figure in the same run says how often.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

PROBE_S = 0.010
STALL_S = 0.020
late: list[float] = []


async def probe() -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(PROBE_S)
        late.append(max(0.0, loop.time() - start - PROBE_S))


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(probe())
    yield
    task.cancel()


class Throughput(BaseModel):
    precision: str
    dense_tops: float


class Spec(BaseModel):
    throughput: list[Throughput]
    die_area_mm2: float | None = None
    datacenter: bool | None = None


class EndUser(BaseModel):
    name: str
    headquarters: str | None = None
    parent_headquarters: str | None = None


class Line(BaseModel):
    key: str
    quantity: int
    spec: Spec


class Order(BaseModel):
    destination: str
    end_user: EndUser
    lines: list[Line]


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/orders")
async def order(body: Order) -> dict[str, object]:
    return {"destination": body.destination, "lines": len(body.lines), "ok": True}


@app.get("/lag")
async def lag() -> dict[str, float]:
    """Probes since the last call, how many woke more than 20 ms late, and the worst (then reset)."""
    out = {"probes": len(late), "late": sum(x > STALL_S for x in late), "worst_ms": max(late, default=0.0) * 1000}
    late.clear()
    return out
