"""Domain errors: each names the gRPC status and the ErrorInfo reason a program can switch on."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from network.core.rules import INVALID, Refusal

ERROR_DOMAIN = "coalition.network"


@dataclass
class DomainError(Exception):
    code: grpc.StatusCode
    reason: str
    message: str
    field_violations: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def invalid(field_name: str, description: str, reason: str = "INVALID_ARGUMENT") -> DomainError:
    return DomainError(grpc.StatusCode.INVALID_ARGUMENT, reason, f"{field_name}: {description}",
                       [(field_name, description)])


def not_found(what: str, ident: str, reason: str) -> DomainError:
    return DomainError(grpc.StatusCode.NOT_FOUND, reason, f"{what} {ident} not found", metadata={what: ident})


def precondition(reason: str, message: str, **metadata: str) -> DomainError:
    return DomainError(grpc.StatusCode.FAILED_PRECONDITION, reason, message, metadata=metadata)


def denied(reason: str, message: str) -> DomainError:
    return DomainError(grpc.StatusCode.PERMISSION_DENIED, reason, message)


def unauthenticated(reason: str, message: str) -> DomainError:
    return DomainError(grpc.StatusCode.UNAUTHENTICATED, reason, message)


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
