"""The console's access rules, money formatting and CLI, without a database or a browser."""

from __future__ import annotations

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from console import auth
from console.auth import NotAllowed, Operator
from console.cli import console_app, streamlit_command, write_oidc_secrets
from console.money import format_money, format_ratio, to_major
from console.settings import ConsoleSettings


def test_scrypt_hash_round_trip_and_refusals():
    encoded = auth.hash_password("s3cret")
    scheme, salt, key = encoded.split("$")
    assert scheme == "scrypt" and len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(key)) == 32
    assert auth.verify_password("s3cret", encoded)
    assert not auth.verify_password("s3cret ", encoded)
    assert auth.hash_password("s3cret") != encoded  # salted
    for broken in ("", "scrypt$zz$00", "bcrypt$00$00", encoded + "$x", "scrypt$$"):
        assert not auth.verify_password("s3cret", broken)
    with pytest.raises(ValueError):
        auth.hash_password("")


def test_accounts_and_roles_from_configuration():
    settings = ConsoleSettings(database_url="postgresql://db/x", console_admin_user="ada",
                               console_admin_password_hash=auth.hash_password("a-pw"), console_viewer_user="vic",
                               console_viewer_password_hash=auth.hash_password("v-pw"))
    assert auth.authenticate(settings, "ada", "a-pw") == Operator("ada", auth.ADMIN)
    assert auth.authenticate(settings, "vic", "v-pw") == Operator("vic", auth.VIEWER)
    assert auth.authenticate(settings, "vic", "a-pw") is None
    assert auth.authenticate(settings, "eve", "a-pw") is None
    assert not Operator("vic", auth.VIEWER).can_act and Operator("ada", auth.ADMIN).can_act


def test_the_default_password_exists_only_with_the_embedded_database():
    embedded = ConsoleSettings(database_url=None, console_admin_password_hash="")
    assert auth.authenticate(embedded, embedded.console_admin_user, "coalition").role == auth.ADMIN
    configured = ConsoleSettings(database_url="postgresql://db/x", console_admin_password_hash="")
    assert auth.authenticate(configured, configured.console_admin_user, "coalition") is None
    assert auth.local_accounts(configured) == {}


def test_require_admin_refuses_viewers_and_nobody():
    assert auth.require_admin(Operator("ada", auth.ADMIN)).name == "ada"
    for operator in (Operator("vic", auth.VIEWER), None):
        with pytest.raises(NotAllowed):
            auth.require_admin(operator)


def test_oidc_roles_and_secrets(tmp_path):
    settings = ConsoleSettings(console_oidc_client_id="console",
                               console_oidc_server_metadata_url="https://idp/.well-known/x",
                               console_oidc_admins="Ada@Example.org, bob@example.org",
                               console_oidc_cookie_secret="c" * 32)
    assert auth.oidc_configured(settings) and not auth.oidc_configured(ConsoleSettings())
    assert auth.oidc_role(settings, "ada@example.org") == auth.ADMIN
    assert auth.oidc_role(settings, "eve@example.org") == auth.VIEWER
    path = write_oidc_secrets(tmp_path / "secrets.toml", auth.oidc_secrets(settings))
    import tomllib

    assert tomllib.loads(path.read_text())["auth"]["client_id"] == "console"
    assert path.stat().st_mode & 0o777 == 0o600


def test_money_is_shown_from_integer_minor_units():
    assert to_major(123456789012345678, "EUR") == Decimal("1234567890123456.78")
    assert format_money(-5, "EUR") == "EUR -0.05"
    assert format_money(123456, "EUR") == "EUR 1,234.56"
    assert format_money(None, "EUR") == "-"
    assert format_ratio(Decimal(4) / Decimal(5)) == "80.0 %"


def test_cli_hash_password_and_serve_command():
    result = CliRunner().invoke(console_app, ["hash-password"], input="pw-1\npw-1\n")
    assert result.exit_code == 0, result.output
    assert auth.verify_password("pw-1", result.output.strip().splitlines()[-1])
    command = streamlit_command("0.0.0.0", 8600)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("console/app.py")
    assert {"--server.headless=true", "--server.address=0.0.0.0", "--server.port=8600"} <= set(command)
