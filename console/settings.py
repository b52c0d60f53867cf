"""The operator console's settings: where it listens, its accounts or OIDC login, its caches."""

from __future__ import annotations

from network.settings import from_environment
from settlement.settings import SettlementSettings


class ConsoleSettings(SettlementSettings):
    """Settlement's settings (the console reads the network and starts cycles) plus the console's."""

    console_port: int = 8501
    console_address: str = "127.0.0.1"
    console_admin_user: str = "operator"
    # scrypt hash "scrypt$<salt hex>$<hash hex>"; empty means the embedded default password "coalition".
    console_admin_password_hash: str = ""
    # A second local account with the viewer role (empty hash: no such account).
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
    # The member portal (`coalition members serve`, console/portal/): where it listens.
    portal_port: int = 8502
    portal_address: str = "127.0.0.1"


def get_settings() -> ConsoleSettings:
    return from_environment(ConsoleSettings)
