"""partners.signing to the exact outcome: every refusal's reason and message, the defaults of sign_request, metadata
collection, and the key encodings. Written to kill the mutants `coalition mutate` found surviving."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from partners import signing
from partners.signing import SignatureError

EARN = "/coalition.v1.NetworkService/Earn"
NOW = 1_767_225_600
BODY = b"request bytes"
KEY = signing.private_key_from_raw(bytes(range(32)))
NONCE = "abcdefghijklmnop-_12"


def signed(**changes: str) -> dict[str, list[str]]:
    headers = signing.sign_request(KEY, "acme-1", EARN, BODY, timestamp=NOW, nonce=NONCE)
    metadata = signing.collect_metadata(headers.metadata())
    for name, value in changes.items():
        metadata[name] = [value]
    return metadata


def refusal(metadata, *, now: float = NOW) -> tuple[str, str]:
    with pytest.raises(SignatureError) as refused:
        signing.verify_request(metadata, EARN, BODY, lambda key_id: KEY.public_key(), now=now)
    return refused.value.reason, str(refused.value)


def test_request_refusals_are_exact():
    sig = signing.SIGNATURE_HEADER
    missing = signed()
    del missing[signing.NONCE_HEADER]
    twice = signed()
    twice[signing.TIMESTAMP_HEADER] = [str(NOW), str(NOW)]
    assert refusal(missing) == ("SIGNATURE_MISSING", "missing metadata entry x-coalition-nonce")
    assert refusal(twice) == ("SIGNATURE_INVALID", "metadata entry x-coalition-timestamp given more than once")
    assert refusal(signed(**{signing.KEY_ID_HEADER: "a b"})) == (
        "KEY_UNKNOWN", "key id is not of the form [A-Za-z0-9._:-]{1,64}")
    assert refusal(signed(**{signing.TIMESTAMP_HEADER: "1.5"})) == (
        "TIMESTAMP_INVALID", "timestamp must be integer Unix seconds")
    assert refusal(signed(**{signing.NONCE_HEADER: "short"})) == (
        "NONCE_INVALID", "nonce must be 16 to 64 characters of [A-Za-z0-9_-]")
    assert refusal(signed(), now=NOW + 301.5) == (
        "TIMESTAMP_STALE", f"timestamp {NOW} is outside +-300s of the network's clock ({NOW + 301})")
    assert refusal(signed(**{sig: "not base64!"})) == ("SIGNATURE_INVALID", "signature is not standard base64")
    assert refusal(signed(**{sig: base64.b64encode(bytes(63)).decode()})) == (
        "SIGNATURE_INVALID", "signature must be 64 bytes (Ed25519)")
    assert refusal(signed(**{sig: base64.b64encode(bytes(64)).decode()})) == (
        "SIGNATURE_INVALID", "signature does not match the request")


def test_a_stale_timestamp_carries_the_network_clock_in_whole_seconds():
    with pytest.raises(SignatureError) as refused:
        signing.verify_request(signed(), EARN, BODY, lambda key_id: KEY.public_key(), now=NOW - 300.7)
    assert (refused.value.reason, refused.value.metadata) == ("TIMESTAMP_STALE", {"network_time": str(NOW - 301)})


def test_signature_errors_carry_no_metadata_unless_given():
    assert SignatureError("R", "m").metadata == {}
    assert SignatureError("R", "m", a="1").metadata == {"a": "1"}


def test_a_signature_with_characters_outside_standard_base64_is_refused_as_such():
    good = signed()[signing.SIGNATURE_HEADER][0]
    # 64 signature bytes = 88 base64 characters; a stray "*" would be skipped by a lenient decoder
    assert refusal(signed(**{signing.SIGNATURE_HEADER: good[:40] + "*" + good[40:]})) == (
        "SIGNATURE_INVALID", "signature is not standard base64")


def test_sign_request_defaults_to_now_and_a_fresh_nonce(monkeypatch):
    monkeypatch.setattr(signing.time, "time", lambda: NOW + 0.9)
    headers = signing.sign_request(KEY, "acme-1", EARN, BODY)
    assert headers.timestamp == NOW
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", headers.nonce)
    assert signing.verify_request(signing.collect_metadata(headers.metadata()), EARN, BODY,
                                  lambda key_id: KEY.public_key(), now=NOW) == "acme-1"


def test_collect_metadata_skips_binary_entries_and_keeps_going():
    pairs = [("X-Coalition-Key-Id", "a"), ("trace-bin", b"\x00"), ("x-coalition-nonce", "n"),
             ("x-coalition-key-id", "b")]
    assert signing.collect_metadata(pairs) == {"x-coalition-key-id": ["a", "b"], "x-coalition-nonce": ["n"]}


# --- receipts ------------------------------------------------------------------------------------------------

NETWORK_KEY = signing.private_key_from_raw(bytes(range(1, 33)))


def receipt_refusal(trailing) -> tuple[str, str]:
    with pytest.raises(SignatureError) as refused:
        signing.verify_receipt(trailing, EARN, BODY, b"response", lambda key_id: NETWORK_KEY.public_key())
    return refused.value.reason, str(refused.value)


def test_receipt_refusals_are_exact():
    good = signing.collect_metadata(signing.sign_response(NETWORK_KEY, "net-1", EARN, BODY, b"response"))
    assert signing.verify_receipt(good, EARN, BODY, b"response", lambda key_id: NETWORK_KEY.public_key()) == "net-1"
    signature = good[signing.SIGNATURE_HEADER][0]
    assert receipt_refusal({**good, signing.SIGNATURE_HEADER: [signature[:40] + "*" + signature[40:]]}) == (
        "RECEIPT_INVALID", "receipt signature is not standard base64")
    assert receipt_refusal({**good, signing.SIGNATURE_HEADER: [base64.b64encode(bytes(64)).decode()]}) == (
        "RECEIPT_INVALID", "receipt signature does not match")


def refusal_receipt_refusal(trailing) -> tuple[str, str]:
    with pytest.raises(SignatureError) as refused:
        signing.verify_refusal_receipt(trailing, EARN, BODY, "NOT_FOUND", "MEMBER_NOT_FOUND",
                                       lambda key_id: NETWORK_KEY.public_key())
    return refused.value.reason, str(refused.value)


def test_refusal_receipt_refusals_are_exact():
    good = signing.collect_metadata(signing.sign_refusal(NETWORK_KEY, "net-1", EARN, BODY, "NOT_FOUND",
                                                         "MEMBER_NOT_FOUND"))
    assert signing.verify_refusal_receipt(good, EARN, BODY, "NOT_FOUND", "MEMBER_NOT_FOUND",
                                          lambda key_id: NETWORK_KEY.public_key()) == "net-1"
    signature = good[signing.SIGNATURE_HEADER][0]
    assert refusal_receipt_refusal({**good, signing.SIGNATURE_HEADER: [signature[:40] + "*" + signature[40:]]}) == (
        "RECEIPT_INVALID", "refusal receipt signature is not standard base64")
    assert refusal_receipt_refusal({**good, signing.SIGNATURE_HEADER: [base64.b64encode(bytes(64)).decode()]}) == (
        "RECEIPT_INVALID", "refusal receipt signature does not match")


# --- keys ----------------------------------------------------------------------------------------------------

def test_raw_public_of_a_public_key_is_its_raw_bytes():
    public: Ed25519PublicKey = KEY.public_key()
    assert signing.raw_public(public) == signing.raw_public(KEY)
    assert len(signing.raw_public(public)) == 32


def test_raw_private_round_trips():
    assert signing.raw_private(KEY) == bytes(range(32))


def test_private_key_pem_round_trips():
    pem = signing.private_key_to_pem(KEY)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert signing.raw_private(signing.private_key_from_pem(pem)) == bytes(range(32))
    assert isinstance(signing.private_key_from_pem(pem), Ed25519PrivateKey)


def test_a_pem_of_another_key_type_is_refused():
    from cryptography.hazmat.primitives import serialization

    other = Ed448PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    with pytest.raises(ValueError, match=r"^not an Ed25519 private key$"):
        signing.private_key_from_pem(other)
