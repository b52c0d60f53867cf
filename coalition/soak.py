"""`coalition soak --minutes N`: signed traffic from several partners while the parts of the coalition fail.

Everything runs on this machine, in a fresh data directory: an embedded PostgreSQL, a Temporal dev server, the
network server (`coalition network serve`) and the settlement worker (`coalition settlement worker`), each in
its own process, with a short settlement period so cycles run during the soak. Partners with keys and
contracts are created by the operator actions; members are enrolled through the SDK.

Traffic: every partner runs a few client threads, each a seeded random mix of Earn, BatchEarn, Redeem,
AuthorizeRedemption then CaptureRedemption or VoidRedemption, Reverse, GetBalance, ListTransactions and
ListStatements (acknowledging the statements it finds). The SDK retries what it treats as transient with the
same bytes; a call that still ends in an error that is not a final refusal is sent again by the soak with the
same request_id (same arguments, so the same bytes) until it is acknowledged or finally refused.

Faults, at seeded random moments, one at a time, each kind at least once when the run is long enough:
  network      the network server killed -9, then started again
  postgres     PostgreSQL stopped (fast or immediate shutdown) for 5-10 s, then started on the same data
               directory; in some outages the settlement worker is also killed -9 and restarted while the
               database is down
  temporal     the Temporal dev server killed -9, then started again on the same state file
  worker       the settlement worker killed -9, then started again

At the end the faults stop, the soak waits for the settlement cycle covering the end of the traffic to close,
and checks: every ledger invariant (`coalition ledger verify`, with settlement's conservation check), every
acknowledged call in the ledger exactly once, no request posted twice, nothing finally refused posted, cycle
completeness (closed periods without gaps, every journal row of a closed period in exactly one cycle, each
closed cycle's obligations equal to a fresh clearing of its period), no UNKNOWN or INTERNAL answer, no part
exiting on its own. It prints a table, writes the same figures as JSON, and exits 1 when any check fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Optional

import grpc
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

from coalition.up import CLI, Child, Supervisor, _grpc_serving, _temporal_ready, _worker_ready
from network import admin
from network.database import make_engine, migrate
from network.ports import free_port
from network.signer import NetworkSigner
from network.store.verify import verify_ledger
from partners import errors, signing
from partners.client import PartnerClient, earn_request, new_request_id
from protos.coalition.v1 import settlement_pb2
from settlement.settings import SettlementSettings
from settlement.temporal_runtime import temporal_binary

FAULT_KINDS = ("network", "postgres", "temporal", "worker")
WORKER_DURING_DB_OUTAGE = "worker_during_db_outage"
# Final refusals: the network decided, and sending the same request again gets the same answer.
FINAL_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
                         grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION,
                         grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAUTHENTICATED})
# Answers a client must never get, whatever fails behind the server.
FORBIDDEN_CODES = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
FAULT_SECONDS = 12.0  # about the longest a fault takes, from injection until the part is back
CALL_GIVE_UP_SECONDS = 180.0  # a call neither acknowledged nor refused after this long is "unresolved"
READY_TIMEOUT_SECONDS = 120.0
# Every partner enrols the soak's members at its till (by card), and spends at most 60 points: unverified spends
# up to this pass (the contract term; consent itself is tested elsewhere). Velocity refusals are final refusals.
SOAK_TILL = 100
SOAK_CONTRACTS = (  # (settlement model, contract terms): issuer-pays and prefunded partners, cross redemptions
    admin.ContractDraft(earn_points_per_major=Decimal(5), settlement_model="issuer_pays", clearing_fee_bps=150,
                        unverified_spend_limit_points=SOAK_TILL),
    admin.ContractDraft(earn_points_per_major=Decimal(2), settlement_model="prefunded",
                        issue_price_minor_per_point=Decimal("1.0"), redemption_rate_minor_per_point=Decimal("0.9"),
                        unverified_spend_limit_points=SOAK_TILL),
    admin.ContractDraft(earn_points_per_major=Decimal(8), settlement_model="issuer_pays", clearing_fee_bps=100,
                        breakage_share_bps=2000, unverified_spend_limit_points=SOAK_TILL),
    admin.ContractDraft(earn_points_per_major=Decimal(3), settlement_model="prefunded",
                        issue_price_minor_per_point=Decimal("1.0"), redemption_rate_minor_per_point=Decimal("0.95"),
                        unverified_spend_limit_points=SOAK_TILL),
)


@dataclass
class SoakConfig:
    seconds: float
    seed: int = 1
    data_dir: Optional[Path] = None  # default: a fresh temporary directory
    partners: int = 4
    threads_per_partner: int = 2
    members_per_partner: int = 6
    rate_per_second: float = 30.0  # all client threads together
    faults: Optional[int] = None  # default: one per ~40 s of traffic, at least one of each kind
    settlement_period_seconds: int = 20
    dispute_window_seconds: int = 20
    worker_during_db_outage: float = 0.5  # the chance that a PostgreSQL outage also restarts the worker
    network_processes: Optional[int] = None  # `network serve --processes`; default: the CLI's (one per core)


# --- what the clients saw ----------------------------------------------------------------------------------

@dataclass
class Attempt:
    """One gRPC attempt (the SDK's own retries included): when, and the status (None = OK)."""
    started: float
    ended: float
    code: Optional[str]


@dataclass
class CallRecord:
    method: str
    partner_id: str
    request_id: str  # "" for reads
    sent_at: float
    outcome: str = "unresolved"  # acknowledged | refused | unresolved
    done_at: Optional[float] = None
    soak_retries: int = 0
    reason: str = ""
    errors_seen: list[str] = field(default_factory=list)
    ledger: list[tuple[str, str]] = field(default_factory=list)  # (request_id, tx_id) posted by this call
    refused_items: list[str] = field(default_factory=list)  # BatchEarn items finally refused (request ids)
    item_ids: list[str] = field(default_factory=list)  # BatchEarn: every item's request id


class AttemptLog:
    """Wraps a PartnerClient's raw callables so every attempt is recorded (the SDK stays as it is)."""

    def __init__(self) -> None:
        self.by_thread: dict[str, list[Attempt]] = defaultdict(list)

    def instrument(self, client: PartnerClient, thread: str) -> PartnerClient:
        log = self.by_thread[thread]
        client._callables = {name: _Recorded(callable_, log) for name, callable_ in client._callables.items()}
        return client


class _Recorded:
    def __init__(self, inner, log: list[Attempt]):
        self._inner = inner
        self._log = log

    def with_call(self, body, **kwargs):
        started = time.monotonic()
        try:
            result = self._inner.with_call(body, **kwargs)
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
            self._log.append(Attempt(started, time.monotonic(), (code or grpc.StatusCode.UNKNOWN).name))
            raise
        self._log.append(Attempt(started, time.monotonic(), None))
        return result


# --- the parts: processes, PostgreSQL ----------------------------------------------------------------------

class Postgres:
    """The embedded PostgreSQL (pgserver's binaries and data directory layout), stopped and started here."""

    def __init__(self, pgdata: Path):
        import pgserver
        from pgserver.utils import PostmasterInfo

        self.pgdata = pgdata.resolve()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(str(self.pgdata), cleanup_mode=None)  # we stop it ourselves
        if not server.psql("SELECT 1 FROM pg_database WHERE datname = 'coalition';").count("1 row"):
            server.psql("CREATE DATABASE coalition;")
        self._user = server.system_user
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        self.socket_dir = info.socket_dir
        self.url = server.get_uri("coalition").replace("postgresql://", "postgresql+psycopg2://", 1)

    def _pg_ctl(self, args: list[str]) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(args, pgdata=self.pgdata, user=self._user, timeout=120)

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl(["-w", "-m", mode, "stop"])

    def start(self) -> None:
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start"])

    def running(self) -> bool:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()


class Parts:
    """The processes the soak runs, each restartable; a part that exits on its own is noted and restarted."""

    def __init__(self, data_dir: Path, config: SoakConfig, console: Console):
        self.data_dir = data_dir
        self.console = console
        self.network_processes = config.network_processes
        self.supervisor = Supervisor(data_dir / "logs")
        self.postgres = Postgres(data_dir / "postgres")
        self.grpc_port = free_port()
        self.temporal_port = free_port()
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.temporal_address = f"127.0.0.1:{self.temporal_port}"
        self.settings = SettlementSettings(data_dir=data_dir, database_url=self.postgres.url,
                                           temporal_address=self.temporal_address)
        self.env = dict(os.environ)
        self.env.update({
            "DATABASE_URL": self.postgres.url, "TEMPORAL_ADDRESS": self.temporal_address,
            "COALITION_DATA_DIR": str(data_dir), "COALITION_GRPC_ADDRESS": self.target, "PYTHONUNBUFFERED": "1",
            "COALITION_SETTLEMENT_PERIOD_SECONDS": str(config.settlement_period_seconds),
            "COALITION_DISPUTE_WINDOW_SECONDS": str(config.dispute_window_seconds),
            "COALITION_METRICS_PORT": "0", "COALITION_LOG_FORMAT": "text"})
        self.env.pop("COALITION_NETWORK_KEY_FILE", None)
        self.current: dict[str, Child] = {}
        self.lock = threading.Lock()
        self.faulting: set[str] = set()  # parts taken down on purpose right now
        self.unexpected_exits: Counter[str] = Counter()
        self.exit_notes: list[str] = []
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # the processes
    def start(self, name: str) -> Child:
        if name == "temporal":
            args = [str(temporal_binary()), "server", "start-dev", "--ip", "127.0.0.1", "--port",
                    str(self.temporal_port), "--headless", "--db-filename", str(self.data_dir / "temporal.db"),
                    "--namespace", self.settings.temporal_namespace, "--log-level", "warn"]
        elif name == "network":
            args = [*CLI, "network", "serve", "--address", self.target]
            if self.network_processes is not None:
                args += ["--processes", str(self.network_processes)]
        elif name == "worker":
            args = [*CLI, "settlement", "worker"]
        else:
            raise ValueError(name)
        child = self.supervisor.spawn(name, args, self.env)
        self.current[name] = child
        return child

    def kill(self, name: str) -> None:
        child = self.current[name]
        try:
            os.killpg(child.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.process.wait(30)

    def ready(self, name: str, since: float | None = None) -> bool:
        try:
            if name == "temporal":
                return _temporal_ready(self.temporal_address, self.settings.temporal_namespace)
            if name == "network":
                return _grpc_serving(self.target)
            if name == "worker":
                return _worker_ready(self.temporal_address, self.settings.temporal_namespace,
                                     self.settings.temporal_task_queue, self.current["worker"].process.pid)
            if name == "worker-polling":
                return _worker_polling_since(self, since or 0.0)
        except Exception:  # noqa: BLE001 - not ready yet
            return False
        raise ValueError(name)

    def wait_ready(self, name: str, timeout: float = READY_TIMEOUT_SECONDS, since: float | None = None) -> float:
        """Seconds until `name` was ready; raises when it was not ready in time."""
        started = time.monotonic()
        while not self.ready(name, since):
            if time.monotonic() - started > timeout:
                child = self.current.get(name.split("-")[0])
                tail = f"; its log ends with:\n{child.log_tail()}" if child else ""
                raise RuntimeError(f"{name} not ready after {timeout:.0f} s{tail}")
            time.sleep(0.1)
        return time.monotonic() - started

    # the watcher: a part that exits without being faulted is an unexpected exit; it is started again
    def watch(self) -> None:
        def loop() -> None:
            while not self._watch_stop.wait(0.5):
                with self.lock:
                    for name, child in list(self.current.items()):
                        if name in self.faulting or child.alive():
                            continue
                        self.unexpected_exits[name] += 1
                        self.exit_notes.append(f"{name} exited with status {child.process.returncode}: "
                                               f"{child.log_tail(3)}")
                        self.start(name)
        self._watcher = threading.Thread(target=loop, daemon=True, name="soak-watch")
        self._watcher.start()

    def stop_all(self) -> None:
        self._watch_stop.set()
        if self._watcher is not None:
            self._watcher.join()
        self.supervisor.stop_all(lambda _line: None)
        try:
            if self.postgres.running():
                self.postgres.stop("fast")
        except Exception as exc:  # noqa: BLE001 - stopping regardless
            self.console.print(f"[yellow]PostgreSQL did not stop cleanly: {exc}[/yellow]")


def _worker_polling_since(parts: Parts, since_wall: float) -> bool:
    """The current worker polls the task queue, its last poll after `since_wall` (a Unix time)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    pid = parts.current["worker"].process.pid
    namespace = parts.settings.temporal_namespace

    async def check() -> bool:
        client = await Client.connect(parts.temporal_address, namespace=namespace)
        queue = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=namespace, task_queue=TaskQueue(name=parts.settings.temporal_task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
        return any(p.identity.startswith(f"{pid}@") and p.last_access_time.ToSeconds() >= since_wall
                   for p in queue.pollers)

    return asyncio.run(check())


# --- partners and traffic ----------------------------------------------------------------------------------

@dataclass
class SoakPartner:
    partner_id: str
    key_id: str
    private_key: Any


def create_partners(engine: Engine, count: int, run_tag: str) -> list[SoakPartner]:
    partners = []
    for i in range(count):
        partner_id = f"soak{i + 1}-{run_tag}"
        key = signing.generate_private_key()
        key_id = f"{partner_id}-k1"
        with engine.begin() as conn:
            admin.create_partner(conn, "soak", partner_id, f"Soak Partner {i + 1}", iban="DE89370400440532013000",
                                 mandate=admin.SepaMandate(f"M-{partner_id}", date(2026, 1, 5)))
            admin.set_contract(conn, "soak", partner_id, SOAK_CONTRACTS[i % len(SOAK_CONTRACTS)])
            admin.register_key(conn, "soak", partner_id, key_id, base64.b64encode(signing.raw_public(key)).decode())
        partners.append(SoakPartner(partner_id, key_id, key))
    return partners


class Traffic:
    """Client threads sending a seeded mix of calls; every call recorded."""

    def __init__(self, parts: Parts, partners: list[SoakPartner], config: SoakConfig, attempts: AttemptLog):
        self.parts = parts
        self.partners = partners
        self.config = config
        self.attempts = attempts
        self.calls: list[CallRecord] = []
        self.calls_lock = threading.Lock()
        self.members: list[str] = []  # member ids, enrolled with every partner
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.spendable: dict[str, list[tuple[str, str]]] = defaultdict(list)  # partner -> [(tx_id, kind)]
        self._spend_lock = threading.Lock()

    def client(self, partner: SoakPartner, thread: str) -> PartnerClient:
        client = PartnerClient(self.parts.target, partner.key_id, partner.private_key, timeout=5.0, max_attempts=3,
                               backoff_max=1.0)
        return self.attempts.instrument(client, thread)

    # one call, retried by the soak until acknowledged or refused
    def call(self, partner: SoakPartner, method: str, request_id: str, send: Callable[[], Any],
             give_up: float = CALL_GIVE_UP_SECONDS) -> tuple[CallRecord, Any]:
        record = CallRecord(method, partner.partner_id, request_id, time.monotonic())
        with self.calls_lock:
            self.calls.append(record)
        while True:
            try:
                response = send()
            except errors.CoalitionError as exc:
                record.errors_seen.append(f"{exc.code.name} {exc.reason}".strip())
                if exc.code in FINAL_CODES and not isinstance(exc, errors.ReceiptInvalid):
                    record.outcome, record.done_at = "refused", time.monotonic()
                    record.reason = exc.reason or exc.code.name
                    return record, None
                if time.monotonic() - record.sent_at > give_up:
                    record.reason = str(exc)[:200]
                    return record, None
                record.soak_retries += 1
                time.sleep(0.3)
                continue
            record.outcome, record.done_at = "acknowledged", time.monotonic()
            return record, response

    def enroll_members(self) -> None:
        """The first partner enrolls the members; every other partner enrolls the same cards (cross-brand)."""
        first = self.partners[0]
        cards = []
        with self.client(first, "setup") as client:
            for _ in range(self.config.members_per_partner * len(self.partners)):
                rid = new_request_id()
                record, response = self.call(first, "EnrollMember", rid,
                                             lambda rid=rid: client.enroll_member(request_id=rid))
                if response is None:
                    raise RuntimeError(f"enrolling a member failed: {record.errors_seen}")
                self.members.append(response.member.member_id)
                cards.append(response.member.card_number)
        for partner in self.partners[1:]:
            with self.client(partner, "setup") as client:
                for card in cards:
                    rid = new_request_id()
                    self.call(partner, "EnrollMember", rid,
                              lambda rid=rid, card=card: client.enroll_member(card_number=card, request_id=rid))

    def run(self) -> None:
        per_thread = self.config.rate_per_second / max(1, len(self.partners) * self.config.threads_per_partner)
        for p_index, partner in enumerate(self.partners):
            for t in range(self.config.threads_per_partner):
                name = f"{partner.partner_id}/{t}"
                rng = random.Random(f"{self.config.seed}:{p_index}:{t}")
                thread = threading.Thread(target=self._loop, args=(partner, name, rng, per_thread), daemon=True,
                                          name=f"soak-{name}")
                self.threads.append(thread)
                thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _loop(self, partner: SoakPartner, name: str, rng: random.Random, rate: float) -> None:
        interval = 1.0 / rate if rate > 0 else 0.0
        with self.client(partner, name) as client:
            next_at = time.monotonic()
            while not self.stop.is_set():
                self._one(partner, client, rng)
                next_at += interval * rng.uniform(0.5, 1.5)
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                else:
                    next_at = time.monotonic()

    def _remember(self, partner: SoakPartner, tx_id: str, kind: str) -> None:
        with self._spend_lock:
            self.spendable[partner.partner_id].append((tx_id, kind))

    def _take_reversible(self, partner: SoakPartner, rng: random.Random) -> tuple[str, str] | None:
        with self._spend_lock:
            pool = self.spendable[partner.partner_id]
            if not pool:
                return None
            return pool.pop(rng.randrange(len(pool)))

    def _one(self, partner: SoakPartner, client: PartnerClient, rng: random.Random) -> None:
        member = rng.choice(self.members)
        choice = rng.choices(("earn", "batch", "redeem", "hold", "reverse", "balance", "history", "statements"),
                             weights=(30, 8, 16, 14, 8, 10, 6, 8))[0]
        if choice == "earn":
            rid = new_request_id()
            if rng.random() < 0.5:
                amount = rng.randint(100, 20000)
                send = lambda: client.earn(member, amount_minor=amount, receipt_ref=f"r-{rid[:8]}",  # noqa: E731
                                           request_id=rid)
            else:
                points = rng.randint(1, 500)
                send = lambda: client.earn(member, points=points, request_id=rid)  # noqa: E731
            record, response = self.call(partner, "Earn", rid, send)
            if response is not None:
                record.ledger.append((rid, response.transaction_id))
                self._remember(partner, response.transaction_id, "earn")
        elif choice == "batch":
            items = [earn_request(rng.choice(self.members), points=rng.randint(1, 200), request_id=new_request_id())
                     for _ in range(rng.randint(2, 20))]
            rid = new_request_id()
            record, response = self.call(partner, "BatchEarn", rid, lambda: client.batch_earn(items, request_id=rid))
            record.item_ids = [item.request_id for item in items]
            if response is not None:
                for item, result in zip(items, response.results):
                    if result.WhichOneof("outcome") == "earned":
                        record.ledger.append((item.request_id, result.earned.transaction_id))
                    else:
                        record.refused_items.append(item.request_id)
        elif choice == "redeem":
            rid = new_request_id()
            points = rng.randint(1, 60)
            record, response = self.call(partner, "Redeem", rid, lambda: client.redeem(member, points, request_id=rid))
            if response is not None:
                record.ledger.append((rid, response.transaction_id))
                self._remember(partner, response.transaction_id, "redeem")
        elif choice == "hold":
            rid = new_request_id()
            points = rng.randint(1, 60)
            record, response = self.call(partner, "AuthorizeRedemption", rid,
                                         lambda: client.authorize_redemption(member, points, request_id=rid))
            if response is None:
                return
            record.ledger.append((rid, response.hold_id))
            hold_id = response.hold_id
            rid2 = new_request_id()
            if rng.random() < 0.6:
                captured = rng.randint(1, points)
                record2, response2 = self.call(partner, "CaptureRedemption", rid2,
                                               lambda: client.capture_redemption(hold_id, captured, request_id=rid2))
            else:
                record2, response2 = self.call(partner, "VoidRedemption", rid2,
                                               lambda: client.void_redemption(hold_id, request_id=rid2))
            if response2 is not None:
                record2.ledger.append((rid2, response2.transaction_id))
                if record2.method == "CaptureRedemption":
                    self._remember(partner, response2.transaction_id, "capture")
        elif choice == "reverse":
            original = self._take_reversible(partner, rng)
            if original is None:
                return
            rid = new_request_id()
            points = 0 if rng.random() < 0.5 else rng.randint(1, 20)
            record, response = self.call(partner, "Reverse", rid,
                                         lambda: client.reverse(original[0], points, "soak", request_id=rid))
            if response is not None:
                record.ledger.append((rid, response.transaction_id))
        elif choice == "balance":
            self.call(partner, "GetBalance", "", lambda: client.get_balance(member))
        elif choice == "history":
            self.call(partner, "ListTransactions", "",
                      lambda: next(iter(client.list_transaction_pages(member, page_size=20))))
        else:
            self.acknowledge_statements(partner, client)

    def acknowledge_statements(self, partner: SoakPartner, client: PartnerClient) -> None:
        _record, page = self.call(partner, "ListStatements", "",
                                  lambda: next(iter(client.list_statement_pages(page_size=20))))
        if page is None:
            return
        for summary in page.statements:
            if summary.state == settlement_pb2.STATEMENT_STATE_ISSUED:
                rid = new_request_id()
                statement_id = summary.statement_id
                self.call(partner, "AcknowledgeStatement", rid,
                          lambda: client.acknowledge_statement(statement_id, request_id=rid))


# --- faults ------------------------------------------------------------------------------------------------

@dataclass
class Fault:
    kind: str
    at: float  # seconds since the traffic started
    detail: str = ""
    down_seconds: float = 0.0  # from the fault until the part was back and ready
    restored_at: float = 0.0  # monotonic: when the part was back (ready)
    recovery_seconds: Optional[float] = None  # from back until clients (or the worker) got through again
    client_outage_seconds: float = 0.0  # the longest stretch a client saw only failures, within this fault
    ended_at: float = 0.0  # monotonic


class FaultInjector:
    def __init__(self, parts: Parts, config: SoakConfig, rng: random.Random, t0: float, traffic_seconds: float):
        self.parts = parts
        self.config = config
        self.rng = rng
        self.t0 = t0
        self.traffic_seconds = traffic_seconds
        self.faults: list[Fault] = []
        self.stop = threading.Event()
        self.error: str = ""
        count = config.faults if config.faults is not None else max(len(FAULT_KINDS), round(traffic_seconds / 40))
        kinds = list(FAULT_KINDS)
        rng.shuffle(kinds)
        self.plan = (kinds + [rng.choice(FAULT_KINDS) for _ in range(max(0, count - len(kinds)))])[:count]
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-faults")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.stop.set()
        self._thread.join()

    def _run(self) -> None:
        warmup = min(10.0, self.traffic_seconds * 0.1)
        tail = min(20.0, self.traffic_seconds * 0.15)
        budget = max(1.0, self.traffic_seconds - warmup - tail)
        slot = budget / max(1, len(self.plan))  # one slot per fault, the fault at a random moment inside it
        for index, kind in enumerate(self.plan):
            moment = self.t0 + warmup + index * slot + self.rng.uniform(0.0, max(0.0, slot - FAULT_SECONDS))
            if moment > self.t0 + warmup + budget:
                break
            if self.stop.wait(max(0.0, moment - time.monotonic())):
                return
            try:
                self.faults.append(self._inject(kind))
            except Exception as exc:  # noqa: BLE001 - reported as a failed check; the soak goes on
                self.error = f"{kind} fault: {exc}"
                return

    def _inject(self, kind: str) -> Fault:
        parts = self.parts
        fault = Fault(kind, time.monotonic() - self.t0)
        began = time.monotonic()
        taken_down = {kind} if kind in ("network", "worker", "temporal") else set()  # not postgres: the others
        with parts.lock:                                                             # must survive its outage
            parts.faulting |= taken_down
        try:
            if kind == "network":
                parts.kill("network")
                parts.start("network")
                parts.wait_ready("network")
            elif kind == "worker":
                parts.kill("worker")
                parts.start("worker")
                parts.wait_ready("worker")
            elif kind == "temporal":
                parts.kill("temporal")
                down = self.rng.uniform(1.0, 4.0)
                time.sleep(down)
                parts.start("temporal")
                parts.wait_ready("temporal")
                fault.detail = f"down {down:.1f} s"
            elif kind == "postgres":
                mode = self.rng.choice(("fast", "immediate"))
                down = self.rng.uniform(5.0, 10.0)
                with_worker = self.rng.random() < self.config.worker_during_db_outage
                parts.postgres.stop(mode)
                stopped = time.monotonic()
                if with_worker:
                    time.sleep(down / 3)
                    with parts.lock:
                        parts.faulting.add("worker")
                    parts.kill("worker")
                    parts.start("worker")
                    with parts.lock:
                        parts.faulting.discard("worker")
                time.sleep(max(0.0, down - (time.monotonic() - stopped)))
                parts.postgres.start()
                fault.detail = f"{mode} shutdown, down {time.monotonic() - stopped:.1f} s" + (
                    "; worker killed -9 and restarted while it was down" if with_worker else "")
            fault.restored_at = time.monotonic()
            fault.down_seconds = fault.restored_at - began
            if kind in ("temporal", "worker"):
                since = time.time() - 0.5 if kind == "temporal" else 0.0
                fault.recovery_seconds = parts.wait_ready("worker-polling", since=since)
            if kind == "postgres":
                parts.wait_ready("network")
                if with_worker:
                    parts.wait_ready("worker")
        finally:
            with parts.lock:
                parts.faulting -= taken_down
        fault.ended_at = time.monotonic()
        return fault


# --- the checks --------------------------------------------------------------------------------------------

@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    examples: list[str] = field(default_factory=list)


def check_ledger(engine: Engine) -> list[CheckResult]:
    from settlement.verify import check_cycle_conservation

    with engine.connect() as conn:
        return [CheckResult(f"ledger verify: {c.name}", c.ok, c.detail, c.examples)
                for c in verify_ledger(conn, extra=(check_cycle_conservation,))]


def check_calls(engine: Engine, calls: list[CallRecord], partner_ids: list[str]) -> tuple[list[CheckResult], dict]:
    """Acknowledged calls in the ledger exactly once; refused ones not at all; no request posted twice."""
    acknowledged_posts = [(c.partner_id, rid, tx) for c in calls if c.outcome == "acknowledged" for rid, tx in c.ledger]
    refused_ids = [(c.partner_id, c.request_id) for c in calls if c.outcome == "refused" and c.request_id]
    refused_ids += [(c.partner_id, rid) for c in calls for rid in c.refused_items]
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT partner_id, request_id, tx_id::text AS tx_id FROM journal "
            "WHERE partner_id = ANY(:p) AND request_id IS NOT NULL"), {"p": partner_ids}).all()
    by_request: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        by_request[(r.partner_id, r.request_id)].append(r.tx_id)
    lost = [f"{p} {rid} {tx}" for p, rid, tx in acknowledged_posts if tx not in by_request.get((p, rid), [])]
    duplicated = [f"{p} {rid}: {len(txs)} journal rows" for (p, rid), txs in by_request.items() if len(txs) > 1]
    refused_posted = [f"{p} {rid}" for p, rid in refused_ids if by_request.get((p, rid))]
    known = {(p, rid) for p, rid, _tx in acknowledged_posts}
    unresolved_ids = {(c.partner_id, rid) for c in calls if c.outcome == "unresolved"
                      for rid in (c.item_ids if c.method == "BatchEarn" else [c.request_id])}
    unknown = [f"{p} {rid}" for (p, rid) in by_request if (p, rid) not in known and (p, rid) not in unresolved_ids]
    figures = {"lost": len(lost), "duplicated": len(duplicated), "refused_but_posted": len(refused_posted),
               "posted_without_acknowledgement": len(unknown)}
    results = [
        CheckResult("every acknowledged call is in the ledger", not lost,
                    f"{len(acknowledged_posts):,} acknowledged ledger transactions found by id and request id"
                    if not lost else f"{len(lost)} acknowledged transactions missing", lost[:5]),
        CheckResult("no request posted twice", not duplicated,
                    f"{len(by_request):,} request ids, each at most one journal row"
                    if not duplicated else f"{len(duplicated)} request ids posted more than once", duplicated[:5]),
        CheckResult("nothing finally refused was posted", not refused_posted,
                    f"{len(refused_ids):,} refused requests, none in the journal"
                    if not refused_posted else f"{len(refused_posted)} refused requests are in the journal",
                    refused_posted[:5]),
        CheckResult("nothing posted that no call was acknowledged for", not unknown,
                    "every journal row of the soak's partners belongs to an acknowledged call" if not unknown
                    else f"{len(unknown)} journal rows without an acknowledged call", unknown[:5]),
    ]
    return results, figures


_GAPS = """
SELECT cycle_id, period_start, prev_end FROM (
    SELECT cycle_id, period_start, lag(period_end) OVER (ORDER BY period_start) AS prev_end FROM cycles) c
WHERE prev_end IS NOT NULL AND prev_end <> period_start ORDER BY period_start LIMIT 5
"""
_NOT_IN_ONE_CYCLE = """
WITH closed AS (SELECT cycle_id, period_start, period_end FROM cycles WHERE state = 'closed'),
     span AS (SELECT min(period_start) AS s, max(period_end) AS e FROM closed)
SELECT j.tx_id, j.kind, j.created_at, count(c.cycle_id) AS cycles
FROM journal j CROSS JOIN span
LEFT JOIN closed c ON j.created_at >= c.period_start AND j.created_at < c.period_end
WHERE j.created_at >= span.s AND j.created_at < span.e
GROUP BY 1, 2, 3 HAVING count(c.cycle_id) <> 1 LIMIT 5
"""


def check_cycles(engine: Engine, point_value_minor: Decimal, covering: datetime) -> tuple[list[CheckResult], dict]:
    """Cycle completeness, checked here with SQL over the cycle and journal tables (settlement has no such
    check yet): closed periods follow each other without gaps, every journal row dated inside a closed period
    is in exactly one closed cycle, and each closed cycle's stored obligations equal a fresh clearing of its
    period's ledger (a transaction committed after its cycle's cut-off would make them differ)."""
    from settlement.domain import obligations as rules
    from settlement.store.clearing import flows, load_obligations

    with engine.connect() as conn:
        cycles = conn.execute(text("SELECT cycle_id, period_start, period_end, state, currency, closed_at "
                                   "FROM cycles ORDER BY period_start")).all()
        gaps = conn.execute(text(_GAPS)).all()
        outside = conn.execute(text(_NOT_IN_ONE_CYCLE)).all()
        mismatched = []
        closed = [c for c in cycles if c.state == "closed"]
        for c in closed:
            fresh = rules.obligations(flows(conn, c.period_start, c.period_end), point_value_minor, c.currency)
            stored = list(load_obligations(conn, c.cycle_id))
            key = lambda o: tuple(str(v) for v in asdict(o).values())  # noqa: E731
            if Counter(map(key, fresh)) != Counter(map(key, stored)):
                mismatched.append(f"{c.cycle_id}: stored {len(stored)} lines, a fresh clearing {len(fresh)}")
        covered = any(c.period_end >= covering for c in closed)
        open_before = [c.cycle_id for c in cycles if c.state != "closed" and c.period_end <= covering]
    lags = [(c.closed_at - c.period_end).total_seconds() for c in closed if c.closed_at]
    figures = {"cycles": len(cycles), "closed": len(closed),
               "longest_period_end_to_close_seconds": round(max(lags), 2) if lags else None}
    return [
        CheckResult("closed periods follow each other without gaps", not gaps,
                    f"{len(cycles)} cycles" if not gaps else f"{len(gaps)}+ gaps",
                    [f"{g.cycle_id} starts {g.period_start} after {g.prev_end}" for g in gaps]),
        CheckResult("every cycle up to the end of the traffic closed", covered and not open_before,
                    f"{len(closed)} closed, the last ending {closed[-1].period_end:%H:%M:%S}" if closed
                    else "none closed",
                    open_before[:5] if open_before
                    else ([] if covered else ["no closed cycle covers the traffic's end"])),
        CheckResult("each journal row of a closed period is in exactly one cycle", not outside,
                    "every row dated inside a closed period" if not outside else f"{len(outside)}+ rows",
                    [f"{r.tx_id} {r.kind} {r.created_at} in {r.cycles} cycles" for r in outside]),
        CheckResult("each closed cycle's obligations equal a fresh clearing of its period", not mismatched,
                    f"{len(closed)} cycles recleared" if not mismatched else f"{len(mismatched)} cycles differ",
                    mismatched[:5]),
    ], figures


# --- the run -----------------------------------------------------------------------------------------------

def _outage_windows(attempts: dict[str, list[Attempt]]) -> list[tuple[float, float]]:
    """Per client thread: from the first failed attempt to the end of the next successful one (OK or a final
    refusal): what a client saw as the network being unavailable."""
    windows = []
    final = {c.name for c in FINAL_CODES}
    for log in attempts.values():
        opened = None
        for a in sorted(log, key=lambda a: a.started):
            failed = a.code is not None and a.code not in final
            if failed and opened is None:
                opened = a.started
            elif not failed and opened is not None:
                windows.append((opened, a.ended))
                opened = None
        if opened is not None:
            windows.append((opened, max(a.ended for a in log)))
    return windows


def _first_success_after(attempts: dict[str, list[Attempt]], moment: float) -> Optional[float]:
    ends = [a.ended for log in attempts.values() for a in log if a.code is None and a.started >= moment]
    return min(ends) if ends else None


def _log_figures(log_path: Path) -> dict:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return {"lines": 0, "tracebacks": 0}
    return {"lines": len(lines), "tracebacks": sum(1 for line in lines if line.startswith("Traceback"))}


def run_soak(config: SoakConfig, console: Console | None = None) -> tuple[bool, dict]:
    console = console or Console()
    import tempfile

    data_dir = (config.data_dir or Path(tempfile.mkdtemp(prefix="coalition-soak-"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(config.seed)
    console.print(f"coalition soak: {config.seconds:.0f} s of traffic, seed {config.seed}, data in {data_dir}")
    parts = Parts(data_dir, config, console)
    figures: dict[str, Any] = {}
    try:
        migrate(parts.postgres.url)
        NetworkSigner.from_file(parts.settings.resolved_network_key_file())  # created once, before two users race
        engine = make_engine(parts.postgres.url, pool_size=2)
        try:
            partners = create_partners(engine, config.partners, uuid.uuid4().hex[:6])
        finally:
            engine.dispose()
        for name in ("temporal", "network", "worker"):
            parts.start(name)
            parts.wait_ready(name)
        parts.watch()
        console.print(f"  up: PostgreSQL, Temporal ({parts.temporal_address}), network ({parts.target}), worker; "
                      f"{len(partners)} partners")
        attempts = AttemptLog()
        traffic = Traffic(parts, partners, config, attempts)
        traffic.enroll_members()
        t0 = time.monotonic()
        traffic.run()
        injector = FaultInjector(parts, config, rng, t0, config.seconds)
        injector.start()
        time.sleep(config.seconds)
        injector.join()
        traffic.join()
        traffic_end = datetime.now(timezone.utc)
        t_end = time.monotonic()
        console.print(f"  traffic stopped after {t_end - t0:.0f} s; waiting for the settlement cycles to close")
        cycles_closed = _wait_for_cycles(parts, traffic, partners, traffic_end, config)
        figures, ok = _evaluate(parts, traffic, injector, attempts, partners, config, t0, t_end, traffic_end,
                                cycles_closed)
    finally:
        parts.stop_all()
    figures["data_dir"] = str(data_dir)
    return ok, figures


def _wait_for_cycles(parts: Parts, traffic: Traffic, partners: list[SoakPartner], traffic_end: datetime,
                     config: SoakConfig) -> bool:
    """Until a closed cycle ends at or after the traffic's end (acknowledging statements meanwhile)."""
    timeout = config.settlement_period_seconds + config.dispute_window_seconds + 180
    deadline = time.monotonic() + timeout
    engine = make_engine(parts.postgres.url, pool_size=1)
    clients = {p.partner_id: traffic.client(p, "final") for p in partners}
    try:
        while time.monotonic() < deadline:
            for p in partners:
                traffic.acknowledge_statements(p, clients[p.partner_id])
            try:
                with engine.connect() as conn:
                    open_before = conn.execute(text(
                        "SELECT count(*) FROM cycles WHERE state <> 'closed' AND period_end <= :t"),
                        {"t": traffic_end}).scalar_one()
                    covered = conn.execute(text(
                        "SELECT count(*) FROM cycles WHERE state = 'closed' AND period_end >= :t"),
                        {"t": traffic_end}).scalar_one()
                if covered and not open_before:
                    return True
            except Exception:  # noqa: BLE001 - the database is back by now; keep waiting
                pass
            time.sleep(2)
        return False
    finally:
        for client in clients.values():
            client.close()
        engine.dispose()


def _evaluate(parts: Parts, traffic: Traffic, injector: FaultInjector, attempts: AttemptLog,
              partners: list[SoakPartner], config: SoakConfig, t0: float, t_end: float, traffic_end: datetime,
              cycles_closed: bool) -> tuple[dict, bool]:
    calls = traffic.calls
    engine = make_engine(parts.postgres.url, pool_size=2)
    try:
        checks = check_ledger(engine)
        call_checks, call_figures = check_calls(engine, calls, [p.partner_id for p in partners])
        cycle_checks, cycle_figures = check_cycles(engine, parts.settings.point_value_minor, traffic_end)
    finally:
        engine.dispose()
    checks += call_checks + cycle_checks
    codes = Counter(a.code or "OK" for log in attempts.by_thread.values() for a in log)
    forbidden = {code: n for code, n in codes.items() if code in {c.name for c in FORBIDDEN_CODES}}
    checks.append(CheckResult("no UNKNOWN or INTERNAL answer", not forbidden,
                              "every failure was a retryable status or a refusal" if not forbidden
                              else ", ".join(f"{k}: {v}" for k, v in forbidden.items())))
    unresolved = [c for c in calls if c.outcome == "unresolved"]
    checks.append(CheckResult("every call acknowledged or refused", not unresolved,
                              f"{len(calls):,} calls" if not unresolved else f"{len(unresolved)} unresolved",
                              [f"{c.method} {c.request_id}: {c.reason}" for c in unresolved[:5]]))
    exits = dict(parts.unexpected_exits)
    checks.append(CheckResult("no part exited on its own", not exits,
                              "network server and worker ran until killed" if not exits
                              else ", ".join(f"{k}: {v}" for k, v in exits.items()), parts.exit_notes[:5]))
    kinds_seen = Counter(f.kind for f in injector.faults)
    kinds_seen.update(WORKER_DURING_DB_OUTAGE for f in injector.faults if "worker killed" in f.detail)
    all_injected = not injector.error and len(injector.faults) == len(injector.plan)
    checks.append(CheckResult("every planned fault injected", all_injected,
                              f"{len(injector.faults)} of {len(injector.plan)}"
                              + (f"; {injector.error}" if injector.error else "")))

    windows = _outage_windows(attempts.by_thread)
    for fault in injector.faults:
        began = t0 + fault.at
        if fault.kind in ("network", "postgres"):
            first = _first_success_after(attempts.by_thread, fault.restored_at)
            fault.recovery_seconds = None if first is None else round(first - fault.restored_at, 3)
        inside = [end - start for start, end in windows if start <= fault.ended_at + 5 and end >= began]
        fault.client_outage_seconds = round(max(inside), 3) if inside else 0.0
    figures = {
        "seconds": round(t_end - t0, 1), "seed": config.seed, "partners": len(partners),
        "calls_sent": len(calls),
        "acknowledged": sum(1 for c in calls if c.outcome == "acknowledged"),
        "refused": sum(1 for c in calls if c.outcome == "refused"),
        "unresolved": len(unresolved),
        "ledger_transactions_acknowledged": sum(len(c.ledger) for c in calls if c.outcome == "acknowledged"),
        **call_figures,
        "calls_by_method": dict(Counter(c.method for c in calls)),
        "refusals_by_reason": dict(Counter(c.reason for c in calls if c.outcome == "refused")),
        "attempts_by_status": dict(codes),
        "soak_retries": sum(c.soak_retries for c in calls),
        "faults_by_kind": dict(kinds_seen),
        "faults": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(f).items()
                    if k not in ("restored_at", "ended_at")} for f in injector.faults],
        "longest_unavailability_seconds": round(max((e - s for s, e in windows), default=0.0), 3),
        "unexpected_exits": exits,
        "network_log": _log_figures(parts.supervisor.logs_dir / "network.log"),
        "worker_log": _log_figures(parts.supervisor.logs_dir / "worker.log"),
        **cycle_figures,
        "checks": [asdict(c) for c in checks],
    }
    ok = all(c.ok for c in checks) and figures["lost"] == 0 and figures["duplicated"] == 0
    figures["ok"] = ok
    return figures, ok


