"""The signature-verifying server interceptor and the network's receipt signer.

It swaps each unary handler's request deserializer and response serializer for pass-throughs, so that it
verifies coalition-sig-v1 over the exact bytes received (never a re-serialization), signs a receipt over the
exact bytes sent, and maps domain errors to rich gRPC statuses in one place.

The server is a grpc.aio server: handlers written as coroutines (Earn) run on its event loop, every other
handler runs in its thread pool. The interceptor wraps both kinds the same way.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from network import errors, logs
from network.admin import KEYS_CHANNEL
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


@contextmanager
def _acting_as(caller: Caller | None) -> Iterator[None]:
    """The authenticated caller (None for public methods) is current_caller() inside the block."""
    token = CALLER.set(caller) if caller else None
    try:
        yield
    finally:
        if token is not None:
            CALLER.reset(token)


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


def database_error(exc: DBAPIError) -> DomainError:
    """A database failure as a status the partner SDK retries safely (the request_id makes retries idempotent)."""
    if getattr(exc.orig, "pgcode", None) in ("40001", "40P01", "23505"):  # serialization, deadlock, key race
        return DomainError(grpc.StatusCode.ABORTED, "CONFLICT_RETRY", "concurrent update conflict: retry")
    return DomainError(grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE", "the ledger database is unavailable: retry")


def abort(context: grpc.ServicerContext, error: DomainError) -> None:
    """End the call with `error` as a rich status (from a handler running in the server's thread pool)."""
    status = rpc_status.to_status(status_for(error))
    context.abort(status.code, status.details, status.trailing_metadata)


async def abort_async(context, error: DomainError) -> None:
    """The same, from a handler running on the server's event loop."""
    status = rpc_status.to_status(status_for(error))
    await context.abort(status.code, status.details, status.trailing_metadata)


class NotCached(Exception):
    """The key is not in the cache (and the caller may not wait for the database on this thread)."""


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


@dataclass(frozen=True)
class _KeyRecord:
    partner_id: str
    public_key: object
    active: bool
    partner_active: bool


class KeyDirectory:
    """Partner keys by id, cached; PostgreSQL NOTIFY on every key or partner-status change empties the cache.

    A revoked key or a suspended partner fails at once on every server: the change commits together with its
    NOTIFY, and a listener thread clears the cache when it arrives. While the listener is not connected (at
    start, after a lost connection) the cache is bypassed and every request reads the key from the database.
    """

    def __init__(self, engine: Engine, *, listen: bool = True):
        self._engine = engine
        self._lock = threading.Lock()
        self._cache: dict[str, _KeyRecord] = {}
        self._listening = threading.Event()
        self._stop = threading.Event()
        if listen:
            threading.Thread(target=self._listen, daemon=True, name="key-listener").start()

    def close(self) -> None:
        self._stop.set()

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def _listen(self) -> None:
        import select

        while not self._stop.is_set():
            raw = None
            try:
                raw = self._engine.raw_connection()
                driver = raw.driver_connection
                driver.set_session(autocommit=True)
                with driver.cursor() as cursor:
                    cursor.execute(f"LISTEN {KEYS_CHANNEL}")
                self.invalidate()
                self._listening.set()
                while not self._stop.is_set():
                    if select.select([driver], [], [], 1.0)[0]:
                        driver.poll()
                        if driver.notifies:
                            driver.notifies.clear()
                            self.invalidate()
            except Exception:  # noqa: BLE001 - a lost listener means: bypass the cache until it is back
                log.warning("key cache listener lost its connection; reading keys from the database meanwhile",
                            exc_info=True)
            finally:
                self._listening.clear()
                self.invalidate()
                if raw is not None:
                    try:
                        raw.invalidate()
                    except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
                        pass
            self._stop.wait(1.0)

    def _record(self, key_id: str, cached_ok: bool, cache_only: bool = False) -> _KeyRecord | None:
        cached = self._cache.get(key_id) if cached_ok and self._listening.is_set() else None
        if cached is not None:
            return cached
        if cache_only:
            raise NotCached(key_id)
        with self._engine.connect() as conn:
            row = conn.execute(text("SELECT k.partner_id, k.public_key, k.status, p.status AS partner_status "
                                    "FROM partner_keys k JOIN partners p USING (partner_id) WHERE k.key_id = :k"),
                               {"k": key_id}).first()
        if row is None:
            return None
        record = _KeyRecord(row.partner_id, signing.public_key_from_raw(bytes(row.public_key)),
                            row.status == "active", row.partner_status == "active")
        if self._listening.is_set():
            with self._lock:
                self._cache[key_id] = record
        return record

    def authenticate(self, method: str, metadata, body: bytes, *, cached_ok: bool = False,
                     cache_only: bool = False) -> Caller:
        """Verify the request and find its partner. With `cached_ok` the key may come from the cache: only for
        calls whose write transaction checks the key and partner status again (see network.earn_commit).
        With `cache_only`, a key that is not cached raises NotCached instead of being read from the database."""
        found: dict[str, _KeyRecord] = {}

        def public_key_for(key_id: str):
            record = self._record(key_id, cached_ok, cache_only)
            if record is None:
                raise signing.SignatureError("KEY_UNKNOWN", f"key {key_id} is not registered")
            if not record.active:
                raise signing.SignatureError("KEY_REVOKED", f"key {key_id} is revoked")
            found[key_id] = record
            return record.public_key

        try:
            key_id = signing.verify_request(signing.collect_metadata(metadata), method, body, public_key_for)
        except signing.SignatureError as exc:
            raise errors.unauthenticated(exc.reason, str(exc)) from None
        record = found[key_id]
        if not record.partner_active:
            raise errors.denied("PARTNER_SUSPENDED", f"partner {record.partner_id} is suspended")
        return Caller(record.partner_id, key_id)


def key_status_refusal(caller: Caller, key_status: str, partner_status: str) -> DomainError | None:
    """Why a caller authenticated from the key cache is refused now, given its key's and partner's status."""
    if key_status != "active":
        return errors.unauthenticated("KEY_REVOKED", f"key {caller.key_id} is revoked")
    if partner_status != "active":
        return errors.denied("PARTNER_SUSPENDED", f"partner {caller.partner_id} is suspended")
    return None


Observer = Callable[[str, str, float], None]
RefusalObserver = Callable[[str, str], None]  # (method, ErrorInfo reason) of a request refused by authentication


class _Observed:
    """One call's outcome and duration for the observer. A refusal (a domain or database error) is kept in
    `error` and suppressed, for the caller to end the call with; anything else propagates as INTERNAL."""

    def __init__(self, interceptor: "SigningInterceptor", method: str):
        self._interceptor = interceptor
        self._method = method
        self.error: DomainError | None = None

    def __enter__(self) -> "_Observed":
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        outcome, self.error = ("OK", None) if exc is None else self._interceptor._refusal(self._method, exc)
        if self._interceptor._observe:
            self._interceptor._observe(self._method, outcome, time.perf_counter() - self._started)
        return self.error is not None


class SigningInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: KeyDirectory, signer: NetworkSigner, *, protected_prefixes: tuple[str, ...],
                 public_methods: frozenset[str], mutating_methods: frozenset[str], observe: Observer | None = None,
                 refused: RefusalObserver | None = None, rechecked_methods: frozenset[str] = frozenset()):
        self._keys = keys
        self._signer = signer
        self._protected = protected_prefixes
        self._public = public_methods
        self._mutating = mutating_methods
        self._observe = observe
        self._refused = refused
        self._rechecked = rechecked_methods
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}  # by method; used on the event loop only

    def _authenticate(self, method: str, metadata, raw: bytes, cache_only: bool = False) -> Caller:
        try:
            return self._keys.authenticate(method, metadata, raw, cached_ok=method in self._rechecked,
                                           cache_only=cache_only)
        except DomainError as exc:
            if self._refused:
                self._refused(method, exc.reason)
            raise

    @staticmethod
    def _request(deserialize, raw: bytes):
        try:
            request = deserialize(raw)
        except DecodeError:
            raise errors.invalid("request", "not a valid serialized message", reason="MALFORMED_REQUEST") from None
        logs.set_request_id(getattr(request, "request_id", "") or "")
        return request

    def _respond(self, method: str, raw: bytes, result, serialize, mutating: bool, context) -> bytes:
        body = result if isinstance(result, bytes) else serialize(result)
        if mutating:
            context.set_trailing_metadata(self._signer.receipt(method, raw, body))
        return body

    @staticmethod
    def _refusal(method: str, exc: BaseException) -> tuple[str, DomainError | None]:
        """(outcome for metrics, the status to end the call with; None: let the exception through as INTERNAL)."""
        if isinstance(exc, DBAPIError):
            log.warning("database error in %s: %s", method, exc.__class__.__name__, exc_info=True)
            return "UNAVAILABLE", database_error(exc)
        if isinstance(exc, DomainError):
            if exc.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                log.info("refused %s: %s", method, exc)
            return exc.code.name, exc
        return "INTERNAL", None

    async def intercept_service(self, continuation, handler_call_details):
        # One wrapped handler per method, built on its first call (the services do not change once serving).
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None  # an unknown method: not remembered, its name is the caller's to choose
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler):
        if handler.unary_unary is None or not method.startswith(self._protected):
            return handler
        deserialize = handler.request_deserializer
        serialize = handler.response_serializer
        behavior = handler.unary_unary
        authenticate = method not in self._public
        mutating = method in self._mutating

        def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
            with _Observed(self, method) as call:
                caller = self._authenticate(method, context.invocation_metadata(), raw) if authenticate else None
                if caller:
                    logs.set_partner(caller.partner_id)
                request = self._request(deserialize, raw)
                with _acting_as(caller):
                    result = behavior(request, context)
                return self._respond(method, raw, result, serialize, mutating, context)
            abort(context, call.error)  # reached only when the call was refused
            return b""

        def verified(raw: bytes, context: grpc.ServicerContext) -> bytes:
            with logs.log_context(request_id="", partner_id="", method=method):  # the call's ids on its log lines
                return handle(raw, context)

        async def handle_async(raw: bytes, context) -> bytes:
            with _Observed(self, method) as call:
                caller = None
                if authenticate:
                    metadata = context.invocation_metadata()
                    try:  # on the event loop only when the key is cached: never wait for the database here
                        caller = self._authenticate(method, metadata, raw, cache_only=True)
                    except NotCached:
                        caller = await asyncio.get_running_loop().run_in_executor(
                            None, self._authenticate, method, metadata, raw)
                    logs.set_partner(caller.partner_id)
                request = self._request(deserialize, raw)
                with _acting_as(caller):
                    result = await behavior(request, context)
                return self._respond(method, raw, result, serialize, mutating, context)
            await abort_async(context, call.error)  # reached only when the call was refused
            return b""

        async def verified_async(raw: bytes, context) -> bytes:
            with logs.log_context(request_id="", partner_id="", method=method):
                return await handle_async(raw, context)

        if inspect.iscoroutinefunction(behavior):
            return grpc.unary_unary_rpc_method_handler(verified_async)
        return grpc.unary_unary_rpc_method_handler(verified)


__all__ = ["CALLER", "Caller", "KeyDirectory", "NetworkSigner", "NotCached", "Observer", "RefusalObserver",
           "SigningInterceptor", "abort", "abort_async", "current_caller", "key_status_refusal", "status_for"]
