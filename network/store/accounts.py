"""Member accounts over PostgreSQL: sign-up with a card's activation code, login by an e-mailed one-time code,
sessions, personal data encrypted per account, export, and erasure (crypto-shredding).

Keys: every account has its own 256-bit data key (member_keys), wrapped with AES-GCM by a key derived from the
network's master key (settings.member_master_key_file); personal data is one AES-GCM ciphertext under the data key,
bound to the account id. The e-mail lookup hash is HMAC-SHA256 under a second key derived from the master key, so
finding an account by address decrypts nothing. Erasing deletes the data key, the lookup hash, codes and sessions:
the ciphertext stays and can no longer be read. The rules (what an address is, when a code or session is valid,
rate limits) are network.core.accounts'.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Engine, text
from uuid_utils.compat import uuid7

from network.core import accounts as rules
from network.core.accounts import AccountRuleError, Consents, PersonalData
from network.mail import Mailer
from network.settings import Settings
from network.store import birthdays, credentials, read_models, transfers
from network.store.activation import card_has_account, issue_activation_code
from network.store.ledger import Ledger

Clock = Callable[[], datetime]
NONCE_BYTES = 12
MASTER_KEY_BYTES = 32


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AccountError(Exception):
    """A refused account operation (nothing written, unless the refusal itself is counted, e.g. a wrong code)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def load_master_key(path: Path, create: bool = True) -> bytes:
    """The master key (base64 of 32 bytes) from `path`; created (mode 0600) when missing and `create`."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"member master key file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)) + b"\n")
    key = base64.b64decode(path.read_bytes().strip(), validate=True)
    if len(key) != MASTER_KEY_BYTES:
        raise ValueError(f"{path}: a member master key is {MASTER_KEY_BYTES} bytes (base64), not {len(key)}")
    return key


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"coalition member " + purpose).derive(master)


@dataclass(frozen=True)
class KeyRing:
    """The keys derived from the master key: one wraps data keys, one keys the e-mail lookup hash."""
    wrapping_key: bytes
    lookup_key: bytes

    @staticmethod
    def from_master(master: bytes) -> "KeyRing":
        return KeyRing(_derive(master, b"key wrapping"), _derive(master, b"email lookup"))

    def wrap(self, account_id: uuid.UUID, data_key: bytes) -> bytes:
        return seal(self.wrapping_key, account_id, data_key)

    def unwrap(self, account_id: uuid.UUID, wrapped: bytes) -> bytes:
        return unseal(self.wrapping_key, account_id, wrapped)

    def email_hash(self, email: str) -> bytes:
        return rules.email_lookup_hash(self.lookup_key, email)


def seal(key: bytes, account_id: uuid.UUID, plaintext: bytes) -> bytes:
    """AES-GCM under `key`, bound to the account (associated data): nonce || ciphertext+tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, account_id.bytes)


def unseal(key: bytes, account_id: uuid.UUID, sealed: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], account_id.bytes)


@dataclass(frozen=True)
class AccountPolicy:
    """The settings the account rules read (network.settings)."""
    activation_code_ttl: timedelta = timedelta(days=30)
    login_code_ttl: timedelta = timedelta(minutes=10)
    login_code_max_attempts: int = 5
    window_seconds: int = 3600
    requests_per_address: int = 5
    requests_per_member: int = 5
    attempts_per_address: int = 10
    attempts_per_member: int = 10
    session_ttl: timedelta = timedelta(hours=8)

    @staticmethod
    def from_settings(settings: Settings) -> "AccountPolicy":
        return AccountPolicy(timedelta(seconds=settings.member_activation_code_ttl_seconds),
                             timedelta(seconds=settings.member_login_code_ttl_seconds),
                             settings.member_login_code_max_attempts, settings.member_login_window_seconds,
                             settings.member_login_requests_per_address, settings.member_login_requests_per_member,
                             settings.member_login_attempts_per_address, settings.member_login_attempts_per_member,
                             timedelta(seconds=settings.member_session_seconds))


@dataclass(frozen=True)
class Card:
    member_id: str
    card_number: str
    linked_at: datetime


