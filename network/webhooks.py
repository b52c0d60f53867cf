"""Managing webhook endpoints: the checks and refusals shared by the partner's RPCs and the operator's actions.

Each function runs in the caller's transaction; a refusal (network.errors.DomainError) is raised before anything
is written. The rules themselves (URL, filter) are network.core.webhooks'.
"""

from __future__ import annotations

import base64
import secrets
from typing import Sequence

import grpc
from sqlalchemy import Connection

from network import errors
from network.core import webhooks as rules
from network.store import webhooks as store
from network.store.events import high_water

ENABLED, DISABLED = "enabled", "disabled"


def new_secret() -> str:
    """A fresh v1 secret: whsec_ and 32 random bytes in base64 (the Standard Webhooks form)."""
    return rules.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(rules.SECRET_BYTES)).decode()


def _check_url(url: str, allow_http_localhost: bool, field: str = "url") -> None:
    problem = rules.url_problem(url, allow_http_localhost=allow_http_localhost)
    if problem is not None:
        raise errors.invalid(field, problem, reason="WEBHOOK_URL_REFUSED")


def _check_filter(event_types: Sequence[str], field: str = "event_types") -> None:
    problem = rules.filter_problem(list(event_types))
    if problem is not None:
        raise errors.invalid(field, problem, reason="WEBHOOK_EVENT_TYPE_UNKNOWN")


def create(conn: Connection, partner_id: str, url: str, event_types: Sequence[str], *,
           allow_http_localhost: bool) -> store.Endpoint:
    _check_url(url, allow_http_localhost)
    _check_filter(event_types)
    store.lock_partner_endpoints(conn, partner_id)
    if store.count_endpoints(conn, partner_id) >= rules.MAX_ENDPOINTS_PER_PARTNER:
        raise errors.precondition("TOO_MANY_WEBHOOK_ENDPOINTS",
                                  f"partner {partner_id} has {rules.MAX_ENDPOINTS_PER_PARTNER} webhook endpoints: "
                                  "delete one first", limit=str(rules.MAX_ENDPOINTS_PER_PARTNER))
    return store.create_endpoint(conn, partner_id, url, list(event_types), new_secret())


def owned(conn: Connection, partner_id: str | None, endpoint_id: str, *, lock: bool = False) -> store.Endpoint:
    """The endpoint, refused as not found when it does not exist or belongs to another partner (partner_id None:
    the operator, any partner's)."""
    found = store.endpoint(conn, endpoint_id, lock=lock)
    if found is None or (partner_id is not None and found.partner_id != partner_id):
        raise errors.not_found("endpoint_id", endpoint_id, "WEBHOOK_ENDPOINT_NOT_FOUND")
    return found


def update(conn: Connection, partner_id: str | None, endpoint_id: str, *, url: str = "",
           event_types: Sequence[str] = (), state: str = "", allow_http_localhost: bool,
           reason: str = "disabled by the partner") -> store.Endpoint:
    if url:
        _check_url(url, allow_http_localhost)
    if event_types:
        _check_filter(event_types)
    if state not in ("", ENABLED, DISABLED):
        raise errors.invalid("state", 'must be "enabled", "disabled" or empty')
    owned(conn, partner_id, endpoint_id, lock=True)
    return store.update_endpoint(conn, endpoint_id, url=url or None, event_types=list(event_types) or None,
                                 enabled=None if not state else state == ENABLED,
                                 disabled_reason=reason if state == DISABLED else None)


def delete(conn: Connection, partner_id: str, endpoint_id: str) -> None:
    owned(conn, partner_id, endpoint_id, lock=True)
    store.delete_endpoint(conn, endpoint_id)


def replay(conn: Connection, partner_id: str | None, endpoint_id: str, first: int, last: int,
           requested_by: str) -> tuple[str, int, int]:
    """Ask for events [first, last] (last 0: first only) to be delivered again; (replay id, first, last)."""
    endpoint = owned(conn, partner_id, endpoint_id)
    last = last or first
    head = high_water(conn, endpoint.partner_id)
    if not 1 <= first <= head:
        raise errors.invalid("first_sequence", f"must be between 1 and the partner's last event, {head}")
    if not first <= last <= head:
        raise errors.invalid("last_sequence", f"must be between first_sequence and the partner's last event, {head}")
    if not endpoint.enabled:
        raise errors.DomainError(grpc.StatusCode.FAILED_PRECONDITION, "WEBHOOK_ENDPOINT_DISABLED",
                                 f"endpoint {endpoint_id} is disabled: enable it first",
                                 metadata={"endpoint_id": endpoint_id})
    return store.request_replay(conn, endpoint, first, last, requested_by), first, last


__all__ = ["DISABLED", "ENABLED", "create", "delete", "new_secret", "owned", "replay", "update"]
