"""The ISO 20022 file rail: pain.001 payouts and pain.008 collections out, camt.054 confirmations in.

Payment files are built with sepaxml in the versions of the current EPC implementation
guidelines (pain.001.001.09, pain.008.001.08) and validated against the ISO 20022 XSDs in
settlement/schemas/, copied from the ones sepaxml 2.7.0 ships, before anything is written.
No camt.054 XSD ships with any installed package and nothing may be downloaded at run time, so
write_camt054 follows camt.054.001.08 by construction and the tests check its structure by parsing.

Reading camt.054 (any version: the namespace is taken from the document), for each TxDtls with
an EndToEndId: an entry whose status is not BOOK is not final and is skipped; a booked entry is
"rejected" when its TxDtls carries RtrInf (a return) or the entry has RvslInd true (a reversal),
and "settled" otherwise. A booking time without a UTC offset is taken as UTC.
The credit/debit indicator (CdtDbtInd of the TxDtls, else of the entry) must match the instruction's
direction on the network's account: a payout books a debit (DBIT), a collection a credit (CRDT), and
a return or a reversal books the money back the other way (ISO 20022: a reversed debit is a CRDT
with RvslInd true). An entry booked the other way round, or without an indicator, is a mismatch:
"rejected" with a reason starting "mismatch:", never a confirmed payment.

The outbox belongs to this rail: whatever carries files to the bank copies them, or moves one
only after its name appears in submitted.jsonl.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sepaxml import SepaDD, SepaTransfer

from settlement.rails.interface import (
    Account,
    Confirmation,
    Direction,
    InvalidInstruction,
    PaymentInstruction,
    RailError,
    Submission,
    journal_terms,
    new_instructions,
    submissions,
    utcnow,
    validate_account,
    validate_creditor_id,
    validate_for_sepa,
)
from settlement.rails.journal import Journal, fsync_directory

if TYPE_CHECKING:
    import xmlschema

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
PAYOUT_MESSAGE = "pain.001.001.09"
COLLECTION_MESSAGE = "pain.008.001.08"
CAMT054_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
_ISO20022 = "urn:iso:std:iso:20022:tech:xsd:"
_DIRECTIONS: tuple[Direction, ...] = ("payout", "collection")
_MESSAGE_OF: dict[Direction, str] = {"payout": PAYOUT_MESSAGE, "collection": COLLECTION_MESSAGE}
# SEPA Core wants the collection at the debtor bank a business day before it is due; two calendar
# days leave room for the day's cut-off, and banks roll a due date on a closing day forward.
COLLECTION_LEAD = timedelta(days=2)
# The network collects from partners every cycle under one standing mandate each. Since 2016 the
# EPC rulebook lets the first collection of a series be RCUR too.
COLLECTION_SEQUENCE = "RCUR"
MAX_RETURN_TEXT_CHARS = 105  # RtrInf/AddtlInf is Max105Text
_RETURN_CODE = re.compile(r"[A-Z0-9]{4}")
# Bank transaction sub-family by (payout, returned): SEPA credit transfer, its return,
# SEPA direct debit, an unpaid direct debit.
_SUB_FAMILY = {(True, False): "ESCT", (True, True): "RRTN", (False, False): "ESDD", (False, True): "UPDD"}


def amount_text(amount_minor: int) -> str:
    """Cents as the decimal text of an ISO 20022 EUR amount: 12345 -> "123.45"."""
    return format(Decimal(amount_minor).scaleb(-2), "f")


def amount_minor_of(text: str, source: str) -> int:
    """The decimal text of a EUR amount as cents, refusing anything that is not whole cents."""
    try:
        minor = Decimal(text.strip()).scaleb(2)
    except InvalidOperation as e:
        raise RailError(f"{source}: amount {text!r} is not a decimal") from e
    if minor <= 0 or minor != minor.to_integral_value():
        raise RailError(f"{source}: amount {text!r} is not a positive number of whole cents")
    return int(minor)


@cache
def _schema(message: str) -> xmlschema.XMLSchema:
    import xmlschema

    path = SCHEMA_DIR / f"{message}.xsd"
    if not path.is_file():
        raise RailError(f"no XSD for {message} in {SCHEMA_DIR}")
    return xmlschema.XMLSchema(path)


def _message_of(root: ET.Element) -> str:
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    return namespace.removeprefix(_ISO20022) if namespace.startswith(_ISO20022) else ""


def _validate_payment(document: bytes, source: str) -> None:
    try:
        root = ET.fromstring(document)
    except ET.ParseError as e:
        raise RailError(f"{source} is not well-formed XML: {e}") from e
    message = _message_of(root)
    if not message.startswith(("pain.001.", "pain.008.")):
        raise RailError(f"{source} is not a pain.001 or pain.008 document (namespace {root.tag!r})")
    errors = list(_schema(message).iter_errors(document.decode()))
    if errors:
        raise RailError(f"{source} does not validate against {message}.xsd: {errors[0].reason} at {errors[0].path}")


def validate_payment_file(path: Path) -> None:
    """Raise RailError unless path is a pain.001/pain.008 file valid against its XSD."""
    _validate_payment(path.read_bytes(), path.name)


def write_atomically(path: Path, content: bytes) -> None:
    """Readers of path see the old file or the whole new one, never part of it."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        try:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
    fsync_directory(path.parent)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _serialize(root: ET.Element, namespace: str) -> bytes:
    """The document with every element in namespace as the default one, whatever ET registered."""
    for element in root.iter():
        element.tag = _local(element.tag)
    root.set("xmlns", namespace)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _payment_document(
    direction: Direction,
    instructions: Sequence[PaymentInstruction],
    network: Account,
    creditor_id: str,
    message_id: str,
    created_at: datetime,
) -> bytes:
    """A pain.001 (payouts) or pain.008 (collections) document, stamped with message_id."""
    message = _MESSAGE_OF[direction]
    config: dict[str, Any] = {"name": network.name, "IBAN": network.iban, "batch": True, "currency": "EUR"}
    if network.bic:
        config["BIC"] = network.bic
    sepa: SepaTransfer | SepaDD
    if direction == "payout":
        sepa = SepaTransfer(config, schema=message, clean=True)
    else:
        sepa = SepaDD(config | {"creditor_id": creditor_id}, schema=message, clean=True)
    for instruction in instructions:
        payment: dict[str, Any] = {
            "name": instruction.counterparty.name,
            "IBAN": instruction.counterparty.iban,
            "amount": instruction.amount_minor,
            "currency": instruction.currency,
            "description": instruction.remittance,
            "endtoend_id": instruction.instruction_id,
        }
        if instruction.counterparty.bic:
            payment["BIC"] = instruction.counterparty.bic
        if direction == "payout":
            payment["execution_date"] = created_at.date()
        else:
            payment |= {
                "type": COLLECTION_SEQUENCE,
                "collection_date": created_at.date() + COLLECTION_LEAD,
                "mandate_id": instruction.mandate_id,
                "mandate_date": instruction.mandate_signed_on,
            }
        sepa.add_payment(payment)
    # sepaxml draws a random MsgId and PmtInfId; fixed ones let the bank refuse a file sent twice.
    # The caller validates the stamped document, so sepaxml's own validation is skipped.
    root = ET.fromstring(sepa.export(validate=False))
    namespace = _ISO20022 + message
    stamps = {"GrpHdr/MsgId": message_id, "GrpHdr/CreDtTm": created_at.isoformat(timespec="seconds")}
    for path, text in stamps.items():
        node = root.find("*/" + "/".join(f"{{{namespace}}}{tag}" for tag in path.split("/")))
        if node is None:
            raise RailError(f"sepaxml wrote a {message} without {path}")
        node.text = text
    for number, node in enumerate(root.iterfind(f"*/{{{namespace}}}PmtInf/{{{namespace}}}PmtInfId"), 1):
        node.text = f"{message_id}-{number}"
    return _serialize(root, namespace)


