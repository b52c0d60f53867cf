"""The coalition-sig-v1 signing profile: the one definition, used by the partner SDK and the network alike.

Request: four metadata entries (key id, integer Unix timestamp, nonce, base64 Ed25519 signature) over six
lines joined by "\\n" (no trailing newline, UTF-8):

    coalition-sig-v1
    <full method, e.g. /coalition.v1.NetworkService/Earn>
    <key id>
    <timestamp>
    <nonce>
    <lowercase hex SHA-256 of the exact request bytes on the wire>

Receipt (trailing metadata of every mutating response): the network's key id and a signature over

    coalition-sig-v1-response
    <full method>
    <network key id>
    <hex SHA-256 of the request bytes>
    <hex SHA-256 of the response bytes>

Refusal receipt (trailing metadata of every refused mutating call, next to grpc-status-details-bin): the same
two entries over

    coalition-sig-v1-refusal
    <full method>
    <network key id>
    <hex SHA-256 of the request bytes>
    <the status code's name, e.g. FAILED_PRECONDITION>
    <the ErrorInfo reason, e.g. INSUFFICIENT_POINTS>

Event (WatchEvents, ListEvents): the network signs the exact bytes of each serialized Event it sends, over

    coalition-sig-v1-event
    <network key id>
    <hex SHA-256 of the Event bytes>

The algorithm is fixed to Ed25519 and never read from a request. protos/SIGNING.md documents this for
partners who write their own client, with a test vector.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PROFILE = "coalition-sig-v1"
RESPONSE_PROFILE = "coalition-sig-v1-response"
REFUSAL_PROFILE = "coalition-sig-v1-refusal"
EVENT_PROFILE = "coalition-sig-v1-event"
KEY_ID_HEADER = "x-coalition-key-id"
TIMESTAMP_HEADER = "x-coalition-timestamp"
NONCE_HEADER = "x-coalition-nonce"
SIGNATURE_HEADER = "x-coalition-signature"
FRESHNESS_SECONDS = 300


class SigningKey(Protocol):
    """What signs here: a `cryptography` Ed25519PrivateKey, or partners.sodium.SodiumSigningKey (libsodium)."""

    def sign(self, data: bytes) -> bytes: ...


class VerifyKey(Protocol):
    """What verifies here: a `cryptography` Ed25519PublicKey, or partners.sodium.SodiumVerifyKey (libsodium); a
    signature that does not hold raises cryptography.exceptions.InvalidSignature either way."""

    def verify(self, signature: bytes, data: bytes) -> None: ...


_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # key ids (and partner ids, request ids)
_TIMESTAMP = re.compile(r"^(0|[1-9][0-9]{0,11})$")


class SignatureError(Exception):
    """A request or receipt failed coalition-sig-v1. `reason` is the ErrorInfo reason sent on the wire."""

    def __init__(self, reason: str, message: str, **metadata: str):
        super().__init__(message)
        self.reason = reason
        self.metadata = metadata  # ErrorInfo metadata (partners/reasons.py), e.g. TIMESTAMP_STALE's network_time


@dataclass(frozen=True)
class SignedHeaders:
    key_id: str
    timestamp: int
    nonce: str
    signature_b64: str

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (
            (KEY_ID_HEADER, self.key_id),
            (TIMESTAMP_HEADER, str(self.timestamp)),
            (NONCE_HEADER, self.nonce),
            (SIGNATURE_HEADER, self.signature_b64),
        )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def request_message(method: str, key_id: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The exact bytes a request signature covers."""
    lines = (PROFILE, method, key_id, str(timestamp), nonce, sha256_hex(body))
    return "\n".join(lines).encode("utf-8")


def response_message(method: str, network_key_id: str, request_body: bytes, response_body: bytes) -> bytes:
    """The exact bytes a receipt signature covers."""
    lines = (RESPONSE_PROFILE, method, network_key_id, sha256_hex(request_body), sha256_hex(response_body))
    return "\n".join(lines).encode("utf-8")


def refusal_message(method: str, network_key_id: str, request_body: bytes, code_name: str, reason: str) -> bytes:
    """The exact bytes a refusal receipt's signature covers."""
    lines = (REFUSAL_PROFILE, method, network_key_id, sha256_hex(request_body), code_name, reason)
    return "\n".join(lines).encode("utf-8")


def event_message(network_key_id: str, event_body: bytes) -> bytes:
    """The exact bytes an event signature covers."""
    return "\n".join((EVENT_PROFILE, network_key_id, sha256_hex(event_body))).encode("utf-8")


def new_nonce() -> str:
    """32 characters of [A-Za-z0-9_-]."""
    return secrets.token_urlsafe(24)


def is_fresh(timestamp: int, clock_seconds: int) -> bool:
    """The freshness window: |clock - timestamp| <= FRESHNESS_SECONDS, both in integer Unix seconds (the clock
    floored), inclusive on both sides."""
    return abs(clock_seconds - timestamp) <= FRESHNESS_SECONDS


