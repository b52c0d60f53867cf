"""The earn hot path: a group of earns (Earn's group commit, or one BatchEarn) in three round trips.

1. BEGIN, the idempotency keys' locks (network.store.idempotency.KEY_LOCKS: keys are unique within the retention
   window by them, the table being partitioned by week), the ledger-time lock (shared: network.store.ledger_time),
   the credit-limited partners' locks (only when the group has such partners: see _CREDIT_LOCK) and one
   (prepared) statement that reads the cut-off watermark, re-checks the callers' keys and partners, finds the
   idempotency keys already answered inside the retention window and finds the members (shard, enrollments). Python decides every item (network.store.earn_plan,
   with network.core.rules) and builds every response.
2. Every insert that does not depend on the hash chain (lots, postings, enrollments, idempotency keys with
   their responses), then the touched shards' chain heads locked in shard order.
3. The journal rows chained onto those heads, the heads moved, one outbox event per earn (network.store.events:
   one statement for the whole group), COMMIT.
A group of at least COPY_FROM earns (a BatchEarn's) sends its lots, postings and idempotency keys in step 2 and its
journal rows in step 3 with COPY (network.store.copyrows), one round trip per table, instead of INSERTs.
The chain heads are the only rows that concurrent writers share, so they are held for step 3 only: a big
BatchEarn does not keep every shard locked while Python works. The unary group commit's small groups take the
heads in step 1 instead and send steps 2 and 3 together: two round trips. The statements run on a raw DBAPI connection in
autocommit mode (BEGIN and COMMIT travel inside the round trips), in the driver's parameter style with array
literals (network.store.pgarray): nothing is compiled per call. A database failure rolls everything back and
surfaces as SQLAlchemy's DBAPIError, like everywhere else.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import psycopg2
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from network.core import events, rules
from network.core.members import shard_of
from network.core.results import EarnItem, EarnResult
from network.errors import DomainError, key_reused
from network.keys import Caller, key_status_refusal
from network.store import partitions
from network.store.idempotency import KEY_LOCKS
from network.store.earn_plan import (ADD_QUALIFYING, INSERT_COMPONENTS, INSERT_ENROLLMENTS, INSERT_LOTS, MEMBERS_OF_ITEMS,
                                     LOCK_STATUS, UPSERT_STATUS, MemberFacts, earn_member_ids, member_lookup_params)
from network.store.copyrows import copy_rows
from network.store.journal import (INSERT_JOURNAL, INSERT_POSTINGS, LOCK_HEADS, READ_ANCHORS, UPDATE_HEADS,
                                   UPSERT_ACTIVITY, HeadMove, JournalRow, PostingRow, Prepared, ShardHead, WriteBatch,
                                   activity_writes, chain_anchors, chain_rows, chain_writes,
                                   missing_heads, posting_rows, posting_writes, shard_heads)
from network.core.campaigns import ClaimState
from network.store.campaigns import (ADD_MEMBER_TOTALS, CAMPAIGN_LOCK, SPEND_BUDGETS, Claims, Programme,
                                     lock_candidates)
from network.store.events import APPEND_EVENTS, EventRow, event_writes, transaction_events
from network.store.ledger import Ledger
from network.store.ledger_time import SHARE_LEDGER_TIME
from network.store.lots import OUTSTANDING_LOTS
from network.store.pgarray import columns, literal


class Outcome(NamedTuple):
    """One earn's outcome: the serialized EarnResponse (new or replayed), or why the item was refused."""

    response: bytes = b""
    refusal: DomainError | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None


# GroupCommit answers a retry that raced its original inside one batch with ("duplicate-in-batch", the original's
# Outcome) instead of an Outcome.


class IdempotencyLookup(NamedTuple):
    """A (partner, request id) whose stored answer the first round trip looks up (parameters idem_*)."""

    partner_id: str
    request_id: str


class IdempotencyKeyRow(NamedTuple):
    partner_id: str
    request_id: str
    method: str
    body_hash: bytes
    response: bytes


# A group of at least COPY_FROM earns (a BatchEarn's) writes its lots, postings, idempotency keys and journal rows
# with COPY (network.store.copyrows): one round trip per table, but less PostgreSQL work per row than the
# set-based INSERTs, which the small groups of the unary group commit keep (fewer round trips).
COPY_FROM = 100

