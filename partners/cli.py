"""`coalition-partner`: the partner's command line over the signed SDK client.

    coalition-partner keygen --out acme.key --partner-id acme --key-id acme-2025-01
    export COALITION_KEY_FILE=acme.key
    coalition-partner enroll --customer-ref c-1001
    coalition-partner earn MEMBER_ID --amount-minor 1250 --receipt-ref r-77
    coalition-partner balance MEMBER_ID
    coalition-partner position                                 # liability, headroom, accrued obligations, terms
    coalition-partner report --from 2026-11-01 --to 2026-11-30  # traffic per day and store
    coalition-partner balance MEMBER_ID --ca-file ca.pem --cert-file acme.pem --cert-key-file acme-key.pem  # mTLS
    coalition-partner events --after 41 --follow

The target is --target, else the key file's "target", else COALITION_TARGET, else localhost:50051.
A refused call prints its code, reason, message and field violations and exits with status 2.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import json
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Optional, get_type_hints

import typer
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from partners import signing
from partners.client import PartnerClient
from partners.errors import CoalitionError
from partners.keyfile import KeyFile, KeyFileError, load_key_file, save_key_file
from protos.coalition.v1 import network_pb2, settlement_pb2

DEFAULT_TARGET = "localhost:50051"
EXIT_REFUSED = 2

app = typer.Typer(
    name="coalition-partner",
    help="Call the Coalition network as a partner: every call signed with your key (coalition-sig-v1).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
error_console = Console(stderr=True)

KeyFileOption = typer.Option(
    ..., "--key-file", envvar="COALITION_KEY_FILE", help="The partner key file written by `keygen`.",
    exists=False, dir_okay=False,
)
TargetOption = typer.Option(
    None, "--target", envvar="COALITION_TARGET",
    help="HOST:PORT of the network (default: the key file's target, else COALITION_TARGET, else localhost:50051).",
)
TimeoutOption = typer.Option(5.0, "--timeout", min=0.1, help="Deadline of each attempt, in seconds.")
TlsOption = typer.Option(False, "--tls", help="Use TLS with the system's root certificates.")
CaFileOption = typer.Option(None, "--ca-file", envvar="COALITION_TLS_CA_FILE", dir_okay=False,
                            help="TLS with these PEM root certificates (a CA bundle).")
CertFileOption = typer.Option(None, "--cert-file", envvar="COALITION_TLS_CLIENT_CERT_FILE", dir_okay=False,
                              help="Mutual TLS: your PEM client certificate (its subject CN is your partner id).")
CertKeyFileOption = typer.Option(None, "--cert-key-file", envvar="COALITION_TLS_CLIENT_KEY_FILE", dir_okay=False,
                                 help="Mutual TLS: the PEM private key of --cert-file.")
RequestIdOption = typer.Option(None, "--request-id", help="Idempotency key (default: a fresh uuid4 hex).")


# --- plumbing ------------------------------------------------------------------------------------

def _fail(message: str) -> typer.Exit:
    error_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(EXIT_REFUSED)


def _resolve_target(ctx: typer.Context, target: Optional[str], key_file: KeyFile) -> str:
    """--target on the command line wins; then the key file's target; then COALITION_TARGET; then the default."""
    source = ctx.get_parameter_source("target")  # typer's (vendored) click ParameterSource
    if target and getattr(source, "name", "") == "COMMANDLINE":
        return target
    return key_file.target or target or DEFAULT_TARGET


def _read_pem(path: Optional[Path]) -> bytes | None:
    try:
        return path.read_bytes() if path else None
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None


@contextmanager
def _client(
    ctx: typer.Context, key_file_path: Path, target: Optional[str], timeout: float, tls: bool, ca_file: Optional[Path],
    cert_file: Optional[Path] = None, cert_key_file: Optional[Path] = None,
) -> Iterator[PartnerClient]:
    """A client over plaintext, TLS (--tls or --ca-file) or mutual TLS (--cert-file with --cert-key-file)."""
    if (cert_file is None) != (cert_key_file is None):
        raise _fail("give --cert-file and --cert-key-file together")
    try:
        key_file = load_key_file(key_file_path)
    except KeyFileError as exc:
        raise _fail(str(exc)) from None
    client = PartnerClient(
        _resolve_target(ctx, target, key_file),
        key_file.key_id,
        key_file.private_key(),
        timeout=timeout,
        tls=tls,
        root_certificates=_read_pem(ca_file),
        certificate_chain=_read_pem(cert_file),
        tls_private_key=_read_pem(cert_key_file),
    )
    try:
        yield client
    except CoalitionError as exc:
        _print_error(exc)
        raise typer.Exit(EXIT_REFUSED) from None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        client.close()