@dataclass(frozen=True)
class AccountView:
    account_id: str
    personal: PersonalData
    consents: Consents
    cards: tuple[Card, ...]
    created_at: datetime

    @property
    def member_ids(self) -> list[str]:
        return [card.member_id for card in self.cards]


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: the account, its cards, and the points written off to breakage per issuer."""
    account_id: str
    member_ids: tuple[str, ...]
    breakage_by_issuer: dict[str, int] = field(default_factory=dict)


class Accounts:
    """Member accounts: each method runs in its own database transaction."""

    def __init__(self, engine: Engine, keys: KeyRing, mailer: Mailer, policy: AccountPolicy = AccountPolicy(),
                 clock: Clock = utcnow):
        self.engine = engine
        self.keys = keys
        self.mailer = mailer
        self.policy = policy
        self.clock = clock

    # --- sign-up -----------------------------------------------------------------------------------------

    def _use_activation_code(self, conn: Connection, card_number: str, activation_code: str,
                             now: datetime) -> uuid.UUID:
        row = conn.execute(text(
            "SELECT m.member_id, a.code_hash, a.expires_at, a.used_at FROM members m "
            "LEFT JOIN activation_codes a USING (member_id) WHERE m.card_number = :c FOR UPDATE OF m"),
            {"c": card_number.replace(" ", "")}).first()
        # one answer for an unknown card and a wrong code: a card number alone reveals nothing
        if row is None or row.code_hash is None or not hmac.compare_digest(bytes(row.code_hash),
                                                                           rules.secret_hash(activation_code)):
            raise AccountError("ACTIVATION_CODE_INVALID", "that card number and activation code do not match")
        if row.used_at is not None:
            raise AccountError("ACTIVATION_CODE_USED", "that activation code was used already")
        if now >= row.expires_at:
            raise AccountError("ACTIVATION_CODE_EXPIRED", "that activation code has expired: ask the partner for a new one")
        if card_has_account(conn, row.member_id):
            raise AccountError("CARD_ALREADY_LINKED", "that card belongs to an account already")
        conn.execute(text("UPDATE activation_codes SET used_at = :t WHERE member_id = :m"), {"t": now, "m": row.member_id})
        return row.member_id

    def sign_up(self, card_number: str, activation_code: str, personal: PersonalData,
                consents: Consents = Consents()) -> str:
        """A new account for `personal.email`, linked to the card the activation code belongs to."""
        now = self.clock()
        email_hash = self.keys.email_hash(personal.email)
        with self.engine.begin() as conn:
            if conn.execute(text("SELECT 1 FROM member_accounts WHERE email_hash = :h"), {"h": email_hash}).first():
                raise AccountError("EMAIL_TAKEN", "an account with that e-mail address exists: sign in and add the card")
            member_id = self._use_activation_code(conn, card_number, activation_code, now)
            account_id = uuid7()
            data_key = AESGCM.generate_key(bit_length=256)
            conn.execute(text(
                "INSERT INTO member_accounts (account_id, email_hash, personal_data, consent_marketing, "
                "consent_data_sharing, state, created_at) VALUES (:a, :h, :p, :cm, :cd, 'active', :t)"),
                {"a": account_id, "h": email_hash, "t": now, "cm": consents.marketing, "cd": consents.data_sharing,
                 "p": seal(data_key, account_id, json.dumps(personal.as_json()).encode())})
            conn.execute(text("INSERT INTO member_keys (account_id, wrapped_key, created_at) VALUES (:a, :k, :t)"),
                         {"a": account_id, "k": self.keys.wrap(account_id, data_key), "t": now})
            conn.execute(text("INSERT INTO account_cards (member_id, account_id, linked_at) VALUES (:m, :a, :t)"),
                         {"m": member_id, "a": account_id, "t": now})
            birthdays.set_birthday(conn, member_id, personal.birth_date)  # month and day only, for the programme
        return str(account_id)

    def add_card(self, account_id: str, card_number: str, activation_code: str) -> str:
        """Link another card (with its activation code) to a signed-in account; its member id."""
        now = self.clock()
        with self.engine.begin() as conn:
            member_id = self._use_activation_code(conn, card_number, activation_code, now)
            conn.execute(text("INSERT INTO account_cards (member_id, account_id, linked_at) VALUES (:m, :a, :t)"),
                         {"m": member_id, "a": uuid.UUID(account_id), "t": now})
            birthdays.copy_to_card(conn, uuid.UUID(account_id), member_id)
        return str(member_id)

    # --- login -------------------------------------------------------------------------------------------

    def _recent(self, conn: Connection, kind: str, column: str, value, now: datetime) -> int:
        return int(conn.execute(text(f"SELECT count(*) FROM login_events WHERE kind = :k AND {column} = :v AND at >= :s"),
                                {"k": kind, "v": value, "s": rules.window_start(now, self.policy.window_seconds)}
                                ).scalar_one())

    def _account_by_email(self, conn: Connection, email_hash: bytes):
        return conn.execute(text("SELECT account_id FROM member_accounts WHERE email_hash = :h AND state = 'active' "
                                 "FOR UPDATE"), {"h": email_hash}).first()

    def request_login_code(self, email: str) -> bool:
        """E-mail a login code to `email` when an account has it (True); False when none does (the portal says the
        same either way). Refused (RATE_LIMITED) past the requests allowed per address and per account."""
        address = rules.normalise_email(email)
        email_hash = self.keys.email_hash(address)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:h, 11))"), {"h": email_hash.hex()})
            account = self._account_by_email(conn, email_hash)
            if not rules.within_limit(self._recent(conn, "request", "email_hash", email_hash, now),
                                      self.policy.requests_per_address):
                raise AccountError("RATE_LIMITED", "too many code requests for this address: try again later")
            if account is not None and not rules.within_limit(
                    self._recent(conn, "request", "account_id", account.account_id, now), self.policy.requests_per_member):
                raise AccountError("RATE_LIMITED", "too many code requests for this account: try again later")
            conn.execute(text("INSERT INTO login_events (kind, email_hash, account_id, at) VALUES ('request', :h, :a, :t)"),
                         {"h": email_hash, "a": account.account_id if account else None, "t": now})
            if account is None:
                return False
            code = rules.login_code_from(secrets.randbelow(10 ** rules.LOGIN_CODE_DIGITS))
            conn.execute(text("UPDATE login_codes SET used_at = :t WHERE account_id = :a AND used_at IS NULL"),
                         {"t": now, "a": account.account_id})  # one live code per account: the newest
            conn.execute(text("INSERT INTO login_codes (account_id, code_hash, created_at, expires_at, failed_attempts) "
                              "VALUES (:a, :h, :t, :e, 0)"),
                         {"a": account.account_id, "h": rules.secret_hash(code), "t": now,
                          "e": now + self.policy.login_code_ttl})
            minutes = int(self.policy.login_code_ttl.total_seconds() // 60)
            self.mailer.send(address, f"Your Coalition login code: {code}",
                             f"Your login code is {code}\n\nIt works once, for {minutes} minutes. If you did not ask "
                             "for it, ignore this message.\n")
        return True

    def log_in(self, email: str, code: str) -> str:
        """A session token for the account `email` names when `code` is its live login code. A wrong code counts
        against the code's tries and the address's and account's attempt limits (those writes are kept)."""
        address = rules.normalise_email(email)
        email_hash = self.keys.email_hash(address)
        now = self.clock()
        refusal: AccountError | None = None
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:h, 11))"), {"h": email_hash.hex()})
            account = self._account_by_email(conn, email_hash)
            if not rules.within_limit(self._recent(conn, "attempt", "email_hash", email_hash, now),
                                      self.policy.attempts_per_address):
                raise AccountError("RATE_LIMITED", "too many login attempts for this address: try again later")
            if account is not None and not rules.within_limit(
                    self._recent(conn, "attempt", "account_id", account.account_id, now), self.policy.attempts_per_member):
                raise AccountError("RATE_LIMITED", "too many login attempts for this account: try again later")
            conn.execute(text("INSERT INTO login_events (kind, email_hash, account_id, at) VALUES ('attempt', :h, :a, :t)"),
                         {"h": email_hash, "a": account.account_id if account else None, "t": now})
            row = None if account is None else conn.execute(text(
                "SELECT code_id, code_hash, expires_at, used_at, failed_attempts FROM login_codes "
                "WHERE account_id = :a ORDER BY code_id DESC LIMIT 1"), {"a": account.account_id}).first()
            state = None if row is None else rules.CodeState(row.expires_at, row.used_at is not None, row.failed_attempts)
            why = rules.code_refusal(state, now, self.policy.login_code_max_attempts)
            if why is not None:
                refusal = AccountError(why, "that code is not valid: ask for a new one")
            elif not hmac.compare_digest(bytes(row.code_hash), rules.secret_hash(code)):
                conn.execute(text("UPDATE login_codes SET failed_attempts = failed_attempts + 1 WHERE code_id = :c"),
                             {"c": row.code_id})
                refusal = AccountError("CODE_WRONG", "that code is wrong")
            else:
                conn.execute(text("UPDATE login_codes SET used_at = :t WHERE code_id = :c"), {"t": now, "c": row.code_id})
                conn.execute(text("INSERT INTO member_sessions (token_hash, account_id, created_at, expires_at) "
                                  "VALUES (:h, :a, :t, :e)"),
                             {"h": rules.secret_hash(token), "a": account.account_id, "t": now,
                              "e": now + self.policy.session_ttl})
        if refusal is not None:  # raised after the commit: the attempt and the wrong try stay counted
            raise refusal
        return token

    def session_account(self, token: str) -> str | None:
        """The account id a session token belongs to while the session lasts; None otherwise."""
        if not token:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT s.account_id, s.expires_at, s.ended_at FROM member_sessions s "
                                    "JOIN member_accounts a USING (account_id) "
                                    "WHERE s.token_hash = :h AND a.state = 'active'"),
                               {"h": rules.secret_hash(token)}).first()
        if row is None or not rules.session_active(row.expires_at, row.ended_at is not None, self.clock()):
            return None
        return str(row.account_id)

    def log_out(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE member_sessions SET ended_at = :t WHERE token_hash = :h AND ended_at IS NULL"),
                         {"t": self.clock(), "h": rules.secret_hash(token)})

    # --- the account -------------------------------------------------------------------------------------

    def _data_key(self, conn: Connection, account_id: uuid.UUID) -> bytes:
        row = conn.execute(text("SELECT wrapped_key FROM member_keys WHERE account_id = :a"), {"a": account_id}).first()
        if row is None:
            raise AccountError("ACCOUNT_ERASED", f"account {account_id} was erased")
        return self.keys.unwrap(account_id, bytes(row.wrapped_key))

    def account(self, account_id: str) -> AccountView:
        ident = uuid.UUID(account_id)
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT personal_data, consent_marketing, consent_data_sharing, created_at "
                                    "FROM member_accounts WHERE account_id = :a AND state = 'active'"), {"a": ident}).first()
            if row is None:
                raise AccountError("ACCOUNT_NOT_FOUND", f"no open account {account_id}")
            personal = PersonalData.from_json(json.loads(unseal(self._data_key(conn, ident), ident, bytes(row.personal_data))))
            cards = tuple(Card(str(r.member_id), r.card_number, r.linked_at) for r in conn.execute(text(
                "SELECT c.member_id, m.card_number, c.linked_at FROM account_cards c JOIN members m USING (member_id) "
                "WHERE c.account_id = :a ORDER BY c.linked_at, m.card_number"), {"a": ident}))
        return AccountView(account_id, personal, Consents(row.consent_marketing, row.consent_data_sharing), cards,
                           row.created_at)

    def set_consents(self, account_id: str, consents: Consents) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE member_accounts SET consent_marketing = :m, consent_data_sharing = :d "
                              "WHERE account_id = :a AND state = 'active'"),
                         {"a": uuid.UUID(account_id), "m": consents.marketing, "d": consents.data_sharing})

    def member_for_email(self, email: str) -> str | None:
        """The member id of the first card of the open account with this address (a transfer's recipient)."""
        with self.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT c.member_id FROM member_accounts a JOIN account_cards c USING (account_id) "
                "WHERE a.email_hash = :h AND a.state = 'active' ORDER BY c.linked_at, c.member_id LIMIT 1"),
                {"h": self.keys.email_hash(email)}).first()
        return str(row.member_id) if row else None

    def account_of_member(self, member_id: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT account_id FROM account_cards WHERE member_id = :m"),
                               {"m": uuid.UUID(member_id)}).first()
        return str(row.account_id) if row else None

    # --- data rights -------------------------------------------------------------------------------------

    def export(self, account_id: str, ledger: Ledger) -> dict:
        """Everything held about the account, as JSON-ready data: the account, its cards, consents, each card's
        balance, lots and history, and the notices sent to it (network.store.member_data)."""
        view = self.account(account_id)
        cards = []
        with self.engine.connect() as conn:
            for card in view.cards:
                balance = ledger.member_balance(conn, uuid.UUID(card.member_id))
                cards.append({"member_id": card.member_id, "card_number": card.card_number,
                              "linked_at": card.linked_at.isoformat(),
                              "balance": {"available": balance.available, "pending": balance.pending,
                                          "held": balance.held, "expiring_30d": balance.expiring_30d},
                              "lots": _records(read_models.member_lots(conn, card.member_id)),
                              "history": _records(read_models.member_history(conn, card.member_id,
                                                                             read_models.MAX_ROWS)),
                              "security": _security(credentials.member_security(conn, card.member_id)),
                              "notifications": [_notification(n) for n in _all_notifications(conn, card.member_id)]})
        return {"account_id": view.account_id, "created_at": view.created_at.isoformat(),
                "personal_data": view.personal.as_json(),
                "consents": {"marketing": view.consents.marketing, "data_sharing": view.consents.data_sharing},
                "cards": cards, "exported_at": self.clock().isoformat()}

    def erase(self, account_id: str, ledger: Ledger, actor: str, reason: str) -> Erasure:
        """Crypto-shred the account: its data key, lookup hash, codes and sessions deleted (the ciphertext stays,
        unreadable), the programme's copy of the birth month and day deleted (network.store.birthdays); every card's
        remaining points written off to breakage per issuer through the ledger (expire transactions, as expiry writes
        them); recorded in operator_actions (who: `actor`)."""
        ident = uuid.UUID(account_id)
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(text("SELECT state FROM member_accounts WHERE account_id = :a FOR UPDATE"),
                               {"a": ident}).first()
            if row is None:
                raise AccountError("ACCOUNT_NOT_FOUND", f"no account {account_id}")
            if row.state == "erased":
                raise AccountError("ACCOUNT_ERASED", f"account {account_id} was erased already")
            member_ids = [r.member_id for r in conn.execute(text(
                "SELECT member_id FROM account_cards WHERE account_id = :a ORDER BY member_id"), {"a": ident})]
            breakage: dict[str, int] = {}
            for member_id in member_ids:
                for issuer, points in ledger.write_off_member(conn, member_id).items():
                    breakage[issuer] = breakage.get(issuer, 0) + points
            birthdays.forget(conn, member_ids)  # the programme's copy of the birth month and day
            for table in ("member_keys", "member_sessions", "login_codes"):
                conn.execute(text(f"DELETE FROM {table} WHERE account_id = :a"), {"a": ident})
            conn.execute(text("DELETE FROM login_events WHERE account_id = :a"), {"a": ident})
            conn.execute(text("UPDATE member_accounts SET state = 'erased', email_hash = NULL, closed_at = :t, "
                              "consent_marketing = false, consent_data_sharing = false WHERE account_id = :a"),
                         {"a": ident, "t": now})
            conn.execute(text("INSERT INTO operator_actions (operator, action, subject, detail) "
                              "VALUES (:o, 'member.erase', :s, CAST(:d AS jsonb))"),
                         {"o": actor, "s": f"account {account_id}", "d": json.dumps(
                             {"reason": reason, "members": [str(m) for m in member_ids], "breakage": breakage})})
        return Erasure(account_id, tuple(str(m) for m in member_ids), breakage)


