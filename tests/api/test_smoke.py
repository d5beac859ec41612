from fastapi.testclient import TestClient


def test_readyz_reports_database_migrations_and_rules(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "migrations": "ok", "rules": "ok"}


def test_screening_is_stored_and_returned_exactly_as_first_returned(client: TestClient) -> None:
    body = {
        "destination": "CN",
        "end_user": {"name": "Buyer"},
        "lines": [{"key": "a", "accelerator_id": "nvidia-h100-sxm5-80gb", "quantity": 1}],
    }
    first = client.post("/v1/screenings", json=body)
    assert first.status_code == 201, first.text
    again = client.get(f"/v1/screenings/{first.json()['id']}")
    assert again.status_code == 200
    assert again.content == first.content
