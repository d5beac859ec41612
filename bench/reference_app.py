"""The bare FastAPI reference the benchmark measures chipclass against (issue 14).

One ``async def`` GET returning a small dict, and one POST taking a pydantic-validated one-line
order (destination, end user, a line with a spec) and returning a small dict. Run on the same
uvicorn as chipclass (uvloop, httptools, no access log) by ``bench/bench.py``.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


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


app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/orders")
async def order(body: Order) -> dict[str, object]:
    return {"destination": body.destination, "lines": len(body.lines), "ok": True}
