"""Bad input is a 4xx application/problem+json naming the field, never a 500, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

H100 = "nvidia-h100-sxm5-80gb"


def screening(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destination": "CN",
        "end_user": {"name": "Buyer"},
        "lines": [{"key": "1", "accelerator_id": H100, "quantity": 1}],
    }
    body.update(overrides)
    return body


def decisions(client: TestClient) -> int:
    return int(client.get("/v1/decisions/verify").json()["checked"])


def assert_problem(resp: Any, status: int, code: str, pointer: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith(code) and body["title"] and body["detail"]
    assert body["request_id"] == resp.headers["x-request-id"]
    if pointer is not None:
        pointers = [e["pointer"] for e in body["errors"]]
        assert any(p.startswith(pointer) for p in pointers), pointers
    return body


def test_unknown_accelerator_id_is_404(client: TestClient) -> None:
    assert_problem(client.get("/v1/accelerators/no-such-chip"), 404, "unknown_accelerator")
    assert_problem(
        client.post("/v1/classifications", json={"accelerator_id": "no-such-chip"}), 404, "unknown_accelerator"
    )
    assert_problem(client.get("/v1/accelerators/no-such-chip/classification"), 404, "unknown_accelerator")


def fp16(tops: Any, **spec: Any) -> dict[str, Any]:
    return {"throughput": [{"precision": "fp16", "dense_tops": tops}], "datacenter": True, **spec}


SPEC_CASES = {
    "negative": (fp16(-1, die_area_mm2=800), "validation_error", "/spec/throughput/0/dense_tops"),
    "zero": (fp16(0, die_area_mm2=800), "validation_error", "/spec/throughput/0/dense_tops"),
    "zero-area": (fp16(100, die_area_mm2=0), "validation_error", "/spec/die_area_mm2"),
    "unknown-precision": (
        {"throughput": [{"precision": "fp12", "dense_tops": 1}], "datacenter": True},
        "validation_error",
        "/spec/throughput/0/precision",
    ),
    "no-throughput": (
        {"throughput": [], "die_area_mm2": 800, "datacenter": True},
        "validation_error",
        "/spec/throughput",
    ),
    "missing-datacenter": (
        {"throughput": [{"precision": "fp16", "dense_tops": 1}]},
        "validation_error",
        "/spec/datacenter",
    ),
    "density-decides-without-area": (fp16(150), "undetermined", "/spec/die_area_mm2"),
    "string-number": (fp16("many"), "validation_error", "/spec/throughput/0/dense_tops"),
}


@pytest.mark.parametrize("spec,code,pointer", list(SPEC_CASES.values()), ids=list(SPEC_CASES))
def test_bad_spec_is_422_naming_the_field(client: TestClient, spec: dict[str, Any], code: str, pointer: str) -> None:
    assert_problem(client.post("/v1/classifications", json={"spec": spec}), 422, code, pointer)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(client: TestClient, raw: str) -> None:
    body = '{"spec": {"throughput": [{"precision": "fp16", "dense_tops": ' + raw + '}], "datacenter": true}}'
    resp = client.post("/v1/classifications", content=body, headers={"content-type": "application/json"})
    assert_problem(resp, 422, "validation_error")


def test_tpp_above_4800_decides_without_die_area(client: TestClient) -> None:
    spec = {"throughput": [{"precision": "fp16", "dense_tops": 300}], "datacenter": True}
    resp = client.post("/v1/classifications", json={"spec": spec})
    assert resp.status_code == 200, resp.text
    assert resp.json()["eccn"] == "3A090.a"


SCREENING_CASES = {
    "unknown-country": (screening(destination="ZZ"), "/destination"),
    "three-letter-country": (screening(destination="CHN"), "/destination"),
    "unknown-hq": (screening(end_user={"name": "B", "headquarters": "XX"}), "/end_user/headquarters"),
    "empty-lines": (screening(lines=[]), "/lines"),
    "too-many-lines": (
        screening(lines=[{"key": str(i), "accelerator_id": H100, "quantity": 1} for i in range(1001)]),
        "/lines",
    ),
    "zero-quantity": (screening(lines=[{"key": "1", "accelerator_id": H100, "quantity": 0}]), "/lines/0/quantity"),
    "duplicate-keys": (screening(lines=[{"key": "1", "accelerator_id": H100, "quantity": 1}] * 2), "/lines"),
    "both-id-and-spec": (
        screening(lines=[{"key": "1", "accelerator_id": H100, "spec": {"datacenter": True}, "quantity": 1}]),
        "/lines/0",
    ),
    "missing-end-user": (
        {"destination": "CN", "lines": [{"key": "1", "accelerator_id": H100, "quantity": 1}]},
        "/end_user",
    ),
    "unknown-field": (screening(colour="red"), "/colour"),
    "bad-as-of": (screening(as_of="2025-02-30"), "/as_of"),
}


@pytest.mark.parametrize("body,pointer", list(SCREENING_CASES.values()), ids=list(SCREENING_CASES))
def test_bad_screening_is_422_and_stores_nothing(client: TestClient, body: dict[str, Any], pointer: str) -> None:
    before = decisions(client)
    assert_problem(client.post("/v1/screenings", json=body), 422, "validation_error", pointer)
    assert decisions(client) == before


def test_one_invalid_line_rejects_the_whole_batch_naming_every_bad_line_key(client: TestClient) -> None:
    lines = [{"key": f"ok-{i}", "accelerator_id": H100, "quantity": 1} for i in range(5)]
    lines.insert(2, {"key": "bad-id", "accelerator_id": "no-such-chip", "quantity": 1})
    lines.append(
        {
            "key": "no-area",
            "spec": {"throughput": [{"precision": "fp16", "dense_tops": 150}], "datacenter": True},
            "quantity": 1,
        }
    )
    before = decisions(client)
    body = assert_problem(client.post("/v1/screenings", json=screening(lines=lines)), 422, "validation_error")
    assert "bad-id" in body["detail"] and "no-area" in body["detail"]
    pointers = {e["pointer"] for e in body["errors"]}
    assert "/lines/2/accelerator_id" in pointers and "/lines/6/spec/die_area_mm2" in pointers
    assert decisions(client) == before


def test_a_thousand_lines_are_screened_with_their_keys_echoed(client: TestClient) -> None:
    ids = ["nvidia-h100-sxm5-80gb", "nvidia-h20-96gb", "nvidia-l40-48gb", "nvidia-geforce-rtx-4090-d"]
    lines = [{"key": f"line-{i}", "accelerator_id": ids[i % 4], "quantity": i + 1} for i in range(1000)]
    resp = client.post("/v1/screenings", json=screening(lines=lines))
    assert resp.status_code == 201, resp.text
    out = resp.json()["lines"]
    assert [line["key"] for line in out] == [f"line-{i}" for i in range(1000)]
    assert out[3]["license_required"] is False and out[0]["license_required"] is True


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/v1/nothing-here", 404, "not_found"),
        ("DELETE", "/v1/screenings", 405, "method_not_allowed"),
        ("PUT", "/v1/classifications", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_are_problems(client: TestClient, method: str, path: str, status: int, code: str) -> None:
    assert_problem(client.request(method, path), status, code)


@pytest.mark.parametrize(
    "method,path,allow",
    [
        ("DELETE", "/v1/screenings", "GET, POST"),
        ("OPTIONS", "/v1/accelerators/import", "POST"),  # a literal path, not an accelerator id
        ("PUT", "/v1/accelerators/nvidia-h100-sxm5-80gb", "GET"),
    ],
)
def test_405_allow_lists_exactly_the_methods_of_that_resource(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    resp = client.request(method, path)
    assert resp.status_code == 405 and resp.headers["allow"] == allow


def test_malformed_json_is_422(client: TestClient) -> None:
    resp = client.post("/v1/screenings", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(resp, 422, "validation_error")


def test_non_json_body_is_415(client: TestClient) -> None:
    resp = client.post(
        "/v1/screenings", content=b"destination=CN", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_problem(resp, 415, "unsupported_media_type")


def test_oversized_body_is_413(client: TestClient) -> None:
    resp = client.post(
        "/v1/screenings", content=b"{" + b" " * 3_000_000 + b"}", headers={"content-type": "application/json"}
    )
    assert_problem(resp, 413, "payload_too_large")


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "order-42"}).headers["x-request-id"] == "order-42"
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    # a header that could forge log lines is replaced
    assert client.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"] != "a b\tc"


def test_undetermined_names_only_the_missing_figure(client: TestClient) -> None:
    """Memory bandwidth under the 2025 letters' line but no I/O figure: only I/O can decide."""
    spec = fp16(100, die_area_mm2=800, memory_bandwidth_gbps=1000)
    line = {"key": "x", "spec": spec, "quantity": 1}
    body = assert_problem(client.post("/v1/screenings", json=screening(lines=[line])), 422, "validation_error")
    assert {e["pointer"] for e in body["errors"]} == {"/lines/0/spec/interconnect_bandwidth_gbps"}


