"""`coalition`: operate the network from the command line."""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from coalition.bench import (BATCH_SIZE, run_campaign_benchmark, run_earn_benchmark, run_earn_scaling,
                             run_verify_benchmark)
from coalition.wire_bench import run_wire_benchmark
from network.runtime import configure_logging, database, operator_transaction
from network import admin
from network.core.terms import BASIS_POINTS
from network.settings import IDEMPOTENCY_RETENTION_MIN_SECONDS, get_settings
from coalition.demo import demo_seed, demo_traffic, run_history_benchmark
from coalition.programme_cli import campaign_app, tier_app
from coalition.soak import soak_command
from coalition.up import up_command
from coalition.webhooks import webhooks_app
from console.bench import run_console_benchmark
from console.cli import console_app
from console.portal.cli import members_app
from network.mail import mailer_from_settings
from network.store.accounts import AccountError, build_accounts
from network.store.ledger import build_ledger
from network import admin
from network.database import schema_revision
from network.outage import wait_for_database
from network.runtime import configure_logging, database, operator_transaction
from network.processes import default_processes, reserve_port, run_supervised
from network.server import serve_forever, start_server
from network.signer import NetworkSigner
from coalition.settings import get_settings
from network.store import partitions
from network.store.verify import verify_ledger
from settlement.bench import run_settle_benchmark
from settlement.cli import settle_app, worker_app
from settlement.grpc_service import registration
from settlement.verify import CHECKS as SETTLEMENT_CHECKS

