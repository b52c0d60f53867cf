"""Operator actions on partners, contracts and keys; each is recorded in operator_actions (who, what, when)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import grpc
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import Connection, text

from network import errors, webhooks
from network.core import events, expiry
from network.core.ledger import CURRENCY_EXPONENT
from network.core.terms import BASIS_POINTS, SETTLEMENT_MODELS, ContractTerms
from network.store import credentials
from network.store.contracts import load_contracts, notify_contract_change
from network.store import webhooks as webhook_store
from network.store.events import append_event
from partners import signing

MAX_ACTIVE_KEYS = 2
KEYS_CHANNEL = "coalition_keys"
_PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
SEPA_MANDATE_ID = re.compile(r"[A-Za-z0-9+?/:().,' -]{1,35}")  # EPC character set, Max35Text (pain.008 MndtId)


def notify_key_change(conn: Connection) -> None:
    """Tell every server to drop its key cache when this transaction commits (keys, partner status)."""
    conn.execute(text(f"NOTIFY {KEYS_CHANNEL}"))


def record(conn: Connection, operator: str, action: str, subject: str, detail: dict | None = None) -> None:
    conn.execute(text("INSERT INTO operator_actions (operator, action, subject, detail) VALUES (:o, :a, :s, CAST(:d AS jsonb))"),
                 {"o": operator, "a": action, "s": subject, "d": json.dumps(detail or {}, default=str)})


@dataclass(frozen=True)
class SepaMandate:
    """The SEPA direct debit mandate a partner signed: the network collects under it (pain.008 MndtId, DtOfSgntr)."""

    mandate_id: str
    signed_on: date


def _check_mandate(mandate: SepaMandate) -> None:
    if not SEPA_MANDATE_ID.fullmatch(mandate.mandate_id):
        raise errors.invalid("mandate_id", "must be 1 to 35 characters of the SEPA character set")
    if mandate.signed_on > datetime.now(timezone.utc).date():
        raise errors.invalid("mandate_signed_on", "must not be in the future")


def _checked_account(iban: str | None, bic: str | None) -> tuple[str | None, str | None]:
    if iban:
        try:
            parsed = IBAN(iban)
        except SchwiftyException as exc:
            raise errors.invalid("iban", str(exc)) from None
        iban = parsed.compact
        bic = bic or (str(parsed.bic) if parsed.bic else None)
    return iban, bic


def create_partner(conn: Connection, operator: str, partner_id: str, name: str, currency: str = "EUR",
                   iban: str | None = None, bic: str | None = None, mandate: SepaMandate | None = None) -> None:
    if not _PARTNER_ID.match(partner_id):
        raise errors.invalid("partner_id", "must be 1 to 32 characters of [a-z0-9_-], starting with a letter or digit")
    if not name.strip() or len(name) > 200:
        raise errors.invalid("name", "must be 1 to 200 characters")
    if currency not in CURRENCY_EXPONENT:
        raise errors.invalid("currency", f"must be one of {', '.join(sorted(CURRENCY_EXPONENT))}")
    iban, bic = _checked_account(iban, bic)
    if mandate is not None:
        _check_mandate(mandate)
    inserted = conn.execute(text("INSERT INTO partners (partner_id, name, status, currency, iban, bic, "
                                 "sepa_mandate_id, sepa_mandate_signed_on) "
                                 "VALUES (:p, :n, 'active', :c, :i, :b, :m, :md) ON CONFLICT DO NOTHING RETURNING 1"),
                            {"p": partner_id, "n": name, "c": currency, "i": iban, "b": bic,
                             "m": mandate.mandate_id if mandate else None,
                             "md": mandate.signed_on if mandate else None}).first()
    if not inserted:
        raise errors.DomainError(grpc.StatusCode.ALREADY_EXISTS, "PARTNER_EXISTS", f"partner {partner_id} exists")
    record(conn, operator, "partner.create", partner_id,
           {"name": name, "currency": currency, "iban": iban, "mandate": asdict(mandate) if mandate else None})


def update_partner(conn: Connection, operator: str, partner_id: str, *, name: str | None = None,
                   iban: str | None = None, bic: str | None = None, mandate: SepaMandate | None = None) -> None:
    """Change a partner's name, bank account or SEPA mandate (what is None stays as it is)."""
    _require_partner(conn, partner_id)
    changes: dict[str, object] = {}
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise errors.invalid("name", "must be 1 to 200 characters")
        changes["name"] = name
    if iban is not None:
        changes["iban"], changes["bic"] = _checked_account(iban, bic)
    elif bic is not None:
        changes["bic"] = bic
    if mandate is not None:
        _check_mandate(mandate)
        changes["sepa_mandate_id"], changes["sepa_mandate_signed_on"] = mandate.mandate_id, mandate.signed_on
    if not changes:
        raise errors.invalid("partner", "nothing to change")
    assignments = ", ".join(f"{column} = :{column}" for column in changes)  # column names from the code above
    conn.execute(text(f"UPDATE partners SET {assignments} WHERE partner_id = :partner_id"),
                 {**changes, "partner_id": partner_id})
    record(conn, operator, "partner.update", partner_id, changes)