@pytest.mark.parametrize(
    "path", ["/v1/screenings", "/v1/classifications", "/v1/keys", "/v1/rulesets", "/v1/accelerators"]
)
@pytest.mark.parametrize(
    "body",
    [
        '{"destination": "CN", "end_user": {"name": "Café"}}'.encode("latin-1"),  # é as one byte, not UTF-8
        b'{"name": "\xff\xfe", "scopes": ["read"]}',
        "{}".encode("utf-16"),
    ],
    ids=["latin-1", "invalid-bytes", "utf-16"],
)
def test_a_body_that_is_not_utf_8_is_422_and_stores_nothing(client: TestClient, path: str, body: bytes) -> None:
    before = decisions(client)
    keys_before = len(client.get("/v1/keys").json()["items"])
    resp = client.post(path, content=body, headers={"content-type": "application/json"})
    assert_problem(resp, 422, "validation_error")
    assert decisions(client) == before
    assert len(client.get("/v1/keys").json()["items"]) == keys_before


CONTROL_CHARACTERS = {"nul": "\u0000", "cr-lf": "\r\n", "tab": "\t", "del": "\u007f", "rtl-override": "\u202e"}


@pytest.mark.parametrize("char", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS.keys())
@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("/v1/keys", lambda c: {"name": f"erp{c}prod", "scopes": ["read"]}, "/name"),
        ("/v1/screenings", lambda c: screening(end_user={"name": f"Buyer{c}Ltd"}), "/end_user/name"),
        ("/v1/screenings", lambda c: screening(reference=f"PO{c}1"), "/reference"),
        (
            "/v1/screenings",
            lambda c: screening(lines=[{"key": f"a{c}", "accelerator_id": H100, "quantity": 1}]),
            "/lines/0/key",
        ),
    ],
    ids=["key-name", "end-user-name", "reference", "line-key"],
)
def test_control_and_bidi_characters_in_free_text_are_422_and_store_nothing(
    client: TestClient, char: str, path: str, body: Any, pointer: str
) -> None:
    before = decisions(client)
    keys_before = len(client.get("/v1/keys").json()["items"])
    problem = assert_problem(client.post(path, json=body(char)), 422, "validation_error", pointer)
    assert "U+" in problem["detail"] and "retry" not in problem["detail"].lower()
    assert decisions(client) == before and len(client.get("/v1/keys").json()["items"]) == keys_before


