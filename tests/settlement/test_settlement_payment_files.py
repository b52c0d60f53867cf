"""The ISO 20022 rail chosen by settings writes pain.001 payouts and pain.008 collections for settlement's
instructions (ids, mandates, remittance) that validate against their XSDs."""

from __future__ import annotations

from datetime import date

from network.settings import Settings
from settlement.domain.payment_plan import instruction_id_for
from settlement.payments import instruction_for, make_rail
from settlement.rails import Iso20022FileRail, validate_payment_file
from settlement.store.payments import UnsubmittedInstruction


def test_settlement_instructions_make_valid_pain_files(tmp_path):
    rail = make_rail(Settings(data_dir=tmp_path, payment_rail="iso20022"))
    assert isinstance(rail, Iso20022FileRail)
    cycle_id = "cyc-20261123-0000"
    instructions = [instruction_for(cycle_id, UnsubmittedInstruction(
                        instruction_id_for(cycle_id, partner, direction), partner, direction, amount, "EUR",
                        "Acme Coffee", "DE89370400440532013000", None, date(2026, 1, 5)))
                    for partner, direction, amount in (("acme", "payout", 49200), ("rail-co", "collection", 40100))]
    submitted = rail.submit(instructions)
    assert [s.status for s in submitted] == ["submitted", "submitted"]
    assert [s.status for s in rail.submit(instructions)] == ["duplicate", "duplicate"]
    files = sorted((tmp_path / "payments" / "outbox").glob("*.xml"))
    assert sorted(f.name.split(".", 2)[2] for f in files) == ["pain.001.001.09.xml", "pain.008.001.08.xml"]
    for path in files:
        validate_payment_file(path)  # raises unless valid against its XSD
