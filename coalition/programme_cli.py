"""`coalition campaign ...` and `coalition tier ...`: the loyalty programme from the command line (operator actions,
recorded in operator_actions; a refused definition exits 2 with its reason and writes nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from network.core.campaigns import Campaign, Conditions, Effects, Funder, Tier
from network.core.terms import BASIS_POINTS
from network.runtime import operator_transaction
from network.settings import get_settings
from network.store import campaigns as programme

campaign_app = typer.Typer(help="Campaigns: bonus rules with funders, budgets and caps (operator actions, recorded).",
                           no_args_is_help=True)
tier_app = typer.Typer(help="The network-wide tier ladder (operator actions, recorded).", no_args_is_help=True)
console = Console()
OPERATOR = typer.Option("cli", "--operator", help="Who is acting (recorded with the action).")


_funders = programme.parse_funders  # the same parsing as the console's (network.store.campaigns)
_hours = programme.parse_hours


def _utc(value: Optional[datetime]) -> datetime | None:
    return value.astimezone() if value else None


@campaign_app.command("create")
def campaign_create(
    campaign_id: str,
    name: str = typer.Option("", help="Shown on the console (default: the id)."),
    kind: str = typer.Option("earn", help="earn, signup (a member's first enrolment), referral, anniversary "
                                          "(each year on the day the member joined) or birthday (each year on the "
                                          "member's birthday, when its account gave a birth date)."),
    funder: List[str] = typer.Option(..., help="PARTNER[:BASIS_POINTS], repeated for a co-funded campaign; "
                                               "'network' is the network itself as an issuer."),
    partner: List[str] = typer.Option([], help="Earns at these partners only (repeat)."),
    store: List[str] = typer.Option([], help="Earns at these stores only (repeat)."),
    starts_at: Optional[datetime] = typer.Option(None, help="ISO time (UTC); from then on."),
    ends_at: Optional[datetime] = typer.Option(None, help="ISO time (UTC); until then (excluded)."),
    weekday: List[int] = typer.Option([], help="0 = Monday ... 6 = Sunday (repeat)."),
    hours: Optional[str] = typer.Option(None, help="FROM-TO hours of day in UTC, e.g. 17-20 (20 excluded)."),
    min_basket_minor: Optional[int] = typer.Option(None, help="Minimum purchase amount, minor units."),
    tier: List[str] = typer.Option([], help="Members of these tiers only (repeat)."),
    segment: str = typer.Option("", help="new (joined less than --segment-days ago), lapsed (no earn for "
                                         "--segment-days) or birthday (the member's birth month)."),
    segment_days: int = 0,
    category: List[str] = typer.Option([], help="Basket lines of these categories (repeat)."),
    sku: List[str] = typer.Option([], help="Basket lines of these SKUs (repeat)."),
    multiplier_bps: int = typer.Option(0, help="Bonus on base points, basis points: 10000 doubles the points."),
    fixed_points: int = 0,
    cap_points: Optional[int] = typer.Option(None, help="At most this many bonus points per member and period."),
    cap_period: str = typer.Option("campaign", help="campaign, day or month."),
    budget_points: Optional[int] = typer.Option(None, help="Total bonus points; the campaign ends when spent."),
    priority: int = 0,
    exclusive: bool = typer.Option(False, help="Applies alone: beats every stacking campaign."),
    operator: str = OPERATOR,
) -> None:
    """Create a campaign (active at once; its window decides when it applies)."""
    with operator_transaction() as conn:
        definition = Campaign(campaign_id, name or campaign_id, _funders(funder), Conditions(
            tuple(partner), tuple(store), _utc(starts_at), _utc(ends_at), tuple(weekday), _hours(hours),
            min_basket_minor, tuple(tier), segment, segment_days, tuple(category), tuple(sku)),
            Effects(multiplier_bps, fixed_points, cap_points, cap_period), priority, exclusive, budget_points, kind)
        programme.create_campaign(conn, definition, operator, get_settings().network_currency)
    console.print(f"campaign {campaign_id} created")


def _status(campaign_id: str, action: str, operator: str) -> None:
    with operator_transaction() as conn:
        status = programme.set_campaign_status(conn, campaign_id, action, operator)
    console.print(f"campaign {campaign_id} {status}")


@campaign_app.command("pause")
def campaign_pause(campaign_id: str, operator: str = OPERATOR) -> None:
    _status(campaign_id, "pause", operator)


@campaign_app.command("resume")
def campaign_resume(campaign_id: str, operator: str = OPERATOR) -> None:
    _status(campaign_id, "resume", operator)


@campaign_app.command("end")
def campaign_end(campaign_id: str, operator: str = OPERATOR) -> None:
    """End a campaign for good (what it gave stays given)."""
    _status(campaign_id, "end", operator)


@campaign_app.command("list")
def campaign_list() -> None:
    with operator_transaction() as conn:
        rows = programme.list_campaigns(conn)
    table = Table("campaign", "kind", "status", "priority", "exclusive", "funders", "budget", "left", "awarded")
    for r in rows:
        table.add_row(r.campaign_id, r.kind, r.status, str(r.priority), "yes" if r.exclusive else "",
                      r.funders, "" if r.budget_points is None else str(r.budget_points),
                      "" if r.budget_left is None else str(r.budget_left), str(r.awarded_points))
    console.print(table)


@tier_app.command("list")
def tier_list() -> None:
    with operator_transaction() as conn:
        ladder = programme.list_tiers(conn)
    table = Table("tier", "rank", "threshold (qualifying points, 12 months)", "earn multiplier", "cap multiplier")
    for t in ladder:
        table.add_row(t.name, str(t.rank), str(t.threshold_points), f"{t.multiplier_bps / BASIS_POINTS:g}x",
                      f"{t.cap_multiplier_bps / BASIS_POINTS:g}x")
    console.print(table)


@tier_app.command("set")
def tier_set(name: str, rank: int = typer.Option(...), threshold_points: int = typer.Option(...),
             multiplier_bps: int = typer.Option(BASIS_POINTS, help="Earn multiplier: 12500 = x1.25."),
             cap_multiplier_bps: int = typer.Option(BASIS_POINTS, help="Campaign caps multiplied by it."),
             operator: str = OPERATOR) -> None:
    """Add a tier to the ladder or change one."""
    with operator_transaction() as conn:
        programme.set_tier(conn, Tier(name, rank, threshold_points, multiplier_bps, cap_multiplier_bps), operator)
    console.print(f"tier {name} set")