def sign_request(
    private_key: SigningKey,
    key_id: str,
    method: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> SignedHeaders:
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = new_nonce() if nonce is None else nonce
    signature = private_key.sign(request_message(method, key_id, ts, nonce, body))
    return SignedHeaders(key_id, ts, nonce, base64.b64encode(signature).decode("ascii"))


def _single(metadata: Mapping[str, list[str]], name: str) -> str:
    values = metadata.get(name, [])
    if not values:
        raise SignatureError("SIGNATURE_MISSING", f"missing metadata entry {name}")
    if len(values) > 1:
        raise SignatureError("SIGNATURE_INVALID", f"metadata entry {name} given more than once")
    return values[0]


def collect_metadata(pairs: Iterable[tuple[str, str | bytes]]) -> dict[str, list[str]]:
    collected: dict[str, list[str]] = {}
    for name, value in pairs:
        if isinstance(value, bytes):
            continue  # binary metadata (-bin) is never part of the profile
        collected.setdefault(name.lower(), []).append(value)
    return collected


def verify_request(
    metadata: Mapping[str, list[str]],
    method: str,
    body: bytes,
    public_key_for: Callable[[str], VerifyKey],
    *,
    now: float | None = None,
) -> str:
    """Check a request's coalition-sig-v1 headers over the bytes received; return the key id.

    `public_key_for(key_id)` returns the active key or raises SignatureError (unknown, revoked).
    """
    key_id = _single(metadata, KEY_ID_HEADER)
    timestamp_text = _single(metadata, TIMESTAMP_HEADER)
    nonce = _single(metadata, NONCE_HEADER)
    signature_text = _single(metadata, SIGNATURE_HEADER)
    if not KEY_ID_PATTERN.match(key_id):
        raise SignatureError("KEY_UNKNOWN", "key id is not of the form [A-Za-z0-9._:-]{1,64}")
    if not _TIMESTAMP.match(timestamp_text):
        raise SignatureError("TIMESTAMP_INVALID", "timestamp must be integer Unix seconds")
    if not _NONCE.match(nonce):
        raise SignatureError("NONCE_INVALID", "nonce must be 16 to 64 characters of [A-Za-z0-9_-]")
    timestamp = int(timestamp_text)
    current = int(time.time() if now is None else now)  # integer seconds, as the timestamp: the window is symmetric
    if not is_fresh(timestamp, current):
        raise SignatureError(
            "TIMESTAMP_STALE",
            f"timestamp {timestamp} is outside +-{FRESHNESS_SECONDS}s of the network's clock ({int(current)})",
            network_time=str(int(current)),
        )
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("SIGNATURE_INVALID", "signature is not standard base64") from None
    if len(signature) != 64:
        raise SignatureError("SIGNATURE_INVALID", "signature must be 64 bytes (Ed25519)")
    public_key = public_key_for(key_id)
    try:
        public_key.verify(signature, request_message(method, key_id, timestamp, nonce, body))
    except InvalidSignature:
        raise SignatureError("SIGNATURE_INVALID", "signature does not match the request") from None
    return key_id


def sign_response(
    private_key: SigningKey, network_key_id: str, method: str, request_body: bytes, response_body: bytes
) -> tuple[tuple[str, str], ...]:
    signature = private_key.sign(response_message(method, network_key_id, request_body, response_body))
    return ((KEY_ID_HEADER, network_key_id), (SIGNATURE_HEADER, base64.b64encode(signature).decode("ascii")))


def sign_refusal(
    private_key: SigningKey, network_key_id: str, method: str, request_body: bytes, code_name: str, reason: str
) -> tuple[tuple[str, str], ...]:
    signature = private_key.sign(refusal_message(method, network_key_id, request_body, code_name, reason))
    return ((KEY_ID_HEADER, network_key_id), (SIGNATURE_HEADER, base64.b64encode(signature).decode("ascii")))


def verify_receipt(
    trailing: Mapping[str, list[str]],
    method: str,
    request_body: bytes,
    response_body: bytes,
    network_key_for: Callable[[str], VerifyKey],
) -> str:
    """Check a response receipt; return the network key id that signed it."""
    return _verify_network_signature(trailing, "receipt", network_key_for,
                                     lambda key_id: response_message(method, key_id, request_body, response_body))


def verify_refusal_receipt(
    trailing: Mapping[str, list[str]],
    method: str,
    request_body: bytes,
    code_name: str,
    reason: str,
    network_key_for: Callable[[str], VerifyKey],
) -> str:
    """Check a refusal receipt (the status code name and ErrorInfo reason received); return the signing key id."""
    return _verify_network_signature(trailing, "refusal receipt", network_key_for,
                                     lambda key_id: refusal_message(method, key_id, request_body, code_name, reason))


def _verify_network_signature(trailing: Mapping[str, list[str]], label: str,
                              network_key_for: Callable[[str], VerifyKey],
                              message_for: Callable[[str], bytes]) -> str:
    """The network's signature in trailing metadata over message_for(its key id); returns that key id."""
    key_id = _single(trailing, KEY_ID_HEADER)
    try:
        signature = base64.b64decode(_single(trailing, SIGNATURE_HEADER), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("RECEIPT_INVALID", f"{label} signature is not standard base64") from None
    try:
        network_key_for(key_id).verify(signature, message_for(key_id))
    except InvalidSignature:
        raise SignatureError("RECEIPT_INVALID", f"{label} signature does not match") from None
    return key_id


def sign_event(private_key: SigningKey, network_key_id: str, event_body: bytes) -> bytes:
    return private_key.sign(event_message(network_key_id, event_body))


def verify_event(event_body: bytes, signature: bytes, network_key_id: str,
                 network_key_for: Callable[[str], VerifyKey]) -> None:
    """Check an event's network signature over its exact bytes (raises SignatureError)."""
    try:
        network_key_for(network_key_id).verify(signature, event_message(network_key_id, event_body))
    except InvalidSignature:
        raise SignatureError("EVENT_SIGNATURE_INVALID", "event signature does not match") from None


# --- keys -------------------------------------------------------------------------------------------

def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_from_raw(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def raw_public(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def private_key_from_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key