app = typer.Typer(help="Coalition: a coalition loyalty network.", no_args_is_help=True)
network_app = typer.Typer(help="The points network server.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
ledger_app = typer.Typer(help="The ledger.", no_args_is_help=True)
partner_app = typer.Typer(help="Partners, contracts and keys (operator actions, recorded).", no_args_is_help=True)
# members_app (console.portal.cli): `members serve` there, the operator actions on members and cards here
bench_app = typer.Typer(help="Benchmarks: print figures and write them to a JSON file.", no_args_is_help=True)
app.add_typer(network_app, name="network")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(partner_app, name="partner")
app.add_typer(members_app, name="members")
app.add_typer(bench_app, name="bench")
app.add_typer(settle_app, name="settle")
app.add_typer(worker_app, name="settlement")
app.add_typer(console_app, name="console")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(campaign_app, name="campaign")
app.add_typer(tier_app, name="tier")
demo_app = typer.Typer(help="The demo coalition: seed it, send it traffic.", no_args_is_help=True)
demo_app.command("seed")(demo_seed)
demo_app.command("traffic")(demo_traffic)
app.add_typer(demo_app, name="demo")
app.command("up")(up_command)
app.command("soak")(soak_command)
console = Console()
OPERATOR = typer.Option("cli", "--operator", help="Who is acting (recorded with the action).")


@network_app.command("serve")
def network_serve(address: str = typer.Option(None, help="host:port to listen on (default COALITION_GRPC_ADDRESS)"),
                  migrate: bool = typer.Option(False, help="Apply migrations first."),
                  processes: int = typer.Option(
                      default_processes(), min=1,
                      help="Server processes sharing the port (SO_REUSEPORT), supervised: see network.processes. "
                           "Default: the machine's cores."),
                  reuse_port: bool = typer.Option(False, hidden=True,
                                                  help="Listen with SO_REUSEPORT (the supervisor's children).")) -> None:
    """Run the network server (signed gRPC, health checking, reflection)."""
    settings = get_settings()
    configure_logging(settings)
    if processes > 1:
        raise typer.Exit(_serve_processes(settings, address, migrate, processes))
    with database(settings, run_migrations=migrate) as engine:
        wait_for_database(engine)  # a server started before PostgreSQL waits for it
        running = start_server(engine, settings, address=address, reuse_port=reuse_port,
                               extra_services=[registration(engine, settings)])
        console.print(f"network server listening on {address or settings.grpc_address} (port {running.port})")
        serve_forever(running)


def _serve_processes(settings, address: str | None, migrate: bool, processes: int) -> int:
    """The supervisor of `network serve --processes N` (network.processes): migrations, the network key and the
    embedded PostgreSQL (when DATABASE_URL is unset) once here, then N children on one port; their exit status."""
    NetworkSigner.from_file(settings.resolved_network_key_file())  # created once, before the children read it
    with database(settings, run_migrations=migrate) as engine:
        bind, reserved = reserve_port(address or settings.grpc_address)
        try:
            env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
            command = [sys.executable, "-m", "coalition.cli", "network", "serve", "--processes", "1", "--reuse-port",
                       "--address", bind]
            console.print(f"network server listening on {bind} ({processes} processes)")
            return run_supervised(command, processes, env, data_dir=settings.data_dir,
                                  metrics_port=settings.metrics_port, metrics_address=settings.metrics_address)
        finally:
            reserved.close()


@members_app.command("erase")
def members_erase(member: str = typer.Argument(..., help="A member id or card number of the account to erase."),
                  reason: str = typer.Option(..., "--reason", help="Why (recorded with the action)."),
                  operator: str = OPERATOR) -> None:
    """Erase a member's account (a data-erasure request): its personal data is crypto-shredded (the data key
    deleted), its cards' remaining points go to breakage per issuer, the ledger stays whole; recorded."""
    settings = get_settings()
    with database(settings) as engine:
        accounts = build_accounts(engine, settings, mailer_from_settings(settings))
        with engine.connect() as conn:
            found = conn.execute(text("SELECT member_id::text FROM members WHERE member_id::text = :v OR card_number = :v"),
                                 {"v": member.strip()}).scalar()
        account_id = accounts.account_of_member(found) if found else None
        if account_id is None:
            console.print(f"[red]no member account for {member}[/red]")
            raise typer.Exit(1)
        try:
            erased = accounts.erase(account_id, build_ledger(engine, settings), operator, reason)
        except AccountError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    written_off = ", ".join(f"{issuer} {points:,}" for issuer, points in sorted(erased.breakage_by_issuer.items()))
    console.print(f"account {erased.account_id} erased ({len(erased.member_ids)} card(s)); points to breakage: "
                  f"{written_off or 'none'}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Bring the schema to the newest migration."""
    with database(run_migrations=True) as engine:
        console.print(f"schema at revision {schema_revision(engine)}")


@ledger_app.command("verify")
def ledger_verify(skip_hash_chain: bool = typer.Option(False, help="Skip recomputing the hash chain.")) -> None:
    """Check every ledger invariant on the whole database; exit 1 if any fails."""
    with database() as engine, engine.connect() as conn:
        checks = verify_ledger(conn, hash_chain=not skip_hash_chain, extra=SETTLEMENT_CHECKS,
                               progress=lambda n: console.print(f"  hash chain: {n:,} rows checked"))
    table = Table("check", "result", "examined", "detail")
    for c in checks:
        table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]FAILED[/red]", f"{c.examined:,}",
                      c.detail + ("\n" + "\n".join(c.examples) if c.examples else ""))
    console.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@ledger_app.command("partitions")
def ledger_partitions(retention_seconds: Optional[int] = typer.Option(
        None, help="Idempotency-key retention (default: the configured COALITION_IDEMPOTENCY_RETENTION_SECONDS)."),
        drop: bool = typer.Option(True, help="Drop the idempotency partitions past the retention window.")) -> None:
    """Create the journal, postings and idempotency-key partitions ahead; drop the expired idempotency weeks."""
    retention = retention_seconds if retention_seconds is not None else get_settings().idempotency_retention_seconds
    if retention < IDEMPOTENCY_RETENTION_MIN_SECONDS:
        raise typer.BadParameter(f"at least {IDEMPOTENCY_RETENTION_MIN_SECONDS} seconds", param_hint="--retention-seconds")
    with database() as engine, engine.begin() as conn:
        now = conn.execute(text("SELECT now()")).scalar_one()
        created = partitions.ensure_partitions(conn, now)
        dropped, deleted = partitions.drop_expired_idempotency(conn, retention) if drop else ([], 0)
        have = sorted(partitions.existing(conn))
    console.print(f"created: {', '.join(created) or 'none'}")
    console.print(f"dropped: {', '.join(dropped) or 'none'} ({deleted:,} expired idempotency keys)")
    console.print(f"partitions: {len(have)} ({have[0]} .. {have[-1]})" if have else "partitions: none")


