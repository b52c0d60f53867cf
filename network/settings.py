"""The network's settings, read from the environment (pydantic-settings); the other packages' settings extend them.

settlement.settings.SettlementSettings adds settlement's, console.settings.ConsoleSettings the console's, and
coalition.settings.CoalitionSettings the demo's: one object per process, composed by coalition/.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NetworkSettings(BaseSettings):
    """What the network server and every process that opens the database read. Unset DATABASE_URL means the
    embedded PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="COALITION_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    data_dir: Path = Path(".coalition")
    grpc_address: str = "127.0.0.1:50051"
    grpc_workers: int = 32
    # Unary earns share commits (group commit); while busy, the writer waits up to this long to fill a commit.
    earn_group_linger_ms: float = 2.0
    # An earn whose group commit has not ended after this long gets UNAVAILABLE (COMMIT_TIMEOUT, retryable).
    earn_commit_timeout_seconds: float = 30.0
    # In-process caches of partners' contracts and exposure snapshots: reloaded after this long.
    contract_cache_seconds: float = 2.0
    exposure_cache_seconds: float = 2.0
    # WatchEvents: a stream reads the outbox at least this often (NOTIFY wakes it sooner), and sends a heartbeat
    # after this long without an event.
    event_poll_seconds: float = 5.0
    event_heartbeat_seconds: float = 15.0
    grpc_max_message_bytes: int = 4 * 1024 * 1024
    db_pool_size: int = 8
    network_key_file: Path | None = None
    network_currency: str = "EUR"
    # Value of one point in minor units of network_currency (1 point = EUR 0.01 by default).
    point_value_minor: Decimal = Decimal("1")
    ledger_shards: int = 64
    metrics_port: int = 0  # > 0: serve Prometheus /metrics on metrics_address:metrics_port
    metrics_address: str = "127.0.0.1"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line, with request_id and partner_id

    def resolved_network_key_file(self) -> Path:
        return self.network_key_file or (self.data_dir / "network-key.pem")


Settings = NetworkSettings  # the name network's modules annotate with

SettingsKind = TypeVar("SettingsKind", bound=BaseSettings)


@lru_cache(maxsize=None)
def from_environment(kind: type[SettingsKind]) -> SettingsKind:
    """`kind` read from the environment once per process; `from_environment.cache_clear()` forgets every kind."""
    return kind()


def get_settings() -> NetworkSettings:
    return from_environment(NetworkSettings)