def _print_error(exc: CoalitionError) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("code", exc.code.name)
    table.add_row("reason", exc.reason or "-")
    table.add_row("message", exc.message)
    for name, value in sorted(exc.metadata.items()):
        table.add_row(f"metadata.{name}", value)
    for field, description in exc.field_violations:
        table.add_row("field", f"{field}: {description}")
    error_console.print(Panel(table, title=f"[red]refused: {type(exc).__name__}", expand=False))


def _value(message: Message, field) -> str:
    value = getattr(message, field.name)
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name if value in field.enum_type.values_by_number else str(value)
    if isinstance(value, Timestamp):
        return value.ToDatetime(tzinfo=dt.timezone.utc).isoformat()
    if isinstance(value, network_pb2.Money):
        return f"{value.amount_minor} {value.currency} (minor units)"
    return str(value)


def _rows(message: Message, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) for every field of a response, nested messages flattened, unset ones skipped."""
    for field in message.DESCRIPTOR.fields:
        name = prefix + field.name
        if field.is_repeated:
            yield name, f"{len(getattr(message, field.name))} item(s)"
        elif field.message_type is not None:
            if not message.HasField(field.name):
                continue
            sub = getattr(message, field.name)
            if isinstance(sub, (Timestamp, network_pb2.Money)):
                yield name, _value(message, field)
            else:
                yield from _rows(sub, name + ".")
        elif field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name) != field.name:
            continue
        else:
            yield name, _value(message, field)


def _show(title: str, response: Message, client: PartnerClient | None = None, mutating: bool = False) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold cyan")
    table.add_column(overflow="fold")
    for name, text in _rows(response):
        table.add_row(name, text)
    if mutating and client is not None and client.last_receipt is not None:
        table.add_row("receipt key id", client.last_receipt.key_id or "-")
    console.print(table)


# --- keys ----------------------------------------------------------------------------------------

@app.command()
def keygen(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write the key file (mode 0600)."),
    partner_id: str = typer.Option("", "--partner-id", help="Your partner id at the network."),
    key_id: Optional[str] = typer.Option(None, "--key-id", help="Key id to register (default: generated)."),
    target: str = typer.Option("", "--target", help="HOST:PORT of the network, stored in the key file."),
    force: bool = typer.Option(False, "--force", help="Replace an existing key file."),
) -> None:
    """Generate an Ed25519 key; print the public key and key id the operator must register."""
    if key_id is None:
        stem = partner_id or "key"
        key_id = f"{stem}-{dt.datetime.now(dt.timezone.utc):%Y%m%d}-{secrets.token_hex(3)}"[-64:]
    try:
        key_file = KeyFile.generate(partner_id=partner_id, key_id=key_id, target=target)
        save_key_file(out, key_file, overwrite=force)
    except KeyFileError as exc:
        raise _fail(str(exc)) from None
    public_b64 = base64.b64encode(key_file.public_key_raw()).decode("ascii")
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("key file", str(out))
    table.add_row("partner id", partner_id or "-")
    table.add_row("key id", key_id)
    table.add_row("public key (base64, raw Ed25519)", public_b64)
    console.print(Panel(table, title="register this key with the network operator", expand=False))
    # Plain lines too, for scripts: `coalition-partner keygen ... | grep '^public_key='`.
    console.print(f"key_id={key_id}", highlight=False, soft_wrap=True)
    console.print(f"public_key={public_b64}", highlight=False, soft_wrap=True)


_Connect = Callable[[], ContextManager[PartnerClient]]
_CONNECTION_OPTIONS = [  # every command that calls the network takes these, last, in this order
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, annotation, default in (
        ("key_file", Path, KeyFileOption),
        ("target", Optional[str], TargetOption),
        ("timeout", float, TimeoutOption),
        ("tls", bool, TlsOption),
        ("ca_file", Optional[Path], CaFileOption),
        ("cert_file", Optional[Path], CertFileOption),
        ("cert_key_file", Optional[Path], CertKeyFileOption),
    )
]


def _connected(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command (ctx first, `connect` last) the connection options: the command sees
    `connect()`, the _client context manager built from them."""
    hints = get_type_hints(command)
    params = [p.replace(annotation=hints.get(p.name, p.annotation))
              for p in inspect.signature(command).parameters.values() if p.name != "connect"]

    def run(ctx: typer.Context, *args, key_file: Path, target: Optional[str], timeout: float, tls: bool,
            ca_file: Optional[Path], cert_file: Optional[Path], cert_key_file: Optional[Path], **kwargs) -> None:
        command(ctx, *args, **kwargs, connect=lambda: _client(ctx, key_file, target, timeout, tls, ca_file, cert_file,
                                                              cert_key_file))

    run.__name__, run.__qualname__, run.__doc__, run.__module__ = (
        command.__name__, command.__qualname__, command.__doc__, command.__module__)
    run.__signature__ = inspect.Signature(params + _CONNECTION_OPTIONS)
    run.__annotations__ = {p.name: p.annotation for p in run.__signature__.parameters.values()}
    return run