MANDATE_ID = typer.Option(None, "--mandate-id", help="The partner's SEPA direct debit mandate id (collections).")
MANDATE_SIGNED_ON = typer.Option(None, "--mandate-signed-on", formats=["%Y-%m-%d"],
                                 help="The date the partner signed that mandate (YYYY-MM-DD).")


def _mandate(mandate_id: Optional[str], signed_on: Optional[datetime]) -> Optional[admin.SepaMandate]:
    if (mandate_id is None) != (signed_on is None):
        raise typer.BadParameter("give --mandate-id and --mandate-signed-on together")
    return admin.SepaMandate(mandate_id, signed_on.date()) if mandate_id is not None and signed_on else None


@partner_app.command("create")
def partner_create(partner_id: str, name: str, currency: str = "EUR", iban: Optional[str] = None,
                   bic: Optional[str] = None, mandate_id: Optional[str] = MANDATE_ID,
                   mandate_signed_on: Optional[datetime] = MANDATE_SIGNED_ON, operator: str = OPERATOR) -> None:
    mandate = _mandate(mandate_id, mandate_signed_on)
    with operator_transaction() as conn:
        admin.create_partner(conn, operator, partner_id, name, currency, iban, bic, mandate)
    console.print(f"partner {partner_id} created")


@partner_app.command("update")
def partner_update(partner_id: str, name: Optional[str] = None, iban: Optional[str] = None, bic: Optional[str] = None,
                   mandate_id: Optional[str] = MANDATE_ID, mandate_signed_on: Optional[datetime] = MANDATE_SIGNED_ON,
                   operator: str = OPERATOR) -> None:
    """Change a partner's name, bank account or SEPA mandate (options not given stay as they are)."""
    mandate = _mandate(mandate_id, mandate_signed_on)
    with operator_transaction() as conn:
        admin.update_partner(conn, operator, partner_id, name=name, iban=iban, bic=bic, mandate=mandate)
    console.print(f"partner {partner_id} updated")


@partner_app.command("contract")
def partner_contract(
    partner_id: str,
    earn_points_per_major: Decimal = typer.Option(
        Decimal(1), help="Earn rate: points per 1.00 of the contract currency (2: EUR 12.50 earns 25 points)."),
    settlement_model: str = typer.Option("issuer_pays", help="issuer_pays or prefunded"),
    clearing_fee_bps: int = 0, issue_price_minor_per_point: Decimal = Decimal(0),
    redemption_rate_minor_per_point: Decimal = Decimal(0), breakage_share_bps: int = 0,
    return_window_seconds: int = 0, expiry_days: int = 0, max_basket_share_bps: int = BASIS_POINTS,
    credit_limit_minor: Optional[int] = None, collateral_minor: int = 0,
    unverified_spend_limit_points: int = typer.Option(
        0, help="Points one spend may take without the member's PIN or code, for members enrolled at the partner's "
                "own till (0: every spend needs one)."),
    expiry_policy: str = typer.Option("fixed", help="fixed (expiry_days or expiry_months after the earn), calendar "
                                      "(end of the earn's year + expiry_months) or inactivity (expiry_months after "
                                      "the member's last earn or spend anywhere)"),
    expiry_months: int = 0,
    effective_from: Optional[datetime] = typer.Option(None, help="ISO time (UTC); default now"),
    operator: str = OPERATOR,
) -> None:
    """Add the partner's next contract version."""
    draft = admin.ContractDraft(earn_points_per_major, settlement_model, clearing_fee_bps, issue_price_minor_per_point,
                                redemption_rate_minor_per_point, breakage_share_bps, return_window_seconds, expiry_days,
                                max_basket_share_bps, credit_limit_minor, collateral_minor,
                                unverified_spend_limit_points, expiry_policy, expiry_months)
    with operator_transaction() as conn:
        terms = admin.set_contract(conn, operator, partner_id, draft,
                                   effective_from.astimezone() if effective_from else None)
    console.print(f"contract v{terms.version} for {partner_id}, effective {terms.effective_from.isoformat()}")