def _payment_file_records(path: Path) -> list[dict[str, Any]]:
    """Journal records for every transaction in a payment file of this rail's outbox."""
    root = _parse(path)
    namespace = root.tag[1:].partition("}")[0]
    q = lambda tag: f"{{{namespace}}}{tag}"  # noqa: E731
    payout = _message_of(root).startswith("pain.001.")
    records = []
    for tx in root.iter(q("CdtTrfTxInf" if payout else "DrctDbtTxInf")):
        amount = tx.find(f".//{q('InstdAmt')}")
        if amount is None or amount.text is None:
            raise RailError(f"{path.name}: a transaction has no InstdAmt")
        records.append(
            {
                "instruction_id": tx.findtext(f"{q('PmtId')}/{q('EndToEndId')}"),
                "direction": "payout" if payout else "collection",
                "amount_minor": amount_minor_of(amount.text, path.name),
                "currency": amount.get("Ccy"),
                "iban": tx.findtext(f"{q('CdtrAcct' if payout else 'DbtrAcct')}/{q('Id')}/{q('IBAN')}"),
                "reference": path.name,
            }
        )
    return records


def write_camt054(
    path: Path, confirmations: Sequence[Confirmation], account: Account, *, payout_ids: Collection[str] = ()
) -> None:
    """A camt.054.001.08 debit/credit notification on account, one booked entry per confirmation.

    Confirmations of ids in payout_ids book money out of account (a return of one books it back);
    all others are collections, booked in (a return books them out). A rejected confirmation is a
    booked return: RtrInf with the reason as Rsn/Cd when it is a four-character ISO code, else as
    AddtlInf. Used by the simulated bank side in tests and demos; real files come from the bank.
    """

    def add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
        child = ET.SubElement(parent, tag, attributes)
        child.text = text
        return child

    account = validate_account(account)
    fingerprint = "\n".join(f"{c.instruction_id} {c.status} {c.booked_at.isoformat()}" for c in confirmations)
    message_id = "CAMT" + hashlib.sha256(f"{path.name}\n{fingerprint}".encode()).hexdigest()[:31]
    created_at = max((c.booked_at for c in confirmations), default=utcnow()).isoformat(timespec="seconds")
    root = ET.Element("Document")
    notification = add(root, "BkToCstmrDbtCdtNtfctn")
    header = add(notification, "GrpHdr")
    add(header, "MsgId", message_id)
    add(header, "CreDtTm", created_at)
    body = add(notification, "Ntfctn")
    add(body, "Id", message_id)
    add(body, "CreDtTm", created_at)
    owned = add(body, "Acct")
    add(add(owned, "Id"), "IBAN", account.iban)
    add(add(owned, "Ownr"), "Nm", account.name)
    if account.bic:
        add(add(add(owned, "Svcr"), "FinInstnId"), "BICFI", account.bic)
    for confirmation in confirmations:
        payout = confirmation.instruction_id in payout_ids
        returned = confirmation.status == "rejected"
        indicator = "DBIT" if payout != returned else "CRDT"
        amount = amount_text(confirmation.amount_minor)
        entry = add(body, "Ntry")
        add(entry, "Amt", amount, Ccy=confirmation.currency)
        add(entry, "CdtDbtInd", indicator)
        add(add(entry, "Sts"), "Cd", "BOOK")
        add(add(entry, "BookgDt"), "DtTm", confirmation.booked_at.isoformat(timespec="seconds"))
        add(add(entry, "ValDt"), "Dt", confirmation.booked_at.date().isoformat())
        domain = add(add(entry, "BkTxCd"), "Domn")
        add(domain, "Cd", "PMNT")
        family = add(domain, "Fmly")
        add(family, "Cd", "ICDT" if payout else "IDDT")
        add(family, "SubFmlyCd", _SUB_FAMILY[payout, returned])
        tx = add(add(entry, "NtryDtls"), "TxDtls")
        add(add(tx, "Refs"), "EndToEndId", confirmation.instruction_id)
        add(tx, "Amt", amount, Ccy=confirmation.currency)
        add(tx, "CdtDbtInd", indicator)
        if returned:
            return_information = add(tx, "RtrInf")
            if _RETURN_CODE.fullmatch(confirmation.reason):
                add(add(return_information, "Rsn"), "Cd", confirmation.reason)
            elif confirmation.reason:
                if len(confirmation.reason) > MAX_RETURN_TEXT_CHARS:
                    raise ValueError(
                        f"return reason for {confirmation.instruction_id!r} exceeds {MAX_RETURN_TEXT_CHARS} characters"
                    )
                add(return_information, "AddtlInf", confirmation.reason)
    write_atomically(path, _serialize(root, CAMT054_NAMESPACE))


