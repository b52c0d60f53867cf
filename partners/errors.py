"""Typed errors raised by the partner SDK, built from the network's rich gRPC status.

The network refuses a request with a gRPC status code used as its docs define it, plus a
`google.rpc.ErrorInfo` (domain "coalition.network") whose `reason` a program can switch on, and for
INVALID_ARGUMENT a `google.rpc.BadRequest` listing the offending fields. `error_from_rpc` turns a
`grpc.RpcError` into the most specific class below:

    CoalitionError
    ├── InvalidArgument, Unauthenticated, PermissionDenied, NotFound, FailedPrecondition, AlreadyExists,
    │   ResourceExhausted, Aborted, Unavailable, DeadlineExceeded, Internal      (one per status code)
    ├── InsufficientPoints    (FailedPrecondition, reason INSUFFICIENT_POINTS)
    ├── IdempotencyKeyReused  (AlreadyExists, reason IDEMPOTENCY_KEY_REUSED)
    ├── SignatureInvalid      (Unauthenticated, any coalition-sig-v1 refusal reason)
    ├── PartnerSuspended      (PermissionDenied, reason PARTNER_SUSPENDED)
    └── ReceiptInvalid        (client side: a response receipt did not verify)

A reason-specific class is chosen only when both the code and the reason match, so `except
FailedPrecondition` always catches what the server sent as FAILED_PRECONDITION.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from partners import reasons

if TYPE_CHECKING:  # pragma: no cover
    from partners.client import Receipt, RefusalReceipt

ERROR_DOMAIN = reasons.DOMAIN

# Codes that say "nothing happened, or it is safe to send the same bytes again": the SDK retries them.
RETRYABLE_CODES = frozenset(code for code in grpc.StatusCode if code.name in reasons.RETRYABLE_CODE_NAMES)

# gRPC's own refusal of a message over a channel's or server's size limit comes as RESOURCE_EXHAUSTED with this in
# its message ("Sent message larger than max (N vs. M)", "Received message larger than max ..."): the same bytes
# would be refused again, so it is not retried, like the network's INVALID_ARGUMENT / MESSAGE_TOO_LARGE.
_TRANSPORT_TOO_LARGE = "message larger than max"


def is_retryable(code: grpc.StatusCode, message: str) -> bool:
    """Whether the SDK sends the same bytes again after this status."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and _TRANSPORT_TOO_LARGE in message.lower():
        return False
    return code in RETRYABLE_CODES


# The coalition-sig-v1 refusals (UNAUTHENTICATED in the reason catalogue, partners/reasons.py).
SIGNATURE_REASONS = frozenset(r.name for r in reasons.REASONS if r.code == "UNAUTHENTICATED")

_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class CoalitionError(Exception):
    """A refused or failed call.

    code: the gRPC status code; reason: the ErrorInfo reason ("" when the server sent none);
    message: the status message; metadata: ErrorInfo.metadata; field_violations: (field, description)
    pairs from google.rpc.BadRequest; retryable: whether the SDK treats the code as transient;
    retry_delay: seconds from google.rpc.RetryInfo, if the server sent one; receipt: for a refused mutating
    call, the network's verified refusal receipt (partners.client.RefusalReceipt; None when none came).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[tuple[str, str]] = (),
        retry_delay: float | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.field_violations = list(field_violations)
        self.retry_delay = retry_delay
        self.retryable = is_retryable(code, message)
        # a refused mutating call: the network's verified refusal receipt (partners.client.RefusalReceipt)
        self.receipt: "Receipt | RefusalReceipt | None" = None

    def __str__(self) -> str:
        head = self.code.name + (f" {self.reason}" if self.reason else "")
        text = f"{head}: {self.message}"
        if self.field_violations:
            text += " (" + "; ".join(f"{field}: {description}" for field, description in self.field_violations) + ")"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.name}, reason={self.reason!r}, message={self.message!r})"


class InvalidArgument(CoalitionError):
    pass


class Unauthenticated(CoalitionError):
    pass


class PermissionDenied(CoalitionError):
    pass


class NotFound(CoalitionError):
    pass


class FailedPrecondition(CoalitionError):
    pass


class AlreadyExists(CoalitionError):
    pass


class ResourceExhausted(CoalitionError):
    pass


class Aborted(CoalitionError):
    pass


class Unavailable(CoalitionError):
    pass


class DeadlineExceeded(CoalitionError):
    pass


class Internal(CoalitionError):
    pass


class InsufficientPoints(FailedPrecondition):
    """The member's available points do not cover the redemption (reason INSUFFICIENT_POINTS)."""