# Every statement of an earn's transaction is a lookup or an update by key. Their plans are generic and kept for
# the life of the connection (prepared once, plan_cache_mode = force_generic_plan), so a plan made while a table
# was small (a fresh database, this week's new idempotency partition) would keep its sequential scan after the
# table had grown, until something happened to invalidate it: measured, a unary earn's first round trip went from
# under a millisecond to about 90 ms once a BatchEarn phase had put 50,000 keys in the partition planned empty.
# Planned (and re-planned) inside the transaction with sequential scans priced out, every lookup goes through its
# index whatever the table held when it was planned. SET LOCAL: the pooled connection is left as it was.
INDEX_PLANS = "SET LOCAL enable_seqscan = off"
LOT_COLUMNS = ("lot_id", "member_id", "issuer_id", "earn_tx_id", "points", "remaining", "held", "state",
               "available_at", "expires_at", "created_at")


class _Copy(NamedTuple):
    table: str
    columns: Sequence[str]
    rows: list


# Every lookup is by primary key, row by row (LATERAL ... LIMIT 1 keeps the planner from hashing a whole table when
# its statistics are stale), so the cost grows with the group, never with the tables.
# One result set, four kinds of row: LookupRow names its columns and what each kind puts in them; Lookups.of reads
# each kind into its named row.
_LOOKUPS = """SELECT 'k' AS tag, k.key_id AS id, k.status AS ref, p.status AS status, NULL::bytea AS hash,
       NULL::bytea AS response, NULL::bigint AS shard, NULL::bigint AS seq, NULL::timestamptz AS at,
       NULL::timestamptz AS since, NULL::smallint AS month
  FROM partner_keys k JOIN partners p USING (partner_id) WHERE k.key_id = ANY(CAST(%(keys)s AS text[]))
UNION ALL
SELECT 'i', k.partner_id, k.request_id, k.method, k.body_hash, k.response, NULL, NULL, NULL, NULL, NULL
  FROM unnest(CAST(%(idem_partner_id)s AS text[]), CAST(%(idem_request_id)s AS text[])) AS t(p, r) CROSS JOIN LATERAL (
    SELECT * FROM idempotency_keys k WHERE k.partner_id = t.p AND k.request_id = t.r /*LIVE*/
      AND k.created_at >= now() - make_interval(secs => CAST(%(idem_retention)s AS integer))
      AND k.created_at < now() + interval '1 day' LIMIT 1) k
UNION ALL
SELECT 'm', member_id, partner_id, tier, NULL, NULL, shard, qualifying, joined_at, last_earn_at, birth_month FROM found
UNION ALL
SELECT 'w', NULL, NULL, NULL, NULL, NULL, NULL, NULL, closed_before, NULL, NULL FROM ledger_cutoff
UNION ALL
SELECT 'b', campaign_id, NULL, NULL, NULL, NULL, NULL, budget_left, NULL, NULL, NULL FROM campaigns
  WHERE campaign_id = ANY(CAST(%(claim_campaigns)s AS text[])) AND budget_left IS NOT NULL
UNION ALL
SELECT 'c', t.campaign_id, t.member_id::text, t.period, NULL, NULL, NULL, t.points, NULL, NULL, NULL
  FROM campaign_member_totals t WHERE t.campaign_id = ANY(CAST(%(claim_campaigns)s AS text[]))
  AND t.member_id = ANY(CAST(%(members)s AS uuid[]))"""
_READ = "WITH found AS (" + MEMBERS_OF_ITEMS + ")\n" + _LOOKUPS
# The same, also locking the members' shard heads (in shard order) in this first round trip: two round trips in
# all, for the small groups of the unary group commit, whose single writer contends with nobody for long.
# The heads are named by their anchors (network.store.journal.LOCK_HEADS): those of the shards the members are
# expected in (network.core.members.shard_of at the ledger's shard count); a member enrolled under another shard
# count is in a shard not locked here, and the group is tried again with the heads locked in round trip 2.
_READ_AND_LOCK = ("WITH found AS (" + MEMBERS_OF_ITEMS + "),\nheads AS (SELECT shard, seq, last_hash, "
                  "anchor_member_id FROM shard_heads WHERE anchor_member_id = ANY(CAST(%(head_anchors)s AS uuid[])) "
                  "AND shard IN (SELECT shard FROM found WHERE partner_id IS NULL) ORDER BY shard FOR UPDATE)\n" +
                  _LOOKUPS + "\nUNION ALL\nSELECT 'h', anchor_member_id::text, NULL, NULL, last_hash, NULL, shard, "
                  "seq, NULL, NULL, NULL FROM heads")
