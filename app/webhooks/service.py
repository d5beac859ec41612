"""Webhook subscriptions and the dispatcher that pushes events to them.

Deliveries follow the Standard Webhooks specification: ``webhook-id`` (the event's stable id, the
same on every retry), ``webhook-timestamp`` and ``webhook-signature`` (HMAC-SHA256 with the
subscription's secret, made by the ``standardwebhooks`` package). Delivery is at least once and in
order per subscription: the subscription's cursor moves past an event only after its receiver
answered 2xx, so a crash between the answer and the cursor update resends the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete as sa_delete
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select
from standardwebhooks.webhooks import Webhook
from ulid import ULID

from app import clock
from app.errors import DomainError, field_error
from app.events import service as events
from app.events.service import Event
from app.webhooks.models import WebhookDelivery, WebhookSubscription

log = logging.getLogger("chipclass.webhooks")
USER_AGENT = "chipclass-webhooks/1"


@dataclass(frozen=True)
class Policy:
    """How deliveries are made and retried (from Settings)."""

    allow_private: bool = False
    # host names (".example.com": any name under it) and IP literals deliveries may go to; empty: any
    allowed_hosts: tuple[str, ...] = ()
    timeout_s: float = 5.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    retry_window_s: float = 86_400.0
    # a dispatcher holds a subscription this long, renewed at every delivery: after a crash, another
    # process (or the restarted one) takes it over once it runs out
    lease_s: float = 15.0
    poll_s: float = 1.0


def now() -> datetime:
    return clock.now()


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


# ---------------------------------------------------------------- URL policy


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """The operator's egress allowlist, checked before any name is resolved (empty: any host)."""
    host = host.lower().rstrip(".")
    return not allowed or any(host == a or (a.startswith(".") and host.endswith(a)) for a in allowed)