@partner_app.command("key-register")
def partner_key_register(partner_id: str, key_id: str, public_key: str = typer.Argument(..., help="base64 raw Ed25519"),
                         operator: str = OPERATOR) -> None:
    with operator_transaction() as conn:
        admin.register_key(conn, operator, partner_id, key_id, public_key)
    console.print(f"key {key_id} registered for {partner_id}")


@partner_app.command("key-revoke")
def partner_key_revoke(key_id: str, operator: str = OPERATOR) -> None:
    with operator_transaction() as conn:
        admin.revoke_key(conn, operator, key_id)
    console.print(f"key {key_id} revoked")


@partner_app.command("suspend")
def partner_suspend(partner_id: str, operator: str = OPERATOR) -> None:
    _set_status(partner_id, "suspended", operator)


@partner_app.command("resume")
def partner_resume(partner_id: str, operator: str = OPERATOR) -> None:
    _set_status(partner_id, "active", operator)


def _set_status(partner_id: str, status: str, operator: str) -> None:
    with operator_transaction() as conn:
        admin.set_partner_status(conn, operator, partner_id, status)
    console.print(f"partner {partner_id} is {status}")


@partner_app.command("set-charity")
def partner_set_charity(partner_id: str, off: bool = typer.Option(False, "--off", help="Take the flag away."),
                        operator: str = OPERATOR) -> None:
    """Flag a partner as a charity: members may donate points to it (a redemption there, settled as any)."""
    with operator_transaction() as conn:
        admin.set_charity(conn, operator, partner_id, not off)
    console.print(f"partner {partner_id} {'is no longer' if off else 'is'} a charity")


@members_app.command("freeze")
def members_freeze(member_id: Optional[str] = typer.Argument(None, help="The member (all spending stops)."),
                   card: Optional[str] = typer.Option(None, "--card", help="Freeze this card only, not the member."),
                   reason: str = typer.Option(..., help="Why (recorded)."), operator: str = OPERATOR) -> None:
    """Freeze a member or one card: every server refuses the next spend (read in the spend's transaction)."""
    _member_or_card(member_id, card, admin.freeze_member, admin.freeze_card, reason, operator, "frozen")


@members_app.command("unfreeze")
def members_unfreeze(member_id: Optional[str] = typer.Argument(None),
                     card: Optional[str] = typer.Option(None, "--card", help="Unfreeze this card."),
                     reason: str = typer.Option("", help="Why (recorded)."), operator: str = OPERATOR) -> None:
    """Lift a member's or a card's freeze."""
    _member_or_card(member_id, card, admin.unfreeze_member, admin.unfreeze_card, reason, operator, "unfrozen")


def _member_or_card(member_id: Optional[str], card: Optional[str], on_member, on_card, reason: str, operator: str,
                    done: str) -> None:
    """`on_card` for --card, else `on_member` for the member (one of them is required), then say what was done."""
    with operator_transaction() as conn:
        if card:
            on_card(conn, operator, card, reason)
        elif member_id:
            on_member(conn, operator, member_id, reason)
        else:
            raise typer.BadParameter("give a member id or --card")
    console.print(f"{'card ' + card if card else 'member ' + str(member_id)} {done}")


@members_app.command("replace-card")
def members_replace_card(member_id: str, card: str = typer.Argument(..., help="The lost card's number."),
                         operator: str = OPERATOR) -> None:
    """Replace a lost card: the old number stops working at once, the balance stays with the member."""
    with operator_transaction() as conn:
        new_card = admin.replace_card(conn, operator, member_id, card)
    console.print(f"card {card} replaced by {new_card}")


@partner_app.command("list")
def partner_list() -> None:
    with database() as engine, engine.connect() as conn:
        rows = conn.execute(text("SELECT p.partner_id, p.name, p.status, p.currency, p.iban, p.sepa_mandate_id, "
                                 "p.sepa_mandate_signed_on, (SELECT count(*) FROM partner_keys k "
                                 "WHERE k.partner_id = p.partner_id AND k.status = 'active') AS keys "
                                 "FROM partners p ORDER BY p.partner_id")).all()
    table = Table("partner", "name", "status", "currency", "iban", "SEPA mandate", "active keys")
    for r in rows:
        mandate = f"{r.sepa_mandate_id} ({r.sepa_mandate_signed_on.isoformat()})" if r.sepa_mandate_id else ""
        table.add_row(r.partner_id, r.name, r.status, r.currency, r.iban or "", mandate, str(r.keys))
    console.print(table)