_INSERT_KEYS = ("INSERT INTO idempotency_keys (partner_id, request_id, method, body_hash, response) "
                "SELECT p, r, m, h, b FROM unnest(CAST(%(partner_id)s AS text[]), CAST(%(request_id)s AS text[]), "
                "CAST(%(method)s AS text[]), CAST(%(body_hash)s AS bytea[]), CAST(%(response)s AS bytea[])) "
                "AS v(p, r, m, h, b)")


class LookupRow(NamedTuple):
    """A row of the first round trip (_LOOKUPS, MEMBERS_OF_ITEMS): `tag` says which kind it is.

    'k' a caller's key:             id = key id,     ref = key status,  status = partner status
    'i' a stored idempotency key:   id = partner id, ref = request id,  status = method, hash = body hash, response
    'm' a member (ref NULL) or one of its enrollments: id = member id, ref = partner id, shard (the member's);
        a member also: status = tier held, seq = qualifying points (12 months), at = joined, since = last earn,
        month = birth month (network.store.birthdays; NULL: not known)
    'h' a chain head locked here:   id = its anchor, hash = last hash, shard, seq
    'w' the cut-off watermark:      at = ledger_cutoff.closed_before (network.store.ledger_time)
    'b' a campaign's budget left:   id = campaign id, seq = points left (campaigns locked in this round trip)
    'c' a member's cap total:       id = campaign id, ref = member id, status = period, seq = points given
    """

    tag: str
    id: str | None
    ref: str | None
    status: str | None
    hash: bytes | None
    response: bytes | None
    shard: int | None
    seq: int | None
    at: datetime | None
    since: datetime | None
    month: int | None


class KeyStatus(NamedTuple):
    key_status: str
    partner_status: str


_UNKNOWN_KEY = KeyStatus("revoked", "active")  # a key gone since the caller was authenticated: refused as revoked


@dataclass
class Lookups:
    """What the first round trip found, by kind."""

    keys: dict[str, KeyStatus] = field(default_factory=dict)
    stored: dict[IdempotencyLookup, rules.StoredAnswer] = field(default_factory=dict)
    members: MemberFacts = field(default_factory=MemberFacts)
    heads: dict[int, ShardHead] | None = None  # when locked in this round trip
    closed_before: datetime | None = None  # the cut-off watermark, read under the ledger-time lock
    # budgets and cap totals of the campaigns locked in round trip 1 (read under their locks: network.store.campaigns)
    budgets: dict[str, int] = field(default_factory=dict)
    cap_used: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[tuple]) -> "Lookups":
        found = cls()
        members = found.members
        for row in map(LookupRow._make, rows):
            if row.tag == "m":
                members.add(row.id, row.shard, row.ref, row.status, row.at, row.since, row.seq, row.month)
            elif row.tag == "k":
                found.keys[row.id] = KeyStatus(row.ref, row.status)
            elif row.tag == "w":
                found.closed_before = row.at
            elif row.tag == "b":
                found.budgets[row.id] = int(row.seq)
            elif row.tag == "c":
                found.cap_used[row.id, row.ref, row.status] = int(row.seq)
            elif row.tag == "i":
                found.stored[IdempotencyLookup(row.id, row.ref)] = rules.StoredAnswer(
                    row.status, bytes(row.hash), None if row.response is None else bytes(row.response))
            else:
                found.heads = found.heads if found.heads is not None else {}
                found.heads[row.shard] = ShardHead(row.seq, bytes(row.hash), row.id)
        return found

# Prepared once per connection (parsing and planning these cost PostgreSQL more than running them for a small
# group); generic plans, since every lookup is by key whatever the arrays hold. The programme's statements too
# (earn components, the members' tier and qualifying points, the campaigns' locks, budgets and cap totals): every
# earn writes the members' standing, and a bonused earn its components.
_PREPARED_KEY = "coalition_earn_statements"
PREPARED = {sql: Prepared(f"coalition_earn_{name}", sql) for name, sql in (
    ("keys", _INSERT_KEYS), ("lots", INSERT_LOTS),
    ("enrollments", INSERT_ENROLLMENTS), ("postings", INSERT_POSTINGS), ("journal", INSERT_JOURNAL),
    ("heads", UPDATE_HEADS), ("activity", UPSERT_ACTIVITY), ("lock_heads", LOCK_HEADS), ("events", APPEND_EVENTS),
    ("components", INSERT_COMPONENTS), ("status_lock", LOCK_STATUS), ("status", UPSERT_STATUS),
    ("qualifying", ADD_QUALIFYING),
    ("campaign_lock", CAMPAIGN_LOCK), ("budgets", SPEND_BUDGETS), ("cap_totals", ADD_MEMBER_TOTALS))}


_READS_KEY = "coalition_earn_reads"


