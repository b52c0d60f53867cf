"""`coalition members serve`: the member portal, a second Streamlit app (console/portal/app.py)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import typer

from console.cli import streamlit_command
from console.settings import get_settings
from network.runtime import database

members_app = typer.Typer(help="Members: their portal; their cards (freeze, unfreeze, replace) and accounts (erase): "
                                "operator actions, recorded.", no_args_is_help=True)
APP = Path(__file__).resolve().parent / "app.py"


@members_app.command("serve")
def serve(address: str = typer.Option(None, help="Listen address (default COALITION_PORTAL_ADDRESS)."),
          port: int = typer.Option(None, help="Port (default COALITION_PORTAL_PORT)."),
          migrate: bool = typer.Option(False, help="Apply database migrations first.")) -> None:
    """Run the member portal: `streamlit run console/portal/app.py`, headless, in a subprocess that inherits the
    environment (DATABASE_URL, or the embedded PostgreSQL in COALITION_DATA_DIR/postgres)."""
    settings = get_settings()
    if migrate:
        with database(settings, run_migrations=True):
            pass
    address, port = address or settings.portal_address, port or settings.portal_port
    typer.echo(f"member portal on http://{address}:{port}")
    process = subprocess.Popen(streamlit_command(address, port, app=APP))

    def forward(signum: int, _frame) -> None:  # stopping `serve` stops the portal with it
        process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        code = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    raise typer.Exit(code)
