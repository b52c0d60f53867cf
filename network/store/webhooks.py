"""Webhook endpoints and their delivery log: all the SQL of webhooks.

An endpoint receives its partner's events after `delivered_through` (the partner's last event sequence when the
endpoint was created, so a new endpoint starts with the next event). Delivery moves `delivered_through` forward
(never back) in the transaction that logs the successful attempt; every attempt, successful or not, is a row of
webhook_deliveries.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple, Sequence

from sqlalchemy import Connection, text

from network.core import webhooks as rules
from network.store.events import EVENTS_CHANNEL, StoredEvent, high_water, read_events

_ENDPOINT_COLUMNS = ("endpoint_id, partner_id, url, event_types, secret, enabled, disabled_reason, alert, "
                     "delivered_through, created_at, updated_at")


class Endpoint(NamedTuple):
    endpoint_id: str
    partner_id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    enabled: bool
    disabled_reason: str | None
    alert: str | None
    delivered_through: int
    created_at: datetime
    updated_at: datetime


class Delivery(NamedTuple):
    """One attempt of the delivery log."""

    delivery_id: int
    endpoint_id: str
    partner_id: str
    seq: int
    attempt: int
    replay: bool
    status_code: int | None
    error: str | None
    latency_ms: int
    delivered: bool
    attempted_at: datetime


class Attempt(NamedTuple):
    """What an attempt to deliver gave: the HTTP status (None: no answer) or the error, and its latency."""

    status_code: int | None
    error: str | None
    latency_ms: int
    delivered: bool


def _endpoint(row) -> Endpoint:
    return Endpoint(str(row.endpoint_id), row.partner_id, row.url, tuple(row.event_types), row.secret, row.enabled,
                    row.disabled_reason, row.alert, row.delivered_through, row.created_at, row.updated_at)


def create_endpoint(conn: Connection, partner_id: str, url: str, event_types: Sequence[str], secret: str) -> Endpoint:
    """A new enabled endpoint that receives the partner's events from the next one on."""
    row = conn.execute(text(
        f"INSERT INTO webhook_endpoints ({_ENDPOINT_COLUMNS}) VALUES (:id, :p, :u, :t, :s, true, NULL, NULL, "
        f":through, now(), now()) RETURNING {_ENDPOINT_COLUMNS}"),
        {"id": uuid.uuid4(), "p": partner_id, "u": url, "t": list(event_types), "s": secret,
         "through": high_water(conn, partner_id)}).one()
    return _endpoint(row)


def count_endpoints(conn: Connection, partner_id: str) -> int:
    return conn.execute(text("SELECT count(*) FROM webhook_endpoints WHERE partner_id = :p"), {"p": partner_id}).scalar_one()


def lock_partner_endpoints(conn: Connection, partner_id: str) -> None:
    """Serialize endpoint creation per partner (the per-partner limit is counted under this lock)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('webhooks:' || :p))"), {"p": partner_id})


def endpoints(conn: Connection, partner_id: str | None = None) -> list[Endpoint]:
    """One partner's endpoints (every partner's: None), oldest first."""
    where = "" if partner_id is None else "WHERE partner_id = :p "
    return [_endpoint(r) for r in conn.execute(text(
        f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints {where}ORDER BY partner_id, created_at, endpoint_id"),
        {"p": partner_id})]


def endpoint(conn: Connection, endpoint_id: str, *, lock: bool = False) -> Endpoint | None:
    try:
        key = uuid.UUID(endpoint_id)
    except ValueError:
        return None
    row = conn.execute(text(f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE endpoint_id = :id"
                            + (" FOR UPDATE" if lock else "")), {"id": key}).first()
    return None if row is None else _endpoint(row)


def update_endpoint(conn: Connection, endpoint_id: str, *, url: str | None = None,
                    event_types: Sequence[str] | None = None, enabled: bool | None = None,
                    disabled_reason: str | None = None) -> Endpoint:
    """Change what is given; enabling clears the reason and the alert, disabling records the reason."""
    row = conn.execute(text(
        "UPDATE webhook_endpoints SET url = coalesce(:u, url), event_types = coalesce(:t, event_types), "
        "enabled = coalesce(:e, enabled), "
        "disabled_reason = CASE WHEN :e IS NULL THEN disabled_reason WHEN :e THEN NULL ELSE :r END, "
        "alert = CASE WHEN :e THEN NULL ELSE alert END, updated_at = now() "
        f"WHERE endpoint_id = :id RETURNING {_ENDPOINT_COLUMNS}"),
        {"id": uuid.UUID(endpoint_id), "u": url, "t": None if event_types is None else list(event_types),
         "e": enabled, "r": disabled_reason}).one()
    return _endpoint(row)


def delete_endpoint(conn: Connection, endpoint_id: str) -> None:
    conn.execute(text("DELETE FROM webhook_endpoints WHERE endpoint_id = :id"), {"id": uuid.UUID(endpoint_id)})


def disable_for_failures(conn: Connection, endpoint_id: str, alert: str) -> bool:
    """The network disables an endpoint whose retries ran out, with an operator alert (False: already disabled or
    gone: nothing changed)."""
    return conn.execute(text(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = :a, alert = :a, updated_at = now() "
        "WHERE endpoint_id = :id AND enabled"), {"id": uuid.UUID(endpoint_id), "a": alert[:500]}).rowcount == 1


def pending_events(conn: Connection, endpoint: Endpoint, limit: int) -> tuple[list[int], int]:
    """The sequence numbers of the endpoint's next events its filter takes (at most `limit` read), and the last
    sequence read (its delivered_through when none)."""
    found = read_events(conn, endpoint.partner_id, endpoint.delivered_through, limit)
    wanted = [e.seq for e in found if rules.wants(endpoint.event_types, e.type)]
    return wanted, (found[-1].seq if found else endpoint.delivered_through)


def event(conn: Connection, partner_id: str, seq: int) -> StoredEvent | None:
    found = read_events(conn, partner_id, seq - 1, 1)
    return found[0] if found and found[0].seq == seq else None


def advance(conn: Connection, endpoint_id: str, through: int) -> None:
    """Move delivered_through forward to `through` (never back)."""
    conn.execute(text("UPDATE webhook_endpoints SET delivered_through = greatest(delivered_through, :s) "
                      "WHERE endpoint_id = :id"), {"id": uuid.UUID(endpoint_id), "s": through})


def log_attempt(conn: Connection, endpoint: Endpoint, seq: int, attempt_number: int, replay: bool,
                attempt: Attempt) -> None:
    conn.execute(text(
        "INSERT INTO webhook_deliveries (endpoint_id, partner_id, seq, attempt, replay, status_code, error, "
        "latency_ms, delivered) VALUES (:e, :p, :s, :n, :r, :c, :x, :l, :d)"),
        {"e": uuid.UUID(endpoint.endpoint_id), "p": endpoint.partner_id, "s": seq, "n": attempt_number, "r": replay,
         "c": attempt.status_code, "x": None if attempt.error is None else attempt.error[:500],
         "l": attempt.latency_ms, "d": attempt.delivered})


def deliveries(conn: Connection, *, partner_id: str | None = None, endpoint_id: str | None = None,
               limit: int = 100) -> list[Delivery]:
    """The delivery log, newest first: of one endpoint, one partner's endpoints, or all."""
    rows = conn.execute(text(
        "SELECT delivery_id, endpoint_id, partner_id, seq, attempt, replay, status_code, error, latency_ms, "
        "delivered, attempted_at FROM webhook_deliveries "
        "WHERE (CAST(:p AS text) IS NULL OR partner_id = :p) AND (CAST(:e AS uuid) IS NULL OR endpoint_id = :e) "
        "ORDER BY delivery_id DESC LIMIT :n"),
        {"p": partner_id, "e": None if endpoint_id is None else uuid.UUID(endpoint_id), "n": limit})
    return [Delivery(r.delivery_id, str(r.endpoint_id), r.partner_id, r.seq, r.attempt, r.replay, r.status_code,
                     r.error, r.latency_ms, r.delivered, r.attempted_at) for r in rows]


