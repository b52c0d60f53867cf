"""`coalition console ...`: serve the operator console, make password hashes for its local accounts."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import typer

from console import auth
from network.runtime import database
from console.settings import get_settings

console_app = typer.Typer(help="The operator console (Streamlit).", no_args_is_help=True)
APP = Path(__file__).resolve().parent / "app.py"


def streamlit_command(address: str, port: int, secrets_file: Path | None = None, app: Path = APP) -> list[str]:
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless=true",
               f"--server.address={address}", f"--server.port={port}", "--browser.gatherUsageStats=false",
               "--server.fileWatcherType=none", "--client.toolbarMode=minimal"]
    if secrets_file is not None:
        command.append(f"--secrets.files={secrets_file}")
    return command


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_oidc_secrets(path: Path, section: dict) -> Path:
    """Streamlit reads st.login's provider from a secrets.toml: write the [auth] section there, readable by us only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["[auth]"] + [f"{key} = {_toml_string(str(value))}" for key, value in section["auth"].items()]
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


@console_app.command("serve")
def serve(address: str = typer.Option(None, help="Listen address (default COALITION_CONSOLE_ADDRESS)."),
          port: int = typer.Option(None, help="Port (default COALITION_CONSOLE_PORT)."),
          migrate: bool = typer.Option(False, help="Apply database migrations first.")) -> None:
    """Run the console: `streamlit run console/app.py`, headless, in a subprocess that inherits the environment
    (DATABASE_URL, or the embedded PostgreSQL in COALITION_DATA_DIR/postgres)."""
    settings = get_settings()
    if migrate:
        with database(settings, run_migrations=True):
            pass
    secrets_file = None
    if auth.oidc_configured(settings):
        from streamlit.auth_util import is_authlib_installed

        if not is_authlib_installed():
            typer.echo("OIDC login is configured but Authlib (>= 1.3.2) is not installed: st.login needs it.", err=True)
            raise typer.Exit(2)
        secrets_file = write_oidc_secrets(Path(settings.data_dir) / "console" / "secrets.toml",
                                          auth.oidc_secrets(settings))
    address, port = address or settings.console_address, port or settings.console_port
    typer.echo(f"console on http://{address}:{port}")
    run_streamlit(streamlit_command(address, port, secrets_file))


def run_streamlit(command: list[str]) -> None:
    """Run a Streamlit app in a subprocess until it exits, and exit with its code; stopping `serve` (SIGTERM,
    SIGINT, SIGHUP) stops the app with it."""
    process = subprocess.Popen(command)

    def forward(signum: int, _frame) -> None:
        process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        code = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    raise typer.Exit(code)


@console_app.command("hash-password")
def hash_password(password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                               help="The password (prompted when left out).")) -> None:
    """Print an scrypt hash for COALITION_CONSOLE_ADMIN_PASSWORD_HASH / COALITION_CONSOLE_VIEWER_PASSWORD_HASH."""
    try:
        typer.echo(auth.hash_password(password))
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
