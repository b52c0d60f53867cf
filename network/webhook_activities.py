"""Webhook delivery activities: thin shells over network.store.webhooks, one dataclass in and one out.

`deliver` POSTs a page of events to one endpoint in order, one at a time (one activity per page, not per event:
an endpoint keeps up with a busy partner), following the Standard Webhooks specification (network.core.webhooks),
and logs each attempt (Temporal's attempt number, the HTTP status or the error, the latency). A 2xx answer moves
the endpoint's delivered_through in the same transaction as its log row; anything else is logged, then raised, so
that Temporal retries it with the workflow's backoff. The activities are synchronous (SQLAlchemy, httpx) and run
on the worker's thread pool.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
from google.protobuf import json_format
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from network.core import webhooks as rules
from network.grpc_service import event_message
from network.signer import NetworkSigner
from network.store import webhooks as store
from network.store.events import StoredEvent

log = logging.getLogger(__name__)
DELIVERY_FAILED = "WebhookDeliveryFailed"
PAGE = 100  # events read at once per endpoint


@dataclass
class NextEventsInput:
    endpoint_id: str


@dataclass
class NextEvents:
    enabled: bool
    sequences: list[int] = field(default_factory=list)  # the events the endpoint's filter takes, in order
    through_before: int = 0  # the endpoint's delivered_through when read
    read_through: int = 0  # the last event read (filtered out or not)


@dataclass
class DeliverInput:
    endpoint_id: str
    sequences: list[int]  # in order
    replay: bool = False
    tried: int = 0  # attempts the first event already had (in an earlier activity)


@dataclass
class DeliverOutcome:
    enabled: bool  # False: the endpoint is gone or disabled; nothing was sent
    delivered: int = 0
    failed_sequence: int = 0  # an event after the first failed its first attempt (logged): retry it from there


@dataclass
class AdvanceInput:
    endpoint_id: str
    through: int


@dataclass
class DisableInput:
    endpoint_id: str
    sequence: int  # 0: the last failure did not say (a timeout): the first pending event is named
    attempts: int
    last_error: str


def event_body(event: StoredEvent) -> bytes:
    """The JSON POSTed: the Standard Webhooks envelope (type, timestamp, data) around the event, whose fields are
    those of the Event message (protobuf's JSON mapping, field names as in the .proto)."""
    data = json_format.MessageToDict(event_message(event), preserving_proto_field_name=True)
    return json.dumps({"type": event.type, "timestamp": data.get("occurred_at"), "data": data},
                      sort_keys=True, separators=(",", ":")).encode()


def signed_headers(message_id: str, timestamp: int, body: bytes, secret: str,
                   signer: NetworkSigner) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature` with both `v1` (HMAC, the standardwebhooks
    library) and `v1a` (Ed25519 by the network key) over `{id}.{timestamp}.{body}`."""
    v1 = Webhook(secret).sign(message_id, _utc(timestamp), body.decode())
    v1a = base64.b64encode(signer.sign(rules.signed_content(message_id, timestamp, body))).decode()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"{v1} v1a,{v1a}",
            "content-type": "application/json", "user-agent": "coalition-webhooks/1"}


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


class WebhookActivities:
    def __init__(self, engine: Engine, signer: NetworkSigner, *, timeout_seconds: float = 10.0):
        self._engine = engine
        self._signer = signer
        self._timeout_seconds = timeout_seconds

    def all(self) -> list:
        return [self.next_events, self.deliver, self.advance, self.disable_endpoint]

    @activity.defn
    def next_events(self, job: NextEventsInput) -> NextEvents:
        with self._engine.connect() as conn:
            endpoint = store.endpoint(conn, job.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return NextEvents(enabled=False)
            wanted, read_through = store.pending_events(conn, endpoint, PAGE)
        return NextEvents(True, wanted, endpoint.delivered_through, read_through)

    @activity.defn
    def deliver(self, job: DeliverInput) -> DeliverOutcome:
        """POST the events in order, one at a time, each moving delivered_through when answered 2xx (a replay moves
        nothing); stop at the first that fails, raised for Temporal to retry. A retry starts at the first event not
        yet delivered (delivered_through), so the attempt number logged is that event's."""
        attempt_number = activity.info().attempt
        with self._engine.connect() as conn:
            endpoint = store.endpoint(conn, job.endpoint_id)
            found = [] if endpoint is None else [store.event(conn, endpoint.partner_id, seq) for seq in job.sequences
                                                 if job.replay or seq > endpoint.delivered_through]
        if endpoint is None or not endpoint.enabled:
            return DeliverOutcome(False)
        delivered, attempt_number = 0, job.tried + attempt_number
        with httpx.Client(timeout=self._timeout_seconds, follow_redirects=False) as client:
            for event in found:
                if event is None:  # not in the outbox: nothing to send (cannot happen for a sequence read from it)
                    continue
                if not self._post(client, endpoint, event, attempt_number, job.replay):
                    if delivered == 0:  # the first event: Temporal retries this activity with the backoff
                        raise ApplicationError(f"{rules.webhook_id(endpoint.partner_id, event.seq)} to "
                                               f"{endpoint.url} not delivered (attempt {attempt_number})", event.seq,
                                               type=DELIVERY_FAILED)
                    return DeliverOutcome(True, delivered, event.seq)  # a later one: its own schedule from attempt 1
                attempt_number = 1  # the events after the first are tried for the first time
                delivered += 1
        return DeliverOutcome(True, delivered)

    def _post(self, client: httpx.Client, endpoint: store.Endpoint, event: StoredEvent, attempt_number: int,
              replay: bool) -> bool:
        """POST one event and log the attempt; whether it was answered 2xx."""
        body = event_body(event)
        message_id = rules.webhook_id(endpoint.partner_id, event.seq)
        headers = signed_headers(message_id, int(time.time()), body, endpoint.secret, self._signer)
        started = time.monotonic()
        status_code, error = None, None
        try:
            status_code = client.post(endpoint.url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency_ms = round((time.monotonic() - started) * 1000)
        ok = status_code is not None and 200 <= status_code < 300
        if not ok and error is None:
            error = f"HTTP {status_code}"
        attempt = store.Attempt(status_code, error, latency_ms, ok)
        with self._engine.begin() as conn:
            store.log_attempt(conn, endpoint, event.seq, attempt_number, replay, attempt)
            if ok and not replay:
                store.advance(conn, endpoint.endpoint_id, event.seq)
        if not ok:
            log.info("webhook %s to endpoint %s attempt %d failed: %s", message_id, endpoint.endpoint_id,
                     attempt_number, attempt.error)
        return ok

    @activity.defn
    def advance(self, job: AdvanceInput) -> None:
        with self._engine.begin() as conn:
            store.advance(conn, job.endpoint_id, job.through)

    @staticmethod
    def _first_pending(conn, endpoint_id: str) -> int:
        """The event the endpoint is stuck on, when the last attempt's failure did not say (it timed out: the
        worker was killed during it, or it hung): the first its filter takes after delivered_through."""
        endpoint = store.endpoint(conn, endpoint_id)
        wanted = [] if endpoint is None else store.pending_events(conn, endpoint, PAGE)[0]
        return wanted[0] if wanted else 0

    @activity.defn
    def disable_endpoint(self, job: DisableInput) -> bool:
        """Retries ran out: disable the endpoint with an operator alert (logged as a warning)."""
        with self._engine.begin() as conn:
            sequence = job.sequence or self._first_pending(conn, job.endpoint_id)
            alert = (f"disabled by the network: event {sequence} not delivered after {job.attempts} attempts "
                     f"(last: {job.last_error})")
            changed = store.disable_for_failures(conn, job.endpoint_id, alert)
        if changed:
            log.warning("webhook endpoint %s %s", job.endpoint_id, alert)
        return changed


__all__ = ["AdvanceInput", "DELIVERY_FAILED", "DeliverInput", "DeliverOutcome", "DisableInput", "NextEvents",
           "NextEventsInput", "WebhookActivities", "event_body", "signed_headers"]
