"""Member card numbers and shards: pure functions."""

from __future__ import annotations

import struct
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
    """The chain shard of a member's transactions at a ledger of `shards` chain shards: the shard a Citus cluster
    of as many shards places the member id in (PostgreSQL's uuid hash, equal ranges), so that on a cluster the
    member's rows and its chain head lie on one node (network.store.citus). Stored with the member when it
    enrols (members.shard); migration 0020 moved the members enrolled before onto it."""
    return hash_range_index(uuid_hash(member_id), shards)


_MASK = 0xFFFFFFFF
_WORDS = struct.Struct("<4I")  # the uuid's 16 bytes as four little-endian 32-bit words
_HASH_TOKENS = 1 << 32


def _rotated(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def uuid_hash(value: uuid.UUID) -> int:
    """PostgreSQL's `uuid_hash(uuid)` (Bob Jenkins' lookup3 over the 16 bytes, as the server computes it on a
    little-endian machine), as a signed 32-bit integer: the hash a Citus cluster places a uuid distribution
    value by. tests/test_chain_anchors.py checks it against the server's own function."""
    w0, w1, w2, w3 = _WORDS.unpack(value.bytes)
    a = b = c = (0x9E3779B9 + 16 + 3923095) & _MASK
    a, b, c = (a + w0) & _MASK, (b + w1) & _MASK, (c + w2) & _MASK
    for shift_a, shift_b, shift_c in ((4, 6, 8), (16, 19, 4)):  # mix(a, b, c): two rounds of three steps
        a = ((a - c) & _MASK) ^ _rotated(c, shift_a)
        c = (c + b) & _MASK
        b = ((b - a) & _MASK) ^ _rotated(a, shift_b)
        a = (a + c) & _MASK
        c = ((c - b) & _MASK) ^ _rotated(b, shift_c)
        b = (b + a) & _MASK
    a = (a + w3) & _MASK  # the last four bytes; then final(a, b, c)
    c = ((c ^ b) - _rotated(b, 14)) & _MASK
    a = ((a ^ c) - _rotated(c, 11)) & _MASK
    b = ((b ^ a) - _rotated(a, 25)) & _MASK
    c = ((c ^ b) - _rotated(b, 16)) & _MASK
    a = ((a ^ c) - _rotated(c, 4)) & _MASK
    b = ((b ^ a) - _rotated(a, 14)) & _MASK
    c = ((c ^ b) - _rotated(b, 24)) & _MASK
    return c - (1 << 32) if c >= 1 << 31 else c


def hash_range_index(hashed: int, shards: int) -> int:
    """Which of `shards` equal ranges of the signed 32-bit hash space holds `hashed`, the way Citus splits a hash-
    distributed table into shards (each range 2^32 // shards wide, from -2^31; the last range runs to 2^31 - 1)."""
    return min((hashed + (1 << 31)) // (_HASH_TOKENS // shards), shards - 1)


def chain_anchor(shard: int, shards: int) -> uuid.UUID:
    """A fresh member id that a Citus cluster of `shards` shards places in shard number `shard` (hash ranges in
    order): the anchor of that chain shard's head (shard_heads.anchor_member_id, network.store.citus). Random
    draws until one lands there: about `shards` draws."""
    if not 0 <= shard < shards:
        raise ValueError(f"chain shard {shard} is not one of 0 to {shards - 1}")
    while True:
        candidate = uuid.uuid4()
        if hash_range_index(uuid_hash(candidate), shards) == shard:
            return candidate
