"""Ed25519 through libsodium (partners.sodium), on the server and in the SDK, behaves exactly as `cryptography`
did: the same signature bytes (SIGNING.md's vectors included), the same refusal for every tampered input, and the
key directory builds one verify key object per key."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidSignature

from network.keys import KeyDirectory
from network.signer import NetworkSigner
from partners import signing
from partners.client import PartnerClient
from partners.sodium import SodiumSigningKey, SodiumVerifyKey
from tests.test_signing import _section, _values

EARN = "/coalition.v1.NetworkService/Earn"


@pytest.mark.parametrize("length", [0, 1, 55, 200, 4096])
def test_signatures_are_the_bytes_cryptography_gives(length):
    for _ in range(20):
        key = signing.generate_private_key()
        message = os.urandom(length)
        assert SodiumSigningKey(key).sign(message) == key.sign(message)


def test_libsodium_signs_the_documented_receipt_vector():
    request = _values(_section("6. Test vector"))
    v = _values(_section("7. Test vector"))
    key = SodiumSigningKey(signing.private_key_from_raw(bytes.fromhex(v["network_private_key_seed_hex"])))
    trailing = dict(signing.sign_response(key, v["network_key_id"], v["method"], bytes.fromhex(request["request_hex"]),
                                          bytes.fromhex(v["response_hex"])))
    assert trailing[signing.SIGNATURE_HEADER] == v["signature_base64"]


def test_network_signer_signs_through_libsodium_with_the_same_bytes():
    key = signing.generate_private_key()
    signer = NetworkSigner(key)
    assert isinstance(signer._signing_key, SodiumSigningKey)
    message = os.urandom(300)
    assert signer.sign(message) == key.sign(message)
    assert dict(signer.receipt(EARN, b"req", b"resp")) == dict(signing.sign_response(key, signer.key_id, EARN, b"req", b"resp"))
    assert signer.event_signature(b"event") == signing.sign_event(key, signer.key_id, b"event")


def test_the_sdk_signs_and_checks_receipts_through_libsodium_with_the_same_outcome():
    partner_key, network_key = signing.generate_private_key(), signing.generate_private_key()
    with PartnerClient("127.0.0.1:1", "k1", partner_key, network_keys={"n1": signing.raw_public(network_key)}) as client:
        assert isinstance(client._private_key, SodiumSigningKey)
        fixed = {"timestamp": 1_700_000_000, "nonce": "n" * 16}
        assert signing.sign_request(client._private_key, "k1", EARN, b"body", **fixed) == \
            signing.sign_request(partner_key, "k1", EARN, b"body", **fixed)
        assert isinstance(client._network_key("n1"), SodiumVerifyKey)
        trailing = {name: [value] for name, value in signing.sign_response(network_key, "n1", EARN, b"req", b"resp")}
        assert signing.verify_receipt(trailing, EARN, b"req", b"resp", client._network_key) == "n1"
        with pytest.raises(signing.SignatureError) as refused:
            signing.verify_receipt(trailing, EARN, b"req", b"resp!", client._network_key)
        assert refused.value.reason == "RECEIPT_INVALID"
        event = signing.sign_event(network_key, "n1", b"event")
        signing.verify_event(b"event", event, "n1", client._network_key)
        with pytest.raises(signing.SignatureError):
            signing.verify_event(b"event!", event, "n1", client._network_key)


def test_documented_request_vector_verifies_through_libsodium():
    v = _values(_section("6. Test vector"))
    public = SodiumVerifyKey(bytes.fromhex(v["partner_public_key_hex"]))
    body = bytes.fromhex(v["request_hex"])
    metadata = {signing.KEY_ID_HEADER: [v["key_id"]], signing.TIMESTAMP_HEADER: [v["timestamp"]],
                signing.NONCE_HEADER: [v["nonce"]], signing.SIGNATURE_HEADER: [v["signature_base64"]]}
    assert signing.verify_request(metadata, v["method"], body, lambda kid: public,
                                  now=int(v["timestamp"])) == v["key_id"]
    with pytest.raises(signing.SignatureError) as refused:
        signing.verify_request(metadata, v["method"], body + b"\x00", lambda kid: public, now=int(v["timestamp"]))
    assert refused.value.reason == "SIGNATURE_INVALID"


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1:]


def test_verify_refuses_exactly_what_cryptography_refuses():
    key = signing.generate_private_key()
    cryptography_public = key.public_key()
    sodium_public = SodiumVerifyKey(signing.raw_public(key))
    other = SodiumVerifyKey(signing.raw_public(signing.generate_private_key()))
    message = os.urandom(100)
    signature = key.sign(message)
    sodium_public.verify(signature, message)  # accepted: returns None like cryptography
    cases = [(_flip(signature, 0), message), (_flip(signature, 63), message), (signature, _flip(message, 50)),
             (signature, message + b"x"), (signature[:63], message), (signature + b"\x00", message),
             (bytes(64), message)]
    for bad_signature, bad_message in cases:
        with pytest.raises(InvalidSignature):
            cryptography_public.verify(bad_signature, bad_message)
        with pytest.raises(InvalidSignature):
            sodium_public.verify(bad_signature, bad_message)
    with pytest.raises(InvalidSignature):
        other.verify(signature, message)


def test_a_public_key_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="32 bytes, not 31"):
        SodiumVerifyKey(bytes(31))


def test_directory_verifies_through_one_cached_verify_key_per_key(engine, make_partner):
    shop = make_partner("sod")
    directory = KeyDirectory(engine)
    try:
        assert directory._listener.connected.wait(10)
        body = os.urandom(40)
        for _ in range(3):
            metadata = signing.sign_request(shop.private_key, shop.key_id, EARN, body).metadata()
            assert directory.authenticate(EARN, metadata, body, cached_ok=True).partner_id == shop.partner_id
        record = directory._cache[shop.key_id]
        assert isinstance(record.public_key, SodiumVerifyKey)
        assert record.public_key.raw == signing.raw_public(shop.private_key)
        metadata = dict(signing.sign_request(shop.private_key, shop.key_id, EARN, body).metadata())
        metadata[signing.SIGNATURE_HEADER] = base64.b64encode(_flip(base64.b64decode(
            metadata[signing.SIGNATURE_HEADER]), 5)).decode()
        with pytest.raises(Exception) as refused:
            directory.authenticate(EARN, list(metadata.items()), body, cached_ok=True)
        assert refused.value.reason == "SIGNATURE_INVALID"
        assert directory._cache[shop.key_id] is record  # the same verify key object served every call
    finally:
        directory.close()
