"""Prometheus metrics of the network server and the settlement worker (prometheus_client, default registry).

- `coalition_grpc_requests_total{method, code}` and `coalition_grpc_request_duration_seconds{method}`: every
  signed call, fed by the signing interceptor's `observe(method, outcome, seconds)` hook (`observe_call`).
- `coalition_signatures_refused_total{reason}`: requests refused by authentication (coalition-sig-v1 reasons,
  KEY_UNKNOWN, KEY_REVOKED, PARTNER_SUSPENDED), fed by the interceptor's `refused(method, reason)` hook.
- `coalition_spends_refused_total{reason}`: spends (Redeem, AuthorizeRedemption) refused for the member's consent
  (MEMBER_VERIFICATION_REQUIRED, MEMBER_VERIFICATION_FAILED, MEMBER_LOCKED), a freeze (CARD_FROZEN, MEMBER_FROZEN)
  or a velocity limit (VELOCITY_LIMIT), fed by the servicer (`refused_spend`).
- `coalition_ledger_transactions_total{kind}`: ledger transactions committed by this process, counted from
  the journal rows each database transaction inserts, added when it commits (`instrument_engine`).
- `coalition_settlement_cycle_duration_seconds{outcome}`: observed by the settlement worker when a cycle ends
  (`observe_settlement_cycle`).

`serve_http(settings.metrics_port, settings.metrics_address)` exposes them over HTTP when the port is above 0.
Under `network serve --processes N` the server processes run in prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by network.processes): they serve no HTTP, and the supervisor serves one /metrics
summing all of them.
"""

from __future__ import annotations

import collections
import logging
import threading

from prometheus_client import Counter, Histogram, start_http_server
from sqlalchemy import Engine, event

from network.store import pgarray

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CYCLE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400)

GRPC_REQUESTS = Counter("coalition_grpc_requests", "Signed gRPC calls handled, by method and status code.",
                        ["method", "code"])
GRPC_LATENCY = Histogram("coalition_grpc_request_duration_seconds",
                         "Time from receiving a signed call's bytes to its response or status, by method.",
                         ["method"], buckets=LATENCY_BUCKETS)
SIGNATURES_REFUSED = Counter("coalition_signatures_refused",
                             "Requests refused by authentication (signature, key or partner status), by reason.",
                             ["reason"])
SPENDS_REFUSED = Counter("coalition_spends_refused",
                         "Redeem and AuthorizeRedemption calls refused for consent, card or member freeze, or velocity, "
                         "by reason.", ["reason"])
LEDGER_TRANSACTIONS = Counter("coalition_ledger_transactions", "Ledger transactions committed, by kind.", ["kind"])
SETTLEMENT_CYCLE_SECONDS = Histogram("coalition_settlement_cycle_duration_seconds",
                                     "Wall time of a settlement cycle from its start to its end, by outcome.",
                                     ["outcome"], buckets=CYCLE_BUCKETS)

_PENDING_KINDS = "coalition_metrics_journal_kinds"
_JOURNAL_INSERT = "INSERT INTO journal ("
_http_lock = threading.Lock()
_http_started: dict[tuple[str, int], object] = {}


_call_series: dict[tuple[str, str], tuple] = {}  # (method, outcome) -> its counter and histogram children


def observe_call(method: str, outcome: str, seconds: float) -> None:
    """The interceptor's observer: outcome is the gRPC status code name ("OK", "FAILED_PRECONDITION", ...).
    Children are looked up once per (method, outcome) (labels() validates and locks on every call)."""
    series = _call_series.get((method, outcome))
    if series is None:
        series = _call_series.setdefault((method, outcome), (GRPC_REQUESTS.labels(method, outcome),
                                                             GRPC_LATENCY.labels(method)))
    series[0].inc()
    series[1].observe(seconds)


def refused_signature(method: str, reason: str) -> None:
    SIGNATURES_REFUSED.labels(reason or "UNKNOWN").inc()


def refused_spend(reason: str) -> None:
    SPENDS_REFUSED.labels(reason).inc()


def count_ledger_transactions(kind: str, count: int = 1) -> None:
    LEDGER_TRANSACTIONS.labels(kind).inc(count)


def observe_settlement_cycle(seconds: float, outcome: str = "closed") -> None:
    """For the settlement worker: a cycle ended after `seconds` (outcome: closed, failed, operator_alert...)."""
    SETTLEMENT_CYCLE_SECONDS.labels(outcome).observe(seconds)


def _journal_kinds(conn, cursor, statement, parameters, context, executemany) -> None:
    if _JOURNAL_INSERT not in statement or not isinstance(parameters, dict):
        return
    pending = conn.info.setdefault(_PENDING_KINDS, collections.Counter())
    value = parameters.get("kind")
    if isinstance(value, (list, tuple)):
        pending.update(value)
    elif isinstance(value, str) and value.startswith("{"):  # an array literal (network.store.pgarray)
        pending.update(pgarray.tokens(value))
    elif isinstance(value, str):
        pending[value] += 1


def _committed(conn) -> None:
    for kind, count in conn.info.pop(_PENDING_KINDS, {}).items():
        LEDGER_TRANSACTIONS.labels(kind).inc(count)


def _rolled_back(conn) -> None:
    conn.info.pop(_PENDING_KINDS, None)


def instrument_engine(engine: Engine) -> None:
    """Count the journal rows every transaction on `engine` inserts, by kind, when (and only if) it commits.

    The ledger writes journal rows with set-based INSERTs (network.store.journal) whose `kind` parameter is the array
    of kinds written; nothing in the ledger code has to know about metrics. The earn hot path writes on a raw
    connection (network.store.earn) and reports its count through the server's `earned` hook instead.
    tests/test_metrics.py fails if either stops being true.
    """
    for name, listener in (("before_cursor_execute", _journal_kinds), ("commit", _committed),
                           ("rollback", _rolled_back)):
        if not event.contains(engine, name, listener):
            event.listen(engine, name, listener)


def serve_http(port: int, address: str = "127.0.0.1") -> int:
    """Serve /metrics on address:port (once per process and address); port 0 means: do not serve."""
    if port <= 0:
        return 0
    with _http_lock:
        if (address, port) not in _http_started:
            _http_started[(address, port)] = start_http_server(port, addr=address)
            log.info("Prometheus metrics on http://%s:%d/metrics", address, port)
    return port


__all__ = ["GRPC_LATENCY", "GRPC_REQUESTS", "LEDGER_TRANSACTIONS", "SETTLEMENT_CYCLE_SECONDS", "SIGNATURES_REFUSED",
           "count_ledger_transactions", "instrument_engine", "observe_call", "observe_settlement_cycle",
           "refused_signature", "serve_http"]
