"""COALITION_TEMPORAL_PORT is honoured everywhere: with TEMPORAL_ADDRESS unset, the CLI, the worker and the console
reach the embedded Temporal dev server on 127.0.0.1:<that port>, not on a fixed 7233."""

from __future__ import annotations

import asyncio

from console import actions
from console.settings import ConsoleSettings
from network.ports import free_port
from settlement.settings import SettlementSettings
from settlement.temporal_runtime import start_dev_server, temporal_client


def test_the_port_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("COALITION_TEMPORAL_PORT", "17233")
    assert SettlementSettings().resolved_temporal_address() == "127.0.0.1:17233"
    assert actions.temporal_address(ConsoleSettings()) == "127.0.0.1:17233"
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal:7233")
    assert SettlementSettings().resolved_temporal_address() == "temporal:7233"


def test_the_cli_and_worker_client_connect_to_the_configured_port(tmp_path):
    """A dev server already listening on the configured port is the one temporal_client connects to."""
    port = free_port()
    settings = SettlementSettings(temporal_address=None, temporal_port=port, data_dir=tmp_path)

    async def run() -> str:
        server = await start_dev_server(settings.temporal_namespace, port=port)
        try:
            async with temporal_client(settings) as client:
                assert await client.service_client.check_health()
                return client.service_client.config.target_host
        finally:
            await server.shutdown()

    assert asyncio.run(run()) == f"127.0.0.1:{port}"
    assert not (tmp_path / "temporal.db").exists()  # it connected; it did not start a server of its own
