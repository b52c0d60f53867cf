"""Payment rails: pain.001/pain.008 files valid against the ISO 20022 XSDs with exact amounts, camt.054
confirmations read back, and no instruction paid twice, by the file rail or the simulated bank, across restarts."""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.rails import (
    MAX_SEPA_AMOUNT_MINOR,
    Account,
    Confirmation,
    InvalidAccount,
    InvalidInstruction,
    Iso20022FileRail,
    PaymentInstruction,
    PaymentRail,
    RailError,
    RailUnavailable,
    SimulatedBank,
    Submission,
    validate_bic,
    validate_iban,
    validate_payment_file,
    write_camt054,
)
from settlement.rails.journal import Journal

NETWORK = Account("Coalition Network", "DE89370400440532013000", "COBADEFFXXX")
CREDITOR_ID = "DE98ZZZ09999999999"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
CYCLE = "cycle-2026-03-01"
PARTNER_ACCOUNTS = {
    "p1": Account("Bakery One", "NL91ABNA0417164300", None),
    "p2": Account("Café Deux", "FR1420041010050500013M02606", "BNPAFRPP"),
    "p3": Account("Shop Three", "AT611904300234573201", None),
    "p4": Account("Store Four", "BE68539007547034", None),
}


def payout(partner: str, amount_minor: int, cycle: str = CYCLE) -> PaymentInstruction:
    return PaymentInstruction(
        instruction_id=f"{cycle}-{partner}-payout",
        cycle_id=cycle,
        partner_id=partner,
        direction="payout",
        amount_minor=amount_minor,
        currency="EUR",
        counterparty=PARTNER_ACCOUNTS[partner],
        remittance=f"Coalition settlement {cycle} payout {partner}",
    )


def collection(partner: str, amount_minor: int, cycle: str = CYCLE) -> PaymentInstruction:
    return PaymentInstruction(
        instruction_id=f"{cycle}-{partner}-collection",
        cycle_id=cycle,
        partner_id=partner,
        direction="collection",
        amount_minor=amount_minor,
        currency="EUR",
        counterparty=PARTNER_ACCOUNTS[partner],
        remittance=f"Coalition settlement {cycle} collection {partner}",
        mandate_id=f"COAL-{partner.upper()}-1",
        mandate_signed_on=date(2025, 11, 3),
    )


def file_rail(base: Path) -> Iso20022FileRail:
    return Iso20022FileRail(base / "outbox", base / "inbox", NETWORK, CREDITOR_ID, clock=lambda: NOW)


def payment_files(base: Path) -> list[Path]:
    return sorted((base / "outbox").glob("*.xml"))


def q(root: ET.Element, tag: str) -> str:
    return root.tag.partition("}")[0] + "}" + tag


def transactions(path: Path) -> dict[str, Decimal]:
    """EndToEndId -> InstdAmt of every transaction in a pain.001 or pain.008 file, read independently."""
    root = ET.parse(path).getroot()
    found = {}
    for tx in [*root.iter(q(root, "CdtTrfTxInf")), *root.iter(q(root, "DrctDbtTxInf"))]:
        end_to_end_id = tx.findtext(f"{q(root, 'PmtId')}/{q(root, 'EndToEndId')}")
        amount = tx.find(f".//{q(root, 'InstdAmt')}")
        assert end_to_end_id and amount is not None and amount.text
        assert end_to_end_id not in found, f"{end_to_end_id} twice in {path.name}"
        assert amount.get("Ccy") == "EUR"
        found[end_to_end_id] = Decimal(amount.text)
    return found


def control_sum(path: Path) -> Decimal:
    root = ET.parse(path).getroot()
    return Decimal(root.findtext(f"*/{q(root, 'GrpHdr')}/{q(root, 'CtrlSum')}") or "nan")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- instructions and accounts ------------------------------------------------------------------------


