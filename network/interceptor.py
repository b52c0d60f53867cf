"""The signature-verifying server interceptor and the network's receipt signer.

It swaps each unary handler's request deserializer and response serializer for pass-throughs, so that it
verifies coalition-sig-v1 over the exact bytes received (never a re-serialization), signs a receipt over the
exact bytes sent, and maps domain errors to rich gRPC statuses in one place.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy import Engine, text

from network import errors
from network.errors import DomainError
from partners import signing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    partner_id: str
    key_id: str


CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("coalition_caller")


def current_caller() -> Caller:
    return CALLER.get()


def status_for(error: DomainError) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=errors.ERROR_DOMAIN, metadata=error.metadata)
    details = [info]
    if error.field_violations:
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in error.field_violations]))
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


def abort(context: grpc.ServicerContext, error: DomainError) -> None:
    context.abort_with_status(rpc_status.to_status(status_for(error)))


class NetworkSigner:
    """The network's Ed25519 key: signs receipts and statements."""

    def __init__(self, private_key):
        self.private_key = private_key
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
        return signing.sign_response(self.private_key, self.key_id, method, request_body, response_body)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


class KeyDirectory:
    """Looks up a partner key on every request (a revoked key fails at once), with the partner's status."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._parsed: dict[bytes, object] = {}
        self._lock = threading.Lock()

    def authenticate(self, method: str, metadata, body: bytes) -> Caller:
        found: dict[str, tuple[str, str, str]] = {}

        def public_key_for(key_id: str):
            with self._engine.connect() as conn:
                row = conn.execute(text("SELECT k.partner_id, k.public_key, k.status, p.status AS partner_status "
                                        "FROM partner_keys k JOIN partners p USING (partner_id) WHERE k.key_id = :k"),
                                   {"k": key_id}).first()
            if row is None:
                raise signing.SignatureError("KEY_UNKNOWN", f"key {key_id} is not registered")
            if row.status != "active":
                raise signing.SignatureError("KEY_REVOKED", f"key {key_id} is revoked")
            found[key_id] = (row.partner_id, row.partner_status, key_id)
            raw = bytes(row.public_key)
            with self._lock:
                key = self._parsed.get(raw)
                if key is None:
                    key = self._parsed[raw] = signing.public_key_from_raw(raw)
            return key

        try:
            key_id = signing.verify_request(signing.collect_metadata(metadata), method, body, public_key_for)
        except signing.SignatureError as exc:
            raise errors.unauthenticated(exc.reason, str(exc)) from None
        partner_id, partner_status, _ = found[key_id]
        if partner_status != "active":
            raise errors.denied("PARTNER_SUSPENDED", f"partner {partner_id} is suspended")
        return Caller(partner_id, key_id)


Observer = Callable[[str, str, float], None]


class SigningInterceptor(grpc.ServerInterceptor):
    def __init__(self, keys: KeyDirectory, signer: NetworkSigner, *, protected_prefixes: tuple[str, ...],
                 public_methods: frozenset[str], mutating_methods: frozenset[str], observe: Observer | None = None):
        self._keys = keys
        self._signer = signer
        self._protected = protected_prefixes
        self._public = public_methods
        self._mutating = mutating_methods
        self._observe = observe

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.startswith(self._protected):
            return handler
        deserialize = handler.request_deserializer
        serialize = handler.response_serializer
        behavior = handler.unary_unary
        authenticate = method not in self._public
        mutating = method in self._mutating
        metadata = handler_call_details.invocation_metadata

        def verified(raw: bytes, context: grpc.ServicerContext) -> bytes:
            started = time.perf_counter()
            outcome = "OK"
            try:
                caller = self._keys.authenticate(method, metadata, raw) if authenticate else None
                try:
                    request = deserialize(raw)
                except DecodeError:
                    raise errors.invalid("request", "not a valid serialized message", reason="MALFORMED_REQUEST") from None
                token = CALLER.set(caller) if caller else None
                try:
                    result = behavior(request, context)
                finally:
                    if token is not None:
                        CALLER.reset(token)
                body = result if isinstance(result, bytes) else serialize(result)
                if mutating:
                    context.set_trailing_metadata(self._signer.receipt(method, raw, body))
                return body
            except DomainError as exc:
                outcome = exc.code.name
                if exc.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    log.info("refused %s: %s", method, exc)
                abort(context, exc)
            except Exception:
                outcome = "INTERNAL"
                raise
            finally:
                if self._observe:
                    self._observe(method, outcome, time.perf_counter() - started)
            return b""  # unreachable: abort raises

        return grpc.unary_unary_rpc_method_handler(verified)


__all__ = ["CALLER", "Caller", "KeyDirectory", "NetworkSigner", "SigningInterceptor", "abort", "current_caller",
           "status_for"]