@bench_app.command("earn")
def bench_earn(seconds: float = typer.Option(10.0, help="Duration of each unary phase."),
               concurrency: int = 32, batch_callers: int = typer.Option(
                   4, help="Concurrent BatchEarn callers (with --processes: at least 2 per process)."),
               latency_events: int = typer.Option(300, min=10, help="Earns timed from commit to WatchEvents and to "
                                                                    "the webhook receiver."),
               processes: Optional[str] = typer.Option(
                   None, help="Comma-separated server process counts (1,2,4): print the scaling table instead, "
                              "written to bench-results/earn-scaling.json unless --out is given."),
               campaigns: Optional[int] = typer.Option(
                   None, min=1, help="Signed unary earns/s with this many active campaigns and a tier ladder next to "
                                     "none, in the same run (bench-results/earn-campaigns.json unless --out)."),
               pairs: int = typer.Option(4, min=1, help="Pairs of phases compared, ordered A, B, B, A, ...: "
                                                        "outbox on and off, or with --campaigns plain and with."),
               out: Optional[Path] = typer.Option(None, help="Default bench-results/earn.json.")) -> None:
    """Signed earns through the SDK against a server started here, with a bare gRPC echo as the ceiling."""
    if campaigns is not None:
        figures = run_campaign_benchmark(campaigns=campaigns, seconds=seconds, concurrency=concurrency, pairs=pairs)
        _report(figures, out or Path("bench-results/earn-campaigns.json"))
        return
    if processes is None:
        _report(run_earn_benchmark(seconds=seconds, concurrency=concurrency, batch_callers=batch_callers,
                                   latency_events=latency_events, pairs=pairs),
                out or Path("bench-results/earn.json"))
        return
    try:
        counts = [int(n) for n in processes.split(",") if n.strip()]
    except ValueError:
        raise typer.BadParameter("give process counts as 1,2,4", param_hint="--processes") from None
    if not counts or min(counts) < 1:
        raise typer.BadParameter("give process counts of at least 1", param_hint="--processes")
    figures = run_earn_scaling(counts, seconds=seconds, concurrency=concurrency, batch_callers=batch_callers)
    out = out or Path("bench-results/earn-scaling.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    columns = {"processes": "procs", "earns_per_s": "earns/s", "earn_p99_ms": "p99 ms", "echo_calls_per_s": "echo/s",
               "echo_p99_ms": "echo p99", "ratio_to_echo": "ratio", "server_cpu_ms_per_earn": "server ms",
               "postgres_cpu_ms_per_earn": "pg ms", "clients_cpu_ms_per_earn": "clients ms"}
    table = Table(*columns.values(), title=f"signed unary earns by server processes ({figures['concurrency']} "
                                           f"callers, {figures['cpu_count']} cores, load before "
                                           f"{figures['load_average_before']}, after {figures['load_average_after']})"
                                           "; CPU ms per earn")
    for row in figures["rows"]:
        table.add_row(*(f"{row[c]:,}" for c in columns))
    wide = Console(width=max(console.width, 130))  # nine columns: wider than a pipe's 80
    wide.print(table)
    batched = {"processes": "procs", "batch_callers": "callers", "batch_earns_per_s": "earns/s",
               "batch_p99_ms": "p99 ms", "batch_server_cpu_ms_per_earn": "server ms",
               "batch_postgres_cpu_ms_per_earn": "pg ms", "batch_clients_cpu_ms_per_earn": "clients ms"}
    table = Table(*batched.values(), title=f"batched earns (BatchEarn of {BATCH_SIZE}) by server processes; "
                                           "CPU ms per earn")
    for row in figures["rows"]:
        table.add_row(*(f"{row[c]:,}" for c in batched))
    wide.print(table)
    console.print(f"written to {out}")


