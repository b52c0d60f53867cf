"""`coalition members serve`: the member portal, a second Streamlit app (console/portal/app.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from console.cli import run_streamlit, streamlit_command
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
    run_streamlit(streamlit_command(address, port, app=APP))