def test_validate_iban_normalizes_and_refuses_naming_the_iban() -> None:
    assert validate_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    with pytest.raises(InvalidAccount, match="DE89370400440532013001"):
        validate_iban("DE89370400440532013001")
    with pytest.raises(InvalidAccount, match="outside the SEPA zone"):
        validate_iban("BR1800360305000010009795493C1")
    with pytest.raises(ValueError, match="'NOTABIC'"):
        validate_bic("NOTABIC")
    assert validate_bic("cobadeffxxx") == "COBADEFFXXX"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"amount_minor": 12.5}, "must be an int"),
        ({"amount_minor": True}, "must be an int"),
        ({"amount_minor": 0}, "must be in 1.."),
        ({"amount_minor": -100}, "must be in 1.."),
        ({"amount_minor": 2**63}, "must be in 1.."),
        ({"instruction_id": "has_underscore"}, "A-Za-z0-9-"),
        ({"instruction_id": "x" * 36}, "1 to 35"),
        ({"cycle_id": "../escape"}, "cycle id"),
        ({"currency": "eur"}, "ISO 4217"),
        ({"direction": "refund"}, "payout or collection"),
    ],
)
def test_malformed_instructions_are_refused(change: dict, message: str) -> None:
    with pytest.raises(InvalidInstruction, match=message):
        replace(payout("p1", 100), **change)


def test_a_collection_needs_a_mandate() -> None:
    with pytest.raises(InvalidInstruction, match="mandate id"):
        replace(collection("p1", 100), mandate_id="")
    with pytest.raises(InvalidInstruction, match="mandate was signed"):
        replace(collection("p1", 100), mandate_signed_on=None)


def test_both_rails_are_payment_rails(tmp_path: Path) -> None:
    assert isinstance(file_rail(tmp_path / "files"), PaymentRail)
    assert isinstance(SimulatedBank(tmp_path / "bank"), PaymentRail)


# --- pain.001 and pain.008 ----------------------------------------------------------------------------


def test_payouts_become_one_valid_pain001_with_exact_amounts(tmp_path: Path) -> None:
    payouts = [payout("p1", 12345), payout("p2", 5), payout("p3", 99_999_999_999)]
    submitted = file_rail(tmp_path).submit(payouts)

    [path] = payment_files(tmp_path)
    assert CYCLE in path.name and path.name.endswith(".pain.001.001.09.xml")
    assert submitted == [Submission(p.instruction_id, "submitted", path.name) for p in payouts]
    validate_payment_file(path)
    amounts = transactions(path)
    assert amounts == {p.instruction_id: Decimal(p.amount_minor) / 100 for p in payouts}
    assert amounts[payouts[1].instruction_id] == Decimal("0.05")
    assert control_sum(path) == Decimal(12345 + 5 + 99_999_999_999) / 100


def test_collections_become_one_valid_pain008_with_mandates(tmp_path: Path) -> None:
    collections = [collection("p2", 250_00), collection("p4", 1)]
    file_rail(tmp_path).submit(collections)

    [path] = payment_files(tmp_path)
    assert CYCLE in path.name and path.name.endswith(".pain.008.001.08.xml")
    validate_payment_file(path)
    assert transactions(path) == {c.instruction_id: Decimal(c.amount_minor) / 100 for c in collections}
    text = path.read_text(encoding="utf-8")
    assert "<MndtId>COAL-P2-1</MndtId>" in text and "<DtOfSgntr>2025-11-03</DtOfSgntr>" in text
    assert text.count(CREDITOR_ID) >= 1
    assert "<ReqdColltnDt>2026-03-04</ReqdColltnDt>" in text


def test_one_call_with_both_directions_writes_one_file_of_each(tmp_path: Path) -> None:
    file_rail(tmp_path).submit([payout("p1", 100), collection("p2", 200), payout("p3", 300)])
    files = payment_files(tmp_path)
    assert [f.name.split(".", 2)[2] for f in files] == ["pain.001.001.09.xml", "pain.008.001.08.xml"]
    for path in files:
        validate_payment_file(path)
    assert set(transactions(files[0])) == {payout("p1", 1).instruction_id, payout("p3", 1).instruction_id}


