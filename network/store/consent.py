"""Consent for every spend on the network's side: the member verification of Redeem and AuthorizeRedemption,
card and member freezes, and velocity limits (rules: network.core.consent).

Two steps:
1. Before the spend's transaction, `verify` checks the PIN (scrypt: slow on purpose, so it holds no database lock
   while it hashes) or pre-checks the code. A failure is recorded in its own committed transaction (the counter
   of failed tries, and the lock it may start) and then refused: the spend itself writes nothing.
2. Inside the spend's transaction, under the member's row lock, `SpendGuard` reads the member's freeze, its cards,
   the caller's enrolment and the velocity counts from the database (no cache: a freeze committed by any server
   is seen by the next spend on every server), consumes the one-time code (single use: a refused spend rolls the
   consumption back with everything else) and refuses what may not go ahead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, Engine, text

from network import errors
from network.core import consent
from network.core.terms import ContractTerms
from network.settings import NetworkSettings
from network.store.credentials import card_standing, code_hash, pin_matches


class Verification(NamedTuple):
    """What the request carried: a PIN, a code, or neither."""

    pin: str = ""
    code: str = ""

    @property
    def given(self) -> bool:
        return bool(self.pin or self.code)


PARTNER_WINDOW = timedelta(minutes=1)  # the partner velocity limit's rolling window (partner_redemptions_per_minute)


@dataclass(frozen=True)
class ConsentPolicy:
    max_failures: int = 5
    lock: timedelta = timedelta(minutes=15)
    member_spends_per_hour: int = 30
    member_spends_per_day: int = 100
    partner_redemptions_per_minute: int = 6000

    @classmethod
    def of(cls, settings: NetworkSettings) -> "ConsentPolicy":
        return cls(settings.pin_max_failures, timedelta(seconds=settings.pin_lock_seconds),
                   settings.member_spends_per_hour, settings.member_spends_per_day,
                   settings.partner_redemptions_per_minute)


def _locked(member_id: uuid.UUID, until: datetime) -> errors.DomainError:
    return errors.precondition("MEMBER_LOCKED", f"member {member_id}: verified spending is locked until "
                               f"{until.isoformat()} after too many wrong PINs or codes",
                               member_id=str(member_id), locked_until=until.isoformat())


def _failed(member_id: uuid.UUID, what: str) -> errors.DomainError:
    return errors.denied("MEMBER_VERIFICATION_FAILED", f"member {member_id}: {what}", member_id=str(member_id))


def record_failure(engine: Engine, member_id: uuid.UUID, now: datetime, policy: ConsentPolicy, *,
                   method: str = "pin", partner_id: str | None = None) -> datetime | None:
    """One more wrong PIN or code, committed on its own (the spend it came with writes nothing); the lock it
    starts, if any. Concurrent failures on any server count one by one (row lock on the member's credentials).
    Each failure is also kept in verification_failures (`method`: pin or code; the partner whose till sent it),
    which the console's failed-PIN flag counts (network.store.transfers.anomaly_flags)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO verification_failures (member_id, failed_at, method, partner_id) "
                          "VALUES (:m, :t, :k, :p)"), {"m": member_id, "t": now, "k": method, "p": partner_id})
        conn.execute(text("INSERT INTO member_credentials (member_id) VALUES (:m) ON CONFLICT DO NOTHING"),
                     {"m": member_id})
        row = conn.execute(text("SELECT failed_tries, locked_until FROM member_credentials WHERE member_id = :m "
                                "FOR UPDATE"), {"m": member_id}).one()
        if consent.is_locked(row.locked_until, now):
            return row.locked_until
        outcome = consent.after_failure(row.failed_tries, now, policy.max_failures, policy.lock)
        conn.execute(text("UPDATE member_credentials SET failed_tries = :f, locked_until = :l WHERE member_id = :m"),
                     {"m": member_id, "f": outcome.failed_tries, "l": outcome.locked_until})
        return outcome.locked_until