def check_url(url: str, allow_private: bool, allowed_hosts: tuple[str, ...] = ()) -> None:
    """http(s) only, a host, no credentials; private, loopback and link-local literals refused
    unless the operator allowed them (names are checked again when a delivery resolves them), and
    only hosts on the operator's allowlist when there is one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        hostname = parts.hostname
        if hostname:
            hostname.encode("idna")
    except (ValueError, UnicodeError) as exc:
        raise field_error("/url", f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise field_error("/url", "the URL must be http:// or https://")
    if not parts.hostname:
        raise field_error("/url", "the URL has no host")
    if parts.username or parts.password:
        raise field_error("/url", "credentials in the URL are not allowed; verify signatures")
    if parts.fragment:
        raise field_error("/url", "the URL may not have a #fragment")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and _blocked(str(literal)):
        raise field_error(
            "/url",
            f"{parts.hostname} is a private, loopback or reserved address "
            "(set CHIPCLASS_WEBHOOK_ALLOW_PRIVATE=true to deliver inside your network)",
        )
    if not host_allowed(parts.hostname, allowed_hosts):
        raise field_error("/url", f"{parts.hostname} is not in CHIPCLASS_WEBHOOK_ALLOWED_HOSTS")


async def _resolve_allowed(url: str, policy: Policy) -> str | None:
    """None when the host may be called, else why not (off the allowlist, or a name resolving to a
    private address); nothing is resolved for a host off the allowlist."""
    try:
        host = urlsplit(url).hostname or ""
        port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if not host_allowed(host, policy.allowed_hosts):
        return f"{host} is not in CHIPCLASS_WEBHOOK_ALLOWED_HOSTS"
    if policy.allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        if _blocked(str(info[4][0])):
            return f"{host} resolves to a private or reserved address {info[4][0]}"
    return None


# ---------------------------------------------------------------- subscriptions


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def create(
    engine: Engine, url: str, event_types: list[str], description: str | None, created_by: str | None, policy: Policy
) -> WebhookSubscription:
    check_url(url, policy.allow_private, policy.allowed_hosts)
    unknown = sorted(set(event_types) - set(events.EVENT_TYPES))
    if unknown:
        raise field_error("/event_types", f"unknown event types {unknown}; allowed: {list(events.EVENT_TYPES)}")
    with Session(engine, expire_on_commit=False) as session:
        sub = WebhookSubscription(
            id=f"wh_{ULID()}",
            url=url,
            event_types=json.dumps(sorted(set(event_types))),
            secret=new_secret(),
            description=description,
            created_at=now(),
            created_by=created_by,
            cursor=events.head_seq(session),
        )
        session.add(sub)
        session.commit()
        return sub


def _found(session: Session, subscription_id: str) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise DomainError("unknown_webhook", f"No webhook subscription {subscription_id!r}")
    return sub


def get(engine: Engine, subscription_id: str) -> WebhookSubscription:
    with Session(engine) as session:
        return _found(session, subscription_id)


def listing(engine: Engine) -> list[WebhookSubscription]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookSubscription).order_by(col(WebhookSubscription.created_at))))


def set_enabled(engine: Engine, subscription_id: str, enabled: bool) -> WebhookSubscription:
    with Session(engine, expire_on_commit=False) as session:
        sub = _found(session, subscription_id)
        sub.enabled = enabled
        sub.disabled_reason = None if enabled else "disabled by an administrator"
        if enabled:  # retry the held event now, with a fresh retry window
            sub.failures, sub.failing_since, sub.next_attempt_at = 0, None, None
        session.add(sub)
        session.commit()
        return sub


def delete(engine: Engine, subscription_id: str) -> None:
    """The subscription and its delivery log, in one transaction."""
    with Session(engine) as session:
        session.delete(_found(session, subscription_id))
        session.execute(sa_delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id))
        session.commit()


def deliveries(engine: Engine, subscription_id: str, before: int | None, limit: int) -> list[WebhookDelivery]:
    get(engine, subscription_id)
    with Session(engine) as session:
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        if before is not None:
            query = query.where(col(WebhookDelivery.id) < before)
        return list(session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit)))


def send_test(engine: Engine, subscription_id: str) -> Event:
    """A ``webhook.test`` event addressed to one subscription (others never receive it)."""
    get(engine, subscription_id)
    with Session(engine, expire_on_commit=False) as session:
        event = events.append(session, "webhook.test", {"subscription_id": subscription_id}, subject=subscription_id)
        session.commit()
        return event


def find_event(engine: Engine, event_id: str) -> Event:
    event = events.find(engine, event_id)
    if event is None:
        raise DomainError("unknown_event", f"No event {event_id!r}")
    return event


# ---------------------------------------------------------------- delivery


def _candidates(engine: Engine, at: datetime) -> list[str]:
    """Subscriptions with something to send and no live lease (a cheap read; claiming is separate)."""
    with Session(engine) as session:
        last = events.head_seq(session)
        query = select(WebhookSubscription.id).where(
            col(WebhookSubscription.enabled).is_(True),
            col(WebhookSubscription.cursor) < last,
            or_(col(WebhookSubscription.next_attempt_at).is_(None), col(WebhookSubscription.next_attempt_at) <= at),
            or_(col(WebhookSubscription.lease_until).is_(None), col(WebhookSubscription.lease_until) < at),
        )
        return list(session.exec(query))


def _claim(engine: Engine, subscription_id: str, owner: str, at: datetime, lease_s: float) -> bool:
    """Take the subscription's lease; exactly one dispatcher (of any replica) wins it."""
    with Session(engine) as session:
        result = session.execute(
            update(WebhookSubscription)
            .where(
                col(WebhookSubscription.id) == subscription_id,
                col(WebhookSubscription.enabled).is_(True),
                or_(col(WebhookSubscription.lease_until).is_(None), col(WebhookSubscription.lease_until) < at),
            )
            .values(lease_owner=owner, lease_until=at + timedelta(seconds=lease_s))
        )
        session.commit()
        return bool(getattr(result, "rowcount", 0) == 1)