@bench_app.command("verify")
def bench_verify(iterations: int = 20_000, earn_figures: Path = typer.Option(
                     Path("bench-results/earn.json"), help="A `bench earn` result: the share of server CPU per earn."),
                 out: Path = typer.Option(Path("bench-results/verify.json"))) -> None:
    """Ed25519 per call on the server's path (request verification, receipt signing), by library."""
    _report(run_verify_benchmark(iterations=iterations, earn_figures=earn_figures), out)


@bench_app.command("wire")
def bench_wire(seconds: float = typer.Option(8.0, help="Duration of each step."), concurrency: int = 32,
               out: Path = typer.Option(Path("bench-results/wire.json"))) -> None:
    """Server CPU per signed unary call before the ledger: grpc.aio built up step by step, no database."""
    figures = run_wire_benchmark(seconds=seconds, concurrency=concurrency)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    table = Table("step", "calls/s", "server CPU ms/call", "clients CPU ms/call",
                  title=f"grpc.aio, {figures['concurrency']} callers, no database; each step adds to the one above")
    for row in figures["steps"]:
        table.add_row(row["step"], f"{row['calls_per_s']:,}", f"{row['server_cpu_ms_per_call']}",
                      f"{row['clients_cpu_ms_per_call']}")
    console.print(table)
    console.print(f"written to {out}")


@bench_app.command("settle")
def bench_settle(redemptions: int = 1_000_000, partners: int = 100,
                 out: Path = typer.Option(Path("bench-results/settle.json"))) -> None:
    """Clearing + netting of `redemptions` redemptions across `partners` partners, with peak memory."""
    _report(run_settle_benchmark(redemptions=redemptions, partners=partners), out)


@bench_app.command("history")
def bench_history(days: int = 90, members: int = 3000,
                  out: Path = typer.Option(Path("bench-results/history.json"))) -> None:
    """The demo's back-dated history on a fresh database: seconds to write it, what it holds, and ledger verify."""
    _report(run_history_benchmark(days=days, members=members), out)


@bench_app.command("console")
def bench_console(transactions: int = 1_000_000, partners: int = 100,
                  out: Path = typer.Option(Path("bench-results/console.json"))) -> None:
    """Render time of every console page on a database of `transactions` ledger transactions."""
    _report(run_console_benchmark(transactions=transactions, partners=partners), out)


@app.command("mutate")
def mutate(max_children: int = typer.Option(2, help="Mutants tested in parallel (mutmut --max-children)."),
           report_only: bool = typer.Option(False, "--report-only", help="Print the last run's verdicts, run nothing."),
           fresh: bool = typer.Option(False, "--fresh", help="Forget mutmut's kept verdicts (mutants/) and test all."),
           fail_under: float = typer.Option(0.0, help="Exit 1 when the overall score is below this percentage."),
           out: Path = typer.Option(Path("bench-results/mutation.json"))) -> None:
    """Mutation testing of the pure rule modules (mutmut, configured in pyproject.toml): the score per module."""
    from coalition import mutate as mutation

    if fresh and not report_only:
        shutil.rmtree(mutation.ROOT / "mutants", ignore_errors=True)
    if not report_only and mutation.run_mutmut(max_children) != 0:
        console.print("[red]mutmut run failed[/red]")
        raise typer.Exit(2)
    scores = mutation.read_scores()
    figures = mutation.report(scores)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    table = Table("module", "mutants", "killed", "survived", "no tests", "other", "score %")
    table.columns[0].no_wrap = True
    for s in [*scores, mutation.overall(scores)]:
        table.add_row(s.module, str(s.total), str(s.killed), str(s.survived), str(s.no_tests), str(s.other),
                      f"{s.score:.1f}")
    Console(width=max(console.width, 110)).print(table)
    for s in scores:
        for name in s.survivors:
            print(f"not killed: {name}")
    print(f"written to {out} (mutmut show <name> shows a mutant)")
    if figures["overall"]["score_percent"] < fail_under:
        raise typer.Exit(1)


def _report(figures: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))
    table = Table("figure", "value")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"written to {out}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
