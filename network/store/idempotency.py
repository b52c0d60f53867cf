"""Idempotency keys of the unary mutating calls: claimed in the call's own transaction, answered once.

What a stored key means for a new request (replay, refusal, new) is network.core.rules.idempotency_decision.
Keys are kept for the configured retention window (NetworkSettings.idempotency_retention_seconds), then purged in
batches by housekeeping (purge_expired): a request resent after that is a new request.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from network.core import rules
from network.errors import key_reused


def claim(conn: Connection, partner_id: str, method: str, request_id: str, digest: bytes) -> bytes | None:
    """Claim the key; return the stored response when this request was already answered (raise when the key
    was used for another request)."""
    if conn.execute(text("INSERT INTO idempotency_keys (partner_id, request_id, method, body_hash) "
                         "VALUES (:p, :r, :m, :h) ON CONFLICT DO NOTHING RETURNING 1"),
                    {"p": partner_id, "r": request_id, "m": method, "h": digest}).first():
        return None
    row = conn.execute(text("SELECT method, body_hash, response FROM idempotency_keys "
                            "WHERE partner_id = :p AND request_id = :r"), {"p": partner_id, "r": request_id}).one()
    stored = rules.StoredAnswer(row.method, bytes(row.body_hash), None if row.response is None else bytes(row.response))
    decision = rules.idempotency_decision(request_id, method, digest, stored)
    if isinstance(decision, rules.Replay):
        return decision.response
    raise key_reused(request_id)


def store(conn: Connection, partner_id: str, request_id: str, response: bytes) -> None:
    conn.execute(text("UPDATE idempotency_keys SET response = :b WHERE partner_id = :p AND request_id = :r"),
                 {"b": response, "p": partner_id, "r": request_id})


def stored_body_hash(engine: Engine, partner_id: str, request_id: str) -> bytes | None:
    """The body hash a key was claimed with (None: not claimed)."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT body_hash FROM idempotency_keys WHERE partner_id = :p AND request_id = :r"),
                           {"p": partner_id, "r": request_id}).first()
    return None if row is None else bytes(row.body_hash)


# One batch: the oldest keys first, by the created_at index; rows another transaction holds are left for next time.
_PURGE_BATCH = text("DELETE FROM idempotency_keys WHERE (partner_id, request_id) IN ("
                    "SELECT partner_id, request_id FROM idempotency_keys "
                    "WHERE created_at < now() - make_interval(secs => :retention) "
                    "ORDER BY created_at LIMIT :batch FOR UPDATE SKIP LOCKED)")


def purge_expired_batch(conn: Connection, retention_seconds: int, batch: int) -> int:
    """Delete up to `batch` keys created more than `retention_seconds` ago (by the database clock); return how many."""
    return conn.execute(_PURGE_BATCH, {"retention": retention_seconds, "batch": batch}).rowcount


def purge_expired(engine: Engine, retention_seconds: int, *, batch: int = 5000, max_batches: int = 100) -> int:
    """Purge expired keys in batches of `batch`, one transaction each (no long lock, no huge delete), until none
    is left or `max_batches` ran (the next housekeeping run goes on); return how many were deleted."""
    purged = 0
    for _ in range(max_batches):
        with engine.begin() as conn:
            deleted = purge_expired_batch(conn, retention_seconds, batch)
        purged += deleted
        if deleted < batch:
            break
    return purged
