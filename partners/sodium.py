"""Ed25519 through libsodium (PyNaCl), which `coalition bench verify` measures faster here than `cryptography`
(OpenSSL): both for verifying (about 38 against 61 microseconds) and for signing (14 against 20).

Used on both ends of the wire: the server verifies requests and signs receipts with it (network.keys,
network.signer), and the SDK signs requests and verifies receipts, refusal receipts, statements and events with it
(partners.client). The objects below stand in for `cryptography`'s key objects, with the same methods and the
same failure: `SodiumVerifyKey.verify` raises `cryptography.exceptions.InvalidSignature`, so the functions of
`partners.signing` take either. Keys are still made, stored and read as `cryptography` keys (PEM files, key
generation); a verify key is built once per key and cached with it. Ed25519 signatures are deterministic (RFC
8032), so `SodiumSigningKey.sign` gives the very bytes `cryptography` gives for the same key and message.

One difference, stricter only: libsodium also refuses signatures whose R or public key is of small order,
which OpenSSL accepts; no honestly made key or signature is of small order.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from partners import signing

SIGNATURE_BYTES = nacl.bindings.crypto_sign_BYTES
PUBLIC_KEY_BYTES = nacl.bindings.crypto_sign_PUBLICKEYBYTES


class SodiumVerifyKey:
    """An Ed25519 public key verified by libsodium; `verify(signature, message)` as in `cryptography`."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes):
        if len(raw) != PUBLIC_KEY_BYTES:
            raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes, not {len(raw)}")
        self.raw = bytes(raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        if len(signature) != SIGNATURE_BYTES:
            raise InvalidSignature()
        try:
            nacl.bindings.crypto_sign_open(signature + message, self.raw)
        except nacl.exceptions.BadSignatureError:
            raise InvalidSignature() from None


class SodiumSigningKey:
    """An Ed25519 private key (the network's, or a partner's in the SDK) signing through libsodium; `sign(message)`
    as in `cryptography`. Built from the `cryptography` key, which stays the one stored and read (PEM files)."""

    __slots__ = ("_seed_and_public",)

    def __init__(self, private_key: Ed25519PrivateKey):
        seed = signing.raw_private(private_key)
        _public, self._seed_and_public = nacl.bindings.crypto_sign_seed_keypair(seed)

    def sign(self, message: bytes) -> bytes:
        return nacl.bindings.crypto_sign(message, self._seed_and_public)[:SIGNATURE_BYTES]
