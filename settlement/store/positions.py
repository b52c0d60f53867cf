"""Net positions and carry-overs: a cycle's positions as netting wrote them, the disputed amounts held back and
carried between cycles, and each position's payable amount once payments are planned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import Connection, insert, text

from settlement.domain.netting import CarriedIn, CyclePosition, HeldAmount
from settlement.domain.payment_plan import PositionPlan
from settlement.domain.statements import CarriedAmount
from settlement.models import NetPositionRow

PositionKey = tuple[str, str]  # (partner_id, currency)


def claim_carryovers(conn: Connection, cycle_id: str) -> list[CarriedIn]:
    """Take every amount carried out of an earlier cycle and not yet taken into one into this cycle."""
    return [CarriedIn(r.partner_id, r.currency, int(r.amount_minor)) for r in conn.execute(text(
        "UPDATE carryovers SET into_cycle_id = :c WHERE into_cycle_id IS NULL AND from_cycle_id <> :c "
        "RETURNING partner_id, currency, amount_minor"), {"c": cycle_id})]


def write_positions(conn: Connection, cycle_id: str, positions: Iterable[CyclePosition]) -> None:
    rows = [{"cycle_id": cycle_id, "partner_id": p.partner_id, "currency": p.currency, "net_minor": p.net_minor,
             "carried_in_minor": p.carried_in_minor, "disputed_minor": 0, "written_off_minor": 0, "state": "open"}
            for p in positions]
    if rows:
        conn.execute(insert(NetPositionRow.__table__), rows)


@dataclass(frozen=True)
class PositionRow:
    partner_id: str
    currency: str
    net_minor: int


def positions(conn: Connection, cycle_id: str) -> list[PositionRow]:
    return [PositionRow(r.partner_id, r.currency, int(r.net_minor)) for r in conn.execute(text(
        "SELECT partner_id, currency, net_minor FROM net_positions WHERE cycle_id = :c ORDER BY partner_id, currency"),
        {"c": cycle_id})]


def carried_into(conn: Connection, cycle_id: str) -> dict[PositionKey, list[CarriedAmount]]:
    """The amounts carried into the cycle, per position, as its statements show them."""
    carried: dict[PositionKey, list[CarriedAmount]] = {}
    for r in conn.execute(text("SELECT dispute_id, partner_id, currency, amount_minor FROM carryovers "
                               "WHERE into_cycle_id = :c"), {"c": cycle_id}):
        carried.setdefault((r.partner_id, r.currency), []).append(CarriedAmount(r.dispute_id, int(r.amount_minor)))
    return carried


def _held(conn: Connection, sql: str, cycle_id: str) -> dict[PositionKey, list[HeldAmount]]:
    held: dict[PositionKey, list[HeldAmount]] = {}
    for r in conn.execute(text(sql), {"c": cycle_id}):
        held.setdefault((r.partner_id, r.currency), []).append(HeldAmount(r.dispute_id, int(r.amount_minor), r.outcome))
    return held


def disputed_in(conn: Connection, cycle_id: str) -> dict[PositionKey, list[HeldAmount]]:
    """The cycle's own disputes, per position, with the operator's outcome (None while open)."""
    return _held(conn, "SELECT dispute_id, partner_id, currency, amount_minor, outcome FROM disputes "
                       "WHERE cycle_id = :c", cycle_id)


def held_carried_into(conn: Connection, cycle_id: str) -> dict[PositionKey, list[HeldAmount]]:
    """The amounts carried into the cycle, per position, with their dispute's outcome (None while open)."""
    return _held(conn, "SELECT c.dispute_id, c.partner_id, c.currency, c.amount_minor, d.outcome "
                       "FROM carryovers c JOIN disputes d USING (dispute_id) WHERE c.into_cycle_id = :c", cycle_id)


def set_plan(conn: Connection, cycle_id: str, position: PositionRow, plan: PositionPlan) -> None:
    """The position's payable amount, and the disputed amounts it carries out to the next cycle (once)."""
    settled = plan.settlement
    conn.execute(text("UPDATE net_positions SET payable_minor = :pay, disputed_minor = :held, "
                      "written_off_minor = :off, state = :st WHERE cycle_id = :c AND partner_id = :p "
                      "AND currency = :cur"),
                 {"pay": settled.payable_minor, "held": settled.disputed_minor, "off": settled.written_off_minor,
                  "st": plan.state, "c": cycle_id, "p": position.partner_id, "cur": position.currency})
    for held in settled.carried_out:
        conn.execute(text("INSERT INTO carryovers (dispute_id, from_cycle_id, partner_id, currency, amount_minor) "
                          "VALUES (:d, :c, :p, :cur, :a) ON CONFLICT DO NOTHING"),
                     {"d": held.dispute_id, "c": cycle_id, "p": position.partner_id, "cur": position.currency,
                      "a": held.amount_minor})


def follow_instructions(conn: Connection, cycle_id: str) -> None:
    """A position whose instruction settled or was rejected takes that state."""
    conn.execute(text("UPDATE net_positions n SET state = i.state FROM payment_instructions i "
                      "WHERE i.cycle_id = :c AND n.cycle_id = i.cycle_id AND n.partner_id = i.partner_id "
                      "AND n.currency = i.currency AND i.state IN ('settled','rejected') AND n.state <> i.state"),
                 {"c": cycle_id})