def _next(engine: Engine, subscription_id: str, owner: str) -> tuple[WebhookSubscription, Event | None] | None:
    """The subscription (if this owner still holds it) and its next event; skips past events it
    does not receive so the cursor never rescans them."""
    with Session(engine, expire_on_commit=False) as session:
        sub = session.get(WebhookSubscription, subscription_id)
        if sub is None or sub.lease_owner != owner or not sub.enabled:
            return None
        event = events.next_for(session, sub.cursor, json.loads(sub.event_types), sub.id)
        if event is None:
            last = events.head_seq(session)
            session.execute(
                update(WebhookSubscription)
                .where(col(WebhookSubscription.id) == sub.id, col(WebhookSubscription.lease_owner) == owner)
                .values(cursor=max(last, sub.cursor), lease_owner=None, lease_until=None)
            )
            session.commit()
        return sub, event


def backoff(policy: Policy, failures: int) -> float:
    """Exponential with jitter: base x 2^(n-1), capped, then scaled by a random 50-100 %."""
    delay: float = min(policy.backoff_max_s, policy.backoff_base_s * 2.0 ** max(0, failures - 1))
    return delay * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


async def post(client: httpx.AsyncClient, sub: WebhookSubscription, event: Event, policy: Policy) -> Attempt:
    started = time.perf_counter()
    refused = await _resolve_allowed(sub.url, policy)
    if refused is not None:
        return Attempt(False, None, refused, 0)
    payload = events.body(event)
    at = now()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(sub.secret).sign(event.id, at, payload),
    }
    try:
        response = await client.post(sub.url, content=payload.encode(), headers=headers, timeout=policy.timeout_s)
    except httpx.HTTPError as exc:
        elapsed = int((time.perf_counter() - started) * 1000)
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500], elapsed)
    elapsed = int((time.perf_counter() - started) * 1000)
    ok = 200 <= response.status_code < 300
    return Attempt(ok, response.status_code, None if ok else f"HTTP {response.status_code}", elapsed)


def _still_subscribed(session: Session, subscription_id: str) -> bool:
    """Whether the subscription still exists, checked after this transaction's first write so that
    an attempt is never logged for a subscription deleted meanwhile (its delivery log went with it).
    On PostgreSQL the row stays locked until the commit: a concurrent delete either waits and then
    removes what this transaction wrote, or committed first and is seen here. On SQLite the write
    already holds the database's write lock, so every committed delete is seen."""
    query = select(WebhookSubscription.id).where(col(WebhookSubscription.id) == subscription_id)
    return session.exec(query.with_for_update()).first() is not None