class IdempotencyKeyReused(AlreadyExists):
    """The request_id was already used with a different request body (reason IDEMPOTENCY_KEY_REUSED)."""


class SignatureInvalid(Unauthenticated):
    """The network refused the request's coalition-sig-v1 signature, key, timestamp or nonce."""


class PartnerSuspended(PermissionDenied):
    """The calling partner is suspended (reason PARTNER_SUSPENDED)."""


class ReceiptInvalid(CoalitionError):
    """Raised by the SDK when a mutating call's response receipt is missing or does not verify, or when a
    refusal's receipt is present but does not verify (then the refusal is its __cause__).

    The network may well have executed the call: retrying with the same request_id returns the stored
    response without posting twice. `receipt` holds what was received (evidence for the operator).
    """

    def __init__(self, message: str, *, receipt: "Receipt | RefusalReceipt | None" = None):
        super().__init__(grpc.StatusCode.UNKNOWN, message, reason="RECEIPT_INVALID")
        self.receipt = receipt


_BY_CODE: dict[grpc.StatusCode, type[CoalitionError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INTERNAL: Internal,
}

_BY_CODE_AND_REASON: dict[tuple[grpc.StatusCode, str], type[CoalitionError]] = {
    (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_POINTS"): InsufficientPoints,
    (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED"): IdempotencyKeyReused,
    (grpc.StatusCode.PERMISSION_DENIED, "PARTNER_SUSPENDED"): PartnerSuspended,
    **{(grpc.StatusCode.UNAUTHENTICATED, reason): SignatureInvalid for reason in SIGNATURE_REASONS},
}


def error_class(code: grpc.StatusCode, reason: str) -> type[CoalitionError]:
    return _BY_CODE_AND_REASON.get((code, reason)) or _BY_CODE.get(code, CoalitionError)


def status_code_from_number(number: int) -> grpc.StatusCode:
    return _CODE_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def error_from_status(status: status_pb2.Status) -> CoalitionError:
    """The typed error for a google.rpc.Status (the rich status of a call, or a BatchEarn item's error)."""
    return _build(status_code_from_number(status.code), status.message, status.details)


def error_from_rpc(exc: grpc.RpcError) -> CoalitionError:
    """The typed error for a failed call, read from its rich status (grpc-status-details-bin) when present."""
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    message = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    code = code or grpc.StatusCode.UNKNOWN
    message = message or ""
    rich = None
    if callable(getattr(exc, "trailing_metadata", None)):
        try:
            rich = rpc_status.from_call(exc)
        except ValueError:
            rich = None  # a status proto that contradicts the call's status: trust the call's status
    details = rich.details if rich is not None else ()
    return _build(code, message, details)


def _build(code: grpc.StatusCode, message: str, details) -> CoalitionError:
    infos: list[error_details_pb2.ErrorInfo] = []
    field_violations: list[tuple[str, str]] = []
    retry_delay: float | None = None
    for detail in details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            field_violations += [(v.field, v.description) for v in bad_request.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry_info = error_details_pb2.RetryInfo()
            detail.Unpack(retry_info)
            retry_delay = retry_info.retry_delay.ToTimedelta().total_seconds()
    # Prefer the network's own ErrorInfo; fall back to any (a proxy's) rather than none.
    info = next((i for i in infos if i.domain == ERROR_DOMAIN), infos[0] if infos else None)
    reason = info.reason if info is not None else ""
    cls = error_class(code, reason)
    return cls(
        code,
        message,
        reason=reason,
        domain=info.domain if info is not None else "",
        metadata=dict(info.metadata) if info is not None else None,
        field_violations=field_violations,
        retry_delay=retry_delay,
    )
