"""Domain errors: each names the gRPC status and the ErrorInfo reason a program can switch on."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc

from network.core.rules import INVALID, Refusal
from partners import reasons

ERROR_DOMAIN = reasons.DOMAIN
log = logging.getLogger(__name__)

# Every refusal is checked against the reason catalogue (partners/reasons.py) when it is built. A mismatch is
# logged; with STRICT_REASONS (the test suite sets it) it raises, so a test that triggers it fails.
STRICT_REASONS = False


@dataclass
class DomainError(Exception):
    code: grpc.StatusCode
    reason: str
    message: str
    field_violations: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        wrong = reasons.problem(self.code.name, self.reason, self.metadata)
        if wrong is not None:
            if STRICT_REASONS:
                raise reasons.UncataloguedReason(wrong)
            log.warning("refusal outside the reason catalogue: %s", wrong)

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class InvalidPin(ValueError):
    """A PIN the network does not accept (network.core.consent.pin_problem says why); nothing was written."""


def invalid(field_name: str, description: str, reason: str = "INVALID_ARGUMENT") -> DomainError:
    return DomainError(grpc.StatusCode.INVALID_ARGUMENT, reason, f"{field_name}: {description}",
                       [(field_name, description)])


def not_found(what: str, ident: str, reason: str) -> DomainError:
    """`what` is a thing ("member": metadata member_id, and the legacy key member) or the field looked up
    ("card_number": metadata card_number)."""
    if what.endswith(("_id", "_number", "_ref")):
        metadata = {what: ident}
    else:
        metadata = {f"{what}_id": ident, what: ident}  # `what` alone: the key sent before the catalogue
    return DomainError(grpc.StatusCode.NOT_FOUND, reason, f"{what} {ident} not found", metadata=metadata)


def precondition(reason: str, message: str, **metadata: str) -> DomainError:
    return DomainError(grpc.StatusCode.FAILED_PRECONDITION, reason, message, metadata=metadata)


def denied(reason: str, message: str, **metadata: str) -> DomainError:
    return DomainError(grpc.StatusCode.PERMISSION_DENIED, reason, message, metadata=metadata)


def unauthenticated(reason: str, message: str, **metadata: str) -> DomainError:
    return DomainError(grpc.StatusCode.UNAUTHENTICATED, reason, message, metadata=metadata)


def insufficient_points(member_id: str, requested: int, available: int) -> DomainError:
    return precondition("INSUFFICIENT_POINTS",
                        f"member {member_id} has {available} available points, {requested} requested",
                        member_id=member_id, requested=str(requested), available=str(available))


def key_reused(request_id: str) -> DomainError:
    return DomainError(grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED",
                       f"request_id {request_id} was already used for a different request",
                       metadata={"request_id": request_id})


def from_refusal(refusal: Refusal) -> DomainError:
    """A rule's refusal (network.core.rules) as the domain error the wire reports."""
    if refusal.kind == INVALID:
        return invalid(refusal.field, refusal.message, refusal.reason)
    return precondition(refusal.reason, refusal.message, **dict(refusal.metadata))
