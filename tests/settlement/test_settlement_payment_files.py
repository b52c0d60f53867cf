"""The ISO 20022 rail chosen by settings writes pain.001 payouts and pain.008 collections for settlement's
instructions (ids, mandates, remittance) that validate against their XSDs; an instruction no SEPA rail can carry
is left out of the submission (checked once per submit, by the rail)."""

from __future__ import annotations

from datetime import date

from network.admin import SepaMandate
from settlement.domain.payment_plan import instruction_id_for
from settlement.payments import instruction_for, make_rail, submit_carriable
from settlement.rails import Iso20022FileRail, PaymentInstruction, SimulatedBank, simulated, validate_payment_file
from settlement.rails.interface import validate_for_sepa
from settlement.store.payments import UnsubmittedInstruction
from settlement.settings import SettlementSettings


def test_settlement_instructions_make_valid_pain_files(tmp_path):
    rail = make_rail(SettlementSettings(data_dir=tmp_path, payment_rail="iso20022"))
    assert isinstance(rail, Iso20022FileRail)
    cycle_id = "cyc-20261123-0000"
    instructions = [instruction_for(cycle_id, UnsubmittedInstruction(
                        instruction_id_for(cycle_id, partner, direction), partner, direction, amount, "EUR",
                        "Acme Coffee", "DE89370400440532013000", None, SepaMandate(f"COAL-{partner}", date(2026, 1, 5))))
                    for partner, direction, amount in (("acme", "payout", 49200), ("rail-co", "collection", 40100))]
    submitted = rail.submit(instructions)
    assert [s.status for s in submitted] == ["submitted", "submitted"]
    assert [s.status for s in rail.submit(instructions)] == ["duplicate", "duplicate"]
    files = sorted((tmp_path / "payments" / "outbox").glob("*.xml"))
    assert sorted(f.name.split(".", 2)[2] for f in files) == ["pain.001.001.09.xml", "pain.008.001.08.xml"]
    for path in files:
        validate_payment_file(path)  # raises unless valid against its XSD
    pain008 = next(f for f in files if f.name.endswith("pain.008.001.08.xml")).read_text()
    assert "<MndtId>COAL-rail-co</MndtId>" in pain008 and "<DtOfSgntr>2026-01-05</DtOfSgntr>" in pain008


def test_a_refused_instruction_is_left_out_and_each_submit_checks_once(tmp_path, monkeypatch):
    checks = []

    def counting(instructions):
        checks.append(len(instructions))
        return validate_for_sepa(instructions)
    monkeypatch.setattr(simulated, "validate_for_sepa", counting)
    cycle_id = "cyc-20261123-0000"

    def instruction(partner: str, iban: str) -> PaymentInstruction:
        return instruction_for(cycle_id, UnsubmittedInstruction(instruction_id_for(cycle_id, partner, "payout"), partner,
                                                                "payout", 100, "EUR", partner, iban, None,
                                                                SepaMandate(f"COAL-{partner}", date(2026, 1, 5))))
    good = [instruction("acme", "DE89370400440532013000"), instruction("zeta", "NL91ABNA0417164300")]
    bad = instruction("broken", "DE89370400440532013001")  # wrong check digits
    bank = SimulatedBank(tmp_path / "bank")
    submitted, refused = submit_carriable(bank, [good[0], bad, good[1]])
    assert [s.instruction_id for s in submitted] == [good[0].instruction_id, good[1].instruction_id]
    assert [(i.partner_id, "DE89370400440532013001" in why) for i, why in refused] == [("broken", True)]
    assert checks == [3, 2]  # the refused submit wrote nothing; the rest went in one more submit
    checks.clear()
    assert [s.status for s in submit_carriable(bank, good)[0]] == ["duplicate", "duplicate"] and checks == [2]
