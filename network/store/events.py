"""Writing and reading the outbox (partner_events): events written in the transaction of the change they report.

APPEND_EVENTS is one statement, whatever the number of events and partners: it moves each partner's sequence head
once (in partner order, so concurrent writers never deadlock on them), numbers the events after it, inserts them
and NOTIFYs EVENTS_CHANNEL with the partners' ids (delivered when the transaction commits, to the servers'
WatchEvents). The earn path adds it to its last round trip; the other writers run it on their connection.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Sequence

from sqlalchemy import Connection

from network.core import events
from network.core.results import TransactionView
from network.store import pgarray
from network.store.journal import PendingTransaction, Write

EVENTS_CHANNEL = "coalition_events"


class EventRow(NamedTuple):
    """One event to write (APPEND_EVENTS' parameters): about a journal row (tx_id) or a subject with details."""

    partner_id: str
    type: str
    tx_id: str | None
    subject: str | None
    detail: str | None  # a JSON object; None: {}


class EventHead(NamedTuple):
    """A partner's sequence head moved by `count` events (APPEND_EVENTS' head_* parameters)."""

    head_partner_id: str
    head_count: int


class EventInsert(NamedTuple):
    """An event as APPEND_EVENTS inserts it: `later` events of the same partner follow it in the statement."""

    partner_id: str
    later: int
    type: str
    tx_id: str | None
    subject: str | None
    detail: str | None


# The heads move in partner order (the parameters are sorted), so writers of several partners' events never wait
# for each other in a cycle. One NOTIFY per statement names the partners (a comma-separated payload; empty, which
# wakes every stream, when the names would not fit PostgreSQL's 8000-byte payload).
APPEND_EVENTS = (
    "WITH heads AS (INSERT INTO partner_event_heads AS h (partner_id, seq) "
    "SELECT * FROM unnest(CAST(%(head_partner_id)s AS text[]), CAST(%(head_count)s AS bigint[])) "
    "ON CONFLICT (partner_id) DO UPDATE SET seq = h.seq + excluded.seq RETURNING h.partner_id, h.seq), "
    f"woken AS (SELECT pg_notify('{EVENTS_CHANNEL}', CASE WHEN sum(length(partner_id) + 1) < 8000 "
    "THEN string_agg(partner_id, ',') ELSE '' END) FROM heads) "
    "INSERT INTO partner_events (partner_id, seq, type, tx_id, subject, detail) "
    "SELECT e.partner_id, heads.seq - e.later, e.type, e.tx_id, e.subject, coalesce(e.detail, '{}') "
    "FROM unnest(CAST(%(partner_id)s AS text[]), CAST(%(later)s AS bigint[]), CAST(%(type)s AS text[]), "
    "CAST(%(tx_id)s AS uuid[]), CAST(%(subject)s AS text[]), CAST(%(detail)s AS jsonb[])) "
    "AS e(partner_id, later, type, tx_id, subject, detail) JOIN heads USING (partner_id) CROSS JOIN woken")


def transaction_events(txs: Sequence[PendingTransaction], *, lapsed: bool = False) -> list[EventRow]:
    """One event per ledger transaction, for the partner its journal row belongs to (none for a transaction
    between members: network.core.events.MEMBER_ONLY_KINDS)."""
    return [EventRow(tx.partner_id, events.transaction_event_type(tx.kind, lapsed=lapsed), str(tx.tx_id), None, None)
            for tx in txs if tx.kind not in events.MEMBER_ONLY_KINDS]


def event_writes(rows: Sequence[EventRow]) -> list[Write]:
    """The statement that appends `rows`, each partner's in the order given (none when there are none)."""
    if not rows:
        return []
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.partner_id] = counts.get(row.partner_id, 0) + 1
    seen: dict[str, int] = {}
    inserts = []
    for row in rows:
        seen[row.partner_id] = seen.get(row.partner_id, 0) + 1
        inserts.append(EventInsert(row.partner_id, counts[row.partner_id] - seen[row.partner_id], row.type, row.tx_id,
                                   row.subject, row.detail))
    heads = [EventHead(partner_id, counts[partner_id]) for partner_id in sorted(counts)]
    params = {**pgarray.columns(EventHead, heads), **pgarray.columns(EventInsert, inserts)}
    if all(row.subject is None and row.detail is None for row in rows):  # ledger events only: two arrays fewer
        params.update(subject=None, detail=None)  # (unnest pads a NULL array with NULLs)
    return [(APPEND_EVENTS, params)]


