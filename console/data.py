"""The console's data: settings, the engine (one per process, st.cache_resource) and the read models of
network.store.read_models and settlement.read_models, cached with a short TTL (settings.console_cache_ttl_seconds).

Pages call these functions only; none of them holds SQL. After an action, `forget()` drops the cached figures.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from network.store import programme_reads, tiers
from network.store import credentials
from network.store import read_models as network_reads
from network.store import webhooks as webhook_store
from network.database import make_engine, require_migrated, resolve_database_url
from network.store.ledger import build_ledger
from network.store import transfers as transfer_reads
from network.core.results import Balance
from console.settings import ConsoleSettings, get_settings
from settlement import read_models as settlement_reads

TTL = get_settings().console_cache_ttl_seconds
ANOMALY_THRESHOLDS = transfer_reads.ANOMALY_THRESHOLDS


def settings() -> ConsoleSettings:
    return get_settings()


@st.cache_resource(show_spinner="Connecting to the database")
def _engine(database_url: str | None, data_dir: str, pool_size: int) -> tuple[Engine, object]:
    """DATABASE_URL, or the embedded PostgreSQL in data_dir/postgres (started or attached, as network.runtime does)."""
    url, embedded = resolve_database_url(settings())
    engine = make_engine(url, pool_size)
    require_migrated(engine)
    return engine, embedded  # the embedded server handle lives as long as the process


def engine() -> Engine:
    s = settings()
    return _engine(s.database_url, str(s.data_dir), min(s.db_pool_size, 4))[0]


def now() -> datetime:
    return datetime.now(timezone.utc)


def forget() -> None:
    """Drop every cached figure (after an operator action, so the next render reads the database)."""
    st.cache_data.clear()


# --- network ------------------------------------------------------------------------------------------------------

@st.cache_data(ttl=TTL, show_spinner=False)
def network_totals() -> network_reads.NetworkTotals:
    s = settings()
    with engine().connect() as conn:
        return network_reads.network_totals(conn, s.point_value_minor, s.network_currency)


@st.cache_data(ttl=TTL, show_spinner=False)
def flows_over_time(since: datetime, until: datetime, bucket: str) -> pd.DataFrame:
    with engine().connect() as conn:
        return network_reads.flows_over_time(conn, since, until, bucket)


@st.cache_data(ttl=TTL, show_spinner=False)
def partner_positions() -> list[network_reads.PartnerPosition]:
    with engine().connect() as conn:
        return network_reads.partner_positions(conn, settings().point_value_minor, now())


@st.cache_data(ttl=TTL, show_spinner=False)
def partner(partner_id: str) -> network_reads.PartnerView | None:
    with engine().connect() as conn:
        return network_reads.partner(conn, partner_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def contract_history(partner_id: str) -> pd.DataFrame:
    with engine().connect() as conn:
        return network_reads.contract_history(conn, partner_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def partner_keys(partner_id: str) -> pd.DataFrame:
    with engine().connect() as conn:
        return network_reads.partner_keys(conn, partner_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def recent_transactions(partner_id: str, limit: int = 50) -> pd.DataFrame:
    with engine().connect() as conn:
        return network_reads.recent_transactions(conn, partner_id, limit)


@st.cache_data(ttl=TTL, show_spinner=False)
def ledger_matrix(start: datetime, end: datetime) -> list[network_reads.MatrixCell]:
    with engine().connect() as conn:
        return network_reads.clearing_matrix(conn, start, end)


@st.cache_data(ttl=TTL, show_spinner=False)
def find_member(query: str) -> network_reads.MemberView | None:
    with engine().connect() as conn:
        return network_reads.find_member(conn, query)


def member_security(member_id: str) -> credentials.MemberSecurity:
    """Not cached: a freeze shows at once (the spend path reads it from the database too)."""
    with engine().connect() as conn:
        return credentials.member_security(conn, member_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def member_balance(member_id: str) -> Balance:
    with engine().connect() as conn:
        return build_ledger(engine(), settings()).member_balance(conn, uuid.UUID(member_id))


@st.cache_data(ttl=TTL, show_spinner=False)
def member_lots(member_id: str) -> pd.DataFrame:
    with engine().connect() as conn:
        return network_reads.member_lots(conn, member_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def member_history(member_id: str) -> pd.DataFrame:
    with engine().connect() as conn:
        return network_reads.member_history(conn, member_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def member_notifications(member_id: str) -> pd.DataFrame:
    """The member's outbox (transfers sent and received, donations), newest first."""
    with engine().connect() as conn:
        notes = transfer_reads.member_notifications(conn, member_id, limit=transfer_reads.MAX_NOTIFICATIONS_PAGE)
    return pd.DataFrame([(n.seq, n.created_at, n.type, n.detail.get("points"), n.transfer_id) for n in reversed(notes)],
                        columns=["seq", "created_at", "type", "points", "transfer_id"])