def print_report(console: Console, figures: dict) -> None:
    summary = Table("figure", "value", title="coalition soak", title_justify="left")
    for label, key in (("seconds of traffic", "seconds"), ("seed", "seed"), ("calls sent", "calls_sent"),
                       ("acknowledged", "acknowledged"), ("refused (final)", "refused"),
                       ("unresolved", "unresolved"),
                       ("ledger transactions acknowledged", "ledger_transactions_acknowledged"),
                       ("lost (must be 0)", "lost"), ("duplicated (must be 0)", "duplicated"),
                       ("refused but posted", "refused_but_posted"), ("soak retries (same request_id)", "soak_retries"),
                       ("longest unavailability seen by a client (s)", "longest_unavailability_seconds"),
                       ("cycles closed", "closed"),
                       ("longest period end -> cycle closed (s)", "longest_period_end_to_close_seconds")):
        summary.add_row(label, str(figures.get(key)))
    summary.add_row("attempts by status",
                    ", ".join(f"{k} {v}" for k, v in sorted(figures["attempts_by_status"].items())))
    summary.add_row("faults by kind", ", ".join(f"{k} {v}" for k, v in sorted(figures["faults_by_kind"].items())))
    log = figures["network_log"]
    summary.add_row("network server log", f"{log['lines']} lines, {log['tracebacks']} tracebacks")
    console.print(summary)
    faults = Table("#", "fault", "at (s)", "down (s)", "recovered after (s)", "client outage (s)", "detail",
                   title="faults", title_justify="left")
    for i, f in enumerate(figures["faults"], 1):
        faults.add_row(str(i), f["kind"], f"{f['at']:.1f}", f"{f['down_seconds']:.2f}",
                       "-" if f["recovery_seconds"] is None else f"{f['recovery_seconds']:.2f}",
                       f"{f['client_outage_seconds']:.2f}", f["detail"])
    console.print(faults)
    checks = Table("check", "", "detail", title="checks", title_justify="left")
    for c in figures["checks"]:
        detail = c["detail"] + ("" if c["ok"] or not c["examples"] else " e.g. " + "; ".join(c["examples"][:2]))
        checks.add_row(c["name"], "[green]ok[/green]" if c["ok"] else "[red]FAILED[/red]", detail)
    console.print(checks)


