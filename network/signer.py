"""The network's own Ed25519 key: it signs receipts (coalition-sig-v1-response), refusal receipts
(coalition-sig-v1-refusal) and statements."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import Engine, text

from partners import signing
from partners.sodium import SodiumSigningKey


class NetworkSigner:
    """The network's Ed25519 key: signs receipts and statements (through libsodium, partners.sodium: the same
    signature bytes as `cryptography`, measured faster by `coalition bench verify`)."""

    def __init__(self, private_key):
        self.private_key = private_key  # the cryptography key (PEM files, tests)
        self._signing_key = SodiumSigningKey(private_key)
        self.public_raw = signing.raw_public(private_key)
        self.key_id = "net-" + hashlib.sha256(self.public_raw).hexdigest()[:12]

    @classmethod
    def from_file(cls, path: Path, create: bool = True) -> "NetworkSigner":
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"network key file {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(signing.private_key_to_pem(signing.generate_private_key()))
        return cls(signing.private_key_from_pem(path.read_bytes()))

    def register(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO network_keys (key_id, public_key, active) VALUES (:k, :p, true) "
                              "ON CONFLICT (key_id) DO UPDATE SET active = true"), {"k": self.key_id, "p": self.public_raw})

    def receipt(self, method: str, request_body: bytes, response_body: bytes) -> tuple[tuple[str, str], ...]:
        return signing.sign_response(self._signing_key, self.key_id, method, request_body, response_body)

    def refusal_receipt(self, method: str, request_body: bytes, code_name: str,
                        reason: str) -> tuple[tuple[str, str], ...]:
        return signing.sign_refusal(self._signing_key, self.key_id, method, request_body, code_name, reason)

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message)

    def event_signature(self, event_body: bytes) -> bytes:
        """coalition-sig-v1-event over a serialized Event's exact bytes."""
        return signing.sign_event(self._signing_key, self.key_id, event_body)
