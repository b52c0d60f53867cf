"""Webhook rules: which URLs and event filters an endpoint may have, which events it receives, the retry schedule,
what is signed.

Delivery follows the Standard Webhooks specification (https://www.standardwebhooks.com): each POST carries
`webhook-id` (the event's id, the same on every attempt, so a receiver dedupes on it), `webhook-timestamp` (integer
Unix seconds of the attempt) and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256 with the
endpoint's secret>` and `v1a,<base64 Ed25519 signature by the network key>`, both over the signed content
`{webhook-id}.{webhook-timestamp}.{body}`.

An endpoint's URL is https, with a host, no user name or password and no fragment; plain http is accepted only
for localhost / 127.0.0.1 / ::1, and only where the network allows it (a setting for tests and development). An
empty event filter means every event type; otherwise each type is one of network.core.events.EVENT_TYPES, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from network.core import events

MAX_URL_LENGTH = 2048
MAX_ENDPOINTS_PER_PARTNER = 10
MAX_EVENT_TYPES = 32  # in one filter (there are fewer types than this)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def url_problem(url: str, *, allow_http_localhost: bool) -> str | None:
    """What is wrong with `url` as an endpoint (None: nothing)."""
    if not url or len(url) > MAX_URL_LENGTH:
        return f"must be 1 to {MAX_URL_LENGTH} characters"
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        return "must be ASCII without spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        return "is not a valid URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if parts.fragment:
        return "must not have a fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_http_localhost and parts.hostname in LOCAL_HOSTS:
        return None
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return "must be https (plain http to localhost is not allowed on this network)"
    return "must be https"


def filter_problem(event_types: list[str] | tuple[str, ...]) -> str | None:
    """What is wrong with an event filter (None: nothing; empty means every type)."""
    if len(event_types) > MAX_EVENT_TYPES:
        return f"must name at most {MAX_EVENT_TYPES} event types"
    unknown = sorted(set(event_types) - events.EVENT_TYPES)
    if unknown:
        return f"unknown event type {unknown[0]!r}: one of {', '.join(sorted(events.EVENT_TYPES))}"
    if len(set(event_types)) != len(event_types):
        return "names an event type twice"
    return None


def wants(event_types: list[str] | tuple[str, ...], event_type: str) -> bool:
    """Whether an endpoint with this filter receives an event of `event_type` (an empty filter takes all)."""
    return not event_types or event_type in event_types


def webhook_id(partner_id: str, sequence: int) -> str:
    """The event's id in `webhook-id`: the same for every attempt and every replay of the event."""
    return f"evt_{partner_id}_{sequence}"


def signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    """What both signatures cover (Standard Webhooks): `{id}.{timestamp}.{body}`."""
    return f"{message_id}.{timestamp}.".encode() + body


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff: the second attempt `initial_seconds` after the first, each wait `coefficient` times the
    one before, never more than `max_interval_seconds`; attempts stop once the next would start more than
    `horizon_seconds` after the first (3 days by default)."""

    initial_seconds: float
    coefficient: float
    max_interval_seconds: float
    horizon_seconds: float

    def waits(self) -> list[float]:
        """The wait before each retry (attempt 2, 3, ...) that starts within the horizon."""
        found, elapsed, wait = [], 0.0, self.initial_seconds
        while elapsed + wait <= self.horizon_seconds:
            found.append(wait)
            elapsed += wait
            wait = min(wait * self.coefficient, self.max_interval_seconds)
        return found

    def attempts(self) -> int:
        """How many attempts in all, the first included."""
        return 1 + len(self.waits())