def _security(security: credentials.MemberSecurity) -> dict:
    return {"pin_set": security.pin_set, "failed_tries": security.failed_tries, "frozen": security.frozen,
            "locked_until": security.locked_until.isoformat() if security.locked_until else None,
            "cards": [{"card_number": c.card_number, "status": c.status, "created_at": c.created_at.isoformat()}
                      for c in security.cards]}


def _all_notifications(conn: Connection, member_id: str) -> list[transfers.Notification]:
    found, after = [], 0
    while page := transfers.member_notifications(conn, member_id, after=after, limit=200):
        found += page
        after = page[-1].seq
    return found


def _notification(notice: transfers.Notification) -> dict:
    return {"seq": notice.seq, "type": notice.type, "created_at": notice.created_at.isoformat(),
            "transfer_id": notice.transfer_id, "detail": notice.detail}


def _records(frame) -> list[dict]:
    """A read model's rows as JSON-ready dicts (instants as ISO 8601 text)."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def build_accounts(engine: Engine, settings: Settings, mailer: Mailer, clock: Clock = utcnow) -> Accounts:
    """The member accounts as the portal, the CLI and the network server use them."""
    keys = KeyRing.from_master(load_master_key(settings.resolved_member_master_key_file()))
    return Accounts(engine, keys, mailer, AccountPolicy.from_settings(settings), clock)


__all__ = ["AccountError", "AccountPolicy", "AccountRuleError", "AccountView", "Accounts", "Card", "Consents", "Erasure",
           "KeyRing", "PersonalData", "build_accounts", "issue_activation_code", "load_master_key"]