@lru_cache(maxsize=4)
def reads(live: tuple[datetime, datetime]) -> dict[str, Prepared]:
    """The first round trip's statements (_READ, _READ_AND_LOCK) for one week-aligned range of the idempotency
    keys' live window (partitions.live_idempotency_range), written into the statement as constants: a generic plan
    keeps only the partitions the constants leave (pruned when the statement is planned; with the now()-relative
    window alone it keeps every week and the default partition, and locks them all on every execution). The
    exact window stays in the statement; the constants only narrow what is read. One pair per week."""
    live_from, live_to = live
    bounds = (f"AND k.created_at >= TIMESTAMPTZ '{live_from.isoformat()}' "
              f"AND k.created_at < TIMESTAMPTZ '{live_to.isoformat()}'")
    suffix = f"{live_from:%Y%m%d}_{live_to:%Y%m%d}"
    return {name: Prepared(f"coalition_earn_{name}_{suffix}", sql.replace("/*LIVE*/", bounds))
            for name, sql in (("read", _READ), ("read_lock", _READ_AND_LOCK))}


def _prepare(connection, live: tuple[datetime, datetime]) -> dict[str, Prepared]:
    """Prepare PREPARED on this pooled connection unless done since it was opened, and the reads of this week's
    range unless already prepared on it (outside any transaction); return the reads."""
    statements = []
    if not connection.info.get(_PREPARED_KEY):
        statements += ["DEALLOCATE ALL", "SET plan_cache_mode = force_generic_plan",
                       *(p.prepare() for p in PREPARED.values())]
        connection.info.pop(_READS_KEY, None)
    wanted = reads(live)
    previous = connection.info.get(_READS_KEY)
    if previous != live:
        if previous is not None:
            statements += [f"DEALLOCATE {p.name}" for p in reads(previous).values()]
        statements += [p.prepare() for p in wanted.values()]
    if statements:
        with connection.driver_connection.cursor() as cursor:
            cursor.execute(";\n".join(statements))
        connection.info[_PREPARED_KEY] = True
        connection.info[_READS_KEY] = live
    return wanted


def replayed(request_id: str, method: str, digest: bytes, stored: rules.StoredAnswer) -> Outcome:
    """A key answered before: its stored response when the call is the same (method and body), else a refusal."""
    decision = rules.idempotency_decision(request_id, method, digest, stored)
    if isinstance(decision, rules.Replay):
        return Outcome(decision.response)
    return Outcome(refusal=key_reused(request_id))


@dataclass(frozen=True)
class EarnCall:
    caller: Caller
    item: EarnItem
    digest: bytes  # SHA-256 of the request's deterministic serialization: the idempotency body hash


@dataclass(frozen=True)
class BatchClaim:
    """A BatchEarn's own idempotency key: its response is built from the item outcomes and stored with them."""

    partner_id: str
    request_id: str
    digest: bytes
    respond: Callable[[list[Outcome]], bytes]


# The credit-limit check reads a limited partner's outstanding points inside the earn transaction, after taking
# a transaction-scoped advisory lock on that partner: every writer (any thread, process or server) that issues
# points for a credit-limited partner holds the same lock until it commits, so the sum it reads includes every
# earlier commit and nobody issues for that partner meanwhile. Read committed: the SELECT after the lock takes a
# fresh snapshot. The locks are taken in partner order in round trip 1, right after the shared ledger-time lock and
# before any chain head (one global order), so they cannot deadlock with each other or with the heads. Partners without a credit limit take no lock.
# Only a partner whose limit the contract cache did not yet show before round trip 1 is locked later (after the
# heads): should that ever deadlock, PostgreSQL aborts one transaction and its calls fail (retryable), nothing
# is over-issued. Cost: one round trip per limited partner in the group, and a sum over that partner's
# outstanding lots (index ix_lots_issuer_state).
_CREDIT_LOCK = ("SELECT pg_advisory_xact_lock(hashtextextended('coalition-credit:' || p, 0)) "
                "FROM unnest(CAST(%(credit_partners)s AS text[])) AS p")
# With the outstanding points, the credit-use level last announced to the partner (partner_credit_levels), read
# under the same lock: the earn that crosses 80 % or 100 % of the limit writes the event and the new level.
_OUTSTANDING = (f"SELECT coalesce(sum(remaining + held), 0), (SELECT level FROM partner_credit_levels "
                f"WHERE partner_id = %(p)s) FROM lots WHERE {OUTSTANDING_LOTS} AND issuer_id = %(p)s")
