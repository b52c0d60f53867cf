"""The network's settings, read from the environment (pydantic-settings); the other packages' settings extend them.

settlement.settings.SettlementSettings adds settlement's, console.settings.ConsoleSettings the console's, and
coalition.settings.CoalitionSettings the demo's: one object per process, composed by coalition/.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

IDEMPOTENCY_RETENTION_DEFAULT_SECONDS = 7 * 86400
IDEMPOTENCY_RETENTION_MIN_SECONDS = 86400


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
    # The in-process cache of partners' contracts: emptied by NOTIFY on every change (network.store.contracts),
    # reloaded after this long regardless (and on every lookup while its listener is not connected).
    contract_cache_seconds: float = 2.0
    # No longer read (the credit-limit check reads inside the earn transaction); accepted for old configurations.
    exposure_cache_seconds: float = 2.0
    # WatchEvents: a stream reads the outbox at least this often (NOTIFY wakes it sooner), and sends a heartbeat
    # after this long without an event.
    event_poll_seconds: float = 5.0
    event_heartbeat_seconds: float = 15.0
    # The largest request (and response) a call may carry; a larger request is refused with INVALID_ARGUMENT /
    # MESSAGE_TOO_LARGE (never retried).
    grpc_max_message_bytes: int = 4 * 1024 * 1024
    # What the gRPC transport reads at most, so that a request over grpc_max_message_bytes reaches the interceptor
    # and gets that answer; past this the transport itself refuses with RESOURCE_EXHAUSTED ("message larger than
    # max"), which the SDKs do not retry either.
    grpc_transport_max_message_bytes: int = 16 * 1024 * 1024
    db_pool_size: int = 8
    network_key_file: Path | None = None
    # TLS on the gRPC listener: a PEM certificate chain and its private key (both, or neither: plaintext).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Mutual TLS: PEM CA certificates that sign partners' client certificates. When set, every connection must
    # present a client certificate signed by one of them (grpc's Python server either requires and verifies a
    # client certificate or never asks for one), and the certificate's subject CN names the partner: a signed
    # call whose signing key belongs to another partner is refused (CERTIFICATE_PARTNER_MISMATCH).
    tls_client_ca_file: Path | None = None
    network_currency: str = "EUR"
    # Value of one point in minor units of network_currency (1 point = EUR 0.01 by default).
    point_value_minor: Decimal = Decimal("1")
    ledger_shards: int = 64
    metrics_port: int = 0  # > 0: serve Prometheus /metrics on metrics_address:metrics_port
    metrics_address: str = "127.0.0.1"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line, with request_id and partner_id
    # Idempotency keys (and their stored responses) are kept this long, then purged by housekeeping: a request
    # resent after this window is executed as a new one (protos/SIGNING.md section 4). Never under 24 hours.
    idempotency_retention_seconds: int = IDEMPOTENCY_RETENTION_DEFAULT_SECONDS
    # Members' points are announced to their issuer (points.expiring events) this many days before they expire.
    expiry_warning_days: int = Field(default=30, ge=1, le=365)

    @field_validator("idempotency_retention_seconds")
    @classmethod
    def _retention_at_least_a_day(cls, seconds: int) -> int:
        if seconds < IDEMPOTENCY_RETENTION_MIN_SECONDS:
            raise ValueError(f"COALITION_IDEMPOTENCY_RETENTION_SECONDS is {seconds}: idempotency keys must be kept at "
                             f"least {IDEMPOTENCY_RETENTION_MIN_SECONDS} seconds (24 hours), so that partners' "
                             "retries of a day-old request are still answered from the stored response")
        return seconds

    @model_validator(mode="after")
    def _tls_files_together(self) -> "NetworkSettings":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both COALITION_TLS_CERT_FILE and COALITION_TLS_KEY_FILE, or neither")
        return self

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