def soak_command(minutes: Optional[float] = typer.Option(None, "--minutes", help="Minutes of traffic."),
                 seconds: Optional[float] = typer.Option(None, "--seconds", help="Seconds of traffic (short runs)."),
                 seed: int = typer.Option(1, "--seed", help="Seeds the traffic mix and the faults' moments."),
                 faults: Optional[int] = typer.Option(None, "--faults",
                                                      help="How many faults (default: one per ~40 s, at least 4)."),
                 rate: float = typer.Option(30.0, "--rate", help="Calls per second, all clients together."),
                 partners: int = typer.Option(4, "--partners", min=2),
                 period: int = typer.Option(20, "--period", min=5, help="Settlement period in seconds."),
                 data_dir: Optional[Path] = typer.Option(None, "--data-dir", file_okay=False,
                                                         help="Default: a fresh temporary directory."),
                 out: Path = typer.Option(Path("bench-results/soak.json"), "--out")) -> None:
    """Signed traffic while the network server, PostgreSQL, Temporal and the worker fail; then every check."""
    import warnings

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    if (minutes is None) == (seconds is None):
        raise typer.BadParameter("give exactly one of --minutes or --seconds")
    duration = seconds if seconds is not None else minutes * 60
    console = Console(width=None if sys.stdout.isatty() else 132)
    config = SoakConfig(seconds=duration, seed=seed, data_dir=data_dir, partners=partners, rate_per_second=rate,
                        faults=faults, settlement_period_seconds=period, dispute_window_seconds=period)
    ok, figures = run_soak(config, console)
    print_report(console, figures)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))
    console.print(f"figures written to {out}; {'[green]all checks passed[/green]' if ok else '[red]FAILED[/red]'}")
    raise typer.Exit(0 if ok else 1)


__all__ = ["SoakConfig", "run_soak", "soak_command", "print_report"]
