"""Who may use the console: local operator accounts (scrypt password hashes from configuration) or OIDC (st.login).

Roles: `viewer` sees, `admin` acts. Pages hide actions from viewers, and every action function in console.actions
checks the role again itself (require_admin), so a viewer's session cannot act even if it reaches the call.

Password hashes: "scrypt$<salt hex>$<hash hex>", hashlib.scrypt with n=2**14, r=8, p=1, 32-byte key, 16-byte salt
(`coalition console hash-password` prints one). With the embedded defaults (DATABASE_URL unset) and no hash
configured, the admin account's password is "coalition"; with a configured database it has none and cannot log in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from console.settings import ConsoleSettings

ADMIN, VIEWER = "admin", "viewer"
ROLES = (VIEWER, ADMIN)
EMBEDDED_DEFAULT_PASSWORD = "coalition"
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_BYTES, SALT_BYTES = 2**14, 8, 1, 32, 16
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True)
class Operator:
    name: str
    role: str
    via: str = "password"  # or "oidc"

    @property
    def can_act(self) -> bool:
        return self.role == ADMIN


class NotAllowed(PermissionError):
    """An operator without the admin role tried to act."""


def require_admin(operator: Operator | None) -> Operator:
    if operator is None or operator.role != ADMIN:
        who = operator.name if operator else "nobody"
        raise NotAllowed(f"{who} has the {operator.role if operator else 'no'} role: only an admin can act")
    return operator


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                          dklen=SCRYPT_KEY_BYTES, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    if not password or len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"a password has 1 to {MAX_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${salt.hex()}${_scrypt(password, salt).hex()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, salt_hex, hash_hex = encoded.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
    except ValueError:
        return False
    if scheme != "scrypt" or not salt or not expected or len(password) > MAX_PASSWORD_CHARS:
        return False
    return hmac.compare_digest(_scrypt(password, salt), expected)


def local_accounts(settings: ConsoleSettings) -> dict[str, tuple[str, str]]:
    """user -> (password hash, role); an account without a usable hash is left out."""
    accounts: dict[str, tuple[str, str]] = {}
    admin_hash = settings.console_admin_password_hash
    if admin_hash or not settings.database_url:  # "" = the embedded default password, checked in authenticate
        accounts[settings.console_admin_user] = (admin_hash, ADMIN)
    if settings.console_viewer_password_hash and settings.console_viewer_user != settings.console_admin_user:
        accounts[settings.console_viewer_user] = (settings.console_viewer_password_hash, VIEWER)
    return accounts


def authenticate(settings: ConsoleSettings, username: str, password: str) -> Operator | None:
    account = local_accounts(settings).get(username.strip())
    if account is None:
        verify_password(password, hash_password("timing"))  # as slow as a wrong password for a known user
        return None
    encoded, role = account
    ok = (hmac.compare_digest(password.encode(), EMBEDDED_DEFAULT_PASSWORD.encode()) if not encoded
          else verify_password(password, encoded))
    return Operator(username.strip(), role) if ok else None


def oidc_configured(settings: ConsoleSettings) -> bool:
    return bool(settings.console_oidc_client_id and settings.console_oidc_server_metadata_url)


def oidc_role(settings: ConsoleSettings, email: str) -> str:
    admins = {a.strip().lower() for a in settings.console_oidc_admins.split(",") if a.strip()}
    return ADMIN if email and email.lower() in admins else VIEWER


def oidc_secrets(settings: ConsoleSettings) -> dict:
    """The [auth] section of Streamlit's secrets.toml that st.login reads (console serve writes it)."""
    return {"auth": {"redirect_uri": settings.console_oidc_redirect_uri,
                     "cookie_secret": settings.console_oidc_cookie_secret or secrets.token_hex(32),
                     "client_id": settings.console_oidc_client_id,
                     "client_secret": settings.console_oidc_client_secret,
                     "server_metadata_url": settings.console_oidc_server_metadata_url}}
