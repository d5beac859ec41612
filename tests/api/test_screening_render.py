"""A screening's JSON is assembled from lines serialised once each; it must be exactly what pydantic
would write for the whole answer (the stored decision and its replay are these bytes)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.screening import service
from app.screening.schemas import ScreeningRequest, ScreeningResponse

H100 = "nvidia-h100-sxm5-80gb"
SPEC = {
    "throughput": [{"precision": "fp16", "dense_tops": 296, "sparse": True}],
    "die_area_mm2": 814,
    "datacenter": True,
    "memory_bandwidth_gbps": 4000,
    "interconnect_bandwidth_gbps": 900,
}


def test_an_assembled_screening_is_byte_identical_to_pydantic_serialisation(client: TestClient) -> None:
    snap = client.app.state.store.current
    ids = list(snap.catalog.entries)[:7]
    lines = [
        {"key": f'k{i} "quoted" ünï\\code \u2028', "accelerator_id": ids[i % 7], "quantity": i + 1} for i in range(40)
    ]
    lines += [{"key": "spec-1", "spec": SPEC, "quantity": 3}, {"key": "spec-2", "spec": SPEC, "quantity": 1_000_000}]
    req = ScreeningRequest.model_validate(
        {
            "destination": "SG",
            "end_user": {"name": 'Ünïcode "Pte" Ltd', "headquarters": "SG", "parent_headquarters": "CN"},
            "lines": lines,
            "reference": 'PO "lines":[] 42',
            "as_of": "2025-06-01",
        }
    )
    for _ in range(2):  # the second time every line comes from the snapshot's memo
        result = service.screen(snap, req, "01J00000000000000000000000")
        assert service.render(result) == result.model_dump_json()
        # every line is a complete, valid LineResult with its own key and quantity
        for line, sent in zip(result.lines, req.lines, strict=True):
            assert type(line).model_validate(line.model_dump()) == line
            assert (line.key, line.quantity) == (sent.key, sent.quantity)


def test_a_stored_screening_replays_the_bytes_first_returned(client: TestClient) -> None:
    body = {
        "destination": "AE",
        "end_user": {"name": "Batch LLC"},
        "lines": [{"key": str(i), "accelerator_id": "nvidia-h20-96gb", "quantity": 1 + i} for i in range(30)],
    }
    made = client.post("/v1/screenings", json=body, headers={"Idempotency-Key": "render-1"})
    assert made.status_code == 201
    assert client.get(made.headers["location"]).content == made.content
    replay = client.post("/v1/screenings", json=body, headers={"Idempotency-Key": "render-1"})
    assert replay.status_code == 200 and replay.content == made.content
    assert [line["quantity"] for line in made.json()["lines"]] == [1 + i for i in range(30)]


def test_a_screening_runs_on_the_event_loop_only_when_every_line_was_evaluated_before(client: TestClient) -> None:
    snap = client.app.state.store.current
    body = {
        "destination": "CN",
        "end_user": {"name": "Warm Ltd"},
        "lines": [{"key": "1", "accelerator_id": "nvidia-h20-96gb", "quantity": 1}],
    }
    req = ScreeningRequest.model_validate(body)
    assert not service.is_warm(snap, req)  # never evaluated: off the loop
    service.screen(snap, req, None)
    assert service.is_warm(snap, req)
    spec_line = {**body, "lines": [{"key": "s", "spec": SPEC, "quantity": 1}]}
    assert not service.is_warm(snap, ScreeningRequest.model_validate(spec_line))


def test_every_ruleset_selection_renders_byte_identically(client: TestClient) -> None:
    """The provenance's rulesets are spliced in from JSON serialised once per selection: before any
    ruleset (an empty list), each change date's selection, a hypothetical one, with and without
    warnings, a reference, an open_until; each is exactly pydantic's serialisation."""
    snap = client.app.state.store.current
    hypothetical = next(r.id for r in snap.book.rulesets if not r.enforced)
    cases = [
        {"as_of": "1991-01-01"},
        {"as_of": "2022-10-21"},
        {"as_of": "2023-11-17"},
        {"as_of": "2025-01-16", "hypothetical_rulesets": [hypothetical]},
        {"as_of": "2026-01-20", "reference": "PO-1", "open_until": None},
        {},
    ]
    seen: set[str] = set()
    for extra in cases:
        for destination in ("CN", "SG", "DE"):
            req = ScreeningRequest.model_validate(
                {
                    "destination": destination,
                    "end_user": {"name": "Render GmbH", "parent_headquarters": "CN"},
                    "lines": [{"key": "1", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 2}],
                    **extra,
                }
            )
            result = service.screen(snap, req, None if req.hypothetical_rulesets else "01J00000000000000000000000")
            assert service.render(result) == result.model_dump_json()
            seen.add(",".join(r.id for r in result.provenance.rulesets))
    assert "" in seen and len(seen) >= 4  # the empty selection and several others were rendered


def test_a_screening_for_other_headquarters_is_not_warm_from_one_screened_without_them(client: TestClient) -> None:
    """The end user's and its parent's headquarters change the party the rules see: an order warmed
    for a buyer without them says nothing about one with them (that one is evaluated off the loop)."""
    snap = client.app.state.store.current
    plain = {
        "destination": "SG",
        "end_user": {"name": "Buyer"},
        "lines": [{"key": "1", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 1}],
    }
    service.screen(snap, ScreeningRequest.model_validate(plain), None)
    assert service.is_warm(snap, ScreeningRequest.model_validate(plain))
    for end_user in ({"name": "Buyer", "headquarters": "CN"}, {"name": "Buyer", "parent_headquarters": "CN"}):
        assert not service.is_warm(snap, ScreeningRequest.model_validate({**plain, "end_user": end_user}))


def test_a_screening_that_cannot_be_evaluated_is_never_warm(client: TestClient) -> None:
    """An unknown hypothetical ruleset: screen() raises the proper error off the loop."""
    snap = client.app.state.store.current
    body = {
        "destination": "CN",
        "end_user": {"name": "Buyer"},
        "hypothetical_rulesets": ["no-such-ruleset"],
        "lines": [{"key": "1", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 1}],
    }
    assert not service.is_warm(snap, ScreeningRequest.model_validate(body))


def test_a_screening_is_rendered_without_serialising_its_lines_or_rulesets_again(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The speed-up itself: an answer from ``screen`` serialises only its envelope (lines and the
    provenance's rulesets excluded, then spliced in); it never falls back to serialising everything."""
    snap = client.app.state.store.current
    req = ScreeningRequest.model_validate(
        {
            "destination": "CN",
            "end_user": {"name": "Spy Ltd"},
            "lines": [{"key": "1", "accelerator_id": H100, "quantity": 1}],
        }
    )
    result = service.screen(snap, req, "01J00000000000000000000000")
    expected = result.model_dump_json()
    calls: list[dict[str, Any]] = []
    dump = ScreeningResponse.model_dump_json

    def spy(self: ScreeningResponse, **kwargs: Any) -> str:
        calls.append(kwargs)
        return dump(self, **kwargs)

    monkeypatch.setattr(ScreeningResponse, "model_dump_json", spy)
    assert service.render(result) == expected
    assert [set(c) for c in calls] == [{"exclude"}]
    assert calls[0]["exclude"] == {"lines": True, "provenance": {"rulesets": True}}