def append_events(conn: Connection, rows: Sequence[EventRow]) -> None:
    """Append `rows` in the caller's transaction."""
    for sql, params in event_writes(rows):
        conn.exec_driver_sql(sql, params)


def append_event(conn: Connection, partner_id: str, event_type: str, subject: str, detail: dict | None = None) -> None:
    """Append one event that is not about a ledger transaction (a key, a statement, a dispute, a payment)."""
    if event_type not in events.EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    append_events(conn, [EventRow(partner_id, event_type, None, subject,
                                  json.dumps(detail or {}, sort_keys=True, default=str))])


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back: about a ledger transaction (its journal row) or a subject with details."""

    partner_id: str
    seq: int
    type: str
    occurred_at: datetime
    subject: str
    detail: dict
    transaction: TransactionView | None


_READ = ("SELECT e.partner_id, e.seq, e.type, e.occurred_at, e.subject, e.detail, e.tx_id, j.kind, j.member_id, "
         "j.points, j.amount_minor, j.currency, j.receipt_ref, j.store_id, j.terminal_id, j.request_id, "
         "j.related_id, j.created_at FROM partner_events e LEFT JOIN journal j ON j.tx_id = e.tx_id "
         "WHERE e.partner_id = %(partner_id)s AND e.seq > %(after)s ORDER BY e.seq LIMIT %(limit)s")


def read_events(conn: Connection, partner_id: str, after_sequence: int, limit: int) -> list[StoredEvent]:
    """The partner's events after `after_sequence`, in order, at most `limit` (capped at MAX_EVENTS_PAGE)."""
    rows = conn.exec_driver_sql(_READ, {"partner_id": partner_id, "after": after_sequence,
                                        "limit": min(limit, events.MAX_EVENTS_PAGE)})
    return [StoredEvent(r.partner_id, r.seq, r.type, r.occurred_at, r.subject or "", dict(r.detail or {}),
                        None if r.tx_id is None else TransactionView(
                            str(r.tx_id), r.kind, str(r.member_id), r.points, r.amount_minor, r.currency,
                            r.receipt_ref or "", r.store_id or "", r.terminal_id or "", r.request_id or "",
                            _text(r.related_id), r.created_at))
            for r in rows]


def key_and_partner_status(conn: Connection, key_id: str) -> tuple[str, str]:
    """(key status, partner status) as committed now; a key gone counts as revoked."""
    row = conn.exec_driver_sql("SELECT k.status AS key_status, p.status AS partner_status FROM partner_keys k "
                               "JOIN partners p USING (partner_id) WHERE k.key_id = %(k)s", {"k": key_id}).first()
    return (row.key_status, row.partner_status) if row else ("revoked", "active")


def high_water(conn: Connection, partner_id: str) -> int:
    """The partner's last event sequence number (0: none yet)."""
    row = conn.exec_driver_sql("SELECT seq FROM partner_event_heads WHERE partner_id = %(p)s",
                               {"p": partner_id}).first()
    return int(row.seq) if row else 0


def _text(value: uuid.UUID | str | None) -> str:
    return str(value) if value else ""


__all__ = ["APPEND_EVENTS", "EVENTS_CHANNEL", "EventRow", "StoredEvent", "append_event", "append_events",
           "event_writes", "high_water", "key_and_partner_status", "read_events",
           "transaction_events"]
