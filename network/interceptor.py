"""The signature-verifying server interceptor.

It swaps each unary handler's request deserializer and response serializer for pass-throughs, so that it
verifies coalition-sig-v1 over the exact bytes received (never a re-serialization), signs a receipt over the
exact bytes sent, and ends refused calls with rich gRPC statuses (network.error_status) in one place; a refused
mutating call gets a signed refusal receipt (status code and reason) instead. Who
signs (network.signer) and how keys are found (network.keys) live in their own modules.

The server is a grpc.aio server: handlers written as coroutines (Earn) run on its event loop, every other
handler runs in its thread pool. The interceptor wraps both kinds the same way.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import grpc
from google.protobuf.message import DecodeError

from network import errors, logs
from network.error_status import abort, abort_async, database_error
from network.errors import DomainError
from network.keys import Caller, KeyDirectory, NotCached
from network.outage import DatabaseOutage, database_failure, describe, is_connection_failure
from network.signer import NetworkSigner
from network.tls import certificate_refusal

log = logging.getLogger(__name__)

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
                 refused: RefusalObserver | None = None, rechecked_methods: frozenset[str] = frozenset(),
                 max_message_bytes: int | None = None, client_certificates: bool = False,
                 outage: DatabaseOutage | None = None):
        """`client_certificates`: the listener requires client certificates (mutual TLS); every signed call's
        certificate must name the signing key's partner (network.tls)."""
        self._keys = keys
        self._outage = outage or DatabaseOutage()
        self._signer = signer
        self._protected = protected_prefixes
        self._public = public_methods
        self._mutating = mutating_methods
        self._observe = observe
        self._refused = refused
        self._rechecked = rechecked_methods
        self._max_message_bytes = max_message_bytes
        self._client_certificates = client_certificates
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}  # by method; used on the event loop only

    def _authenticate(self, method: str, metadata, raw: bytes, cache_only: bool = False) -> Caller:
        try:
            return self._keys.authenticate(method, metadata, raw, cached_ok=method in self._rechecked,
                                           cache_only=cache_only)
        except DomainError as exc:
            if self._refused:
                self._refused(method, exc.reason)
            raise

    def _check_size(self, raw: bytes) -> None:
        """A request over the message limit is refused before anything else (not retryable: the same bytes would be
        refused again)."""
        if self._max_message_bytes is not None and len(raw) > self._max_message_bytes:
            error = errors.invalid("request", f"is {len(raw)} bytes, more than the limit of "
                                   f"{self._max_message_bytes}", reason="MESSAGE_TOO_LARGE")
            error.metadata["limit_bytes"] = str(self._max_message_bytes)
            raise error

    def _check_certificate(self, method: str, caller: Caller, context) -> None:
        """Under mutual TLS: refuse a call whose client certificate names another partner than its signing key."""
        if not self._client_certificates:
            return
        refusal = certificate_refusal(context.auth_context(), caller.partner_id)
        if refusal is not None:
            if self._refused:
                self._refused(method, refusal.reason)
            raise refusal

    @staticmethod
    def _request(deserialize, raw: bytes):
        try:
            request = deserialize(raw)
        except DecodeError:
            raise errors.invalid("request", "not a valid serialized message", reason="MALFORMED_REQUEST") from None
        logs.set_request_id(getattr(request, "request_id", "") or "")
        return request

    def _refusal_receipt(self, method: str, raw: bytes, error: DomainError, mutating: bool):
        """A mutating call's refusal is signed too (coalition-sig-v1-refusal: status code name and reason over
        the request hash), refusals of the signature itself included: the partner's evidence of a refusal."""
        if not mutating:
            return ()
        return self._signer.refusal_receipt(method, raw, error.code.name, error.reason)

    def _respond(self, method: str, raw: bytes, result, serialize, mutating: bool, context) -> bytes:
        body = result if isinstance(result, bytes) else serialize(result)
        if mutating:
            context.set_trailing_metadata(self._signer.receipt(method, raw, body))
        return body

    def _refusal(self, method: str, exc: BaseException) -> tuple[str, DomainError | None]:
        """(outcome for metrics, the status to end the call with; None: let the exception through as INTERNAL,
        or, for a stream the caller closed, as it is)."""
        if isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
            return "CANCELLED", None
        failure = database_failure(exc)
        if failure is not None:
            error = database_error(failure)
            if error.code == grpc.StatusCode.ABORTED:
                log.info("conflict in %s: %s", method, describe(failure))
            elif is_connection_failure(failure):
                self._outage.call_failed(failure)  # logged once per outage; health NOT_SERVING at once
            else:
                log.warning("database error in %s: %s", method, describe(failure), exc_info=True)
            return error.code.name, error
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
        if not method.startswith(self._protected):
            return handler
        if handler.unary_stream is not None:
            return self._wrap_stream(method, handler)
        if handler.unary_unary is None:
            raise ValueError(f"{method}: only unary and server-streaming methods can be signed")
        deserialize = handler.request_deserializer
        serialize = handler.response_serializer
        behavior = handler.unary_unary
        authenticate = method not in self._public
        mutating = method in self._mutating

        def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
            with _Observed(self, method) as call:
                self._check_size(raw)
                caller = self._authenticate(method, context.invocation_metadata(), raw) if authenticate else None
                if caller:
                    logs.set_partner(caller.partner_id)
                    self._check_certificate(method, caller, context)
                request = self._request(deserialize, raw)
                with _acting_as(caller):
                    result = behavior(request, context)
                return self._respond(method, raw, result, serialize, mutating, context)
            abort(context, call.error, self._refusal_receipt(method, raw, call.error, mutating))  # refused
            return b""

        def verified(raw: bytes, context: grpc.ServicerContext) -> bytes:
            with logs.log_context(request_id="", partner_id="", method=method):  # the call's ids on its log lines
                return handle(raw, context)

        async def handle_async(raw: bytes, context) -> bytes:
            with _Observed(self, method) as call:
                caller = await self._caller_async(method, authenticate, raw, context)
                request = self._request(deserialize, raw)
                with _acting_as(caller):
                    result = await behavior(request, context)
                return self._respond(method, raw, result, serialize, mutating, context)
            await abort_async(context, call.error, self._refusal_receipt(method, raw, call.error, mutating))
            return b""

        async def verified_async(raw: bytes, context) -> bytes:
            with logs.log_context(request_id="", partner_id="", method=method):
                return await handle_async(raw, context)

        if inspect.iscoroutinefunction(behavior):
            return grpc.unary_unary_rpc_method_handler(verified_async)
        return grpc.unary_unary_rpc_method_handler(verified)

    async def _caller_async(self, method: str, authenticate: bool, raw: bytes, context):
        """On the event loop: the request's size checked, then (unless the method is public) its caller
        authenticated, from the key cache when it can be (never waiting for the database on the loop), else in the
        executor; the partner logged and its client certificate checked. None for a public method."""
        self._check_size(raw)
        if not authenticate:
            return None
        metadata = context.invocation_metadata()
        try:
            caller = self._authenticate(method, metadata, raw, cache_only=True)
        except NotCached:
            caller = await asyncio.get_running_loop().run_in_executor(None, self._authenticate, method, metadata, raw)
        logs.set_partner(caller.partner_id)
        self._check_certificate(method, caller, context)
        return caller

    def _wrap_stream(self, method: str, handler):
        """A server-streaming method (an async generator on the event loop): the single request is verified over
        its exact bytes like a unary one, before anything is sent; a refusal, then or mid-stream, ends the call
        with its rich status. Streams are never mutating: they carry no receipt (each event is signed itself)."""
        deserialize = handler.request_deserializer
        serialize = handler.response_serializer
        behavior = handler.unary_stream
        if not inspect.isasyncgenfunction(behavior):
            raise ValueError(f"{method}: a server-streaming method must be an async generator")
        authenticate = method not in self._public

        async def stream(raw: bytes, context):
            with logs.log_context(request_id="", partner_id="", method=method):
                with _Observed(self, method) as call:
                    caller = await self._caller_async(method, authenticate, raw, context)
                    request = self._request(deserialize, raw)
                    with _acting_as(caller):
                        async for item in behavior(request, context):
                            yield serialize(item)
            if call.error is not None:
                await abort_async(context, call.error)

        return grpc.unary_stream_rpc_method_handler(stream)


__all__ = ["CALLER", "Observer", "RefusalObserver", "SigningInterceptor", "current_caller"]