# --- members -------------------------------------------------------------------------------------

@app.command()
@_connected
def enroll(
    ctx: typer.Context,
    customer_ref: str = typer.Option("", "--customer-ref", help="Your own reference for this customer."),
    card_number: str = typer.Option("", "--card-number", help="A card the member already holds."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Enroll a member (repeating it with the same customer ref returns the same member)."""
    with connect() as client:
        response = client.enroll_member(customer_ref=customer_ref, card_number=card_number, request_id=request_id)
        _show("enrolled" if response.created else "already enrolled", response, client, mutating=True)


@app.command()
@_connected
def find(
    ctx: typer.Context,
    member_id: Optional[str] = typer.Option(None, "--member-id"),
    card_number: Optional[str] = typer.Option(None, "--card-number"),
    customer_ref: Optional[str] = typer.Option(None, "--customer-ref"),
    connect: _Connect = None,
) -> None:
    """Find a member by exactly one of --member-id, --card-number, --customer-ref."""
    with connect() as client:
        response = client.find_member(member_id=member_id, card_number=card_number, customer_ref=customer_ref)
        _show("member", response)


# --- earning and redeeming -----------------------------------------------------------------------

@app.command()
@_connected
def earn(
    ctx: typer.Context,
    member_id: str = typer.Argument(...),
    amount_minor: Optional[int] = typer.Option(
        None, "--amount-minor", min=1, help="Purchase amount in minor units of the contract currency (1250 = 12.50); "
        "it earns floor(12.50 x the contract's earn rate in points per 1.00)."),
    points: Optional[int] = typer.Option(None, "--points", min=1, help="A fixed number of points instead."),
    currency: str = typer.Option("EUR", "--currency"),
    receipt_ref: str = typer.Option("", "--receipt-ref"),
    store_id: str = typer.Option("", "--store-id"),
    terminal_id: str = typer.Option("", "--terminal-id"),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Award points for a purchase (--amount-minor) or a fixed number of points (--points)."""
    if (amount_minor is None) == (points is None):
        raise _fail("give exactly one of --amount-minor or --points")
    with connect() as client:
        response = client.earn(
            member_id, amount_minor=amount_minor, currency=currency, points=points, receipt_ref=receipt_ref,
            store_id=store_id, terminal_id=terminal_id, request_id=request_id,
        )
        _show("earned", response, client, mutating=True)


PinOption = typer.Option(None, "--pin", help="The member's spending PIN (4 to 8 digits), their consent to this spend.")
CodeOption = typer.Option(None, "--code", help="A one-time redemption code from the member portal (10 digits).")


def _one_verification(pin: str | None, code: str | None) -> None:
    if pin and code:
        raise typer.BadParameter("give --pin or --code, not both")


@app.command()
@_connected
def redeem(
    ctx: typer.Context,
    member_id: str = typer.Argument(...),
    points: int = typer.Argument(..., min=1),
    basket_minor: Optional[int] = typer.Option(None, "--basket-minor", min=1, help="The basket, minor units."),
    currency: str = typer.Option("EUR", "--currency"),
    receipt_ref: str = typer.Option("", "--receipt-ref"),
    store_id: str = typer.Option("", "--store-id"),
    terminal_id: str = typer.Option("", "--terminal-id"),
    pin: Optional[str] = PinOption,
    code: Optional[str] = CodeOption,
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Spend a member's points at once (with the member's --pin or one-time --code)."""
    _one_verification(pin, code)
    with connect() as client:
        response = client.redeem(
            member_id, points, basket_minor=basket_minor, currency=currency, receipt_ref=receipt_ref,
            store_id=store_id, terminal_id=terminal_id, request_id=request_id, pin=pin, code=code,
        )
        _show("redeemed", response, client, mutating=True)


@app.command()
@_connected
def authorize(
    ctx: typer.Context,
    member_id: str = typer.Argument(...),
    points: int = typer.Argument(..., min=1),
    basket_minor: Optional[int] = typer.Option(None, "--basket-minor", min=1),
    currency: str = typer.Option("EUR", "--currency"),
    receipt_ref: str = typer.Option("", "--receipt-ref"),
    store_id: str = typer.Option("", "--store-id"),
    terminal_id: str = typer.Option("", "--terminal-id"),
    hold_ttl_seconds: int = typer.Option(0, "--hold-ttl-seconds", min=0, help="0 means the network default."),
    pin: Optional[str] = PinOption,
    code: Optional[str] = CodeOption,
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Place a hold on a member's points (capture or void it later), with the member's --pin or one-time --code."""
    _one_verification(pin, code)
    with connect() as client:
        response = client.authorize_redemption(
            member_id, points, basket_minor=basket_minor, currency=currency, receipt_ref=receipt_ref,
            store_id=store_id, terminal_id=terminal_id, hold_ttl_seconds=hold_ttl_seconds, request_id=request_id,
            pin=pin, code=code,
        )
        _show("hold placed", response, client, mutating=True)


@app.command()
@_connected
def capture(
    ctx: typer.Context,
    hold_id: str = typer.Argument(...),
    points: int = typer.Option(0, "--points", min=0, help="At most the held points; 0 captures all."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Capture a hold (spend its points; the rest is released)."""
    with connect() as client:
        response = client.capture_redemption(hold_id, points=points, request_id=request_id)
        _show("captured", response, client, mutating=True)


@app.command()
@_connected
def void(
    ctx: typer.Context,
    hold_id: str = typer.Argument(...),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Release a hold."""
    with connect() as client:
        response = client.void_redemption(hold_id, request_id=request_id)
        _show("voided", response, client, mutating=True)


@app.command()
@_connected
def reverse(
    ctx: typer.Context,
    transaction_id: str = typer.Argument(...),
    points: int = typer.Option(0, "--points", min=0, help="0 reverses all that is still reversible."),
    reason: str = typer.Option("", "--reason"),
    member_id: str = typer.Option("", "--member", help="The transaction's member: found on one database node."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Reverse an earn or a redemption, fully or partly (a return)."""
    with connect() as client:
        response = client.reverse(transaction_id, points=points, reason=reason, request_id=request_id,
                                  member_id=member_id)
        _show("reversed", response, client, mutating=True)


# --- reading -------------------------------------------------------------------------------------

@app.command()
@_connected
def balance(
    ctx: typer.Context,
    member_id: str = typer.Argument(...),
    connect: _Connect = None,
) -> None:
    """A member's balance."""
    with connect() as client:
        _show("balance", client.get_balance(member_id))


@app.command()
@_connected
def history(
    ctx: typer.Context,
    member_id: str = typer.Option("", "--member-id", help="Only this member's transactions."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many transactions."),
    page_size: int = typer.Option(50, "--page-size", min=1, max=500),
    connect: _Connect = None,
) -> None:
    """Your transactions, newest first."""
    table = Table(title="transactions", title_justify="left")
    for column in ("created at", "kind", "member", "points", "purchase", "receipt ref", "transaction id", "related"):
        table.add_column(column, justify="right" if column == "points" else "left")
    kinds = network_pb2.TransactionKind
    with connect() as client:
        for count, tx in enumerate(client.list_transactions(member_id=member_id, page_size=min(page_size, limit))):
            if count >= limit:
                break
            table.add_row(
                tx.created_at.ToDatetime(tzinfo=dt.timezone.utc).isoformat() if tx.HasField("created_at") else "",
                kinds.Name(tx.kind).removeprefix("TRANSACTION_KIND_").lower() if tx.kind in kinds.values() else str(tx.kind),
                tx.member_id,
                str(tx.points),
                f"{tx.purchase.amount_minor} {tx.purchase.currency}" if tx.HasField("purchase") else "",
                tx.receipt_ref,
                tx.transaction_id,
                tx.related_id,
            )
    console.print(table)


# --- self-service: position and traffic -----------------------------------------------------------

def _terms_row(table: Table, label: str, terms: settlement_pb2.ContractTerms) -> None:
    limit = str(terms.credit_limit_minor) if terms.HasField("credit_limit_minor") else "none"
    table.add_row(label, f"v{terms.version} from {terms.effective_from.ToDatetime(tzinfo=dt.timezone.utc).isoformat()}: "
                         f"{terms.settlement_model}, earn {terms.earn_points_per_major}/major, clearing fee "
                         f"{terms.clearing_fee_bps} bps, breakage share {terms.breakage_share_bps} bps, credit limit "
                         f"{limit}, collateral {terms.collateral_minor}")


@app.command()
@_connected
def position(
    ctx: typer.Context,
    connect: _Connect = None,
) -> None:
    """Your liability, exposure, credit headroom, the open cycle's accrued obligations and your contract terms."""
    with connect() as client:
        pos = client.get_partner_position()
    money = f"{pos.currency} (minor units)"
    table = Table(title=f"position of {pos.partner_id} at {pos.as_of.ToDatetime(tzinfo=dt.timezone.utc).isoformat()}",
                  show_header=False, title_justify="left")
    table.add_column(style="bold cyan")
    table.add_column(overflow="fold")
    table.add_row("outstanding points", str(pos.outstanding_points))
    table.add_row("liability", f"{pos.liability_minor} {money}")
    table.add_row("collateral", f"{pos.collateral_minor} {money}")
    table.add_row("exposure", f"{pos.exposure_minor} {money}")
    table.add_row("credit limit", f"{pos.credit_limit_minor} {money}" if pos.HasField("credit_limit_minor") else "none")
    if pos.HasField("credit_headroom_minor"):
        table.add_row("credit headroom", f"{pos.credit_headroom_minor} {money}")
    accrued = pos.accrued
    since = (accrued.period_start.ToDatetime(tzinfo=dt.timezone.utc).isoformat() if accrued.HasField("period_start")
             else "the start (no cycle yet)")
    table.add_row("open cycle since", since)
    table.add_row("accrued", f"receivable {accrued.receivable_minor}  payable {accrued.payable_minor}  "
                             f"net {accrued.net_minor} {money}")
    if pos.HasField("terms_in_force"):
        _terms_row(table, "terms in force", pos.terms_in_force)
    for terms in pos.upcoming_terms:
        _terms_row(table, "upcoming terms", terms)
    console.print(table)
    if accrued.lines:
        lines = Table(title="accrued obligation lines (open cycle)", title_justify="left")
        for column in ("#", "cause", "counterparty", "issuer", "redeemer", "points", "amount (minor)"):
            lines.add_column(column, justify="right" if column in ("#", "points", "amount (minor)") else "left")
        for line in accrued.lines:
            lines.add_row(str(line.line_number), line.cause, line.counterparty, line.issuer_id, line.redeemer_id,
                          str(line.points), str(line.amount_minor))
        console.print(lines)


@app.command()
@_connected
def report(
    ctx: typer.Context,
    start_date: str = typer.Option(..., "--from", help="First UTC day, YYYY-MM-DD."),
    end_date: str = typer.Option(..., "--to", help="Last UTC day, YYYY-MM-DD (at most 92 days in all)."),
    connect: _Connect = None,
) -> None:
    """Your traffic per UTC day and store: earns, redemptions, reversals, points and amounts."""
    columns = ("date", "store", "earns", "earned points", "purchases (minor)", "redemptions", "redeemed points",
               "redeemed value (minor)", "baskets (minor)", "reversals", "reversed points")
    table = Table(title=f"traffic {start_date} .. {end_date}", title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("date", "store") else "right")
    with connect() as client:
        for row in client.traffic_report(start_date, end_date, page_size=500):
            table.add_row(row.date, row.store_id or "-", str(row.earn_count), str(row.earned_points),
                          str(row.purchase_amount_minor), str(row.redemption_count), str(row.redeemed_points),
                          str(row.redeemed_value_minor), str(row.basket_amount_minor), str(row.reversal_count),
                          str(row.reversed_points))
    console.print(table)


def _event_line(event: network_pb2.Event) -> str:
    """One event as a line of JSON (sequence, type, when, and the transaction or the subject and details)."""
    line: dict = {"sequence": event.sequence, "type": event.type,
                  "occurred_at": event.occurred_at.ToDatetime(tzinfo=dt.timezone.utc).isoformat()}
    if event.HasField("transaction"):
        tx = event.transaction
        line |= {"transaction_id": tx.transaction_id, "member_id": tx.member_id, "points": tx.points}
        if tx.related_id:
            line["related_id"] = tx.related_id
    else:
        line |= {"subject": event.subject, "detail": json.loads(event.detail_json or "{}")}
    return json.dumps(line, sort_keys=False)


@app.command()
@_connected
def events(
    ctx: typer.Context,
    after: int = typer.Option(0, "--after", min=0, help="Only events after this sequence number."),
    follow: bool = typer.Option(False, "--follow", "-f",
                                help="Keep the stream open (WatchEvents) and print each event as it happens."),
    limit: int = typer.Option(0, "--limit", min=0, help="Stop after this many events (0: no limit)."),
    connect: _Connect = None,
) -> None:
    """Your events after a sequence number, oldest first, one JSON object a line, each signature checked.
    Resume with --after set to the last sequence you processed."""
    with connect() as client:
        stream = client.watch_events(after) if follow else client.list_events(after)
        try:
            for count, event in enumerate(stream, 1):
                typer.echo(_event_line(event))
                if limit and count >= limit:
                    break
        finally:
            stream.close()


# --- statements (settlement) ---------------------------------------------------------------------

statements_app = typer.Typer(help="Your settlement statements: list, show (signature checked), acknowledge, dispute.",
                             no_args_is_help=True)
app.add_typer(statements_app, name="statements")


@statements_app.command("list")
@_connected
def statements_list(
    ctx: typer.Context,
    cycle_id: str = typer.Option("", "--cycle-id", help="Only this cycle's statement."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many statements."),
    connect: _Connect = None,
) -> None:
    """Your statements, newest first."""
    table = Table(title="statements", title_justify="left")
    for column in ("statement id", "cycle", "state", "net (minor)", "carried in", "dispute deadline"):
        table.add_column(column, justify="right" if column in ("net (minor)", "carried in") else "left")
    states = settlement_pb2.StatementState
    with connect() as client:
        for count, st in enumerate(client.list_statements(cycle_id=cycle_id, page_size=min(limit, 200))):
            if count >= limit:
                break
            table.add_row(st.statement_id, st.cycle_id, states.Name(st.state).removeprefix("STATEMENT_STATE_").lower(),
                          f"{st.net_minor} {st.currency}", str(st.carried_in_minor),
                          st.dispute_deadline.ToDatetime(tzinfo=dt.timezone.utc).isoformat())
    console.print(table)


@statements_app.command("show")
@_connected
def statements_show(
    ctx: typer.Context,
    statement_id: str = typer.Argument(...),
    connect: _Connect = None,
) -> None:
    """One statement with its lines; the network's signature over it is verified."""
    with connect() as client:
        try:
            statement = client.get_statement(statement_id)
        except signing.SignatureError as exc:
            raise _fail(str(exc)) from None
    table = Table(title=f"statement {statement_id} (signature verified, key {statement.network_key_id})",
                  title_justify="left")
    for column in ("#", "cause", "counterparty", "issuer", "redeemer", "points", "amount (minor)"):
        table.add_column(column, justify="right" if column in ("#", "points", "amount (minor)") else "left")
    for line in statement.lines:
        table.add_row(str(line.line_number), line.cause, line.counterparty, line.issuer_id, line.redeemer_id,
                      str(line.points), str(line.amount_minor))
    console.print(table)
    console.print(f"receivable {statement.receivable_minor}  payable {statement.payable_minor}  "
                  f"net {statement.summary.net_minor}  carried in {statement.summary.carried_in_minor}  "
                  f"disputed {statement.disputed_minor} {statement.summary.currency} (minor units)")


@statements_app.command("acknowledge")
@_connected
def statements_acknowledge(
    ctx: typer.Context,
    statement_id: str = typer.Argument(...),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Accept a statement before its dispute deadline."""
    with connect() as client:
        _show("acknowledged", client.acknowledge_statement(statement_id, request_id=request_id), client, mutating=True)


@statements_app.command("dispute")
@_connected
def statements_dispute(
    ctx: typer.Context,
    statement_id: str = typer.Argument(...),
    lines: list[int] = typer.Option(..., "--line", help="A disputed line number (repeat for several)."),
    reason: str = typer.Option(..., "--reason"),
    amount_minor: int = typer.Option(0, "--amount-minor", min=0, help="Part of the lines' total (0: all of it)."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Dispute lines of a statement: the amount is held back and carried to the next cycle."""
    with connect() as client:
        response = client.dispute_statement(statement_id, lines, reason, amount_minor=amount_minor,
                                            request_id=request_id)
        _show("disputed", response, client, mutating=True)


# --- campaigns -----------------------------------------------------------------------------------

campaigns_app = typer.Typer(help="Your own bonus campaigns (funded by you, on your stores): create, list, pause, "
                                 "resume, end.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")


def _campaign_row(table: Table, c: network_pb2.PartnerCampaign) -> None:
    effect = " + ".join(part for part in (f"x{c.multiplier_bps} bps" if c.multiplier_bps else "",
                                          f"{c.fixed_points} pts" if c.fixed_points else "") if part)
    table.add_row(c.campaign_id, c.name, c.status, ", ".join(c.stores) or "all", effect,
                  f"{c.cap_points}/{c.cap_period}" if c.cap_points else "",
                  f"{c.budget_left}/{c.budget_points}" if c.budget_points else "", str(c.awarded_points))


def _campaign_table(campaigns) -> Table:
    table = Table(title="campaigns", title_justify="left")
    for column in ("campaign", "name", "status", "stores", "effect", "cap", "budget left", "given"):
        table.add_column(column, overflow="fold")
    for c in campaigns:
        _campaign_row(table, c)
    return table


@campaigns_app.command("create")
@_connected
def campaigns_create(
    ctx: typer.Context,
    campaign_id: str = typer.Argument(..., help="Unique in the network, 1 to 64 characters."),
    name: str = typer.Option("", help="Shown to the network's operator (default: the id)."),
    store: list[str] = typer.Option([], help="One of your store ids (repeat; none: all your stores)."),
    multiplier_bps: int = typer.Option(0, help="Bonus on the base points, basis points (10000: double points)."),
    fixed_points: int = typer.Option(0, help="Fixed bonus points per earn."),
    cap_points: int = typer.Option(0, help="At most this many bonus points per member and cap period."),
    cap_period: str = typer.Option("", help="campaign (default), day or month."),
    budget_points: int = typer.Option(0, help="Total bonus points; the campaign ends when they are given."),
    min_basket_minor: int = typer.Option(0, help="Minimum purchase amount, minor units."),
    weekday: list[int] = typer.Option([], help="0 = Monday ... 6 = Sunday (repeat; none: every day)."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Create a campaign of your own: it rewards earns at your stores, and you pay for its points."""
    with connect() as client:
        created = client.create_campaign(campaign_id, name=name, stores=store, multiplier_bps=multiplier_bps,
                                         fixed_points=fixed_points, cap_points=cap_points, cap_period=cap_period,
                                         budget_points=budget_points, min_basket_minor=min_basket_minor,
                                         weekdays=weekday, request_id=request_id)
    console.print(_campaign_table([created]))


@campaigns_app.command("list")
@_connected
def campaigns_list(
    ctx: typer.Context,
    connect: _Connect = None,
) -> None:
    """Your campaigns, newest first, with their budget burn."""
    with connect() as client:
        console.print(_campaign_table(client.list_campaigns()))


def _campaign_action(action: str):
    @_connected
    def command(
        ctx: typer.Context,
        campaign_id: str = typer.Argument(...),
        request_id: Optional[str] = RequestIdOption,
        connect: _Connect = None,
    ) -> None:
        with connect() as client:
            campaign = client.update_campaign_status(campaign_id, action, request_id=request_id)
        console.print(f"campaign {campaign.campaign_id}: {campaign.status}")
    command.__doc__ = {"pause": "Pause an active campaign of yours.", "resume": "Resume a paused campaign of yours.",
                       "end": "End a campaign of yours, for good."}[action]
    return command


for _action in ("pause", "resume", "end"):
    campaigns_app.command(_action)(_campaign_action(_action))


# --- webhooks ------------------------------------------------------------------------------------

webhooks_app = typer.Typer(help="Your webhook endpoints: add, list, remove, enable, deliveries, replay.",
                           no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


def _endpoint_state(endpoint: network_pb2.WebhookEndpoint) -> str:
    return "enabled" if endpoint.enabled else f"disabled: {endpoint.disabled_reason}"


@webhooks_app.command("add")
@_connected
def webhooks_add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="https://... (Standard Webhooks POSTs)."),
    event_types: list[str] = typer.Option([], "--event", help="An event type to receive (repeat; none: all)."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Register an endpoint; prints its v1 secret (shown once: keep it to verify signatures)."""
    with connect() as client:
        _show("webhook endpoint added", client.create_webhook_endpoint(url, event_types, request_id=request_id),
              client, mutating=True)


@webhooks_app.command("list")
@_connected
def webhooks_list(
    ctx: typer.Context,
    connect: _Connect = None,
) -> None:
    """Your endpoints, their filters and state."""
    table = Table(title="webhook endpoints", title_justify="left")
    for column in ("endpoint id", "url", "events", "state", "delivered through"):
        table.add_column(column, overflow="fold")
    with connect() as client:
        for endpoint in client.list_webhook_endpoints():
            table.add_row(endpoint.endpoint_id, endpoint.url, ", ".join(endpoint.event_types) or "all",
                          _endpoint_state(endpoint), str(endpoint.delivered_through_sequence))
    console.print(table)


@webhooks_app.command("remove")
@_connected
def webhooks_remove(
    ctx: typer.Context,
    endpoint_id: str = typer.Argument(...),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Remove an endpoint and its delivery log."""
    with connect() as client:
        client.delete_webhook_endpoint(endpoint_id, request_id=request_id)
    console.print(f"endpoint {endpoint_id} removed")


@webhooks_app.command("enable")
@_connected
def webhooks_enable(
    ctx: typer.Context,
    endpoint_id: str = typer.Argument(...),
    disable: bool = typer.Option(False, "--disable", help="Disable it instead."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Enable an endpoint (one the network disabled after failures: delivery resumes where it stopped)."""
    with connect() as client:
        endpoint = client.update_webhook_endpoint(endpoint_id, state="disabled" if disable else "enabled",
                                                  request_id=request_id)
    console.print(f"endpoint {endpoint.endpoint_id} {_endpoint_state(endpoint)}")


@webhooks_app.command("deliveries")
@_connected
def webhooks_deliveries(
    ctx: typer.Context,
    endpoint_id: str = typer.Option("", "--endpoint", help="One endpoint's (default: all yours)."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    connect: _Connect = None,
) -> None:
    """The delivery log, newest attempt first: status code or error, latency."""
    table = Table(title="webhook deliveries", title_justify="left")
    for column in ("at", "endpoint id", "webhook-id", "attempt", "replay", "status", "error", "ms"):
        table.add_column(column, overflow="fold")
    with connect() as client:
        for d in client.list_webhook_deliveries(endpoint_id, page_size=limit):
            table.add_row(d.attempted_at.ToDatetime(tzinfo=dt.timezone.utc).isoformat(), d.endpoint_id, d.webhook_id,
                          str(d.attempt), "yes" if d.replay else "", str(d.status_code or ""), d.error,
                          str(d.latency_ms))
    console.print(table)


@webhooks_app.command("replay")
@_connected
def webhooks_replay(
    ctx: typer.Context,
    endpoint_id: str = typer.Argument(...),
    first: int = typer.Option(..., "--from", min=1, help="The first event sequence to deliver again."),
    last: int = typer.Option(0, "--to", min=0, help="The last (default: --from only)."),
    request_id: Optional[str] = RequestIdOption,
    connect: _Connect = None,
) -> None:
    """Deliver one event or a range again, with the webhook-ids of the first time (dedupe on them)."""
    with connect() as client:
        _show("replay requested", client.replay_webhook_events(endpoint_id, first, last, request_id=request_id),
              client, mutating=True)


if __name__ == "__main__":  # pragma: no cover
    app()
