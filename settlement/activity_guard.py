"""A worker interceptor around every settlement activity: it heartbeats while the activity runs, and a failure
reaches Temporal as a short message.

Heartbeats: the workflows give every activity a heartbeat timeout (workflows.ACTIVITY_HEARTBEAT_TIMEOUT). When
an attempt's completion is lost (Temporal restarted just as the activity finished, or the worker was killed in
the middle), Temporal notices the missing heartbeats after that timeout and retries the attempt (activities are
idempotent), instead of waiting for the whole start-to-close timeout. The heartbeat runs on the worker's event
loop, so it says "this worker is alive and still running the attempt"; a hung database call is still bounded by
the start-to-close timeout.

Failures: an exception is sent as an ApplicationError of the same type name (so the retry policy's
non_retryable_error_types still match) whose message is the first line of the underlying error, at most
MAX_MESSAGE_CHARS characters, without SQLAlchemy's statement and parameters (a set-based statement with its
arrays made Temporal refuse the failure: "Failure exceeds size limit"). An activity's own ApplicationError keeps
its details, type, non_retryable and next_retry_delay: only its message is shortened (the webhook workflow reads
the event that was not delivered from the details).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.worker import (ActivityInboundInterceptor, ActivityOutboundInterceptor, ExecuteActivityInput,
                               Interceptor)

HEARTBEAT_EVERY_SECONDS = 2.0  # or a third of the activity's heartbeat timeout, if shorter
MAX_MESSAGE_CHARS = 300
_DATABASE_ERRORS = ("OperationalError", "InterfaceError", "DisconnectionError", "PendingRollbackError")


def short_message(exc: BaseException) -> str:
    """"<type>: <first line>" of the driver's error when SQLAlchemy wrapped one, else of the exception."""
    source = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(source).strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    message = f"{type(source).__name__}: {first}" if first else type(source).__name__
    if type(source).__name__ in _DATABASE_ERRORS or type(exc).__name__ in _DATABASE_ERRORS:
        message = f"database unavailable: {message}"
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 3] + "..."


def short_failure(exc: BaseException) -> ApplicationError:
    return ApplicationError(short_message(exc), type=type(exc).__name__)


class ActivityGuard(Interceptor):
    """Pass to the settlement Worker's `interceptors`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _GuardedActivity(next)


class _GuardedActivity(ActivityInboundInterceptor):
    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self._outbound = outbound
        super().init(outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        timeout = activity.info().heartbeat_timeout
        every = min(HEARTBEAT_EVERY_SECONDS, timeout.total_seconds() / 3) if timeout else HEARTBEAT_EVERY_SECONDS
        beating = asyncio.create_task(self._heartbeat(every))
        try:
            return await self.next.execute_activity(input)
        except ApplicationError as exc:
            if len(exc.message) <= MAX_MESSAGE_CHARS:
                raise
            raise ApplicationError(exc.message[:MAX_MESSAGE_CHARS - 3] + "...", *exc.details, type=exc.type,
                                   non_retryable=exc.non_retryable,
                                   next_retry_delay=exc.next_retry_delay) from None  # only the message shortened
        except FailureError:  # cancellation and the like: Temporal's own
            raise
        except Exception as exc:  # noqa: BLE001 - every other failure, short
            raise short_failure(exc) from None
        finally:
            beating.cancel()

    async def _heartbeat(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                self._outbound.heartbeat()
            except Exception:  # noqa: BLE001 - the activity has ended meanwhile
                return


__all__ = ["ActivityGuard", "HEARTBEAT_EVERY_SECONDS", "MAX_MESSAGE_CHARS", "short_failure", "short_message"]