def test_a_tampered_file_fails_validation(tmp_path: Path) -> None:
    file_rail(tmp_path).submit([payout("p1", 12345)])
    [path] = payment_files(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('Ccy="EUR"', 'Ccy="EURO"'), encoding="utf-8")
    with pytest.raises(RailError, match="does not validate"):
        validate_payment_file(path)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (Account("Broken", "NL91ABNA0417164301", None), InvalidAccount, "NL91ABNA0417164301"),
        (Account("Broken", "NL91ABNA0417164300", "XXXX"), InvalidAccount, "'XXXX'"),
        (Account("", "NL91ABNA0417164300", None), InvalidAccount, "holder name"),
    ],
)
def test_a_bad_account_is_refused_before_anything_is_written(
    tmp_path: Path, bad: Account, error: type[Exception], message: str
) -> None:
    rail = file_rail(tmp_path)
    broken = replace(payout("p4", 700), counterparty=bad)
    with pytest.raises(error, match=message) as refused:
        rail.submit([payout("p1", 100), collection("p2", 200), broken])
    assert "p4" in str(refused.value)
    assert payment_files(tmp_path) == []
    assert not (tmp_path / "outbox" / "submitted.jsonl").exists()
    bank = SimulatedBank(tmp_path / "bank")
    with pytest.raises(error, match=message):
        bank.submit([payout("p1", 100), broken])
    assert bank.payments_made() == {}


@pytest.mark.parametrize(
    "instruction, message",
    [
        (replace(payout("p1", 100), currency="USD"), "EUR only"),
        (payout("p1", MAX_SEPA_AMOUNT_MINOR + 1), "SEPA maximum"),
        (replace(payout("p1", 100), remittance=""), "remittance"),
        (replace(payout("p1", 100), remittance="x" * 141), "remittance"),
    ],
)
def test_what_sepa_cannot_carry_is_refused(tmp_path: Path, instruction: PaymentInstruction, message: str) -> None:
    with pytest.raises(InvalidInstruction, match=message):
        file_rail(tmp_path).submit([payout("p2", 100), instruction])
    assert payment_files(tmp_path) == []


def test_one_submit_carries_one_cycle(tmp_path: Path) -> None:
    with pytest.raises(InvalidInstruction, match="one cycle"):
        file_rail(tmp_path).submit([payout("p1", 100), payout("p2", 100, cycle="cycle-2026-03-02")])
    assert payment_files(tmp_path) == []


@settings(deadline=None, max_examples=60)
@given(st.lists(st.integers(min_value=1, max_value=MAX_SEPA_AMOUNT_MINOR), min_size=1, max_size=4))
def test_amounts_round_trip_exactly_through_pain001(amounts: list[int]) -> None:
    # Up to 10**11 exclusive: 999 999 999.99 EUR is the SEPA maximum per transaction.
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        payouts = [payout(partner, amount) for partner, amount in zip(PARTNER_ACCOUNTS, amounts)]
        file_rail(base).submit(payouts)
        [path] = payment_files(base)
        written = transactions(path)
        assert {i: int(a * 100) for i, a in written.items()} == {p.instruction_id: p.amount_minor for p in payouts}
        assert all(a == a.quantize(Decimal("0.01")) and a.as_tuple().exponent == -2 for a in written.values())
        assert control_sum(path) * 100 == sum(amounts[: len(payouts)])


# --- never twice: the file rail -----------------------------------------------------------------------


def test_resubmitting_returns_duplicate_and_writes_nothing_new(tmp_path: Path) -> None:
    rail = file_rail(tmp_path)
    [first] = rail.submit([payout("p1", 100)])
    journal = tmp_path / "outbox" / "submitted.jsonl"
    files, lines = payment_files(tmp_path), journal.read_text().splitlines()

    assert rail.submit([payout("p1", 100)]) == [Submission(first.instruction_id, "duplicate", first.reference)]
    restarted = file_rail(tmp_path)
    assert restarted.submit([payout("p1", 100)]) == [Submission(first.instruction_id, "duplicate", first.reference)]
    assert payment_files(tmp_path) == files and journal.read_text().splitlines() == lines

    again = restarted.submit([payout("p1", 100), payout("p2", 200), payout("p2", 200)])
    assert [s.status for s in again] == ["duplicate", "submitted", "duplicate"]
    assert again[0].reference == first.reference and again[2].reference == again[1].reference
    [new_file] = set(payment_files(tmp_path)) - set(files)
    assert set(transactions(new_file)) == {payout("p2", 1).instruction_id}
    assert len(journal.read_text().splitlines()) == 2


def test_an_id_resubmitted_with_other_terms_is_refused(tmp_path: Path) -> None:
    rail = file_rail(tmp_path)
    rail.submit([payout("p1", 100)])
    files = payment_files(tmp_path)
    with pytest.raises(InvalidInstruction, match="amount_minor"):
        file_rail(tmp_path).submit([payout("p2", 50), payout("p1", 101)])
    assert payment_files(tmp_path) == files


