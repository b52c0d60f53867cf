"""Activation codes: the one-time code that lets a member link a card to their account (EnrollMember returns it,
the partner prints it on the receipt). Only its hash is kept; network.store.accounts uses it at sign-up."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from network.core import accounts as rules


def issue_activation_code(conn: Connection, member_id: uuid.UUID, now: datetime, ttl: timedelta) -> str:
    """A fresh activation code for a card (any earlier one stops working); only its hash is stored."""
    code = rules.activation_code_from([secrets.randbelow(len(rules.ACTIVATION_ALPHABET))
                                       for _ in range(rules.ACTIVATION_GROUPS * rules.ACTIVATION_GROUP_LENGTH)])
    conn.execute(text("INSERT INTO activation_codes (member_id, code_hash, expires_at, used_at) "
                      "VALUES (:m, :h, :e, NULL) ON CONFLICT (member_id) DO UPDATE "
                      "SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, used_at = NULL"),
                 {"m": member_id, "h": rules.secret_hash(code), "e": now + ttl})
    return code


def card_has_account(conn: Connection, member_id: uuid.UUID) -> bool:
    return conn.execute(text("SELECT 1 FROM account_cards WHERE member_id = :m"), {"m": member_id}).first() is not None


def created_card(conn: Connection, member_id: uuid.UUID, partner_id: str) -> bool:
    """Whether `partner_id` created the card (a new enrollment there is then the card's creation)."""
    return conn.execute(text("SELECT enrolled_by FROM members WHERE member_id = :m"),
                        {"m": member_id}).scalar_one() == partner_id