@dataclass(frozen=True)
class ContractDraft:
    earn_points_per_major: Decimal = Decimal(1)
    settlement_model: str = "issuer_pays"
    clearing_fee_bps: int = 0
    issue_price_minor_per_point: Decimal = Decimal(0)
    redemption_rate_minor_per_point: Decimal = Decimal(0)
    breakage_share_bps: int = 0
    return_window_seconds: int = 0
    expiry_days: int = 0
    max_basket_share_bps: int = BASIS_POINTS
    credit_limit_minor: int | None = None
    collateral_minor: int = 0
    # The most points one spend may take without the member's PIN or code, for members enrolled at the partner's
    # own till; 0 (the default): every spend needs one.
    unverified_spend_limit_points: int = 0
    expiry_policy: str = expiry.FIXED  # network.core.expiry: fixed, calendar or inactivity
    expiry_months: int = 0


MAX_UNVERIFIED_SPEND_LIMIT = 100_000


def _check_draft(d: ContractDraft) -> None:
    if d.settlement_model not in SETTLEMENT_MODELS:
        raise errors.invalid("settlement_model", f"must be one of {', '.join(SETTLEMENT_MODELS)}")
    if not Decimal(0) <= d.earn_points_per_major <= Decimal(1000):
        raise errors.invalid("earn_points_per_major", "must be between 0 and 1000")
    for name in ("clearing_fee_bps", "breakage_share_bps", "max_basket_share_bps"):
        if not 0 <= getattr(d, name) <= BASIS_POINTS:
            raise errors.invalid(name, f"must be between 0 and {BASIS_POINTS} basis points")
    for name in ("issue_price_minor_per_point", "redemption_rate_minor_per_point"):
        if not Decimal(0) <= getattr(d, name) <= Decimal(1000):
            raise errors.invalid(name, "must be between 0 and 1000 minor units per point")
    if d.settlement_model == "prefunded" and (d.issue_price_minor_per_point <= 0 or d.redemption_rate_minor_per_point <= 0):
        raise errors.invalid("settlement_model", "a prefunded contract needs an issue price and a redemption rate")
    if not 0 <= d.return_window_seconds <= 365 * 86400:
        raise errors.invalid("return_window_seconds", "must be between 0 and one year")
    problem = expiry.policy_problem(expiry.ExpiryPolicy(d.expiry_policy, d.expiry_days, d.expiry_months))
    if problem is not None:
        raise errors.invalid(*problem)
    if d.credit_limit_minor is not None and not 0 <= d.credit_limit_minor <= 10**15:
        raise errors.invalid("credit_limit_minor", "must be between 0 and 10^15")
    if not 0 <= d.collateral_minor <= 10**15:
        raise errors.invalid("collateral_minor", "must be between 0 and 10^15")
    if not 0 <= d.unverified_spend_limit_points <= MAX_UNVERIFIED_SPEND_LIMIT:
        raise errors.invalid("unverified_spend_limit_points", f"must be between 0 and {MAX_UNVERIFIED_SPEND_LIMIT}")