def test_a_file_written_before_a_crash_is_never_written_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_append = Journal.append

    def killed_after_the_file(journal: Journal, records) -> None:
        records = list(records)
        if records:
            raise OSError("worker killed before the journal was written")
        real_append(journal, records)

    monkeypatch.setattr(Journal, "append", killed_after_the_file)
    with pytest.raises(OSError):
        file_rail(tmp_path).submit([payout("p1", 100)])
    monkeypatch.undo()
    [orphan] = payment_files(tmp_path)

    retried = file_rail(tmp_path).submit([payout("p1", 100), payout("p2", 200)])
    assert retried[0] == Submission(payout("p1", 1).instruction_id, "duplicate", orphan.name)
    assert retried[1].status == "submitted"
    written = [i for path in payment_files(tmp_path) for i in transactions(path)]
    assert sorted(written) == sorted([payout("p1", 1).instruction_id, payout("p2", 1).instruction_id])


def test_a_torn_journal_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.append([{"instruction_id": "a"}])
    with open(journal.path, "ab") as f:
        f.write(b'{"instruction_id": "b", "amou')
    assert journal.records() == [{"instruction_id": "a"}]
    journal.append([{"instruction_id": "c"}])
    assert journal.records() == [{"instruction_id": "a"}, {"instruction_id": "c"}]
    assert journal.path.read_bytes().count(b"\n") == 2


# --- camt.054 -----------------------------------------------------------------------------------------


def test_camt054_round_trip(tmp_path: Path) -> None:
    rail = file_rail(tmp_path)
    instructions = [payout("p1", 12345), payout("p3", 7), collection("p2", 250_00), collection("p4", 99)]
    rail.submit(instructions)
    p1, p3, p2, p4 = (i.instruction_id for i in instructions)
    day = NOW + timedelta(days=1)
    notified = [
        Confirmation(p1, "settled", 12345, "EUR", day),
        Confirmation(p2, "settled", 250_00, "EUR", day + timedelta(hours=1)),
        Confirmation(p3, "rejected", 7, "EUR", day + timedelta(hours=2), "AC04"),
        Confirmation(p4, "rejected", 99, "EUR", day + timedelta(hours=3), "Mandate withdrawn by partner"),
    ]
    stranger = Confirmation("someone-elses-payment", "settled", 1, "EUR", day)
    path = tmp_path / "inbox" / "camt054-2026-03-03.xml"
    write_camt054(path, [*notified, stranger], NETWORK, payout_ids={p1, p3})

    assert rail.confirmations() == notified
    assert file_rail(tmp_path).confirmations() == notified

    root = ET.parse(path).getroot()
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:camt.054.001.08}Document"
    entries = list(root.iter(q(root, "Ntry")))
    assert [e.findtext(f"{q(root, 'Sts')}/{q(root, 'Cd')}") for e in entries] == ["BOOK"] * 5
    # money out for a settled payout and a returned collection, in for the others
    assert [e.findtext(q(root, "CdtDbtInd")) for e in entries[:4]] == ["DBIT", "CRDT", "CRDT", "DBIT"]
    assert [Decimal(e.findtext(q(root, "Amt")) or "") for e in entries[:4]] == [
        Decimal("123.45"), Decimal("250.00"), Decimal("0.07"), Decimal("0.99")
    ]
    assert root.findtext(f".//{q(root, 'Acct')}/{q(root, 'Id')}/{q(root, 'IBAN')}") == NETWORK.iban