STRICT_CASES = {
    "quantity-true": (screening(lines=[{"key": "1", "accelerator_id": H100, "quantity": True}]), "/lines/0/quantity"),
    "quantity-string": (screening(lines=[{"key": "1", "accelerator_id": H100, "quantity": "8"}]), "/lines/0/quantity"),
    "quantity-float": (screening(lines=[{"key": "1", "accelerator_id": H100, "quantity": 8.5}]), "/lines/0/quantity"),
    "datacenter-string": (
        screening(lines=[{"key": "1", "spec": fp16(100, die_area_mm2=800) | {"datacenter": "true"}, "quantity": 1}]),
        "/lines/0/spec/datacenter",
    ),
    "sparse-number": (
        screening(
            lines=[
                {
                    "key": "1",
                    "spec": {"throughput": [{"precision": "fp16", "dense_tops": 5, "sparse": 1}], "datacenter": True},
                    "quantity": 1,
                }
            ]
        ),
        "/lines/0/spec/throughput/0/sparse",
    ),
}


@pytest.mark.parametrize(("body", "pointer"), STRICT_CASES.values(), ids=STRICT_CASES.keys())
def test_numbers_and_booleans_are_not_coerced_from_other_json_types(
    client: TestClient, body: dict[str, Any], pointer: str
) -> None:
    assert_problem(client.post("/v1/screenings", json=body), 422, "validation_error", pointer)
    assert decisions(client) == 0


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param(["it's", "o'brien's"], id="apostrophes"),
        pytest.param(['say "hi"', "a,b", "c, d"], id="double-quotes-and-commas"),
        pytest.param(["ligne-é", "行-1", "🚀"], id="unicode"),
        pytest.param(["'", ",", " "], id="only-punctuation"),
    ],
)
def test_bad_line_keys_are_reported_exactly_as_sent(client: TestClient, keys: list[str]) -> None:
    """Each bad line's key is collected as data, not parsed back out of a message: a key with a
    quote, a comma or any unicode comes back intact, in the summary and in every errors[] entry."""
    lines = [{"key": "fine", "accelerator_id": H100, "quantity": 1}]
    lines += [{"key": k, "accelerator_id": "no-such-chip", "quantity": 1} for k in keys]
    body = assert_problem(client.post("/v1/screenings", json=screening(lines=lines)), 422, "validation_error")
    assert body["detail"].startswith(f"{len(keys)} line(s) invalid: ")
    for key in keys:
        assert json.dumps(key, ensure_ascii=False) in body["detail"]
    assert [e["pointer"] for e in body["errors"]] == [f"/lines/{i + 1}/accelerator_id" for i in range(len(keys))]
    assert [e["detail"] for e in body["errors"]] == [f"line {k!r}: unknown accelerator id" for k in keys]


