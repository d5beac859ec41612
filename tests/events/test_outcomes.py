"""What an order system acts on: each line's outcome and action, and the order's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def screen(client: TestClient, destination: str, *lines: tuple[str, str], as_of: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destination": destination,
        "end_user": {"name": "Buyer"},
        "lines": [{"key": key, "accelerator_id": acc, "quantity": 1} for key, acc in lines],
    }
    if as_of:
        body["as_of"] = as_of
    resp = client.post("/v1/screenings", json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


@pytest.mark.parametrize(
    "destination,accelerator,as_of,outcome,action,notification",
    [
        pytest.param("CN", "nvidia-a10-24gb", None, "clear", "release", False, id="uncontrolled part to CN: clear"),
        pytest.param(
            "CN", "nvidia-h100-sxm5-80gb", None, "license_required", "hold", False, id="3A090.a to CN: licence"
        ),
        pytest.param(
            "AE", "nvidia-l40-48gb", "2025-06-01", "exception", "release", False, id="3A090.b to AE: ACA, no notice"
        ),
        pytest.param(
            "CN", "nvidia-l40-48gb", "2023-12-01", "exception", "hold", True, id="3A090.b to CN in 2023: NAC, notice"
        ),
    ],
)
def test_each_line_has_an_outcome_and_action(
    client: TestClient,
    destination: str,
    accelerator: str,
    as_of: str | None,
    outcome: str,
    action: str,
    notification: bool,
) -> None:
    line = screen(client, destination, ("1", accelerator), as_of=as_of)["lines"][0]
    assert (line["outcome"], line["action"], line["notification_required"]) == (outcome, action, notification)


def test_the_order_takes_its_most_restrictive_line(client: TestClient) -> None:
    mixed = screen(client, "CN", ("a", "nvidia-a10-24gb"), ("b", "nvidia-h100-sxm5-80gb"))
    assert [ln["outcome"] for ln in mixed["lines"]] == ["clear", "license_required"]
    assert (mixed["outcome"], mixed["action"]) == ("license_required", "hold")
    clear = screen(client, "CN", ("a", "nvidia-a10-24gb"), ("b", "nvidia-t4-16gb"))
    assert (clear["outcome"], clear["action"]) == ("clear", "release")
    noticed = screen(client, "CN", ("a", "nvidia-a10-24gb"), ("b", "nvidia-l40-48gb"), as_of="2023-12-01")
    assert (noticed["outcome"], noticed["action"]) == ("exception", "hold")


def test_outcomes_are_enums_in_the_published_contract(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    line = schemas["LineResult"]["properties"]
    assert line["outcome"]["enum"] == ["clear", "exception", "license_required", "undetermined"]
    assert line["action"]["enum"] == ["release", "hold"]
    assert "outcome" in schemas["ScreeningResponse"]["required"]
