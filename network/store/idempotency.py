"""Idempotency keys of the unary mutating calls: claimed in the call's own transaction, answered once.

What a stored key means for a new request (replay, refusal, new) is network.core.rules.idempotency_decision.
Keys are kept for the configured retention window (NetworkSettings.idempotency_retention_seconds): a key created
at or after now - retention is answered; an older one is not read any more, and a request resent after the window
is a new request. The table is partitioned by week (network.store.partitions): housekeeping drops a week's partition
once the whole week is past the window (purge_expired), so no key inside the window is ever dropped.

PostgreSQL cannot keep (partner_id, request_id) unique across partitions (the partition key, created_at, must be
in every unique constraint), so every claim first takes the key's advisory transaction lock (KEY_LOCKS): two
concurrent claims of one key run one after the other, and the second finds the first's row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, text

from network.core import rules
from network.errors import key_reused
from network.store import partitions

# The key's lock (class 0x49444d, "IDM": a two-key advisory lock, apart from the one-key locks), keys in hash order
# so two transactions claiming several keys cannot deadlock. Parameters: idem_partner_id, idem_request_id (arrays).
KEY_LOCKS = ("SELECT pg_advisory_xact_lock(4801613, h) FROM (SELECT DISTINCT hashtext(p || chr(31) || r) AS h "
             "FROM unnest(CAST(%(idem_partner_id)s AS text[]), CAST(%(idem_request_id)s AS text[])) AS t(p, r) "
             "ORDER BY 1) k")
# Inside the window, by the database clock. The upper bound only prunes the partitions ahead (a key claimed by a
# transaction that began after this one is dated at its start: a day covers any transaction's length). :live_from
# and :live_to (partitions.live_idempotency_range, reach the server as constants: psycopg2 binds client-side) let
# the planner prune the weeks outside the window and the default partition (now() cannot be pruned on at plan
# time: every partition would be opened and locked on every claim).
_LIVE = ("created_at >= :live_from AND created_at < :live_to "
         "AND created_at >= now() - make_interval(secs => :retention) AND created_at < now() + interval '1 day'")
_CLAIM = text("SELECT pg_advisory_xact_lock(4801613, hashtext(:p || chr(31) || :r));\n"
              "INSERT INTO idempotency_keys (partner_id, request_id, method, body_hash) SELECT :p, :r, :m, :h "
              f"WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE partner_id = :p AND request_id = :r AND {_LIVE}) "
              "RETURNING 1")


def _window(retention_seconds: int) -> dict:
    live_from, live_to = partitions.live_idempotency_range(datetime.now(timezone.utc), retention_seconds)
    return {"retention": retention_seconds, "live_from": live_from, "live_to": live_to}


def claim(conn: Connection, partner_id: str, method: str, request_id: str, digest: bytes,
          retention_seconds: int) -> bytes | None:
    """Claim the key; return the stored response when this request was already answered inside the window
    (raise when the key was used for another request). One round trip for a new key: the lock, then (a statement
    of its own, so its snapshot sees every claim committed before the lock was granted) the insert unless a key
    inside the window exists."""
    keys = {"p": partner_id, "r": request_id, **_window(retention_seconds)}
    if conn.execute(_CLAIM, {**keys, "m": method, "h": digest}).first():
        return None
    row = conn.execute(text(f"SELECT method, body_hash, response FROM idempotency_keys "
                            f"WHERE partner_id = :p AND request_id = :r AND {_LIVE} "
                            f"ORDER BY created_at DESC LIMIT 1"), keys).one()
    stored = rules.StoredAnswer(row.method, bytes(row.body_hash), None if row.response is None else bytes(row.response))
    decision = rules.idempotency_decision(request_id, method, digest, stored)
    if isinstance(decision, rules.Replay):
        return decision.response
    raise key_reused(request_id)


def store(conn: Connection, partner_id: str, request_id: str, response: bytes) -> None:
    """Answer the key claimed in this transaction (its created_at is the transaction's now(); the day around the
    application's clock, a constant, lets the planner read that day's week alone)."""
    at = datetime.now(timezone.utc)
    conn.execute(text("UPDATE idempotency_keys SET response = :b WHERE partner_id = :p AND request_id = :r "
                      "AND created_at = now() AND created_at >= :live_from AND created_at < :live_to"),
                 {"b": response, "p": partner_id, "r": request_id,
                  "live_from": at - partitions.CLOCK_SKEW, "live_to": at + partitions.CLOCK_SKEW})


def stored_body_hash(engine: Engine, partner_id: str, request_id: str, retention_seconds: int) -> bytes | None:
    """The body hash a key was claimed with inside the window (None: not claimed)."""
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT body_hash FROM idempotency_keys WHERE partner_id = :p AND request_id = :r "
                                f"AND {_LIVE} ORDER BY created_at DESC LIMIT 1"),
                           {"p": partner_id, "r": request_id, **_window(retention_seconds)}).first()
    return None if row is None else bytes(row.body_hash)


def purge_expired(engine: Engine, retention_seconds: int) -> int:
    """Create the partitions ahead, drop the week partitions past the window and delete the expired keys of the
    default partition, in one short transaction; return how many keys went. Keys past the window that share a day
    with keys inside it stay stored (never answered: claim reads inside the window only) until that day is dropped."""
    with engine.begin() as conn:
        partitions.ensure_partitions(conn, conn.execute(text("SELECT now()")).scalar_one())
        _dropped, deleted = partitions.drop_expired_idempotency(conn, retention_seconds)
    return deleted