_SET_CREDIT_LEVELS = ("INSERT INTO partner_credit_levels AS c (partner_id, level) "
                      "SELECT * FROM unnest(CAST(%(partner_id)s AS text[]), CAST(%(level)s AS smallint[])) "
                      "ON CONFLICT (partner_id) DO UPDATE SET level = excluded.level")


class CreditLevelRow(NamedTuple):
    partner_id: str
    level: int


class _LockedOutstanding:
    """Outstanding points of credit-limited partners, read on the earn transaction's cursor under their lock, with
    the credit-use level last announced to each (`read`)."""

    def __init__(self, cursor, locked: Sequence[str]):
        self._cursor = cursor
        self._locked = set(locked)
        self.read: dict[str, tuple[int, int]] = {}  # partner -> (outstanding points, level announced)

    def __call__(self, partner_id: str) -> int:
        if partner_id not in self._locked:  # a limit newer than the contract cache said before round trip 1
            self._cursor.execute(_CREDIT_LOCK, {"credit_partners": literal([partner_id])})
            self._locked.add(partner_id)
        self._cursor.execute(_OUTSTANDING, {"p": partner_id})
        outstanding, level = self._cursor.fetchone()
        self.read[partner_id] = (int(outstanding), int(level or 0))
        return int(outstanding)


