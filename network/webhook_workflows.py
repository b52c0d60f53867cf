"""Webhook delivery workflows (deterministic: no I/O; the activities in network.webhook_activities do it).

One workflow per endpoint, id `webhook-endpoint-<endpoint id>` (WebhookEndpointWorkflow): it reads the endpoint's
next events from the outbox (after its delivered_through, in the partner's sequence order, a page at a time) and
has one activity deliver the page one event at a time, the first that fails with the retry schedule (exponential backoff for up to 3 days by default). One workflow per
endpoint, not per event, keeps the partner's order (event n+1 is not sent before event n was accepted) and keeps a
receiver that is down from being hit by one retry loop per pending event. When a delivery's retries run out, the
endpoint is disabled with an operator alert and the workflow ends: nothing more is sent to it until it is enabled.
When it has caught up it ends; the dispatcher starts it again (signal-with-start on its fixed id) when the
partner has new events, so at most one runs per endpoint.

A replay (WebhookReplayWorkflow) delivers chosen events of one endpoint again, in order, with the same webhook-id
as the first time (a receiver that dedupes on it sees a replay of what it already processed as a duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from network.core.webhooks import RetrySchedule
    from network.webhook_activities import (AdvanceInput, DeliverInput, DisableInput, NextEventsInput,
                                            WebhookActivities)

DELIVERIES_PER_RUN = 500  # then continue-as-new: a bounded history however many events an endpoint receives
MAX_HISTORY = 10_000  # history events (signals included): continue-as-new past this too
STEP = timedelta(seconds=60)
# A worker killed during a POST is noticed after this long without its heartbeat (the worker's ActivityGuard
# heartbeats while an activity runs), and the attempt is made again: the same webhook-id, receivers dedupe.
HEARTBEAT_TIMEOUT = timedelta(seconds=6)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@dataclass
class DeliverySchedule:
    """RetrySchedule as a workflow input, and the time one POST may take."""

    initial_seconds: float = 5.0
    coefficient: float = 2.0
    max_interval_seconds: float = 6 * 3600.0
    horizon_seconds: float = 3 * 86400.0
    timeout_seconds: float = 10.0

    def rules(self) -> RetrySchedule:
        return RetrySchedule(self.initial_seconds, self.coefficient, self.max_interval_seconds, self.horizon_seconds)

    def retry_policy(self, tried: int = 0) -> RetryPolicy:
        """The rest of the schedule after `tried` attempts (0 or 1) were made elsewhere."""
        return RetryPolicy(initial_interval=timedelta(seconds=min(self.initial_seconds * self.coefficient ** tried,
                                                                  self.max_interval_seconds)),
                           backoff_coefficient=self.coefficient,
                           maximum_interval=timedelta(seconds=self.max_interval_seconds),
                           maximum_attempts=self.rules().attempts() - tried)


@dataclass
class EndpointJob:
    endpoint_id: str
    schedule: DeliverySchedule = field(default_factory=DeliverySchedule)


@dataclass
class ReplayJob:
    endpoint_id: str
    sequences: list[int]
    schedule: DeliverySchedule = field(default_factory=DeliverySchedule)


def endpoint_workflow_id(endpoint_id: str) -> str:
    return f"webhook-endpoint-{endpoint_id}"


async def _deliver(endpoint_id: str, sequences: list[int], schedule: DeliverySchedule, replay: bool,
                   tried: int = 0):
    return await workflow.execute_activity_method(
        WebhookActivities.deliver, DeliverInput(endpoint_id, sequences, replay, tried),
        start_to_close_timeout=timedelta(seconds=(schedule.timeout_seconds + 5) * len(sequences)),
        heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=schedule.retry_policy(tried))


def _failure(exc: ActivityError | ApplicationError) -> tuple[int, str]:
    """(the event that was not delivered, the last error) from a delivery whose retries ran out."""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    if isinstance(cause, ApplicationError) and cause.details:
        return int(cause.details[0]), str(cause)
    return 0, str(cause if cause is not None else exc)


@workflow.defn
class WebhookEndpointWorkflow:
    def __init__(self) -> None:
        self._woken = False

    @workflow.signal
    def wake(self) -> None:
        """The partner has new events (the dispatcher)."""
        self._woken = True

    @workflow.run
    async def run(self, job: EndpointJob) -> str:
        delivered, tried = 0, 0
        while True:
            self._woken = False
            batch = await workflow.execute_activity_method(
                WebhookActivities.next_events, NextEventsInput(job.endpoint_id), start_to_close_timeout=STEP,
                retry_policy=STEP_RETRY)
            if not batch.enabled:
                return "disabled"
            if batch.sequences:
                try:
                    if tried >= job.schedule.rules().attempts():
                        raise ApplicationError("no attempt left", batch.sequences[0])
                    outcome = await _deliver(job.endpoint_id, batch.sequences, job.schedule, False, tried)
                except (ActivityError, ApplicationError) as exc:
                    sequence, last_error = _failure(exc)
                    await workflow.execute_activity_method(
                        WebhookActivities.disable_endpoint,
                        DisableInput(job.endpoint_id, sequence, job.schedule.rules().attempts(), last_error),
                        start_to_close_timeout=STEP, retry_policy=STEP_RETRY)
                    return "disabled"
                if not outcome.enabled:
                    return "disabled"
                delivered += outcome.delivered
                tried = 0
                if outcome.failed_sequence:  # a later event failed its first attempt: the first wait, then again
                    await workflow.sleep(timedelta(seconds=job.schedule.initial_seconds))
                    tried = 1
                    continue  # not advancing past it
            if batch.read_through > batch.through_before:
                await workflow.execute_activity_method(
                    WebhookActivities.advance, AdvanceInput(job.endpoint_id, batch.read_through),
                    start_to_close_timeout=STEP, retry_policy=STEP_RETRY)
                if delivered >= DELIVERIES_PER_RUN or workflow.info().get_current_history_length() > MAX_HISTORY:
                    workflow.continue_as_new(job)
                continue
            if not self._woken:
                return "caught up"


@workflow.defn
class WebhookReplayWorkflow:
    @workflow.run
    async def run(self, job: ReplayJob) -> int:
        """Deliver the events again in order; stop at the first whose retries run out. Returns how many arrived."""
        delivered = 0
        for sequence in job.sequences:  # one activity per event: a retry must not send the ones before it again
            try:
                outcome = await _deliver(job.endpoint_id, [sequence], job.schedule, True)
            except ActivityError:
                break
            if not outcome.enabled:
                break
            delivered += 1
        return delivered


WEBHOOK_WORKFLOWS = [WebhookEndpointWorkflow, WebhookReplayWorkflow]

__all__ = ["DeliverySchedule", "EndpointJob", "ReplayJob", "WEBHOOK_WORKFLOWS", "WebhookEndpointWorkflow",
           "WebhookReplayWorkflow", "endpoint_workflow_id"]