def _record(
    engine: Engine, sub: WebhookSubscription, event: Event, owner: str, result: Attempt, policy: Policy
) -> bool:
    """Log the attempt and move the subscription on; True to keep delivering in this lease (False,
    with nothing logged, when the subscription was deleted while its delivery was in flight)."""
    at = now()
    with Session(engine) as session:
        attempt = sub.failures + 1
        where = (col(WebhookSubscription.id) == sub.id, col(WebhookSubscription.lease_owner) == owner)
        if result.ok:
            values: dict[str, Any] = {
                "cursor": event.seq,
                "failures": 0,
                "failing_since": None,
                "next_attempt_at": None,
                "lease_until": at + timedelta(seconds=policy.lease_s),
            }
            outcome, keep_going = "succeeded", True
        else:
            since = _aware(sub.failing_since) or at
            if (at - since).total_seconds() >= policy.retry_window_s:
                reason = f"delivery of {event.id} failed for {policy.retry_window_s:.0f} s: {result.error}"
                values = {"enabled": False, "disabled_reason": reason[:500], "lease_owner": None, "lease_until": None}
                outcome = "failed"
            else:
                delay = backoff(policy, attempt)
                values = {
                    "failures": attempt,
                    "failing_since": since,
                    "next_attempt_at": at + timedelta(seconds=delay),
                    "lease_owner": None,
                    "lease_until": None,
                }
                outcome = "retrying"
            keep_going = False
        session.add(
            WebhookDelivery(
                subscription_id=sub.id,
                event_seq=event.seq,
                event_id=event.id,
                event_type=event.type,
                attempt=attempt,
                attempted_at=at,
                outcome=outcome,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
        session.execute(update(WebhookSubscription).where(*where).values(**values))
        if not _still_subscribed(session, sub.id):
            session.rollback()
            return False
        session.commit()
    if outcome == "failed":
        log.warning("webhook %s disabled: %s", sub.id, values["disabled_reason"])
    return keep_going


def _release(engine: Engine, subscription_id: str, owner: str) -> None:
    with Session(engine) as session:
        session.execute(
            update(WebhookSubscription)
            .where(col(WebhookSubscription.id) == subscription_id, col(WebhookSubscription.lease_owner) == owner)
            .values(lease_owner=None, lease_until=None)
        )
        session.commit()


def _log_manual(engine: Engine, sub: WebhookSubscription, event: Event, result: Attempt) -> None:
    with Session(engine) as session:
        session.add(
            WebhookDelivery(
                subscription_id=sub.id,
                event_seq=event.seq,
                event_id=event.id,
                event_type=event.type,
                attempt=0,
                attempted_at=now(),
                outcome="succeeded" if result.ok else "failed",
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
                manual=True,
            )
        )
        session.flush()
        if not _still_subscribed(session, sub.id):
            session.rollback()
            return
        session.commit()


MIN_ROUND_S = 0.05


class Dispatcher:
    """Pushes events to subscriptions: one lease per subscription across every replica, one event
    at a time per subscription, many subscriptions at once. Runs on the event loop; every
    database call goes to a worker thread and HTTP is asynchronous with a short timeout."""

    def __init__(
        self,
        engine: Engine,
        signal: events.Signal,
        policy: Policy,
        ready: Callable[[], bool] = lambda: True,
        batch: int = 100,
    ) -> None:
        self.engine, self.signal, self.policy, self.ready, self.batch = engine, signal, policy, ready, batch
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._client: httpx.AsyncClient | None = None
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        loop = asyncio.get_running_loop()
        try:
            while True:
                generation = self.signal.generation()
                started = loop.time()
                try:
                    if self.ready():  # the schema is migrated and the service started
                        await self.tick()
                except Exception:  # never let one bad round end delivery for the process
                    log.exception("webhook dispatch round failed")
                await self.signal.wait(generation, self.policy.poll_s)
                # Every commit that wrote events wakes the dispatcher; under load the decision writer
                # commits a group every few ms, and a round per commit (a database read in a worker
                # thread) cost a tenth of a stored screening's CPU. At most one round per
                # MIN_ROUND_S: the commits meanwhile are seen by the next round, which reads afresh.
                spacing = MIN_ROUND_S - (loop.time() - started)
                if spacing > 0:
                    await asyncio.sleep(spacing)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._client.aclose()

    async def tick(self) -> None:
        at = now()
        for subscription_id in await asyncio.to_thread(_candidates, self.engine, at):
            if subscription_id in self._busy:
                continue
            if not await asyncio.to_thread(_claim, self.engine, subscription_id, self.owner, at, self.policy.lease_s):
                continue
            self._busy.add(subscription_id)
            self.spawn(self._serve(subscription_id))

    async def _serve(self, subscription_id: str) -> None:
        assert self._client is not None
        try:
            for _ in range(self.batch):
                found = await asyncio.to_thread(_next, self.engine, subscription_id, self.owner)
                if found is None:
                    return
                sub, event = found
                if event is None:
                    return
                result = await post(self._client, sub, event, self.policy)
                if not await asyncio.to_thread(_record, self.engine, sub, event, self.owner, result, self.policy):
                    return
            await asyncio.to_thread(_release, self.engine, subscription_id, self.owner)
            self.signal.notify()  # more to send: come back at once
        except Exception:
            log.exception("webhook delivery to %s failed", subscription_id)
            await asyncio.to_thread(_release, self.engine, subscription_id, self.owner)
        finally:
            self._busy.discard(subscription_id)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work in the background (kept referenced; cancelled on shutdown)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def redeliver(self, sub: WebhookSubscription, event: Event) -> None:
        """A manual resend of one event (same ``webhook-id``), outside the ordered stream."""
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            result = await post(client, sub, event, self.policy)
        await asyncio.to_thread(_log_manual, self.engine, sub, event, result)