class EarnCommitter:
    """Posts groups of earns (network.store.earn's three round trips), checking credit limits exactly: see
    _CREDIT_LOCK. Correct across threads, server processes and servers without any in-process snapshot."""

    def __init__(self, ledger: Ledger, respond: Callable[[EarnResult], bytes], *,
                 committed: Callable[[int], None] | None = None, outbox: bool = True, copy_from: int | None = None):
        """`outbox` False leaves the partner events out (NetworkSettings.outbox_enabled: a bench knob only).
        copy_from: groups of at least this many earns are written with COPY (default COPY_FROM)."""
        self._copy_from = COPY_FROM if copy_from is None else copy_from
        self._ledger = ledger
        self._respond = respond
        self._committed = committed
        self._outbox = outbox

    def _credit_limited(self, calls: Sequence[EarnCall]) -> list[str]:
        """The callers' partners whose contract in force (from the contract cache) has a credit limit, sorted."""
        now = self._ledger.clock()
        limited = set()
        for partner_id in {c.caller.partner_id for c in calls}:
            try:
                if self._ledger.contracts.terms(partner_id, now).credit_limit_minor is not None:
                    limited.add(partner_id)
            except DomainError:  # no contract: the plan refuses these items
                continue
        return sorted(limited)

    def post(self, connection, calls: Sequence[EarnCall], claim: BatchClaim | None = None, *,
             lock_early: bool = False) -> tuple[list[Outcome], bytes]:
        """Post `calls` in one transaction; return each call's outcome and, with a claim, the batch response.

        connection: a pooled connection (SQLAlchemy's, with .driver_connection and .info) in autocommit mode.

        lock_early: lock the chain heads in the first round trip (two round trips in all; for small groups).

        A twin of some key committed by a concurrent transaction makes the key insert fail: the second attempt
        finds it and replays it. A replayed claim returns the stored batch response and no item outcomes.
        """
        try:
            return self._attempt(connection, calls, claim, lock_early)
        except IntegrityError:
            return self._attempt(connection, calls, claim, lock_early)

    def _attempt(self, connection, calls: Sequence[EarnCall], claim: BatchClaim | None,
                 lock_early: bool) -> tuple[list[Outcome], bytes]:
        dbapi = connection.driver_connection
        statement, params = "PREPARE", None
        retention = self._ledger.idempotency_retention_seconds
        try:
            # the application's clock, not the ledger's (a test's clock may be anywhere): the database's now()
            # decides the window exactly, these constants only prune (partitions.CLOCK_SKEW to spare)
            prepared = _prepare(connection, partitions.live_idempotency_range(datetime.now(timezone.utc), retention))
        except psycopg2.Error as exc:
            raise DBAPIError.instance(statement, params, exc, psycopg2.Error, hide_parameters=True) from exc
        cursor = dbapi.cursor()
        # One round trip, locks in one global order: the idempotency keys' locks (in hash order: network.store.
        # idempotency.KEY_LOCKS), the ledger-time lock (shared), so the lookups (a later
        # statement) read the cut-off watermark under it; then the credit-limited partners' locks in partner order
        # (none for partners without a credit limit); the chain heads last (in the lookups, or round trip 2).
        limited = self._credit_limited(calls)
        now = self._ledger.clock()
        programme = self._ledger.programme.current() if self._ledger.programme is not None else None
        campaigns = lock_candidates(programme, {c.caller.partner_id for c in calls}, now) if programme else []
        # The idempotency keys' locks come first, as in every unary mutation (network.store.idempotency.claim takes
        # its key's lock before anything else), so the two never wait for each other in opposite orders.
        statement = "BEGIN;\n" + INDEX_PLANS + ";\n" + KEY_LOCKS + ";\n" + SHARE_LEDGER_TIME + ";\n" + \
            (_CREDIT_LOCK + ";\n" if limited else "") + \
            (PREPARED[CAMPAIGN_LOCK].execute() + ";\n" if campaigns else "") + \
            prepared["read_lock" if lock_early else "read"].execute()
        items = [(c.caller.partner_id, c.item) for c in calls]
        member_ids = earn_member_ids(items)  # parsed once: the lookups' parameters and the heads expected
        params = self._read_params(calls, claim, now, items, member_ids)
        params["idem_retention"] = retention
        if limited:
            params["credit_partners"] = literal(limited)
        params["claim_campaigns"] = literal(campaigns)  # their budgets and cap totals come back in the lookups
        try:
            if lock_early:
                params["head_anchors"] = literal(self._anchors(cursor, self._expected_shards(member_ids)))
            cursor.execute(statement, params)
            rows = cursor.fetchall()
            copy = len(calls) >= self._copy_from
            locked = _LockedOutstanding(cursor, limited)
            decided = self._decide(calls, claim, rows, locked, Claims(_cursor_rows(cursor), campaigns), programme,
                                   copy)
            if decided.heads is not None and not set(decided.shards) <= set(decided.heads):
                # a member outside the shard expected of it (enrolled under another shard count): locking its
                # head now would take heads out of shard order, so the group starts again, heads locked later
                statement, params = "ROLLBACK", None
                cursor.execute(statement)
                return self._attempt(connection, calls, claim, lock_early=False)
            self._credit_use(decided, locked.read)
            statement, params = decided.writes.statement()
            if not statement and not decided.copies:  # a replayed batch, or nothing to write
                statement, params = "ROLLBACK", None
                cursor.execute(statement)
                return decided.outcomes, decided.batch_response
            for table, names, values in decided.copies:  # COPY: the rows that do not depend on the hash chain
                statement, params = f"COPY {table}", None
                copy_rows(cursor, table, names, values)
            statement, params = decided.writes.statement()
            if decided.txs:
                writes, heads = decided.writes, decided.heads
                if heads is None:  # lock the heads now, after the inserts that do not need them
                    writes.add(LOCK_HEADS, {"anchors": literal(self._anchors(cursor, decided.shards))})
                    statement, params = writes.statement()
                    cursor.execute(statement, params)
                    heads = shard_heads(cursor.fetchall())
                    missing_heads(self._ledger.engine, decided.shards, heads)
                    writes = WriteBatch(PREPARED)
                if copy:
                    journal, moves = chain_rows(decided.txs, heads)
                    statement, params = "COPY journal", None
                    copy_rows(cursor, "journal", JournalRow._fields, journal)
                    chained = [(UPDATE_HEADS, columns(HeadMove, moves)), *activity_writes(decided.txs)]
                else:
                    chained = chain_writes(decided.txs, heads)
                outbox = event_writes([*transaction_events(decided.txs), *decided.events]) if self._outbox else []
                for sql, values in (*chained, *decided.standing, *outbox):
                    writes.add(sql, values)
                statement, params = writes.statement()
            cursor.execute((statement + ";\n" if statement else "") + "COMMIT", params)
        except psycopg2.Error as exc:
            _rollback(dbapi)
            connection.info.pop(_PREPARED_KEY, None)  # prepare afresh next time, in case they were lost
            raise DBAPIError.instance(statement, params, exc, psycopg2.Error, hide_parameters=True) from exc
        except BaseException:
            _rollback(dbapi)
            raise
        finally:
            cursor.close()
        if self._committed and decided.earned:
            self._committed(decided.earned)
        return decided.outcomes, decided.batch_response

    def _expected_shards(self, member_ids: dict[int, uuid.UUID]) -> set[int]:
        """The chain shards the calls' members are expected in: where they were enrolled at today's shard count."""
        return {shard_of(member_id, self._ledger.shards) for member_id in member_ids.values()}

    def _anchors(self, cursor, shards: Iterable[int]) -> list[str]:
        def read() -> list[tuple]:
            cursor.execute(READ_ANCHORS)
            return cursor.fetchall()
        return chain_anchors(self._ledger.engine, shards, read)

    def _credit_use(self, decided: "_Decided", read: dict[str, tuple[int, int]]) -> None:
        """The credit-use thresholds the accepted earns cross (events after theirs) and each partner's new level."""
        issued: dict[str, int] = {}
        for tx in decided.txs:
            if tx.partner_id in read:
                issued[tx.partner_id] = issued.get(tx.partner_id, 0) + tx.points
        levels = []
        for partner_id in sorted(issued):
            outstanding, announced = read[partner_id]
            terms = self._ledger.contracts.terms(partner_id, decided.txs[0].created_at)
            value = self._ledger.point_value_minor

            def level(points: int) -> int:
                return events.credit_level(rules.exposure_minor(points, value, terms.collateral_minor),
                                           terms.credit_limit_minor)
            before, after = level(outstanding), level(outstanding + issued[partner_id])
            for threshold in events.credit_crossings(announced, before, after):
                decided.events.append(EventRow(partner_id, events.CREDIT_THRESHOLD_CROSSED, None, partner_id, json.dumps(
                    {"threshold_percent": threshold, "credit_limit_minor": terms.credit_limit_minor,
                     "exposure_minor": rules.exposure_minor(outstanding + issued[partner_id], value,
                                                            terms.collateral_minor)}, sort_keys=True)))
            if after != announced:
                levels.append(CreditLevelRow(partner_id, after))
        if levels:
            decided.writes.add(_SET_CREDIT_LEVELS, columns(CreditLevelRow, levels))

    @staticmethod
    def _read_params(calls: Sequence[EarnCall], claim: BatchClaim | None, now: datetime,
                     items: Sequence[tuple[str, EarnItem]], member_ids: dict[int, uuid.UUID]) -> dict:
        partner_ids = [c.caller.partner_id for c in calls]  # the IdempotencyLookup columns, built column-wise
        request_ids = [c.item.request_id for c in calls]
        if claim:
            partner_ids.append(claim.partner_id)
            request_ids.append(claim.request_id)
        return {"keys": literal(sorted({c.caller.key_id for c in calls})),
                "idem_partner_id": literal(partner_ids), "idem_request_id": literal(request_ids),
                **member_lookup_params(items, now, member_ids)}

    def _decide(self, calls: Sequence[EarnCall], claim: BatchClaim | None, rows,
                outstanding: Callable[[str], int], claims: Claims | None = None,
                programme: Programme | None = None, copy: bool = False) -> "_Decided":
        found = Lookups.of(rows)
        if claims is not None:  # what the lookups read under the campaigns' locks: no round trip to claim them
            claims.prefetched(ClaimState(found.budgets, found.cap_used))
        if claim:
            previous = found.stored.get(IdempotencyLookup(claim.partner_id, claim.request_id))
            if previous is not None:
                answer = replayed(claim.request_id, "BatchEarn", claim.digest, previous)
                if answer.refusal is not None:
                    raise answer.refusal
                return _Decided([], answer.response)
        outcomes: list[Outcome | None] = [None] * len(calls)
        for i, call in enumerate(calls):
            status = found.keys.get(call.caller.key_id, _UNKNOWN_KEY)
            refusal = key_status_refusal(call.caller, status.key_status, status.partner_status)
            if refusal is not None:
                outcomes[i] = Outcome(refusal=refusal)
                continue
            previous = found.stored.get(IdempotencyLookup(call.caller.partner_id, call.item.request_id)) \
                if found.stored else None
            if previous is not None:
                outcomes[i] = replayed(call.item.request_id, "Earn", call.digest, previous)
        fresh = [i for i in range(len(calls)) if outcomes[i] is None]
        plan = self._ledger.plan_earns([(calls[i].caller.partner_id, calls[i].item) for i in fresh], found.members,
                                       outstanding, closed_before=found.closed_before, claims=claims,
                                       programme=programme)
        decided = _Decided(outcomes, b"", txs=plan.txs, heads=found.heads,  # type: ignore[arg-type]
                           standing=plan.standing_writes())
        keys_written: list[IdempotencyKeyRow] = []
        for i, result in zip(fresh, plan.results):
            if isinstance(result, DomainError):
                outcomes[i] = Outcome(refusal=result)  # a refused item writes nothing, its key included
                continue
            response = self._respond(result)
            outcomes[i] = Outcome(response)
            call = calls[i]
            keys_written.append(IdempotencyKeyRow(call.caller.partner_id, call.item.request_id, "Earn", call.digest,
                                                  response))
            decided.earned += 1
        if copy:  # the same rows as the INSERTs below, through COPY; enrollments keep theirs (ON CONFLICT DO NOTHING)
            if plan.lots:
                decided.copies.append(_Copy("lots", LOT_COLUMNS, [
                    (lot.lot_id, lot.member_id, lot.issuer_id, lot.earn_tx_id, lot.points, lot.points, 0, lot.state,
                     lot.available_at, lot.expires_at, plan.now) for lot in plan.lots]))
            postings = posting_rows(plan.txs)
            if postings:
                decided.copies.append(_Copy("postings", PostingRow._fields, postings))
            for sql, params in plan.writes():
                if sql is not INSERT_LOTS:
                    decided.writes.add(sql, params)
        else:
            for sql, params in (*plan.writes(), *posting_writes(plan.txs)):
                decided.writes.add(sql, params)
        if claim:
            decided.batch_response = claim.respond(outcomes)  # type: ignore[arg-type]
            keys_written.append(IdempotencyKeyRow(claim.partner_id, claim.request_id, "BatchEarn", claim.digest,
                                                  decided.batch_response))
        if keys_written and copy:
            decided.copies.append(_Copy("idempotency_keys", IdempotencyKeyRow._fields, keys_written))
        elif keys_written:
            decided.writes.add(_INSERT_KEYS, columns(IdempotencyKeyRow, keys_written))
        return decided