class Replay(NamedTuple):
    replay_id: str
    endpoint_id: str
    sequences: list[int]


def request_replay(conn: Connection, endpoint: Endpoint, first: int, last: int, requested_by: str) -> str:
    """Ask for the endpoint's events [first, last] to be delivered again (the dispatcher starts it); its id."""
    replay_id = uuid.uuid4()
    conn.execute(text("INSERT INTO webhook_replays (replay_id, endpoint_id, first_seq, last_seq, requested_by) "
                      "VALUES (:r, :e, :a, :b, :by)"),
                 {"r": replay_id, "e": uuid.UUID(endpoint.endpoint_id), "a": first, "b": last, "by": requested_by})
    conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": EVENTS_CHANNEL, "p": endpoint.partner_id})
    return str(replay_id)


def unstarted_replays(conn: Connection) -> list[Replay]:
    """Replays asked for and not started yet, oldest first, with the events each covers (the endpoint's filter
    applied)."""
    found = []
    for row in conn.execute(text(
            "SELECT r.replay_id, r.endpoint_id, r.first_seq, r.last_seq, w.partner_id, w.event_types "
            "FROM webhook_replays r JOIN webhook_endpoints w USING (endpoint_id) WHERE r.started_at IS NULL "
            "ORDER BY r.requested_at, r.replay_id")):
        sequences = [seq for seq, type_ in conn.execute(text(
            "SELECT seq, type FROM partner_events WHERE partner_id = :p AND seq BETWEEN :a AND :b ORDER BY seq"),
            {"p": row.partner_id, "a": row.first_seq, "b": row.last_seq}) if rules.wants(tuple(row.event_types), type_)]
        found.append(Replay(str(row.replay_id), str(row.endpoint_id), sequences))
    return found


def mark_replay_started(conn: Connection, replay_id: str) -> None:
    conn.execute(text("UPDATE webhook_replays SET started_at = now() WHERE replay_id = :r"),
                 {"r": uuid.UUID(replay_id)})


class Behind(NamedTuple):
    endpoint_id: str
    head: int  # the partner's last event
    delivered_through: int
    updated_at: datetime


def behind(conn: Connection) -> list[Behind]:
    """Enabled endpoints with events after their delivered_through (the dispatcher's sweep)."""
    return [Behind(str(r.endpoint_id), r.head, r.delivered_through, r.updated_at) for r in conn.execute(text(
        "SELECT w.endpoint_id, h.seq AS head, w.delivered_through, w.updated_at FROM webhook_endpoints w "
        "JOIN partner_event_heads h USING (partner_id) "
        "WHERE w.enabled AND h.seq > w.delivered_through ORDER BY w.endpoint_id"))]


__all__ = ["Attempt", "Behind", "Delivery", "Endpoint", "Replay", "advance", "behind", "count_endpoints",
           "create_endpoint", "delete_endpoint", "deliveries", "disable_for_failures", "endpoint", "endpoints", "event",
           "lock_partner_endpoints", "log_attempt", "mark_replay_started", "pending_events", "request_replay",
           "unstarted_replays", "update_endpoint"]
