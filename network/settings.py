"""One settings object for every Coalition process, read from the environment (pydantic-settings)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every variable a Coalition process reads. Unset DATABASE_URL / TEMPORAL_ADDRESS mean embedded servers."""

    model_config = SettingsConfigDict(env_prefix="COALITION_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    temporal_address: str | None = Field(default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS"))
    temporal_namespace: str = "default"
    temporal_task_queue: str = "coalition-settlement"
    data_dir: Path = Path(".coalition")
    grpc_address: str = "127.0.0.1:50051"
    grpc_workers: int = 32
    # Unary earns share commits (group commit); while busy, the writer waits up to this long to fill a commit.
    earn_group_linger_ms: float = 2.0
    grpc_max_message_bytes: int = 4 * 1024 * 1024
    db_pool_size: int = 8
    network_key_file: Path | None = None
    network_currency: str = "EUR"
    # Value of one point in minor units of network_currency (1 point = EUR 0.01 by default).
    point_value_minor: Decimal = Decimal("1")
    ledger_shards: int = 64
    metrics_port: int = 0  # > 0: serve Prometheus /metrics on metrics_address:metrics_port
    metrics_address: str = "127.0.0.1"
    console_port: int = 8501
    console_address: str = "127.0.0.1"
    console_admin_user: str = "operator"
    # scrypt hash "scrypt$<salt hex>$<hash hex>"; empty means the embedded default password "coalition".
    console_admin_password_hash: str = ""
    settlement_period_seconds: int = 86400
    dispute_window_seconds: int = 3600
    payment_rail: str = "simulated"
    log_level: str = "INFO"
    # Operator console (console/): a second local account with the viewer role (empty hash: no such account).
    console_viewer_user: str = "viewer"
    console_viewer_password_hash: str = ""
    # OIDC login (st.login) instead of local accounts, when client id and metadata URL are both set.
    console_oidc_client_id: str = ""
    console_oidc_client_secret: str = ""
    console_oidc_server_metadata_url: str = ""
    console_oidc_redirect_uri: str = "http://127.0.0.1:8501/oauth2callback"
    console_oidc_cookie_secret: str = ""
    # Comma-separated e-mail addresses of OIDC users with the admin role; every other OIDC user is a viewer.
    console_oidc_admins: str = ""
    # Temporal Web UI, for links to a cycle's workflow (the dev server serves it on port 8233).
    console_temporal_ui_url: str = "http://127.0.0.1:8233"
    console_cache_ttl_seconds: int = 10
    console_refresh_seconds: int = 30
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line, with request_id and partner_id
    # `coalition up`: ports of the embedded Temporal dev server it starts when TEMPORAL_ADDRESS is unset.
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    # The demo (`coalition up --demo`, `coalition demo traffic`): members seeded, simulated POS calls per second.
    demo_members: int = 3000
    demo_rate_per_second: float = 8.0

    def resolved_network_key_file(self) -> Path:
        return self.network_key_file or (self.data_dir / "network-key.pem")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