def _booking_time(entry: ET.Element, q: Callable[[str], str], source: str) -> datetime:
    stamp = entry.findtext(q("BookgDt/DtTm"))
    if stamp:
        moment = datetime.fromisoformat(stamp.strip())
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    day = entry.findtext(q("BookgDt/Dt"))
    if day:
        return datetime.combine(date.fromisoformat(day.strip()), time(), timezone.utc)
    raise RailError(f"{source}: a booked entry has no booking date")


_INDICATOR_NAME = {"DBIT": "a debit", "CRDT": "a credit"}


def expected_indicator(direction: Direction, returned: bool) -> str:
    """The CdtDbtInd of a booking on the network's account: a payout is money out (DBIT), a collection
    money in (CRDT); a return or reversal books it back the other way."""
    return "DBIT" if (direction == "payout") != returned else "CRDT"


def indicator_mismatch(indicator: str, direction: Direction, returned: bool) -> str:
    """"" when the indicator fits the instruction's direction, else why it does not (a Confirmation reason)."""
    expected = expected_indicator(direction, returned)
    if indicator == expected:
        return ""
    booked = f"booked as {_INDICATOR_NAME[indicator]} ({indicator})" if indicator in _INDICATOR_NAME else (
        f"credit/debit indicator {indicator!r}" if indicator else "no credit/debit indicator")
    what = f"a returned {direction}" if returned else f"a {direction}"
    return f"mismatch: {booked}, {what} books {_INDICATOR_NAME[expected]} ({expected})"