def test_camt054_of_another_version_with_reversal_and_pending_entries(tmp_path: Path) -> None:
    rail = file_rail(tmp_path)
    settled, reversed_, pending = payout("p1", 100_00), payout("p2", 200_00), payout("p3", 300_00)
    rail.submit([settled, reversed_, pending])

    def entry(instruction_id: str, status: str, reversal: str = "", indicator: str = "DBIT") -> str:
        # A reversal books the money back: a payout's reversal is a credit with RvslInd true (ISO 20022 usage rule).
        return f"""<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{reversal}<Sts>{status}</Sts>
          <BookgDt><Dt>2026-03-03</Dt></BookgDt><ValDt><Dt>2026-03-03</Dt></ValDt>
          <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
          <NtryDtls><TxDtls><Refs><EndToEndId>{instruction_id}</EndToEndId></Refs>
          <AmtDtls><TxAmt><Amt Ccy="EUR">{Decimal(int(instruction_id[-8]) * 100)}.00</Amt></TxAmt></AmtDtls>
          </TxDtls></NtryDtls></Ntry>"""

    (tmp_path / "inbox" / "bank-0001.xml").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
        <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>
        <GrpHdr><MsgId>B1</MsgId><CreDtTm>2026-03-03T18:00:00</CreDtTm></GrpHdr>
        <Ntfctn><Id>N1</Id><CreDtTm>2026-03-03T18:00:00</CreDtTm><Acct><Id><IBAN>{NETWORK.iban}</IBAN></Id></Acct>
        {entry(settled.instruction_id, "BOOK")}
        {entry(reversed_.instruction_id, "BOOK", "<RvslInd>true</RvslInd>", "CRDT")}
        {entry(pending.instruction_id, "PDNG")}
        </Ntfctn></BkToCstmrDbtCdtNtfctn></Document>""",
        encoding="utf-8",
    )
    (tmp_path / "inbox" / "bank-0002.xml").write_text(
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"/>', encoding="utf-8"
    )
    booked = datetime(2026, 3, 3, tzinfo=timezone.utc)
    assert rail.confirmations() == [
        Confirmation(settled.instruction_id, "settled", 100_00, "EUR", booked),
        Confirmation(reversed_.instruction_id, "rejected", 200_00, "EUR", booked, "reversal"),
    ]


@pytest.mark.parametrize("indicator_at", ["entry", "transaction"])
def test_camt054_booked_the_wrong_way_is_a_mismatch_not_a_payment(tmp_path: Path, indicator_at: str) -> None:
    """A payout is money out (DBIT), a collection money in (CRDT), and a return or reversal books it back the
    other way. An entry booked the other way round says the bank did something else: it never confirms."""
    rail = file_rail(tmp_path)
    out, in_, returned_out, returned_in = (payout("p1", 100_00), collection("p2", 200_00),
                                           payout("p3", 300_00), collection("p4", 400_00))
    rail.submit([out, in_, returned_out, returned_in])

    def entry(instruction: PaymentInstruction, indicator: str, return_code: str = "") -> str:
        amount = f"{Decimal(instruction.amount_minor) / 100:.2f}"
        on_entry = indicator if indicator_at == "entry" else "CRDT" if indicator == "DBIT" else "DBIT"
        on_tx = f"<CdtDbtInd>{indicator}</CdtDbtInd>" if indicator_at == "transaction" else ""
        returned = f"<RtrInf><Rsn><Cd>{return_code}</Cd></Rsn></RtrInf>" if return_code else ""
        return f"""<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{on_entry}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
          <BookgDt><Dt>2026-03-03</Dt></BookgDt><NtryDtls><TxDtls>
          <Refs><EndToEndId>{instruction.instruction_id}</EndToEndId></Refs><Amt Ccy="EUR">{amount}</Amt>
          {on_tx}{returned}</TxDtls></NtryDtls></Ntry>"""

    (tmp_path / "inbox" / "bank-0001.xml").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
        <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
        <GrpHdr><MsgId>B1</MsgId><CreDtTm>2026-03-03T18:00:00</CreDtTm></GrpHdr>
        <Ntfctn><Id>N1</Id><CreDtTm>2026-03-03T18:00:00</CreDtTm><Acct><Id><IBAN>{NETWORK.iban}</IBAN></Id></Acct>
        {entry(out, "CRDT")}
        {entry(in_, "DBIT")}
        {entry(returned_out, "DBIT", "AC04")}
        {entry(returned_in, "CRDT", "MD06")}
        </Ntfctn></BkToCstmrDbtCdtNtfctn></Document>""",
        encoding="utf-8",
    )
    confirmations = rail.confirmations()
    assert [(c.instruction_id, c.status) for c in confirmations] == [
        (out.instruction_id, "rejected"), (in_.instruction_id, "rejected"),
        (returned_out.instruction_id, "rejected"), (returned_in.instruction_id, "rejected"),
    ]
    assert [c.reason for c in confirmations] == [
        "mismatch: booked as a credit (CRDT), a payout books a debit (DBIT)",
        "mismatch: booked as a debit (DBIT), a collection books a credit (CRDT)",
        "mismatch: booked as a debit (DBIT), a returned payout books a credit (CRDT)",
        "mismatch: booked as a credit (CRDT), a returned collection books a debit (DBIT)",
    ]


