"""Member card numbers and shards: pure functions."""

from __future__ import annotations

import hashlib
import uuid

CARD_DIGITS = (12, 19)


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def valid_card_number(card_number: str) -> bool:
    """12 to 19 digits whose last is the Luhn check digit of the others."""
    low, high = CARD_DIGITS
    return (card_number.isascii() and card_number.isdigit() and low <= len(card_number) <= high
            and luhn_check_digit(card_number[:-1]) == card_number[-1])


def shard_of(member_id: uuid.UUID, shards: int) -> int:
    """The journal shard of a member's transactions (stable for the member's lifetime)."""
    return int.from_bytes(hashlib.sha256(member_id.bytes).digest()[:4], "big") % shards
