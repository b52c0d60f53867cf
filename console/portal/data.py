"""The portal's data and actions: member accounts (network.store.accounts), the ledger's read models, and the
members' own actions (network.store.credentials, network.store.transfers), each in one database transaction.
Pages call these functions only; none of them holds SQL. The engine is the console's (console.data)."""

from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st

from console import data as console_data
from console.settings import ConsoleSettings
from network.core.campaigns import Progress
from network.core.results import Balance
from network.mail import mailer_from_settings
from network.store import credentials, read_models, transfers
from network.store.accounts import Accounts, build_accounts
from network.store.ledger import Ledger, build_ledger


def settings() -> ConsoleSettings:
    return console_data.settings()


@st.cache_resource(show_spinner=False)
def _accounts(data_dir: str, database_url: str | None) -> Accounts:
    s = settings()
    return build_accounts(console_data.engine(), s, mailer_from_settings(s))


def accounts() -> Accounts:
    s = settings()
    return _accounts(str(s.data_dir), s.database_url)


def ledger() -> Ledger:
    return build_ledger(console_data.engine(), settings())


def balance(member_id: str) -> Balance:
    with console_data.engine().connect() as conn:
        return ledger().member_balance(conn, uuid.UUID(member_id))


def expiring(member_ids: list[str], within_days: int = 30) -> pd.DataFrame:
    """The points of these cards expiring within `within_days` days, by issuer and date, soonest first."""
    with console_data.engine().connect() as conn:
        return read_models.member_expiring(conn, member_ids, within_days, console_data.now())


def tier(member_id: str) -> Progress:
    """The card's tier (held or reached by its qualifying points of 12 months) and what the next one needs."""
    with console_data.engine().connect() as conn:
        return ledger().tier_progress(conn, member_id)


def history(member_ids: list[str]) -> pd.DataFrame:
    with console_data.engine().connect() as conn:
        return read_models.member_statement(conn, member_ids)


def where_to_spend() -> pd.DataFrame:
    with console_data.engine().connect() as conn:
        return read_models.redemption_partners(conn, console_data.now())


def charities() -> list[tuple[str, str]]:
    with console_data.engine().connect() as conn:
        return read_models.charity_partners(conn)


def security(member_id: str) -> credentials.MemberSecurity:
    with console_data.engine().connect() as conn:
        return credentials.member_security(conn, member_id)


def set_pin(member_id: str, pin: str) -> None:
    with console_data.engine().begin() as conn:
        credentials.set_pin(conn, member_id, pin)


def redemption_code(member_id: str, max_points: int) -> str:
    with console_data.engine().begin() as conn:
        return credentials.issue_redemption_code(conn, member_id, max_points)


def freeze_card(card_number: str, actor: str) -> None:
    with console_data.engine().begin() as conn:
        credentials.freeze_card(conn, card_number, actor, "frozen by the member in the portal")


def unfreeze_card(card_number: str, actor: str) -> None:
    with console_data.engine().begin() as conn:
        credentials.unfreeze_card(conn, card_number, actor, "unfrozen by the member in the portal")


def replace_card(member_id: str, card_number: str, actor: str) -> str:
    with console_data.engine().begin() as conn:
        return credentials.replace_card(conn, member_id, card_number, actor)


def transfer(member_id: str, to: str, points: int, idempotency_key: str) -> transfers.TransferResult:
    return transfers.transfer_points(console_data.engine(), member_id, to, points, idempotency_key,
                                     settings=settings())


def donate(member_id: str, charity_id: str, points: int, idempotency_key: str) -> transfers.TransferResult:
    return transfers.donate_points(console_data.engine(), member_id, charity_id, points, idempotency_key,
                                   settings=settings())


def notifications(member_id: str) -> list[transfers.Notification]:
    with console_data.engine().connect() as conn:
        page = transfers.member_notifications(conn, member_id, after=0, limit=200)
    return list(reversed(page))
