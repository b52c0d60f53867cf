"""Each partner's SEPA mandate (id and signature date) is on its partner record, set by `coalition partner
create/update`, and collections are made under it (no placeholder)."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from settlement import cycles
from settlement.domain.payment_plan import instruction_id_for
from settlement.payments import submit_payments
from settlement.rails.interface import Submission


def mandate_of(engine, partner_id: str):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT sepa_mandate_id, sepa_mandate_signed_on FROM partners WHERE partner_id = :p"),
                           {"p": partner_id}).one()
    return tuple(row)


def test_the_mandate_is_set_by_partner_create_and_update(cli, engine):
    partner = f"mdt-{uuid.uuid4().hex[:6]}"
    created = cli("partner", "create", partner, "Mandated", "--iban", "DE89370400440532013000",
                  "--mandate-id", "MDT-2026-0001", "--mandate-signed-on", "2026-01-05")
    assert created.exit_code == 0, created.output
    assert mandate_of(engine, partner) == ("MDT-2026-0001", date(2026, 1, 5))
    updated = cli("partner", "update", partner, "--mandate-id", "MDT-2026-0002", "--mandate-signed-on", "2026-02-01")
    assert updated.exit_code == 0, updated.output
    assert mandate_of(engine, partner) == ("MDT-2026-0002", date(2026, 2, 1))
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM operator_actions WHERE subject = :p ORDER BY action_id"),
                               {"p": partner}).scalars().all()
    assert actions == ["partner.create", "partner.update"]


def test_a_bad_mandate_is_refused_and_writes_nothing(cli, engine):
    partner = f"mdt-{uuid.uuid4().hex[:6]}"
    assert cli("partner", "create", partner, "Plain").exit_code == 0
    assert mandate_of(engine, partner) == (None, None)
    half = cli("partner", "update", partner, "--mandate-id", "MDT-1")
    assert half.exit_code == 2 and "together" in half.output
    bad = cli("partner", "update", partner, "--mandate-id", "MDT#1", "--mandate-signed-on", "2026-01-05")
    assert bad.exit_code == 2 and "mandate_id" in bad.output
    future = (datetime.now(timezone.utc) + timedelta(days=3)).date().isoformat()
    later = cli("partner", "update", partner, "--mandate-id", "MDT-1", "--mandate-signed-on", future)
    assert later.exit_code == 2 and "mandate_signed_on" in later.output
    assert mandate_of(engine, partner) == (None, None)


class RecordingRail:
    """The bank, recorded (the outside world): it accepts what it is handed."""

    def __init__(self):
        self.submitted = []

    def submit(self, instructions):
        self.submitted.extend(instructions)
        return [Submission(i.instruction_id, "submitted", f"ref-{i.instruction_id}") for i in instructions]


def test_collections_are_made_under_the_mandate_on_record(cli, engine):
    with_mandate, without = (f"mdt-{uuid.uuid4().hex[:6]}" for _ in range(2))
    assert cli("partner", "create", with_mandate, "With", "--iban", "DE89370400440532013000",
               "--mandate-id", "MDT-ON-RECORD", "--mandate-signed-on", "2025-11-03").exit_code == 0
    assert cli("partner", "create", without, "Without", "--iban", "DE89370400440532013000").exit_code == 0
    start = datetime(1971, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=random.randrange(500_000))
    cycle_id = cycles.cycle_id_for(start)
    with engine.begin() as conn:
        cycles.open_cycle(conn, cycle_id, start, start + timedelta(seconds=1), cycle_id, "EUR")
        for partner in (with_mandate, without):
            conn.execute(text("INSERT INTO payment_instructions (instruction_id, cycle_id, partner_id, direction, "
                              "amount_minor, currency, state) "
                              "VALUES (:i, :c, :p, 'collection', 100, 'EUR', 'created')"),
                         {"i": instruction_id_for(cycle_id, partner, "collection"), "c": cycle_id, "p": partner})
    rail = RecordingRail()
    outcome = submit_payments(engine, rail, cycle_id)
    assert [(i.partner_id, i.mandate_id, i.mandate_signed_on) for i in rail.submitted] == [
        (with_mandate, "MDT-ON-RECORD", date(2025, 11, 3))]
    assert outcome.submitted == 1 and len(outcome.failed) == 1 and outcome.failed[0].startswith(f"{without}: ")
    assert "mandate" in outcome.failed[0]
