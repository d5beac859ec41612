"""Ranged catalog figures through the HTTP API: classification, screening lines and history."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_tpu_v4_classification_says_the_die_range_decides_and_where(client: TestClient) -> None:
    r = client.get("/v1/accelerators/google-tpu-v4/classification", params={"as_of": "2026-11-28"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["determined"] is False
    assert body["eccn"] == "3A090.a"  # the most controlled outcome, never the lenient end
    analysis = body["range_analysis"]
    assert analysis["decisive"] is True
    assert analysis["figures"][0] == {
        "figure": "die_area_mm2",
        "label": "die area (mm2)",
        "min": "400",
        "max": "780",
        "source": "unverified-tpu",
        "note": analysis["figures"][0]["note"],
    }
    assert next((s["outcome"], s["high_exact"]) for s in analysis["segments"]) == ("3A090.a", "27500/37")
    assert analysis["performance_density_min"] < 5.92 < analysis["performance_density_max"]
    assert any("3A090.a if the die area is at most 743.243243 mm2" in w for w in body["warnings"])


def test_a_range_that_does_not_matter_is_answered_and_says_so(client: TestClient) -> None:
    body = client.get("/v1/accelerators/nvidia-b100/classification").json()
    assert body["determined"] is True
    assert body["eccn"] == "3A090.a"
    assert body["range_analysis"]["decisive"] is False
    assert body["range_analysis"]["summary"].startswith("The range did not matter")


def test_exact_figures_carry_no_range_analysis(client: TestClient) -> None:
    body = client.get("/v1/accelerators/nvidia-h100-sxm5-80gb/classification").json()
    assert body["determined"] is True
    assert body["range_analysis"] is None


def test_screening_line_decided_by_a_range_is_not_reported_clear(client: TestClient) -> None:
    body = {
        "destination": "AE",
        "end_user": {"name": "Example FZ-LLC", "headquarters": "AE"},
        "as_of": "2024-06-01",
        "lines": [
            {"key": "ranged", "accelerator_id": "intel-gaudi-3-hl-328", "quantity": 8},
            {"key": "exact", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 8},
        ],
    }
    r = client.post("/v1/screenings", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    ranged, exact = out["lines"]
    assert ranged["determined"] is False
    assert ranged["license_required"] is True
    outcomes = [s["outcome"] for s in ranged["range_analysis"]["segments"]]
    assert "not 3A090, no licence required" in outcomes
    assert any(w.startswith("The range decides") for w in ranged["warnings"])
    assert exact["determined"] is True
    assert out["determined"] is False
    stored = client.get(f"/v1/screenings/{out['id']}").json()
    assert stored["lines"][0]["range_analysis"] == ranged["range_analysis"]


def test_history_intervals_carry_the_range_analysis(client: TestClient) -> None:
    r = client.get("/v1/accelerators/google-tpu-v4/history", params={"destination": "CN"})
    assert r.status_code == 200, r.text
    intervals = r.json()["intervals"]
    decided = [i for i in intervals if i["determined"] is False]
    assert decided, intervals
    assert all("27500/37" in i["range_analysis"]["summary"] for i in decided)
    # before any advanced-computing control the range cannot matter
    assert intervals[0]["determined"] is True
