"""Domain errors on the wire: a DomainError (or a database failure) as a rich gRPC status with an ErrorInfo
reason, and ending a call with it."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from sqlalchemy.exc import DBAPIError

from network import errors
from network.errors import DomainError


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


Metadata = tuple[tuple[str, str], ...]


def abort(context: grpc.ServicerContext, error: DomainError, receipt: Metadata = ()) -> None:
    """End the call with `error` as a rich status (from a handler running in the server's thread pool), with the
    refusal receipt's trailing entries when given."""
    status = rpc_status.to_status(status_for(error))
    context.abort(status.code, status.details, (*status.trailing_metadata, *receipt))


async def abort_async(context, error: DomainError, receipt: Metadata = ()) -> None:
    """The same, from a handler running on the server's event loop."""
    status = rpc_status.to_status(status_for(error))
    await context.abort(status.code, status.details, (*status.trailing_metadata, *receipt))