@dataclass
class _Decided:
    outcomes: list[Outcome]
    batch_response: bytes
    txs: list = field(default_factory=list)  # journal transactions to chain once the heads are locked
    writes: WriteBatch = field(default_factory=lambda: WriteBatch(PREPARED))  # everything else to insert
    earned: int = 0  # earn transactions written
    copies: list[_Copy] = field(default_factory=list)  # rows written by COPY (groups of at least COPY_FROM)
    heads: dict[int, ShardHead] | None = None  # by shard, when locked in round trip 1
    events: list[EventRow] = field(default_factory=list)  # partner events besides the earns' own (credit use)
    standing: list = field(default_factory=list)  # the members' tier and qualifying points, after the heads

    @property
    def shards(self) -> list[int]:
        return sorted({tx.shard for tx in self.txs})


def _cursor_rows(cursor) -> Callable[[str, dict], list]:
    """A statement run on the earn transaction's cursor, its rows back (for network.store.campaigns.Claims)."""
    def execute(sql: str, params: dict) -> list:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
    return execute


def _rollback(dbapi) -> None:
    try:
        if not dbapi.closed:
            dbapi.cursor().execute("ROLLBACK")
    except psycopg2.Error:
        pass  # the connection is broken; its holder throws it away


class AutocommitConnection:
    """One pooled connection held in autocommit mode (a group-commit writer keeps one for its lifetime)."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._fairy = None
        self._pool = None

    def get(self):
        """The pooled connection (.driver_connection is psycopg2's, in autocommit mode; .info lives with it).
        One taken from a pool the engine has since disposed (the server does when the database is back after an
        outage) predates the outage: it is thrown away, not used."""
        if self._fairy is not None and self._pool is not self._engine.pool:
            fairy, self._fairy = self._fairy, None
            fairy.invalidate()
        if self._fairy is None:
            self._pool = self._engine.pool
            fairy = self._engine.raw_connection()
            fairy.driver_connection.autocommit = True
            self._fairy = fairy
        return self._fairy

    def discard_if_broken(self, exc: BaseException) -> None:
        """After a failure: a connection that is closed or failed at the connection level is not reused."""
        if self._fairy is None:
            return
        dbapi = self._fairy.driver_connection
        broken = dbapi is None or dbapi.closed or (isinstance(exc, DBAPIError) and exc.connection_invalidated) or (
            isinstance(getattr(exc, "orig", None), (psycopg2.OperationalError, psycopg2.InterfaceError)))
        if broken:
            try:
                self._fairy.invalidate()
            finally:
                self._fairy = None

    def release(self) -> None:
        if self._fairy is not None:
            fairy, self._fairy = self._fairy, None
            try:
                if not fairy.driver_connection.closed:
                    fairy.driver_connection.autocommit = False
            finally:
                fairy.close()


@contextmanager
def autocommit_connection(engine: Engine) -> Iterator:
    """A pooled connection in autocommit mode for one call, back to the pool (or discarded if broken) after."""
    holder = AutocommitConnection(engine)
    try:
        yield holder.get()
    except BaseException as exc:
        holder.discard_if_broken(exc)
        raise
    finally:
        holder.release()


__all__ = ["AutocommitConnection", "BatchClaim", "EarnCall", "EarnCommitter", "Outcome", "autocommit_connection"]