def _notified(
    root: ET.Element, source: str, directions: Mapping[str, Direction] | None = None
) -> list[Confirmation]:
    """Confirmations in document order; for ids in directions, the credit/debit indicator is checked."""
    namespace = root.tag[1:].partition("}")[0]
    q = lambda path: "/".join(f"{{{namespace}}}{tag}" for tag in path.split("/"))  # noqa: E731
    found = []
    for entry in root.iter(q("Ntry")):
        status = entry.find(q("Sts"))
        code = "" if status is None else (status.findtext(q("Cd")) or status.text or "").strip()
        if code != "BOOK":
            continue  # pending or information only: not final yet
        reversal = (entry.findtext(q("RvslInd")) or "").strip() == "true"
        entry_indicator = (entry.findtext(q("CdtDbtInd")) or "").strip()
        booked_at = _booking_time(entry, q, source)
        details = entry.findall(q("NtryDtls/TxDtls"))
        for tx in details:
            instruction_id = (tx.findtext(q("Refs/EndToEndId")) or "").strip()
            if not instruction_id or instruction_id == "NOTPROVIDED":
                continue
            candidates = [tx.find(q("Amt")), tx.find(q("AmtDtls/TxAmt/Amt"))]
            if len(details) == 1:
                candidates.append(entry.find(q("Amt")))
            amount = next((a for a in candidates if a is not None and a.text), None)
            if amount is None or amount.text is None:
                raise RailError(f"{source}: the entry for {instruction_id!r} has no amount")
            returned = tx.find(q("RtrInf"))
            reason = "reversal" if reversal else ""
            if returned is not None:
                reason_code = (returned.findtext(q("Rsn/Cd")) or returned.findtext(q("Rsn/Prtry")) or "").strip()
                text = " ".join((e.text or "").strip() for e in returned.findall(q("AddtlInf"))).strip()
                reason = ": ".join(part for part in (reason_code, text) if part)
            booked_back = reversal or returned is not None
            if directions is not None and instruction_id in directions:
                indicator = (tx.findtext(q("CdtDbtInd")) or "").strip() or entry_indicator
                mismatch = indicator_mismatch(indicator, directions[instruction_id], booked_back)
                if mismatch:
                    booked_back, reason = True, mismatch
            found.append(
                Confirmation(
                    instruction_id=instruction_id,
                    status="rejected" if booked_back else "settled",
                    amount_minor=amount_minor_of(amount.text, source),
                    currency=amount.get("Ccy", ""),
                    booked_at=booked_at,
                    reason=reason,
                )
            )
    return found


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise RailError(f"{path.name} is not well-formed XML: {e}") from e