@st.cache_data(ttl=TTL, show_spinner=False)
def anomaly_flags() -> pd.DataFrame:
    """Members flagged within the lookback (network.store.transfers.anomaly_flags), most recent first."""
    since = now() - transfer_reads.ANOMALY_THRESHOLDS.lookback
    with engine().connect() as conn:
        flags = transfer_reads.anomaly_flags(conn, since)
    return pd.DataFrame([tuple(f) for f in flags], columns=list(transfer_reads.AnomalyFlag._fields))


@st.cache_data(ttl=TTL, show_spinner=False)
def operator_actions(limit: int, operator: str, action: str) -> pd.DataFrame:
    with engine().connect() as conn:
        return network_reads.operator_actions(conn, limit, operator, action)


# --- settlement ---------------------------------------------------------------------------------------------------

@st.cache_data(ttl=TTL, show_spinner=False)
def cycles() -> pd.DataFrame:
    with engine().connect() as conn:
        return settlement_reads.cycles(conn)


@st.cache_data(ttl=TTL, show_spinner=False)
def settlement_glance() -> settlement_reads.SettlementGlance:
    with engine().connect() as conn:
        return settlement_reads.glance(conn)


@st.cache_data(ttl=TTL, show_spinner=False)
def current_positions() -> tuple[str | None, pd.DataFrame]:
    """The newest netted cycle and its net positions."""
    with engine().connect() as conn:
        cycle_id = settlement_reads.current_cycle_id(conn)
        positions = settlement_reads.net_positions(conn, cycle_id) if cycle_id else pd.DataFrame()
        return cycle_id, positions


@st.cache_data(ttl=TTL, show_spinner=False)
def cycle_detail(cycle_id: str) -> dict[str, pd.DataFrame]:
    with engine().connect() as conn:
        return {"positions": settlement_reads.net_positions(conn, cycle_id),
                "statements": settlement_reads.statements(conn, cycle_id),
                "disputes": settlement_reads.disputes(conn, cycle_id),
                "payments": settlement_reads.payment_instructions(conn, cycle_id),
                "events": settlement_reads.events(conn, cycle_id)}


@st.cache_data(ttl=TTL, show_spinner=False)
def open_disputes() -> pd.DataFrame:
    with engine().connect() as conn:
        return settlement_reads.disputes(conn, state="open")


@st.cache_data(ttl=TTL, show_spinner=False)
def cycle_matrix(cycle_id: str) -> list[settlement_reads.ClearedCell]:
    with engine().connect() as conn:
        return settlement_reads.clearing_matrix(conn, cycle_id)


# --- webhooks -----------------------------------------------------------------------------------------------------

@st.cache_data(ttl=TTL, show_spinner=False)
def webhook_endpoints() -> pd.DataFrame:
    """Every partner's webhook endpoints (the secret left out)."""
    with engine().connect() as conn:
        found = webhook_store.endpoints(conn)
    return pd.DataFrame([{
        "endpoint": e.endpoint_id, "partner": e.partner_id, "url": e.url, "events": ", ".join(e.event_types) or "all",
        "enabled": e.enabled, "delivered through": e.delivered_through, "alert": e.alert or "",
        "disabled reason": e.disabled_reason or "", "updated": e.updated_at} for e in found],
        columns=["endpoint", "partner", "url", "events", "enabled", "delivered through", "alert", "disabled reason",
                 "updated"])


@st.cache_data(ttl=TTL, show_spinner=False)
def webhook_deliveries(endpoint_id: str, limit: int) -> pd.DataFrame:
    """The delivery log (one endpoint's, or all: endpoint_id empty), newest attempt first."""
    with engine().connect() as conn:
        found = webhook_store.deliveries(conn, endpoint_id=endpoint_id or None, limit=limit)
    return pd.DataFrame([{
        "at": d.attempted_at, "endpoint": d.endpoint_id, "partner": d.partner_id, "event": d.seq,
        "attempt": d.attempt, "replay": d.replay, "delivered": d.delivered, "status": d.status_code,
        "error": d.error or "", "latency ms": d.latency_ms} for d in found],
        columns=["at", "endpoint", "partner", "event", "attempt", "replay", "delivered", "status", "error",
                 "latency ms"])

# --- the loyalty programme ---------------------------------------------------------------------------------------

@st.cache_data(ttl=TTL, show_spinner=False)
def tier_ladder() -> pd.DataFrame:
    with engine().connect() as conn:
        return programme_reads.tier_counts(conn)


@st.cache_data(ttl=TTL, show_spinner=False)
def tier_changes(limit: int = 200) -> pd.DataFrame:
    with engine().connect() as conn:
        return tiers.tier_history(conn, limit=limit)


@st.cache_data(ttl=TTL, show_spinner=False)
def campaigns() -> pd.DataFrame:
    with engine().connect() as conn:
        return programme_reads.campaign_burn(conn)


@st.cache_data(ttl=TTL, show_spinner=False)
def bonus_by_day(since: datetime) -> pd.DataFrame:
    with engine().connect() as conn:
        return programme_reads.bonus_by_day(conn, since)


@st.cache_data(ttl=TTL, show_spinner=False)
def bonus_cost_by_funder() -> pd.DataFrame:
    with engine().connect() as conn:
        return programme_reads.bonus_cost_by_funder(conn, settings().point_value_minor)