def verify(engine: Engine, member_id: uuid.UUID, verification: Verification, points: int, now: datetime,
           policy: ConsentPolicy, partner_id: str | None = None) -> None:
    """Step 1 (outside the spend's transaction). Raises MEMBER_NOT_FOUND, MEMBER_LOCKED or
    MEMBER_VERIFICATION_FAILED (after recording the failure); returns when the PIN is right or the code looks
    usable (the spend's transaction consumes it)."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT m.member_id, c.pin_hash, c.pin_salt, c.pin_params, c.failed_tries, c.locked_until "
            "FROM members m LEFT JOIN member_credentials c USING (member_id) WHERE m.member_id = :m"),
            {"m": member_id}).first()
        if row is None:
            raise errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")
        if consent.is_locked(row.locked_until, now):
            raise _locked(member_id, row.locked_until)
        code = None if not verification.code else conn.execute(text(
            "SELECT expires_at, used_at, max_points FROM redemption_codes WHERE code_hash = :h AND member_id = :m"),
            {"h": code_hash(member_id, verification.code), "m": member_id}).first()
    # the slow hash runs after the connection went back to the pool
    if verification.code:
        ok = code is not None and consent.code_usable(code.expires_at, code.used_at, code.max_points, points, now)
        what = "the redemption code is unknown, used, expired or below the points asked"
    else:
        ok = row.pin_hash is not None and pin_matches(verification.pin, bytes(row.pin_hash), bytes(row.pin_salt),
                                                      row.pin_params)
        what = "the PIN is wrong" if row.pin_hash is not None else "the member has no PIN"
    if not ok:
        record_failure(engine, member_id, now, policy, method="code" if verification.code else "pin",
                       partner_id=partner_id)
        raise _failed(member_id, what)
    if row.failed_tries:  # a right PIN or code starts the count again (unless a lock began meanwhile)
        with engine.begin() as conn:
            if conn.execute(text("UPDATE member_credentials SET failed_tries = 0 WHERE member_id = :m "
                                 "AND (locked_until IS NULL OR locked_until <= :now) RETURNING 1"),
                            {"m": member_id, "now": now}).first() is None:
                locked_until = conn.execute(text("SELECT locked_until FROM member_credentials WHERE member_id = :m"),
                                            {"m": member_id}).scalar_one()
                raise _locked(member_id, locked_until)


@dataclass(frozen=True)
class SpendGuard:
    """Step 2, called by the ledger inside the spend's transaction once the member is locked."""

    partner_id: str
    verification: Verification
    policy: ConsentPolicy
    pin_verified: bool = False  # verify() accepted the PIN for this request (never assumed from the PIN's presence)

    def __call__(self, conn: Connection, member_id: uuid.UUID, points: int, now: datetime,
                 terms: ContractTerms) -> None:
        row = conn.execute(text(
            "SELECT m.frozen_at, (SELECT e.method FROM enrollments e WHERE e.partner_id = :p "
            "AND e.member_id = m.member_id) AS method FROM members m WHERE m.member_id = :m"),
            {"m": member_id, "p": self.partner_id}).one()
        if row.frozen_at is not None:
            raise errors.precondition("MEMBER_FROZEN", f"member {member_id} is frozen by the operator",
                                      member_id=str(member_id))
        if not card_standing(conn, member_id).has_active_card:
            raise errors.precondition("CARD_FROZEN", f"member {member_id} has no active card",
                                      member_id=str(member_id))
        verified = self.pin_verified  # checked before this transaction (verify)
        if self.verification.code:
            if conn.execute(text(
                    "UPDATE redemption_codes SET used_at = :now, used_by = :p WHERE code_hash = :h AND member_id = :m "
                    "AND used_at IS NULL AND expires_at > :now AND max_points >= :n RETURNING 1"),
                    {"now": now, "p": self.partner_id, "h": code_hash(member_id, self.verification.code),
                     "m": member_id, "n": points}).first() is None:
                raise _failed(member_id, "the redemption code was used meanwhile")
            verified = True
        if consent.spend_needs(verified, row.method, points, terms.unverified_spend_limit_points) != consent.FREE:
            raise errors.denied("MEMBER_VERIFICATION_REQUIRED",
                                f"spending {points} points of member {member_id} needs the member's PIN or a "
                                f"one-time code", member_id=str(member_id))
        self._velocity(conn, member_id, now)

    def _velocity(self, conn: Connection, member_id: uuid.UUID, now: datetime) -> None:
        """The velocity limits, each counted only when set (0: no limit, no query)."""
        policy = self.policy
        if policy.member_spends_per_hour > 0 or policy.member_spends_per_day > 0:
            counts = conn.execute(text(
                "SELECT count(*) FILTER (WHERE created_at > :hour) AS hour, count(*) AS day FROM journal "
                "WHERE member_id = :m AND kind IN ('redeem', 'hold') AND created_at > :day"),
                {"m": member_id, "hour": now - timedelta(hours=1), "day": now - timedelta(days=1)}).one()
            for count, limit, window in ((counts.hour, policy.member_spends_per_hour, "hour"),
                                         (counts.day, policy.member_spends_per_day, "day")):
                if consent.velocity_breach(count, limit):
                    raise errors.precondition("VELOCITY_LIMIT", f"member {member_id} spent {count} times in the last "
                                              f"{window}", limit=str(limit), window=window, member_id=str(member_id))
        # The partner's spends are counted in partner_spends (migration 0021), by partner: on a Citus cluster a
        # table on the coordinator, not the journal's every shard. Each spend is recorded there, limit or none (a
        # limit set later counts the window in full), and takes away its partner's spends that have left the
        # window; rows another spend is taking away meanwhile are skipped, not waited for.
        since = now - PARTNER_WINDOW
        if policy.partner_redemptions_per_minute > 0:
            minute = conn.execute(text(
                "SELECT count(*) FROM partner_spends WHERE partner_id = :p AND spent_at > :since"),
                {"p": self.partner_id, "since": since}).scalar_one()
            if consent.velocity_breach(minute, policy.partner_redemptions_per_minute):
                raise errors.precondition("VELOCITY_LIMIT", f"partner {self.partner_id} spent {minute} times in the "
                                          "last minute", limit=str(policy.partner_redemptions_per_minute),
                                          window="minute", partner_id=self.partner_id)
        conn.execute(text(
            "WITH gone AS (DELETE FROM partner_spends WHERE partner_id = :p AND spend_id IN (SELECT spend_id "
            "FROM partner_spends WHERE partner_id = :p AND spent_at <= :since FOR UPDATE SKIP LOCKED)) "
            "INSERT INTO partner_spends (partner_id, spent_at) VALUES (:p, :now)"),
            {"p": self.partner_id, "since": since, "now": now})