def read_camt054(path: Path, directions: Mapping[str, Direction] | None = None) -> list[Confirmation]:
    """The booked entries of a camt.054 notification that name an EndToEndId, in document order.

    directions (instruction id -> "payout" / "collection"): check those entries' credit/debit indicator."""
    root = _parse(path)
    if not _message_of(root).startswith("camt.054."):
        raise RailError(f"{path.name} is not a camt.054 notification (root {root.tag!r})")
    return _notified(root, path.name, directions)


class Iso20022FileRail:
    """Writes pain files into outbox and reads camt.054 notifications from inbox.

    network_account is the network's own account: the debtor of payouts and the creditor of
    collections; creditor_id its SEPA creditor identifier. One submit call carries one cycle's
    instructions and writes at most one pain.001 and one pain.008, named
    "<cycle>.<digest>.<message>.xml" where the digest covers the new instruction ids; the same
    digest is the file's MsgId. outbox/submitted.jsonl records every id written: a file is
    written before its ids are recorded, and a file the journal does not know (a crash between
    the two) is taken into it on the next submit, so an id is never written twice.
    """

    def __init__(
        self,
        outbox: Path,
        inbox: Path,
        network_account: Account,
        creditor_id: str,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.outbox = outbox
        self.inbox = inbox
        self.network_account = validate_account(network_account)
        self.creditor_id = validate_creditor_id(creditor_id)
        self._clock = clock
        outbox.mkdir(parents=True, exist_ok=True)
        inbox.mkdir(parents=True, exist_ok=True)
        self._journal = Journal(outbox / "submitted.jsonl")

    def submit(self, instructions: Sequence[PaymentInstruction]) -> list[Submission]:
        checked = validate_for_sepa(instructions)
        cycles = sorted({i.cycle_id for i in checked})
        if len(cycles) > 1:
            raise InvalidInstruction(f"one submit carries one cycle's instructions, got cycles {cycles}")
        with self._journal.locked():
            submitted = self._submitted()
            fresh = new_instructions(checked, submitted)
            references = {instruction_id: r["reference"] for instruction_id, r in submitted.items()}
            files: list[tuple[Path, bytes]] = []
            records = []
            for direction in _DIRECTIONS:
                batch = [i for i in fresh if i.direction == direction]
                if not batch:
                    continue
                message = _MESSAGE_OF[direction]
                ids = "\n".join(sorted(i.instruction_id for i in batch))
                digest = hashlib.sha256(f"{message}\n{cycles[0]}\n{ids}".encode()).hexdigest()[:32]
                path = self.outbox / f"{cycles[0]}.{digest[:16]}.{message}.xml"
                document = _payment_document(
                    direction, batch, self.network_account, self.creditor_id, digest, self._clock()
                )
                _validate_payment(document, path.name)
                files.append((path, document))
                for instruction in batch:
                    references[instruction.instruction_id] = path.name
                    origin = {"cycle_id": instruction.cycle_id, "partner_id": instruction.partner_id}
                    records.append(journal_terms(instruction) | origin | {"reference": path.name})
            for path, document in files:
                write_atomically(path, document)
            self._journal.append(records)
        return submissions(checked, fresh, references)

    def confirmations(self) -> list[Confirmation]:
        """Confirmations for submitted ids from every camt.054 in inbox, by file name then order.

        An id can appear twice: settled, then returned in a later notification.
        Other ISO 20022 messages in inbox are left alone. An entry booked against the instruction's
        direction (a credit for a payout, a debit for a collection) comes back "rejected" as a mismatch.
        """
        directions = {record["instruction_id"]: record["direction"] for record in self._journal.records()}
        found = []
        for path in sorted(self.inbox.glob("*.xml")):
            root = _parse(path)
            if _message_of(root).startswith("camt.054."):
                found += [c for c in _notified(root, path.name, directions) if c.instruction_id in directions]
        return found

    def _submitted(self) -> dict[str, dict[str, Any]]:
        """The journal by instruction id, after taking in payment files it does not know yet."""
        submitted = {record["instruction_id"]: record for record in self._journal.records()}
        known_files = {record["reference"] for record in submitted.values()}
        orphans = [
            record
            for path in sorted(self.outbox.glob("*.pain.00[18].*.xml"))
            if path.name not in known_files
            for record in _payment_file_records(path)
        ]
        self._journal.append(orphans)
        for record in orphans:
            submitted.setdefault(record["instruction_id"], record)
        return submitted
