"""Operator actions from the console. Each checks the operator's role itself (a viewer is refused here, not only
hidden from buttons) and goes through the domain: network.admin (records who/what/when in operator_actions) or
settlement.control (Temporal and the settlement tables; dispute resolutions are recorded by settlement.cycles).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable, TypeVar

from sqlalchemy import Engine
from temporalio.client import Client

from console.auth import Operator, require_admin
from network import admin
from network.core.campaigns import Campaign, Tier
from network.store import campaigns
from console.settings import ConsoleSettings
from settlement import control

log = logging.getLogger(__name__)
TEMPORAL_CONNECT_SECONDS = 5.0
T = TypeVar("T")


def _as_admin(engine: Engine, operator: Operator, action: Callable[..., T], *args) -> T:
    """`action(conn, operator.name, *args)` (a network.admin function, which records it) in one transaction, for an
    admin operator only."""
    require_admin(operator)
    with engine.begin() as conn:
        return action(conn, operator.name, *args)


def set_partner_status(engine: Engine, operator: Operator, partner_id: str, status: str) -> None:
    _as_admin(engine, operator, admin.set_partner_status, partner_id, status)


def register_key(engine: Engine, operator: Operator, partner_id: str, key_id: str, public_key_b64: str) -> None:
    _as_admin(engine, operator, admin.register_key, partner_id, key_id.strip(), public_key_b64.strip())


def revoke_key(engine: Engine, operator: Operator, key_id: str) -> None:
    _as_admin(engine, operator, admin.revoke_key, key_id)


def temporal_address(settings: ConsoleSettings) -> str:
    return settings.resolved_temporal_address()


async def _connect(settings: ConsoleSettings) -> Client:
    return await asyncio.wait_for(Client.connect(temporal_address(settings), namespace=settings.temporal_namespace),
                                  TEMPORAL_CONNECT_SECONDS)


def start_cycle(engine: Engine, settings: ConsoleSettings, operator: Operator, start: datetime, end: datetime) -> str:
    """Start a settlement cycle over [start, end) by hand (its workflow; the cycle id is the workflow id)."""
    require_admin(operator)
    if start >= end:
        raise ValueError("the period must end after it starts")
    cycle = control.cycle_input(settings, start, end)

    async def run() -> str:
        client = await _connect(settings)
        handle = await control.start_cycle(client, settings, cycle)
        return handle.id

    workflow_id = asyncio.run(run())
    with engine.begin() as conn:
        admin.record(conn, operator.name, "cycle.start", cycle.cycle_id,
                     {"period_start": cycle.period_start, "period_end": cycle.period_end, "workflow_id": workflow_id})
    return workflow_id


def resolve_dispute(engine: Engine, settings: ConsoleSettings, operator: Operator, dispute_id: str, outcome: str,
                    note: str = "") -> str:
    """Through the running cycle's workflow when Temporal answers, else in the database (settlement.control decides)."""
    require_admin(operator)

    async def run() -> str:
        try:
            client = await _connect(settings)
        except (OSError, RuntimeError, asyncio.TimeoutError) as exc:
            log.info("Temporal at %s not reachable (%s): resolving dispute %s in the database",
                     temporal_address(settings), exc, dispute_id)
            client = None
        return await control.resolve_dispute(client, engine, dispute_id, outcome, operator.name, note)

    return asyncio.run(run())


def set_webhook_endpoint_state(engine: Engine, operator: Operator, endpoint_id: str, enabled: bool) -> None:
    _as_admin(engine, operator, admin.set_webhook_endpoint_state, endpoint_id, enabled, "from the console")


def replay_webhook_events(engine: Engine, operator: Operator, endpoint_id: str, first: int, last: int) -> str:
    return _as_admin(engine, operator, admin.replay_webhook_events, endpoint_id, first, last)


def create_campaign(engine: Engine, operator: Operator, campaign: Campaign, currency: str) -> None:
    """Create a campaign (network.store.campaigns: validated as the CLI's, audited)."""
    require_admin(operator)
    with engine.begin() as conn:
        campaigns.create_campaign(conn, campaign, operator.name, currency)


def set_tier(engine: Engine, operator: Operator, tier: Tier) -> None:
    """Add or change a tier of the ladder (network.store.campaigns: validated as the CLI's, audited)."""
    require_admin(operator)
    with engine.begin() as conn:
        campaigns.set_tier(conn, tier, operator.name)


def set_campaign_status(engine: Engine, operator: Operator, campaign_id: str, action: str) -> None:
    """pause, resume or end a campaign (network.store.campaigns: audited)."""
    require_admin(operator)
    with engine.begin() as conn:
        campaigns.set_campaign_status(conn, campaign_id, action, operator.name)

def freeze_member(engine: Engine, operator: Operator, member_id: str, reason: str) -> None:
    _as_admin(engine, operator, admin.freeze_member, member_id, reason)


def unfreeze_member(engine: Engine, operator: Operator, member_id: str) -> None:
    _as_admin(engine, operator, admin.unfreeze_member, member_id)


def freeze_card(engine: Engine, operator: Operator, card_number: str, reason: str) -> None:
    _as_admin(engine, operator, admin.freeze_card, card_number, reason)


def unfreeze_card(engine: Engine, operator: Operator, card_number: str) -> None:
    _as_admin(engine, operator, admin.unfreeze_card, card_number)


def replace_card(engine: Engine, operator: Operator, member_id: str, card_number: str) -> str:
    return _as_admin(engine, operator, admin.replace_card, member_id, card_number)
