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
    # Member accounts (network.store.accounts). Personal data is encrypted with a key per member, each wrapped by
    # this master key (32 random bytes, base64 in the file); unset: <data_dir>/member-master-key, generated on
    # first use (readable by its owner only). The e-mail lookup hash's key is derived from it.
    member_master_key_file: Path | None = None
    # The activation code EnrollMember returns (printed on the receipt): single use, valid this long.
    member_activation_code_ttl_seconds: int = 30 * 86400
    # Login codes e-mailed to members: valid this long, this many wrong tries.
    member_login_code_ttl_seconds: int = 600
    member_login_code_max_attempts: int = 5
    # Rate limits per e-mail address and per member account, over a sliding window: code requests, code tries.
    member_login_window_seconds: int = 3600
    member_login_requests_per_address: int = 5
    member_login_requests_per_member: int = 5
    member_login_attempts_per_address: int = 10
    member_login_attempts_per_member: int = 10
    # A member's portal session ends this long after login (or at logout).
    member_session_seconds: int = 8 * 3600
    # Outgoing mail (login codes, notices). No SMTP host: messages are written as .eml files to the outbox
    # directory (unset: <data_dir>/outbox), which `coalition up` names and the console shows.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "Coalition <no-reply@coalition.local>"
    mail_outbox_dir: Path | None = None
    # Spending PINs: scrypt (hashlib, OpenSSL) with these cost parameters, a 16-byte salt per member. Each PIN keeps
    # the parameters it was hashed with, so changing them affects new PINs only. N=2^14, r=8, p=1 takes about
    # 16 MiB and some tens of milliseconds per verification: slow for a guesser, quick enough for a till.
    pin_scrypt_n: int = 2**14
    pin_scrypt_r: int = 8
    pin_scrypt_p: int = 1
    # This many wrong PINs or codes in a row lock the member's verified spending this long, at every partner.
    pin_max_failures: int = 5
    pin_lock_seconds: int = 15 * 60
    # A one-time redemption code (member portal) is valid this long.
    redemption_code_seconds: int = 5 * 60
    # Velocity limits on spends (Redeem and AuthorizeRedemption): per member per rolling hour and day, per partner
    # per rolling minute. 0: no limit.
    member_spends_per_hour: int = 30
    member_spends_per_day: int = 100
    partner_redemptions_per_minute: int = 6000
    # Member-to-member transfers (network.core.transfers): the smallest transfer in points, the points a member may
    # send per UTC day and per UTC month, and the transfers a member may send per UTC day (velocity); 0: no limit
    # (except the minimum, always at least 1).
    transfer_min_points: int = Field(default=100, ge=1)
    transfer_max_points_per_day: int = Field(default=50_000, ge=0)
    transfer_max_points_per_month: int = Field(default=200_000, ge=0)
    transfer_max_per_day: int = Field(default=10, ge=0)
    # Webhooks (Standard Webhooks over Temporal: `coalition webhooks worker`). Plain http endpoints are refused
    # unless this is on, and then only to localhost / 127.0.0.1 / ::1 (tests and development).
    webhook_allow_http_localhost: bool = False
    webhook_task_queue: str = "coalition-webhooks"
    # The retry schedule of one event: the first retry after webhook_retry_initial_seconds, each wait
    # webhook_retry_backoff times the one before, at most webhook_retry_max_interval_seconds, no attempt starting
    # later than webhook_retry_horizon_seconds after the first (3 days); then the endpoint is disabled with an
    # operator alert.
    webhook_retry_initial_seconds: float = 5.0
    webhook_retry_backoff: float = 2.0
    webhook_retry_max_interval_seconds: float = 6 * 3600.0
    webhook_retry_horizon_seconds: float = 3 * 86400.0
    webhook_timeout_seconds: float = 10.0  # one POST, connecting included
    # The dispatcher looks for endpoints with undelivered events at least this often (NOTIFY wakes it sooner).
    webhook_dispatch_poll_seconds: float = 10.0
    # Bench knob only: off, the ledger writes no partner events (the outbox statement is left out) so that
    # `coalition bench earn` can compare the earn rate with and without it. Never turn it off in production.
    outbox_enabled: bool = True
    # Members' points are announced to their issuer (points.expiring events) this many days before they expire.
    expiry_warning_days: int = Field(default=30, ge=1, le=365)
    # The members' security records (login events and codes, portal sessions, wrong PINs and codes, one-time
    # redemption codes) are deleted by housekeeping this many days after they happened or expired
    # (network.store.retention). At least 8: the console's anomaly flags look back 7 days over windows of up to a day.
    member_records_retention_days: int = Field(default=90, ge=8, le=3650)

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

    def resolved_member_master_key_file(self) -> Path:
        return self.member_master_key_file or (self.data_dir / "member-master-key")

    def resolved_mail_outbox_dir(self) -> Path:
        return self.mail_outbox_dir or (self.data_dir / "outbox")


Settings = NetworkSettings  # the name network's modules annotate with

SettingsKind = TypeVar("SettingsKind", bound=BaseSettings)


@lru_cache(maxsize=None)
def from_environment(kind: type[SettingsKind]) -> SettingsKind:
    """`kind` read from the environment once per process; `from_environment.cache_clear()` forgets every kind."""
    return kind()


def get_settings() -> NetworkSettings:
    return from_environment(NetworkSettings)