def _require_partner(conn: Connection, partner_id: str) -> str:
    row = conn.execute(text("SELECT status FROM partners WHERE partner_id = :p"), {"p": partner_id}).first()
    if row is None:
        raise errors.not_found("partner", partner_id, "PARTNER_NOT_FOUND")
    return row.status


def set_contract(conn: Connection, operator: str, partner_id: str, draft: ContractDraft,
                 effective_from: datetime | None = None, *, now: datetime | None = None) -> ContractTerms:
    """Add the next contract version, effective from `effective_from` (now by default; never in the past).

    now: the clock, injected (the demo's back-dated history signs its contracts at the start of that history,
    coalition.history); the current time by default."""
    _require_partner(conn, partner_id)
    _check_draft(draft)
    now = now or datetime.now(timezone.utc)
    effective = effective_from or now
    if effective < now.replace(microsecond=0) and effective_from is not None:
        raise errors.invalid("effective_from", "a contract cannot take effect in the past")
    conn.execute(text("SELECT 1 FROM partners WHERE partner_id = :p FOR UPDATE"), {"p": partner_id})
    version = conn.execute(text("SELECT coalesce(max(version), 0) + 1 FROM contracts WHERE partner_id = :p"),
                           {"p": partner_id}).scalar_one()
    values = asdict(draft)
    conn.execute(text(f"INSERT INTO contracts (partner_id, version, effective_from, {', '.join(values)}) "
                      f"VALUES (:partner_id, :version, :effective_from, {', '.join(':' + k for k in values)})"),
                 {"partner_id": partner_id, "version": version, "effective_from": effective, **values})
    record(conn, operator, "contract.set", partner_id, {"version": version, "effective_from": effective, **values})
    notify_contract_change(conn)
    return next(c for c in load_contracts(conn, partner_id) if c.version == version)


def register_key(conn: Connection, operator: str, partner_id: str, key_id: str, public_key_b64: str) -> None:
    _require_partner(conn, partner_id)
    if not signing.KEY_ID_PATTERN.match(key_id):
        raise errors.invalid("key_id", "must be 1 to 64 characters of [A-Za-z0-9._:-]")
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
        signing.public_key_from_raw(raw)
    except (binascii.Error, ValueError):
        raise errors.invalid("public_key", "must be the standard base64 of a raw 32-byte Ed25519 public key") from None
    conn.execute(text("SELECT 1 FROM partners WHERE partner_id = :p FOR UPDATE"), {"p": partner_id})
    active = conn.execute(text("SELECT count(*) FROM partner_keys WHERE partner_id = :p AND status = 'active'"),
                          {"p": partner_id}).scalar_one()
    if active >= MAX_ACTIVE_KEYS:
        raise errors.precondition("TOO_MANY_KEYS", f"partner {partner_id} already has {MAX_ACTIVE_KEYS} active keys: "
                                  "revoke one first")
    if not conn.execute(text("INSERT INTO partner_keys (key_id, partner_id, public_key, status) "
                             "VALUES (:k, :p, :pk, 'active') ON CONFLICT DO NOTHING RETURNING 1"),
                        {"k": key_id, "p": partner_id, "pk": raw}).first():
        raise errors.DomainError(grpc.StatusCode.ALREADY_EXISTS, "KEY_EXISTS", f"key id {key_id} is taken")
    record(conn, operator, "key.register", partner_id, {"key_id": key_id})
    append_event(conn, partner_id, events.KEY_REGISTERED, key_id, {"key_id": key_id})
    notify_key_change(conn)


