"""coalition-sig-v1: the test vectors of protos/SIGNING.md, read out of the document, against partners.signing;
and every refusal of verify_request / verify_receipt with the reason it sends on the wire."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import text_format

from partners import signing
from protos.coalition.v1 import network_pb2

SIGNING_MD = Path(__file__).resolve().parent.parent / "protos" / "SIGNING.md"
EARN = "/coalition.v1.NetworkService/Earn"
NOW = 1_800_000_000


# --- reading the document -----------------------------------------------------------------------

def _section(heading_start: str) -> str:
    """The text of the `## ...` section whose heading starts with heading_start."""
    text = SIGNING_MD.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading_start)}.*?$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"SIGNING.md has no section '## {heading_start}'"
    return match.group(1)


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


def _values(section: str) -> dict[str, str]:
    blocks = _blocks(section, "text")
    assert len(blocks) == 1, "the vector section must hold exactly one ```text block of name: value lines"
    values = {}
    for line in blocks[0].splitlines():
        if line.strip():
            name, _, value = line.partition(": ")
            assert name not in values, f"{name} given twice"
            values[name] = value
    return values


def _unescape_newlines(shown: str) -> bytes:
    assert "\n" not in shown
    return shown.replace("\\n", "\n").encode("utf-8")


@pytest.fixture(scope="module")
def request_vector() -> dict[str, str]:
    return _values(_section("6. Test vector"))


@pytest.fixture(scope="module")
def receipt_vector() -> dict[str, str]:
    return _values(_section("7. Test vector"))


# --- the request vector ---------------------------------------------------------------------------

def test_request_vector_keys(request_vector):
    key = signing.private_key_from_raw(bytes.fromhex(request_vector["partner_private_key_seed_hex"]))
    public = signing.raw_public(key)
    assert public.hex() == request_vector["partner_public_key_hex"]
    assert base64.b64encode(public).decode() == request_vector["partner_public_key_base64"]


def test_request_vector_bytes_are_the_documented_earn_request(request_vector):
    body = bytes.fromhex(request_vector["request_hex"])
    documented = text_format.Parse(_blocks(_section("6. Test vector"), "textproto")[0], network_pb2.EarnRequest())
    assert network_pb2.EarnRequest.FromString(body) == documented
    # The vector's bytes are also what this protobuf runtime produces (not guaranteed in general: the
    # profile never re-serializes; this only keeps the document's example honest).
    assert documented.SerializeToString() == body
    assert signing.sha256_hex(body) == request_vector["request_sha256_hex"]


def test_request_vector_message_and_signature(request_vector):
    v = request_vector
    body = bytes.fromhex(v["request_hex"])
    message = signing.request_message(v["method"], v["key_id"], int(v["timestamp"]), v["nonce"], body)
    assert message == _unescape_newlines(v["message_to_sign"])
    assert message.split(b"\n")[-1].decode() == v["request_sha256_hex"]

    key = signing.private_key_from_raw(bytes.fromhex(v["partner_private_key_seed_hex"]))
    headers = signing.sign_request(key, v["key_id"], v["method"], body, timestamp=int(v["timestamp"]), nonce=v["nonce"])
    assert headers.signature_b64 == v["signature_base64"]
    assert dict(headers.metadata()) == {
        "x-coalition-key-id": v["key_id"],
        "x-coalition-timestamp": v["timestamp"],
        "x-coalition-nonce": v["nonce"],
        "x-coalition-signature": v["signature_base64"],
    }
    public = signing.public_key_from_raw(bytes.fromhex(v["partner_public_key_hex"]))
    metadata = signing.collect_metadata(headers.metadata())
    assert signing.verify_request(metadata, v["method"], body, lambda kid: public, now=int(v["timestamp"]) + 299) == v["key_id"]


def test_request_vector_is_stale_today(request_vector):
    v = request_vector
    metadata = {
        signing.KEY_ID_HEADER: [v["key_id"]],
        signing.TIMESTAMP_HEADER: [v["timestamp"]],
        signing.NONCE_HEADER: [v["nonce"]],
        signing.SIGNATURE_HEADER: [v["signature_base64"]],
    }
    public = signing.public_key_from_raw(bytes.fromhex(v["partner_public_key_hex"]))
    with pytest.raises(signing.SignatureError) as refused:
        signing.verify_request(metadata, v["method"], bytes.fromhex(v["request_hex"]), lambda kid: public)
    assert refused.value.reason == "TIMESTAMP_STALE"


# --- the receipt vector ---------------------------------------------------------------------------

def test_receipt_vector(request_vector, receipt_vector):
    v = receipt_vector
    key = signing.private_key_from_raw(bytes.fromhex(v["network_private_key_seed_hex"]))
    public = signing.raw_public(key)
    assert public.hex() == v["network_public_key_hex"]
    assert base64.b64encode(public).decode() == v["network_public_key_base64"]

    request_body = bytes.fromhex(request_vector["request_hex"])
    response_body = bytes.fromhex(v["response_hex"])
    documented = text_format.Parse(_blocks(_section("7. Test vector"), "textproto")[0], network_pb2.EarnResponse())
    assert network_pb2.EarnResponse.FromString(response_body) == documented
    assert v["method"] == request_vector["method"]
    assert signing.sha256_hex(request_body) == v["request_sha256_hex"]
    assert signing.sha256_hex(response_body) == v["response_sha256_hex"]

    message = signing.response_message(v["method"], v["network_key_id"], request_body, response_body)
    assert message == _unescape_newlines(v["message_to_sign"])
    trailing = signing.sign_response(key, v["network_key_id"], v["method"], request_body, response_body)
    assert dict(trailing) == {"x-coalition-key-id": v["network_key_id"], "x-coalition-signature": v["signature_base64"]}

    network_key = signing.public_key_from_raw(public)
    keys = {v["network_key_id"]: network_key}
    assert signing.verify_receipt(
        signing.collect_metadata(trailing), v["method"], request_body, response_body, keys.__getitem__
    ) == v["network_key_id"]


def test_refusal_receipt_vector(request_vector, receipt_vector):
    """Section 7.1: the refusal receipt of section 6's request, signed with section 7's network key."""
    v = _values(_section("7.1 Test vector"))
    key = signing.private_key_from_raw(bytes.fromhex(receipt_vector["network_private_key_seed_hex"]))
    request_body = bytes.fromhex(request_vector["request_hex"])
    assert (v["network_key_id"], v["method"]) == (receipt_vector["network_key_id"], request_vector["method"])
    assert signing.sha256_hex(request_body) == v["request_sha256_hex"]
    message = signing.refusal_message(v["method"], v["network_key_id"], request_body, v["code"], v["reason"])
    assert message == _unescape_newlines(v["message_to_sign"])
    trailing = signing.sign_refusal(key, v["network_key_id"], v["method"], request_body, v["code"], v["reason"])
    assert dict(trailing) == {"x-coalition-key-id": v["network_key_id"], "x-coalition-signature": v["signature_base64"]}
    assert f"\nx-coalition-signature: {v['signature_base64']}\n```" in _section("7.1 Test vector")

    keys = {v["network_key_id"]: signing.public_key_from_raw(signing.raw_public(key))}
    collected = signing.collect_metadata(trailing)
    assert signing.verify_refusal_receipt(collected, v["method"], request_body, v["code"], v["reason"],
                                          keys.__getitem__) == v["network_key_id"]
    # the code and the reason are what is signed: another of either does not verify
    for code, reason in (("NOT_FOUND", v["reason"]), (v["code"], "INSUFFICIENT_POINTS")):
        with pytest.raises(signing.SignatureError) as refused:
            signing.verify_refusal_receipt(collected, v["method"], request_body, code, reason, keys.__getitem__)
        assert refused.value.reason == "RECEIPT_INVALID"


def test_document_names_the_profile_constants():
    text = SIGNING_MD.read_text(encoding="utf-8")
    for constant in (signing.PROFILE, signing.RESPONSE_PROFILE, signing.REFUSAL_PROFILE, signing.KEY_ID_HEADER,
                     signing.TIMESTAMP_HEADER, signing.NONCE_HEADER, signing.SIGNATURE_HEADER):
        assert f"`{constant}`" in text or f"{constant}\n" in text, constant
    assert f"{signing.FRESHNESS_SECONDS} seconds" in text
    assert hashlib.sha256(b"").hexdigest() in text  # the empty-request hash it quotes


# --- verify_request refusals ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def partner_key() -> Ed25519PrivateKey:
    return signing.private_key_from_raw(bytes(range(32)))


BODY = network_pb2.EarnRequest(request_id="r-1", member_id="m-1", points=10).SerializeToString()


def _signed(key: Ed25519PrivateKey, *, body: bytes = BODY, timestamp: int = NOW, nonce: str = "abcdefghijklmnop-_12",
            key_id: str = "acme-1") -> dict[str, list[str]]:
    headers = signing.sign_request(key, key_id, EARN, body, timestamp=timestamp, nonce=nonce)
    return signing.collect_metadata(headers.metadata())


def _verify(metadata, key: Ed25519PrivateKey, *, body: bytes = BODY, now: float = NOW, method: str = EARN) -> str:
    public = key.public_key()

    def public_key_for(key_id: str):
        if key_id == "revoked-1":
            raise signing.SignatureError("KEY_REVOKED", "revoked")
        if key_id != "acme-1":
            raise signing.SignatureError("KEY_UNKNOWN", "unknown")
        return public

    return signing.verify_request(metadata, method, body, public_key_for, now=now)


def _reason(metadata, key, **kwargs) -> str:
    with pytest.raises(signing.SignatureError) as refused:
        _verify(metadata, key, **kwargs)
    return refused.value.reason


def test_valid_request_verifies(partner_key):
    assert _verify(_signed(partner_key), partner_key) == "acme-1"


@pytest.mark.parametrize("header", [signing.KEY_ID_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER,
                                    signing.SIGNATURE_HEADER])
def test_missing_header(partner_key, header):
    metadata = _signed(partner_key)
    del metadata[header]
    assert _reason(metadata, partner_key) == "SIGNATURE_MISSING"


@pytest.mark.parametrize("header", [signing.KEY_ID_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER,
                                    signing.SIGNATURE_HEADER])
def test_duplicated_header(partner_key, header):
    metadata = _signed(partner_key)
    metadata[header] = metadata[header] * 2  # the same value twice is still refused
    assert _reason(metadata, partner_key) == "SIGNATURE_INVALID"


def test_collect_metadata_keeps_duplicates_and_skips_binary(partner_key):
    pairs = list(signing.SignedHeaders("acme-1", NOW, "n" * 16, "c2ln").metadata())
    pairs += [("X-Coalition-Nonce", "m" * 16), ("grpc-trace-bin", b"\x00\x01")]
    collected = signing.collect_metadata(pairs)
    assert collected[signing.NONCE_HEADER] == ["n" * 16, "m" * 16]
    assert "grpc-trace-bin" not in collected


def test_bad_base64_signature(partner_key):
    metadata = _signed(partner_key)
    metadata[signing.SIGNATURE_HEADER] = ["not base64 at all!"]
    assert _reason(metadata, partner_key) == "SIGNATURE_INVALID"


def test_urlsafe_base64_signature_is_refused(partner_key):
    metadata = _signed(partner_key)
    for attempt in range(64):  # find a signature whose base64 uses + or /, then send it url-safe
        metadata = _signed(partner_key, nonce=f"nonce-for-urlsafe-{attempt:02d}")
        text = metadata[signing.SIGNATURE_HEADER][0]
        if "+" in text or "/" in text:
            break
    else:  # pragma: no cover - 64 signatures without + or / is vanishingly unlikely
        raise AssertionError("no signature with + or / among 64: cannot build the url-safe variant")
    metadata[signing.SIGNATURE_HEADER] = [text.replace("+", "-").replace("/", "_")]
    assert _reason(metadata, partner_key) == "SIGNATURE_INVALID"


@pytest.mark.parametrize("length", [0, 32, 63, 65])
def test_wrong_signature_length(partner_key, length):
    metadata = _signed(partner_key)
    metadata[signing.SIGNATURE_HEADER] = [base64.b64encode(b"\x01" * length).decode()]
    assert _reason(metadata, partner_key) == "SIGNATURE_INVALID"


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_timestamp_outside_window(partner_key, offset):
    metadata = _signed(partner_key, timestamp=NOW + offset)
    assert _reason(metadata, partner_key) == "TIMESTAMP_STALE"


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_timestamp_inside_window(partner_key, offset):
    assert _verify(_signed(partner_key, timestamp=NOW + offset), partner_key) == "acme-1"


@pytest.mark.parametrize("clock, accepted", [(NOW + 300.9, True), (NOW + 301.0, False),  # timestamp 300 s behind
                                             (NOW - 300.0, True), (NOW - 299.1, True),  # 300 s ahead
                                             (NOW - 300.1, False)])
def test_freshness_counts_whole_seconds_of_the_clock(partner_key, clock, accepted):
    """|clock - timestamp| <= 300 in integer seconds (the clock floored), the same bound on both sides: a clock
    300.9 s past the timestamp is 300 whole seconds past it."""
    metadata = _signed(partner_key)
    if accepted:
        assert _verify(metadata, partner_key, now=clock) == "acme-1"
    else:
        assert _reason(metadata, partner_key, now=clock) == "TIMESTAMP_STALE"


@pytest.mark.parametrize("text", ["", "1.5", "-1", "+1800000000", "01800000000", "1e9", " 1800000000", "1800000000000"])
def test_malformed_timestamp(partner_key, text):
    metadata = _signed(partner_key)
    metadata[signing.TIMESTAMP_HEADER] = [text]
    assert _reason(metadata, partner_key) == "TIMESTAMP_INVALID"


@pytest.mark.parametrize("nonce", ["short", "a" * 15, "a" * 65, "abcdefghijklmnop!", "abcdefghijklmnop=",
                                   "abcdefghijklmnop+", "abcdefghijklmnop/", "abcdefghijklmnöp", "abcdefgh ijklmnop"])
def test_bad_nonce(partner_key, nonce):
    metadata = _signed(partner_key, nonce=nonce)
    assert _reason(metadata, partner_key) == "NONCE_INVALID"


@pytest.mark.parametrize("nonce", ["a" * 16, "Z" * 64, "AZaz09_-AZaz09_-"])
def test_good_nonce_edges(partner_key, nonce):
    assert _verify(_signed(partner_key, nonce=nonce), partner_key) == "acme-1"


def test_new_nonce_shape():
    nonces = {signing.new_nonce() for _ in range(20)}
    assert len(nonces) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", n) for n in nonces)


@pytest.mark.parametrize("key_id", ["", "a" * 65, "acme 1", "acme/1"])
def test_malformed_key_id(partner_key, key_id):
    metadata = _signed(partner_key)
    metadata[signing.KEY_ID_HEADER] = [key_id]
    assert _reason(metadata, partner_key) == "KEY_UNKNOWN"


def test_tampered_body(partner_key):
    metadata = _signed(partner_key)
    tampered = network_pb2.EarnRequest(request_id="r-1", member_id="m-1", points=1000).SerializeToString()
    assert _reason(metadata, partner_key, body=tampered) == "SIGNATURE_INVALID"


def test_body_with_same_fields_but_other_bytes_is_refused(partner_key):
    # Same message, different encoding (an unknown-free reordering): the profile signs bytes, not messages.
    message = network_pb2.EarnRequest(request_id="r-1", member_id="m-1", points=10)
    reordered = (network_pb2.EarnRequest(member_id="m-1").SerializeToString()
                 + network_pb2.EarnRequest(request_id="r-1", points=10).SerializeToString())
    assert network_pb2.EarnRequest.FromString(reordered) == message and reordered != BODY
    assert _reason(_signed(partner_key), partner_key, body=reordered) == "SIGNATURE_INVALID"


def test_other_method(partner_key):
    metadata = _signed(partner_key)
    assert _reason(metadata, partner_key, method="/coalition.v1.NetworkService/Redeem") == "SIGNATURE_INVALID"


def test_tampered_headers(partner_key):
    metadata = _signed(partner_key)
    metadata[signing.TIMESTAMP_HEADER] = [str(NOW + 1)]
    assert _reason(metadata, partner_key) == "SIGNATURE_INVALID"
    metadata = _signed(partner_key)
    metadata[signing.NONCE_HEADER] = ["abcdefghijklmnop-_13"]
    assert _reason(metadata, partner_key) == "SIGNATURE_INVALID"


def test_wrong_key(partner_key):
    other = signing.private_key_from_raw(bytes(range(1, 33)))
    assert _reason(_signed(other), partner_key) == "SIGNATURE_INVALID"


def test_unknown_and_revoked_keys_come_from_the_lookup(partner_key):
    assert _reason(_signed(partner_key, key_id="nobody-1"), partner_key) == "KEY_UNKNOWN"
    assert _reason(_signed(partner_key, key_id="revoked-1"), partner_key) == "KEY_REVOKED"


def test_key_lookup_happens_only_after_cheap_checks(partner_key):
    looked_up = []
    metadata = _signed(partner_key, timestamp=NOW - 1000)
    with pytest.raises(signing.SignatureError):
        signing.verify_request(metadata, EARN, BODY, lambda kid: looked_up.append(kid), now=NOW)
    assert looked_up == []


# --- receipts -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def network_key() -> Ed25519PrivateKey:
    return signing.private_key_from_raw(bytes(range(100, 132)))


RESPONSE = network_pb2.EarnResponse(transaction_id="tx-1", points=10).SerializeToString()


def _receipt(network_key, **kwargs):
    return signing.collect_metadata(signing.sign_response(network_key, "net-1", EARN, BODY, RESPONSE, **kwargs))


def _verify_receipt(trailing, network_key, *, method=EARN, request=BODY, response=RESPONSE) -> str:
    keys = {"net-1": network_key.public_key()}

    def network_key_for(key_id):
        if key_id not in keys:
            raise signing.SignatureError("RECEIPT_INVALID", "unknown network key")
        return keys[key_id]

    return signing.verify_receipt(trailing, method, request, response, network_key_for)


def _receipt_reason(trailing, network_key, **kwargs) -> str:
    with pytest.raises(signing.SignatureError) as refused:
        _verify_receipt(trailing, network_key, **kwargs)
    return refused.value.reason


def test_receipt_verifies(network_key):
    assert _verify_receipt(_receipt(network_key), network_key) == "net-1"


def test_receipt_tampered_response(network_key):
    other = network_pb2.EarnResponse(transaction_id="tx-1", points=11).SerializeToString()
    assert _receipt_reason(_receipt(network_key), network_key, response=other) == "RECEIPT_INVALID"


def test_receipt_tampered_request(network_key):
    other = network_pb2.EarnRequest(request_id="r-1", member_id="m-2", points=10).SerializeToString()
    assert _receipt_reason(_receipt(network_key), network_key, request=other) == "RECEIPT_INVALID"


def test_receipt_other_method(network_key):
    assert _receipt_reason(_receipt(network_key), network_key,
                           method="/coalition.v1.NetworkService/Redeem") == "RECEIPT_INVALID"


def test_receipt_request_signature_is_not_a_receipt(network_key):
    # A request signature (coalition-sig-v1) by the same key must never pass as a receipt.
    request_headers = signing.sign_request(network_key, "net-1", EARN, BODY, timestamp=NOW, nonce="n" * 16)
    trailing = {signing.KEY_ID_HEADER: ["net-1"], signing.SIGNATURE_HEADER: [request_headers.signature_b64]}
    assert _receipt_reason(trailing, network_key) == "RECEIPT_INVALID"


def test_receipt_wrong_key(network_key):
    impostor = signing.private_key_from_raw(bytes(range(200, 232)))
    assert _receipt_reason(_receipt(impostor), network_key) == "RECEIPT_INVALID"


def test_receipt_bad_base64_and_length(network_key):
    trailing = _receipt(network_key)
    trailing[signing.SIGNATURE_HEADER] = ["%%%"]
    assert _receipt_reason(trailing, network_key) == "RECEIPT_INVALID"
    trailing[signing.SIGNATURE_HEADER] = [base64.b64encode(b"\x00" * 63).decode()]
    assert _receipt_reason(trailing, network_key) == "RECEIPT_INVALID"


def test_receipt_missing_entries(network_key):
    for header in (signing.KEY_ID_HEADER, signing.SIGNATURE_HEADER):
        trailing = _receipt(network_key)
        del trailing[header]
        assert _receipt_reason(trailing, network_key) == "SIGNATURE_MISSING"


def test_receipt_unknown_network_key(network_key):
    trailing = _receipt(network_key)
    trailing[signing.KEY_ID_HEADER] = ["net-9"]
    assert _receipt_reason(trailing, network_key) == "RECEIPT_INVALID"


def test_event_vector(receipt_vector):
    """SIGNING.md 7.2: the event bytes are the documented Event, signed by section 7's network key."""
    section = _section("7.2 Test vector")
    v = _values(section)
    key = signing.private_key_from_raw(bytes.fromhex(receipt_vector["network_private_key_seed_hex"]))
    body = bytes.fromhex(v["event_hex"])
    assert network_pb2.Event.FromString(body) == text_format.Parse(_blocks(section, "textproto")[0], network_pb2.Event())
    assert signing.sha256_hex(body) == v["event_sha256_hex"]
    assert signing.event_message(v["network_key_id"], body) == _unescape_newlines(v["message_to_sign"])
    signature = base64.b64decode(v["signature_base64"])
    assert signing.sign_event(key, v["network_key_id"], body) == signature  # Ed25519 is deterministic
    signing.verify_event(body, signature, v["network_key_id"], lambda _: key.public_key())
    with pytest.raises(signing.SignatureError) as refused:
        signing.verify_event(body + b"\x00", signature, v["network_key_id"], lambda _: key.public_key())
    assert refused.value.reason == "EVENT_SIGNATURE_INVALID"
