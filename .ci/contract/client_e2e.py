"""End to end through the generated Python client alone (no raw HTTP): the order-system path.

Run by .ci/contract.sh with the client generated from openapi/openapi.json on PYTHONPATH:
    python client_e2e.py --base-url http://127.0.0.1:PORT   (admin key in CHIPCLASS_CONTRACT_ADMIN_KEY)
Exits non-zero on the first broken expectation.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from http import HTTPStatus
from typing import Any

from chipclass_client import AuthenticatedClient
from chipclass_client.api.keys import create_key
from chipclass_client.api.screening import classify_accelerator, create_screening, get_screening
from chipclass_client.models import (
    ClassificationRequest,
    ClassificationResponse,
    EndUserInput,
    KeyCreate,
    KeyCreated,
    KeyCreateScopesItem,
    Problem,
    ScreeningLine,
    ScreeningRequest,
    ScreeningResponse,
)
from chipclass_client.types import Response

ACCELERATOR = "nvidia-h100-sxm5-80gb"


class Failed(Exception):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise Failed(what)


def parsed(response: Response[Any], status: HTTPStatus, kind: type, step: str) -> Any:
    if response.status_code != status or not isinstance(response.parsed, kind):
        problem = response.parsed if isinstance(response.parsed, Problem) else response.content[:500]
        raise Failed(f"{step}: expected {int(status)} {kind.__name__}, got {int(response.status_code)}: {problem}")
    return response.parsed


def run(base_url: str, admin_key: str) -> None:
    admin = AuthenticatedClient(base_url=base_url, token=admin_key, raise_on_unexpected_status=True)

    # 1. an order system's key, made with the admin key
    created: KeyCreated = parsed(
        create_key.sync_detailed(
            client=admin,
            body=KeyCreate(name="contract-erp", scopes=[KeyCreateScopesItem.READ, KeyCreateScopesItem.SCREEN]),
        ),
        HTTPStatus.CREATED,
        KeyCreated,
        "create_key",
    )
    expect(sorted(created.scopes) == ["read", "screen"], f"create_key: scopes {created.scopes}")
    print(f"[1] create_key            -> 201 key {created.id} ({created.name}) scopes={','.join(created.scopes)}")
    erp = AuthenticatedClient(base_url=base_url, token=created.key, raise_on_unexpected_status=True)

    # 2. classify a catalog accelerator
    classification: ClassificationResponse = parsed(
        classify_accelerator.sync_detailed(client=erp, body=ClassificationRequest(accelerator_id=ACCELERATOR)),
        HTTPStatus.OK,
        ClassificationResponse,
        "classify_accelerator",
    )
    expect(classification.accelerator_id == ACCELERATOR, "classify_accelerator: wrong accelerator")
    expect(bool(classification.eccn), f"classify_accelerator: {ACCELERATOR} should be controlled")
    tpp = classification.tpp.value if classification.tpp else None
    print(
        f"[2] classify_accelerator  -> 200 {ACCELERATOR}: eccn={classification.eccn} "
        f"assembly={classification.assembly_eccn} tpp={tpp} as_of={classification.as_of}"
    )

    # 3. screen an order with an Idempotency-Key
    idem = f"contract-{uuid.uuid4().hex}"
    order = ScreeningRequest(
        destination="CN",
        end_user=EndUserInput(name="Contract Buyer Ltd", headquarters="CN"),
        lines=[
            ScreeningLine(key="line-1", accelerator_id=ACCELERATOR, quantity=8),
            ScreeningLine(key="line-2", accelerator_id="nvidia-l40-48gb", quantity=2),
        ],
        reference="PO-CONTRACT-1",
    )
    first_response = create_screening.sync_detailed(client=erp, body=order, idempotency_key=idem)
    first: ScreeningResponse = parsed(first_response, HTTPStatus.CREATED, ScreeningResponse, "create_screening")
    expect(isinstance(first.id, str) and len(first.id) == 26, f"create_screening: id {first.id!r}")
    expect([line.key for line in first.lines] == ["line-1", "line-2"], "create_screening: line keys not echoed")
    expect("Idempotent-Replayed" not in first_response.headers, "create_screening: first call marked as a replay")
    expect(
        (str(first.outcome.value), str(first.action.value)) == ("license_required", "hold"),
        f"create_screening: outcome {first.outcome!r}, action {first.action!r}",
    )
    expect(first_response.headers.get("cache-control") == "no-store", "create_screening: not Cache-Control: no-store")
    lines = ", ".join(
        f"{line.key}={line.classification.eccn or 'EAR99?'}:{'licence' if line.license_required else 'no licence'}"
        for line in first.lines
    )
    print(
        f"[3] create_screening      -> 201 id={first.id} outcome={first.outcome.value} action={first.action.value} "
        f"destination={first.destination} lines: {lines}"
    )

    # 4. the retry: same key, same body -> the same decision, marked as a replay
    replay_response = create_screening.sync_detailed(client=erp, body=order, idempotency_key=idem)
    replay: ScreeningResponse = parsed(replay_response, HTTPStatus.OK, ScreeningResponse, "create_screening replay")
    expect(replay.id == first.id, f"replay: id {replay.id} != {first.id}")
    marker = replay_response.headers.get("Idempotent-Replayed")
    expect(marker == "true", f"replay: Idempotent-Replayed header is {marker!r}")
    expect(replay_response.content == first_response.content, "replay: body differs from the first answer")
    print(f"[4] create_screening (replay, same Idempotency-Key) -> 200 id={replay.id} Idempotent-Replayed: {marker}")

    # 5. the decision, fetched back
    fetched_response = get_screening.sync_detailed(client=erp, screening_id=first.id)
    fetched: ScreeningResponse = parsed(fetched_response, HTTPStatus.OK, ScreeningResponse, "get_screening")
    expect(fetched.id == first.id, "get_screening: wrong id")
    expect(fetched_response.content == first_response.content, "get_screening: differs from the answer first given")
    expect(fetched_response.headers.get("cache-control") == "no-store", "get_screening: not Cache-Control: no-store")
    rulesets = ", ".join(r.id for r in fetched.provenance.rulesets)
    print(
        f"[5] get_screening         -> 200 id={fetched.id} identical to the first answer; "
        f"rulesets: {rulesets}; data_version={fetched.provenance.data_version[:12]}"
    )

    # 6. an error comes back as the typed Problem
    missing = get_screening.sync_detailed(client=erp, screening_id="0" * 26)
    problem: Problem = parsed(missing, HTTPStatus.NOT_FOUND, Problem, "get_screening (unknown id)")
    expect(missing.headers.get("content-type", "").startswith("application/problem+json"), "404 not problem+json")
    print(f"[6] get_screening (unknown id) -> 404 Problem code={problem.code} title={problem.title!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    args = parser.parse_args()
    admin_key = os.environ.get("CHIPCLASS_CONTRACT_ADMIN_KEY")
    if not admin_key:
        print("CHIPCLASS_CONTRACT_ADMIN_KEY is not set", file=sys.stderr)
        return 2
    try:
        run(args.base_url, admin_key)
    except Failed as exc:
        print(f"generated-client e2e FAILED: {exc}", file=sys.stderr)
        return 1
    print("generated-client e2e: 6 steps passed (create key, classify, screen, replay, fetch, typed problem)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