def revoke_key(conn: Connection, operator: str, key_id: str) -> None:
    row = conn.execute(text("UPDATE partner_keys SET status = 'revoked', revoked_at = now() WHERE key_id = :k "
                            "AND status = 'active' RETURNING partner_id"), {"k": key_id}).first()
    if row is None:
        raise errors.not_found("key", key_id, "KEY_NOT_FOUND")
    record(conn, operator, "key.revoke", row.partner_id, {"key_id": key_id})
    append_event(conn, row.partner_id, events.KEY_REVOKED, key_id, {"key_id": key_id})
    notify_key_change(conn)


def set_partner_status(conn: Connection, operator: str, partner_id: str, status: str) -> None:
    if status not in ("active", "suspended"):
        raise errors.invalid("status", "must be active or suspended")
    _require_partner(conn, partner_id)
    conn.execute(text("UPDATE partners SET status = :s WHERE partner_id = :p"), {"s": status, "p": partner_id})
    record(conn, operator, "partner.suspend" if status == "suspended" else "partner.resume", partner_id)
    notify_key_change(conn)


def set_charity(conn: Connection, operator: str, partner_id: str, charity: bool = True) -> None:
    """Flag a partner as a charity members may donate points to (or take the flag away)."""
    _require_partner(conn, partner_id)
    conn.execute(text("UPDATE partners SET charity = :c WHERE partner_id = :p"), {"c": charity, "p": partner_id})
    record(conn, operator, "partner.charity" if charity else "partner.not_charity", partner_id, {"charity": charity})


# --- members and cards (network.store.credentials records each in operator_actions) ---------------------------------

def freeze_member(conn: Connection, operator: str, member_id: str, reason: str) -> None:
    """No spend for the member at any partner until unfrozen; read by every server's next spend (no cache)."""
    credentials.freeze_member(conn, member_id, operator, reason)


def unfreeze_member(conn: Connection, operator: str, member_id: str, reason: str = "") -> None:
    credentials.unfreeze_member(conn, member_id, operator, reason)


def freeze_card(conn: Connection, operator: str, card_number: str, reason: str) -> None:
    credentials.freeze_card(conn, card_number, operator, reason)


def unfreeze_card(conn: Connection, operator: str, card_number: str, reason: str = "") -> None:
    credentials.unfreeze_card(conn, card_number, operator, reason)


def replace_card(conn: Connection, operator: str, member_id: str, card_number: str) -> str:
    """A new card number for the member (the old card stops working at once); the balance stays the member's."""
    return credentials.replace_card(conn, member_id, card_number, operator)


# --- webhooks ------------------------------------------------------------------------------------------------

def set_webhook_endpoint_state(conn: Connection, operator: str, endpoint_id: str, enabled: bool,
                               reason: str = "") -> webhook_store.Endpoint:
    """Enable an endpoint (clearing its reason and alert: delivery resumes where it stopped) or disable it."""
    endpoint = webhooks.update(conn, None, endpoint_id, state=webhooks.ENABLED if enabled else webhooks.DISABLED,
                               allow_http_localhost=True, reason=f"disabled by operator {operator}: {reason}".strip())
    record(conn, operator, "webhook.enable" if enabled else "webhook.disable", endpoint_id,
           {"partner_id": endpoint.partner_id, "reason": reason})
    return endpoint


def replay_webhook_events(conn: Connection, operator: str, endpoint_id: str, first: int, last: int = 0) -> str:
    """Deliver an endpoint's events [first, last] again (the dispatcher starts it); the replay id."""
    replay_id, first, last = webhooks.replay(conn, None, endpoint_id, first, last, f"operator:{operator}")
    record(conn, operator, "webhook.replay", endpoint_id, {"first_sequence": first, "last_sequence": last,
                                                           "replay_id": replay_id})
    return replay_id