def test_camt054_entry_without_a_credit_debit_indicator_confirms_nothing(tmp_path: Path) -> None:
    rail = file_rail(tmp_path)
    instruction = payout("p1", 100_00)
    rail.submit([instruction])
    (tmp_path / "inbox" / "bank-0001.xml").write_text(
        f"""<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn><Ntfctn>
        <Ntry><Amt Ccy="EUR">100.00</Amt><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-03</Dt></BookgDt>
        <NtryDtls><TxDtls><Refs><EndToEndId>{instruction.instruction_id}</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>
        </Ntfctn></BkToCstmrDbtCdtNtfctn></Document>""",
        encoding="utf-8",
    )
    [confirmation] = rail.confirmations()
    assert confirmation.status == "rejected"
    assert confirmation.reason == "mismatch: no credit/debit indicator, a payout books a debit (DBIT)"


# --- the simulated bank -------------------------------------------------------------------------------


def test_simulated_outages_are_shared_across_instances_then_pass(tmp_path: Path) -> None:
    instructions = [payout("p1", 100), collection("p2", 200)]
    for _ in range(2):  # each a freshly started worker over the same bank
        with pytest.raises(RailUnavailable):
            SimulatedBank(tmp_path, fail_submissions=2, clock=lambda: NOW).submit(instructions)
    bank = SimulatedBank(tmp_path, fail_submissions=2, clock=lambda: NOW)
    assert bank.payments_made() == {}
    assert [s.status for s in bank.submit(instructions)] == ["submitted", "submitted"]
    assert [s.status for s in bank.submit(instructions)] == ["duplicate", "duplicate"]
    assert bank.payments_made() == {i.instruction_id: 1 for i in instructions}


def test_simulated_confirmations_wait_for_the_delay(tmp_path: Path) -> None:
    clock = Clock(NOW)
    bank = SimulatedBank(tmp_path, delay_seconds=60, clock=clock)
    bank.submit([payout("p1", 100)])
    clock.now = NOW + timedelta(seconds=59)
    assert bank.confirmations() == []
    clock.now = NOW + timedelta(seconds=60)
    assert bank.confirmations() == [
        Confirmation(payout("p1", 1).instruction_id, "settled", 100, "EUR", NOW + timedelta(seconds=60))
    ]


def test_simulated_rejections_are_returned_and_move_no_money(tmp_path: Path) -> None:
    kept, refused = payout("p1", 100), collection("p2", 200)
    clock = Clock(NOW)
    SimulatedBank(tmp_path, reject_instruction_ids=frozenset({refused.instruction_id}), clock=clock).submit(
        [kept, refused]
    )
    restarted = SimulatedBank(tmp_path, clock=clock)  # the outcome was fixed when the bank accepted it
    assert restarted.confirmations() == [
        Confirmation(kept.instruction_id, "settled", 100, "EUR", NOW),
        Confirmation(refused.instruction_id, "rejected", 200, "EUR", NOW, "MS03"),
    ]
    assert restarted.payments_made() == {kept.instruction_id: 1}


def test_simulated_bank_pays_each_id_once_across_instances(tmp_path: Path) -> None:
    first = SimulatedBank(tmp_path, clock=lambda: NOW)
    batch = [payout("p1", 100), payout("p2", 200), collection("p3", 300)]
    references = [s.reference for s in first.submit(batch)]

    second = SimulatedBank(tmp_path, clock=lambda: NOW)
    again = second.submit([*batch, collection("p4", 400)])
    assert [(s.status, s.reference) for s in again[:3]] == [("duplicate", r) for r in references]
    assert again[3].status == "submitted" and again[3].reference not in references
    with pytest.raises(InvalidInstruction, match="amount_minor"):
        second.submit([payout("p1", 101)])
    expected = {i.instruction_id: 1 for i in [*batch, collection("p4", 400)]}
    assert first.payments_made() == second.payments_made() == expected
    assert sorted(c.instruction_id for c in second.confirmations()) == sorted(expected)