def test_an_accelerator_write_error_names_the_field_in_errors(client: TestClient) -> None:
    """One error path: a refused catalog write carries its pointer in errors[] like every other."""
    item = client.get(f"/v1/accelerators/{H100}").json()
    item.pop("data_version")
    body = assert_problem(client.post("/v1/accelerators", json={**item, "reason": "test"}), 409, "conflict", "/id")
    assert body["errors"] == [{"pointer": "/id", "detail": f"accelerator {H100} exists"}]
    item["id"] = "acme-new"
    item["throughput"][0]["source"] = "nowhere"
    assert_problem(
        client.post("/v1/accelerators", json={**item, "reason": "test"}), 422, "validation_error", "/sources"
    )


def test_an_undetermined_classification_says_which_figure_it_cannot_decide_without(client: TestClient) -> None:
    """The problem's detail is the engine's sentence (ruleset, entry and missing figure), not a bare code."""
    body = assert_problem(client.post("/v1/classifications", json={"spec": fp16(150)}), 422, "undetermined")
    assert "cannot decide 3A090.a without die_area_mm2" in body["detail"]


def unknown_lines(count: int) -> list[dict[str, Any]]:
    """Lines that each name an accelerator the catalog does not have (one problem each)."""
    return [{"key": f"k{i:03d}", "accelerator_id": f"no-such-chip-{i}", "quantity": 1} for i in range(count)]


@pytest.mark.parametrize(
    "count,listed",
    [
        (20, ", ".join(f'"k{i:03d}"' for i in range(20))),
        (21, ", ".join(f'"k{i:03d}"' for i in range(20)) + " and 1 more"),
        (23, ", ".join(f'"k{i:03d}"' for i in range(20)) + " and 3 more"),
    ],
)
def test_an_order_with_many_bad_lines_names_the_first_twenty_keys_in_order_and_counts_the_rest(
    client: TestClient, count: int, listed: str
) -> None:
    lines = unknown_lines(count)[::-1]  # sent in reverse: the message sorts them
    body = assert_problem(client.post("/v1/screenings", json=screening(lines=lines)), 422, "validation_error")
    assert body["detail"] == f"{count} line(s) invalid: {listed}; nothing was recorded"
    assert len(body["errors"]) == count


def test_an_order_with_more_than_two_hundred_problems_lists_the_first_two_hundred(client: TestClient) -> None:
    before = decisions(client)
    resp = client.post("/v1/screenings", json=screening(lines=unknown_lines(201)))
    body = assert_problem(resp, 422, "validation_error")
    assert body["detail"].startswith("201 line(s) invalid: ")
    assert len(body["errors"]) == 200
    assert body["errors"][0]["pointer"] == "/lines/0/accelerator_id"
    assert decisions(client) == before
