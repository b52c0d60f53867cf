"""`coalition network serve --processes N`: N server processes on one port, supervised.

The supervisor starts N children, each a whole single-process server (`network serve --processes 1
--reuse-port`): its own interpreter, event loop, group commit, database pool and caches, listening on the same
address with SO_REUSEPORT, so the kernel spreads incoming connections across them (a connection, and every call
on it, stays with one process). Every child serves health and reflection itself.

- Port 0: the supervisor binds a SO_REUSEPORT socket to pick the port and keeps it bound (it never listens, so it
  takes no connections) until it exits; the children listen on that port.
- Metrics: with a metrics port, prometheus_client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR is
  `<data dir>/prometheus-multiproc/<supervisor pid>`, emptied at start (one per supervisor, so two servers on one
  data dir keep their own samples); the children write their samples there and serve no HTTP;
  the supervisor serves /metrics once, summing every child's samples (MultiProcessCollector).
- Stopping: SIGTERM or SIGINT to the supervisor is forwarded to every child as SIGTERM (each stops gracefully);
  the supervisor waits for them (`grace` seconds, then SIGKILL) and exits 0.
- A child that dies on its own: reported (its pid and exit status), the others are stopped as above and the
  supervisor exits 1. The supervisor does not restart children: whatever runs it (`coalition up`, compose's
  `restart: unless-stopped`, systemd) restarts the whole server, so a crash loop is visible there.
- Caches across processes: the key cache (network.keys) and the contract cache (network.store.contracts) are
  emptied by PostgreSQL NOTIFY on every change; the credit limit is checked inside the earn transaction under a
  per-partner advisory lock (network.store.earn). None of them relies on being the only process.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

log = logging.getLogger(__name__)
MULTIPROC_DIR_NAME = "prometheus-multiproc"


def default_processes() -> int:
    return os.cpu_count() or 1


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def reserve_port(address: str) -> tuple[str, socket.socket]:
    """Bind `address` with SO_REUSEPORT (picking a free port for port 0) and keep the socket bound, not listening:
    the port stays this process's group's while the children come and go. Returns host:port and the socket."""
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    chosen = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return f"{shown}:{chosen}", sock


def prepare_multiprocess_metrics(data_dir: Path, owner: int | None = None) -> Path:
    """This supervisor's multiprocess metrics directory, `<data dir>/prometheus-multiproc/<its pid>`, empty. One per
    supervisor: a second server on the same data dir (on another port) emptying a shared directory would take every
    sample of the first's running children out of its /metrics. The directories of supervisors no longer running
    go, and anything else found there (their samples are stale)."""
    root = Path(data_dir) / MULTIPROC_DIR_NAME
    owner = os.getpid() if owner is None else owner
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name != str(owner) and not (entry.name.isdigit() and _running(int(entry.name))):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
    path = root / str(owner)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def serve_multiprocess_metrics(path: Path, port: int, address: str) -> None:
    """/metrics on address:port, summing the samples every process wrote under `path`."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    start_http_server(port, addr=address, registry=registry)
    log.info("Prometheus metrics of all server processes on http://%s:%d/metrics", address, port)


class Supervisor:
    """Runs `command` (which must listen on the reserved address with SO_REUSEPORT) `processes` times."""

    def __init__(self, command: Sequence[str], processes: int, env: Mapping[str, str], *, grace: float = 30.0,
                 multiproc_dir: Path | None = None):
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self._command = list(command)
        self._processes = processes
        self._env = dict(env)
        self._grace = grace
        self._multiproc_dir = multiproc_dir
        self._children: list[subprocess.Popen] = []
        self._stopping = threading.Event()

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children]

    def start(self) -> None:
        """Start the children; from here on SIGINT and SIGTERM ask `wait` to stop them."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        for _ in range(self._processes):
            self._children.append(subprocess.Popen(self._command, env=self._env))
        log.info("started %d server processes: %s", self._processes, " ".join(map(str, self.pids)))

    def stop(self) -> None:
        """SIGTERM to every child still running, then wait (SIGKILL after the grace period)."""
        self._stopping.set()
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        for child in self._children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("server process %d did not stop within %.0f s: killed", child.pid, self._grace)
                child.kill()
                child.wait()
            self._mark_dead(child.pid)

    def _mark_dead(self, pid: int) -> None:
        if self._multiproc_dir is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, str(self._multiproc_dir))

    def wait(self) -> int:
        """Until a signal asks to stop (exit status 0) or a child dies on its own (1): every child is stopped."""
        while not self._stopping.wait(0.5):
            dead = [child for child in self._children if child.poll() is not None]
            if dead:
                for child in dead:
                    log.error("server process %d exited with status %s: stopping the others", child.pid,
                              child.returncode)
                self.stop()
                return 1
        self.stop()
        return 0


def run_supervised(command: Sequence[str], processes: int, env: Mapping[str, str], *, data_dir: Path,
                   metrics_port: int, metrics_address: str) -> int:
    """Start the children (metrics aggregated when metrics_port > 0), wait, stop them; the exit status."""
    env = dict(env)
    multiproc_dir = None
    if metrics_port > 0:
        multiproc_dir = prepare_multiprocess_metrics(data_dir)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
        env["COALITION_METRICS_PORT"] = "0"  # the children write samples; the supervisor serves them
        serve_multiprocess_metrics(multiproc_dir, metrics_port, metrics_address)
    supervisor = Supervisor(command, processes, env, multiproc_dir=multiproc_dir)
    supervisor.start()
    return supervisor.wait()
