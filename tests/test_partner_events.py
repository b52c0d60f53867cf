"""The partner event feed: the outbox written with each change, ListEvents and WatchEvents, signed and resumable.

What must hold: each partner's event stream is exactly its changes in the ledger (one event per journal row of
that partner, numbered 1..n without gap or repeat), whatever mix of calls, retries, refusals and server restarts
produced them; a refused call writes no event; WatchEvents resumes after the last sequence seen, also across a
server restart; the stream's request is verified like a unary call's, and every event carries the network's
signature.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner

from network import admin
from network.core import events as event_rules
from network.core.results import EarnItem, SpendRefs
from network.database import alembic_config, make_engine
from network.server import start_server
from network.store.contracts import ContractBook
from network.core.members import hash_range_index, shard_of, uuid_hash
from network.store.journal import ensure_shard_heads
from network.store.ledger import Ledger
from network.store.verify import (check_events, check_hold_allocations_rebuild, check_hold_members,
                                  check_member_cards, check_posting_members)
from partners import cli as partner_cli
from partners import errors, signing
from partners.client import PartnerClient
from partners.keyfile import KeyFile, save_key_file
from protos.coalition.v1 import network_pb2

KIND_OF_EVENT = {v: k for k, v in event_rules.TRANSACTION_EVENTS.items()} | {event_rules.HOLD_LAPSED: "void"}


def journal_of(engine, partner_id: str) -> dict[str, str]:
    """The partner's journal rows: tx id -> kind."""
    with engine.connect() as conn:
        return {str(r.tx_id): r.kind for r in conn.execute(
            text("SELECT tx_id, kind FROM journal WHERE partner_id = :p"), {"p": partner_id})}


def assert_stream_is_the_ledger(engine, client: PartnerClient, partner_id: str) -> list[network_pb2.Event]:
    """Every event of the partner (signatures checked) against its journal rows: one event each, no gap, no
    repeat, kinds matching; events not about a transaction are the partner's key registrations."""
    stream = list(client.list_events(page_size=7))  # a small page: several pages and tokens
    assert [e.sequence for e in stream] == list(range(1, len(stream) + 1))
    assert all(e.partner_id == partner_id for e in stream)
    ledger_events = [e for e in stream if e.HasField("transaction")]
    ids = [e.transaction.transaction_id for e in ledger_events]
    assert len(ids) == len(set(ids)), "a transaction reported twice"
    journal = journal_of(engine, partner_id)
    assert set(ids) == set(journal), "events and journal rows differ"
    assert all(KIND_OF_EVENT[e.type] == journal[e.transaction.transaction_id] for e in ledger_events)
    others = [e for e in stream if not e.HasField("transaction")]
    assert all(e.type == event_rules.KEY_REGISTERED for e in others), [e.type for e in others]
    return stream


# --- the property: random mixes of calls, retries, refusals and restarts ------------------------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("earn"), st.integers(0, 1), st.integers(1, 300)),
    st.tuples(st.just("batch"), st.integers(0, 1), st.integers(1, 4)),
    st.tuples(st.just("redeem"), st.integers(0, 1), st.integers(1, 400)),
    st.tuples(st.just("hold"), st.integers(0, 1), st.integers(1, 300)),
    st.tuples(st.just("capture"), st.integers(0, 1), st.integers(0, 9)),
    st.tuples(st.just("void"), st.integers(0, 1), st.integers(0, 9)),
    st.tuples(st.just("reverse"), st.integers(0, 1), st.integers(0, 9)),
    st.tuples(st.just("retry"), st.integers(0, 1), st.integers(0, 9)),
    st.tuples(st.just("refused"), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("lapse"), st.integers(0, 1), st.integers(0, 0)),
    st.tuples(st.just("restart"), st.integers(0, 0), st.integers(0, 0)),
), min_size=1, max_size=18)


@pytest.mark.slow
@hypothesis_settings(max_examples=25, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_each_partners_event_stream_equals_its_ledger_changes(engine, settings, network_signer, make_partner, ops):
    shops = [make_partner("evp"), make_partner("evq")]
    server = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    clients: list[PartnerClient] = []

    def connect() -> None:
        clients[:] = [PartnerClient(f"127.0.0.1:{server.port}", s.key_id, s.private_key, max_attempts=1)
                      for s in shops]

    connect()
    try:
        members = [clients[0].enroll_member().member.member_id, clients[1].enroll_member().member.member_id]
        done: list[tuple[int, str, object]] = []  # (partner, method, request) of calls answered, for retries
        holds: list[tuple[int, str]] = []
        txs: list[tuple[int, str]] = []
        later = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16,
                       clock=lambda: datetime.now(timezone.utc) + timedelta(days=1))
        for op, p, n in ops:
            client, member = clients[p], members[n % 2] if op in ("earn", "redeem", "hold") else members[p]
            try:
                if op == "earn":
                    request_id = f"e-{uuid.uuid4().hex[:12]}"
                    txs.append((p, client.earn(member, points=n, request_id=request_id).transaction_id))
                    done.append((p, "earn", (member, n, request_id)))
                elif op == "batch":
                    items = [{"member_id": members[i % 2], "points": 10 + i} for i in range(n)]
                    items.append({"member_id": str(uuid.uuid4()), "points": 5})  # refused item: unknown member
                    response = client.batch_earn(items)
                    txs += [(p, r.earned.transaction_id) for r in response.results if r.HasField("earned")]
                elif op == "redeem":
                    request_id = f"r-{uuid.uuid4().hex[:12]}"
                    txs.append((p, client.redeem(member, n, request_id=request_id).transaction_id))
                    done.append((p, "redeem", (member, n, request_id)))
                elif op == "hold":
                    holds.append((p, client.authorize_redemption(member, n).hold_id))
                elif op == "capture" and holds:
                    owner, hold = holds[n % len(holds)]
                    clients[owner].capture_redemption(hold)
                elif op == "void" and holds:
                    owner, hold = holds[n % len(holds)]
                    clients[owner].void_redemption(hold)
                elif op == "reverse" and txs:
                    owner, tx = txs[n % len(txs)]
                    clients[owner].reverse(tx, reason="return")
                elif op == "retry" and done:
                    owner, method, (member_id, points, request_id) = done[n % len(done)]
                    if method == "earn":
                        clients[owner].earn(member_id, points=points, request_id=request_id)
                    else:
                        clients[owner].redeem(member_id, points, request_id=request_id)
                elif op == "refused":
                    if n == 0:
                        client.redeem(member, 10**9)  # never that many points
                    elif n == 1 and txs:
                        owner, tx = txs[-1]
                        clients[1 - owner].reverse(tx)  # another partner's transaction
                    else:
                        client.capture_redemption(str(uuid.uuid4()))  # no such hold
                elif op == "lapse":
                    with engine.begin() as conn:
                        later.expire_holds(conn, member_id=uuid.UUID(members[p]))
                elif op == "restart":
                    for c in clients:
                        c.close()
                    server.stop(0)
                    server = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
                    connect()
            except errors.CoalitionError:
                pass  # refusals (insufficient points, a hold no longer open, ...) are part of the mix
        for shop, client in zip(shops, clients):
            assert_stream_is_the_ledger(engine, client, shop.partner_id)
    finally:
        for c in clients:
            c.close()
        server.stop(0)


def test_each_transaction_kind_is_one_event_type_and_only_a_lapsed_void_is_a_lapse():
    assert {kind: event_rules.transaction_event_type(kind) for kind in event_rules.TRANSACTION_EVENTS} == \
        event_rules.TRANSACTION_EVENTS
    assert event_rules.transaction_event_type("void", lapsed=True) == "hold.lapsed"
    assert event_rules.transaction_event_type("void") == "redemption.voided"
    assert event_rules.transaction_event_type("earn", lapsed=True) == "points.earned"


# --- exact outcomes at the rules' boundaries ----------------------------------------------------------------

def test_a_refused_call_writes_no_event_and_an_accepted_one_writes_one(make_partner, verified_ledger):
    shop = make_partner("evr")
    with shop.client() as client:
        member = client.enroll_member().member.member_id
        client.earn(member, points=100)
        before = list(client.list_events())
        with pytest.raises(errors.InsufficientPoints):
            client.redeem(member, 101)  # one point more than the member has: refused
        assert list(client.list_events(after_sequence=before[-1].sequence)) == []
        redeemed = client.redeem(member, 100)  # exactly what the member has: accepted
        after = list(client.list_events(after_sequence=before[-1].sequence))
    assert [(e.sequence, e.type, e.transaction.transaction_id, e.transaction.points) for e in after] == [
        (before[-1].sequence + 1, "points.redeemed", redeemed.transaction_id, -100)]


def test_a_retry_writes_no_second_event(make_partner):
    shop = make_partner("evt")
    with shop.client() as client:
        member = client.enroll_member().member.member_id
        first = client.earn(member, points=5, request_id="same-request")
        again = client.earn(member, points=5, request_id="same-request")
        stream = list(client.list_events())
    assert first.transaction_id == again.transaction_id
    assert [e.type for e in stream] == ["key.registered", "points.earned"]


def test_a_lapsed_hold_is_a_hold_lapsed_event_of_the_holding_partner(engine, make_partner, member_pin):
    issuer, shop = make_partner("evi"), make_partner("evh")
    with issuer.client() as client:
        member = client.enroll_member().member.member_id
        client.earn(member, points=50)
    with shop.client() as client:
        hold = client.authorize_redemption(member, 20, hold_ttl_seconds=60, pin=member_pin(member)).hold_id
        later = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16,
                       clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=2))
        with engine.begin() as conn:
            assert later.expire_holds(conn, member_id=uuid.UUID(member)) == 1
        stream = assert_stream_is_the_ledger(engine, client, shop.partner_id)
    assert [(e.type, e.transaction.related_id, e.transaction.points) for e in stream[-2:]] == [
        ("redemption.authorized", "", -20), ("hold.lapsed", hold, 20)]


def test_concurrent_earns_of_one_partner_number_its_events_without_gap(engine, make_partner):
    shop = make_partner("evc")
    with shop.client() as client:
        members = [client.enroll_member().member.member_id for _ in range(4)]

    def terminal(index: int) -> None:
        with shop.client() as client:
            for n in range(15):
                if n % 5 == 4:
                    client.batch_earn([{"member_id": m, "points": 1} for m in members])
                else:
                    client.earn(members[(index + n) % 4], points=1)

    threads = [threading.Thread(target=terminal, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with shop.client() as client:
        stream = assert_stream_is_the_ledger(engine, client, shop.partner_id)
    assert len(stream) == 1 + 6 * (12 + 3 * 4)  # the key, then every earn once


def test_list_events_pages_with_tokens_and_reports_the_high_water_mark(make_partner):
    shop = make_partner("evl")
    with shop.client() as client:
        member = client.enroll_member().member.member_id
        for _ in range(4):
            client.earn(member, points=1)
        pages = list(client.list_event_pages(page_size=2))
    assert [[PartnerEvents.sequence(e) for e in page.events] for page in pages] == [[1, 2], [3, 4], [5]]
    assert {page.high_water_sequence for page in pages} == {5}
    assert pages[-1].next_page_token == ""


class PartnerEvents:
    @staticmethod
    def sequence(signed: network_pb2.SignedEvent) -> int:
        return network_pb2.Event.FromString(signed.event).sequence


# --- signatures --------------------------------------------------------------------------------------------

def test_every_event_is_signed_by_the_network_over_its_exact_bytes(make_partner, network_signer):
    shop = make_partner("evs")
    with shop.client() as client:
        member = client.enroll_member().member.member_id
        client.earn(member, points=3)
        signed = list(client.list_event_pages())[0].events[-1]
        assert signed.network_key_id == network_signer.key_id
        network_signer.private_key.public_key().verify(
            signed.signature, signing.event_message(signed.network_key_id, signed.event))
        assert client.verified_event(signed).type == "points.earned"
        tampered = network_pb2.SignedEvent()
        tampered.CopyFrom(signed)
        event = network_pb2.Event.FromString(signed.event)
        event.transaction.points += 1
        tampered.event = event.SerializeToString()
        with pytest.raises(signing.SignatureError) as refused:
            client.verified_event(tampered)
    assert refused.value.reason == "EVENT_SIGNATURE_INVALID"


def _watch_call(target: str, metadata):
    channel = grpc.insecure_channel(target)
    stream = channel.unary_stream("/coalition.v1.NetworkService/WatchEvents")
    return channel, stream(network_pb2.WatchEventsRequest().SerializeToString(), metadata=metadata, timeout=5)


def test_watch_events_refuses_a_request_whose_signature_does_not_verify(make_partner):
    shop = make_partner("evw")
    body = network_pb2.WatchEventsRequest(after_sequence=0).SerializeToString()
    other = network_pb2.WatchEventsRequest(after_sequence=7).SerializeToString()
    method = "/coalition.v1.NetworkService/WatchEvents"
    signed_for_other = signing.sign_request(shop.private_key, shop.key_id, method, other).metadata()
    channel = grpc.insecure_channel(shop.target)
    try:
        stream = channel.unary_stream(method)(body, metadata=signed_for_other, timeout=5)
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(stream))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        unsigned = channel.unary_stream(method)(body, timeout=5)
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(unsigned))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        channel.close()


# --- WatchEvents -------------------------------------------------------------------------------------------

def _collect(client: PartnerClient, after: int, want: int, into: list, heartbeats: list | None = None) -> None:
    for item in client.watch_events(after, heartbeats=heartbeats is not None):
        if isinstance(item, network_pb2.Heartbeat):
            heartbeats.append(item)  # type: ignore[union-attr]
            if len(into) >= want:
                return
            continue
        into.append(item)
        if len(into) >= want:
            return


def test_watch_events_resumes_after_a_server_restart_without_losing_an_event(engine, settings, network_signer,
                                                                             make_partner):
    """Events committed before, during and after a restart all reach the watcher exactly once, in order: the
    SDK reopens the stream after the last sequence it yielded, and the server reads them from the table."""
    shop = make_partner("evrs")
    first = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    port = first.port
    target = f"127.0.0.1:{port}"
    with PartnerClient(target, shop.key_id, shop.private_key) as setup:
        member = setup.enroll_member().member.member_id
        for _ in range(3):
            setup.earn(member, points=1)
    received: list[network_pb2.Event] = []
    watcher = PartnerClient(target, shop.key_id, shop.private_key, max_attempts=50, backoff_max=0.5)
    thread = threading.Thread(target=_collect, args=(watcher, 0, 1 + 9, received), daemon=True)
    thread.start()
    running = [first]
    try:
        _wait_for(lambda: len(received) >= 4)
        running.pop().stop(0)
        ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16)
        with engine.begin() as conn:  # committed while no server runs
            for earned in ledger.earn_batch(conn, [(shop.partner_id, _item(member)) for _ in range(3)]):
                assert not isinstance(earned, Exception)
        running.append(start_server(engine, settings, address=f"127.0.0.1:{port}", signer=network_signer))
        # gRPC shares the connection to the address between channels: it may still be backing off from the time
        # nothing listened, hence the patient client
        with PartnerClient(target, shop.key_id, shop.private_key, max_attempts=30, backoff_max=1.0) as client:
            for _ in range(3):
                client.earn(member, points=1)
        thread.join(timeout=60)
        assert not thread.is_alive(), f"the watcher got {len(received)} of 10 events"
    finally:
        watcher.close()
        for server in running:
            server.stop(0)
    assert [e.sequence for e in received] == list(range(1, 11))
    assert [e.type for e in received] == ["key.registered"] + ["points.earned"] * 9
    assert {e.transaction.transaction_id for e in received[1:]} == set(journal_of(engine, shop.partner_id))


def test_watch_events_from_a_cursor_sends_only_later_events_then_heartbeats(engine, settings, network_signer,
                                                                          make_partner):
    shop = make_partner("evhb")
    quick = settings.model_copy(update={"event_heartbeat_seconds": 0.2, "event_poll_seconds": 0.1})
    server = start_server(engine, quick, address="127.0.0.1:0", signer=network_signer)
    try:
        with PartnerClient(f"127.0.0.1:{server.port}", shop.key_id, shop.private_key) as client:
            member = client.enroll_member().member.member_id
            for _ in range(3):
                client.earn(member, points=2)
            received: list[network_pb2.Event] = []
            heartbeats: list[network_pb2.Heartbeat] = []
            _collect(client, 2, 2, received, heartbeats)  # after the key and the first earn
            while not heartbeats:
                _collect(client, 4, 0, received, heartbeats)
    finally:
        server.stop(0)
    assert [e.sequence for e in received] == [3, 4]
    assert heartbeats[-1].high_water_sequence == 4


def _wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _item(member: str) -> EarnItem:
    return EarnItem(f"off-{uuid.uuid4().hex[:12]}", member, None, None, 1)


def test_event_tokens_are_checked(make_partner):
    shop = make_partner("evk")
    with shop.client() as client:
        with pytest.raises(errors.InvalidArgument):
            list(client.list_event_pages(after_sequence=-1))
        bogus = base64.urlsafe_b64encode(b"events|x").decode()
        request = network_pb2.ListEventsRequest(page_token=bogus)
        with pytest.raises(errors.InvalidArgument):
            client._call("ListEvents", request, network_pb2.ListEventsResponse, mutating=False)


def test_the_partner_cli_prints_events_after_a_sequence_one_json_line_each(tmp_path, make_partner):
    shop = make_partner("evcli")
    with shop.client() as client:
        member = client.enroll_member().member.member_id
        earned = [client.earn(member, points=n).transaction_id for n in (3, 4)]
    key_file = save_key_file(tmp_path / "key.json", KeyFile(
        partner_id=shop.partner_id, key_id=shop.key_id,
        private_key_pem=signing.private_key_to_pem(shop.private_key).decode("ascii"), target=shop.target))
    listed = CliRunner().invoke(partner_cli.app, ["events", "--key-file", str(key_file), "--after", "1"])
    followed = CliRunner().invoke(partner_cli.app, ["events", "--key-file", str(key_file), "--after", "2", "--follow",
                                                    "--limit", "1"])
    assert listed.exit_code == 0 and followed.exit_code == 0, listed.output + followed.output
    lines = [json.loads(line) for line in listed.output.splitlines()]
    assert [(e["sequence"], e["type"], e["transaction_id"], e["points"]) for e in lines] == [
        (2, "points.earned", earned[0], 3), (3, "points.earned", earned[1], 4)]
    assert json.loads(followed.output)["sequence"] == 3


def test_a_stream_ends_when_its_key_is_revoked(engine, make_partner):
    """A stream outlives its authentication: each read re-checks the key, so revoking it ends the stream
    (KEY_REVOKED), and the revocation itself is not sent over the revoked key's stream."""
    shop = make_partner("evkr")
    received: list = []
    failure: list[BaseException] = []

    def watch() -> None:
        try:
            _collect(shop.client(), 0, 100, received)
        except errors.CoalitionError as exc:
            failure.append(exc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    _wait_for(lambda: len(received) == 1)  # the key's registration
    with engine.begin() as conn:
        admin.revoke_key(conn, "test", shop.key_id)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert [e.type for e in received] == ["key.registered"]
    assert [(f.code.name, f.reason) for f in failure] == [("UNAUTHENTICATED", "KEY_REVOKED")]


# --- coalition ledger verify, and the journal written before the outbox ---------------------------------------

def test_ledger_verify_reports_a_journal_row_without_its_event(engine, make_partner):
    shop = make_partner("evv")
    with shop.client() as client:
        member = client.enroll_member().member.member_id
        earned = client.earn(member, points=5).transaction_id
    with engine.connect() as conn, conn.begin():
        assert check_events(conn).ok
        conn.execute(text("DELETE FROM partner_events WHERE tx_id = :t"), {"t": earned})
        missing = check_events(conn)
        conn.rollback()
    assert not missing.ok
    assert "journal row without its event, " + earned in missing.examples
    assert f"sequence head not at the last event, {shop.partner_id}" in missing.examples


@pytest.fixture
def empty_database(scratch_database):
    return scratch_database("coalition_events")


def test_the_migration_turns_the_journal_written_before_it_into_events(empty_database):
    """A database migrated from before the outbox: its journal becomes each partner's first events, in order."""
    config = alembic_config(empty_database)
    command.upgrade(config, "0005")  # the revision before the outbox (0006)
    engine = make_engine(empty_database, pool_size=2)
    try:
        clock = FixedClock(datetime.now(timezone.utc))
        ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=4,
                        clock=clock)
        with engine.begin() as conn:
            for partner_id in ("old-a", "old-b"):
                conn.execute(text("INSERT INTO partners (partner_id, name, status, currency) "
                                  "VALUES (:p, :p, 'active', 'EUR')"), {"p": partner_id})
                conn.execute(text("INSERT INTO contracts (partner_id, version, effective_from, earn_points_per_major, "
                                  "settlement_model, clearing_fee_bps, issue_price_minor_per_point, "
                                  "redemption_rate_minor_per_point, breakage_share_bps, return_window_seconds, "
                                  "expiry_days, max_basket_share_bps, collateral_minor) VALUES (:p, 1, now() - "
                                  "interval '1 day', 1, 'issuer_pays', 0, 0, 0, 0, 0, 0, 10000, 0)"), {"p": partner_id})
        with _events_disabled(), _later_columns(engine):  # what the code before the outbox wrote: the journal alone
            with engine.begin() as conn:
                ensure_shard_heads(conn, 4)
                member = ledger.enroll_member(conn, "old-a", "", "")[0].member_id
                ledger.earn_batch(conn, [("old-a", EarnItem("e1", member, None, None, 50))])
            with engine.begin() as conn:
                hold = ledger.authorize(conn, "old-b", member, 20, SpendRefs(), 60, "h1").hold_id
            clock.now += timedelta(minutes=2)
            with engine.begin() as conn:
                ledger.redeem(conn, "old-b", member, 10, SpendRefs(), "r1")  # the hold lapses first
                others = [ledger.enroll_member(conn, "old-a", "", "")[0].member_id for _ in range(7)]
                # before 0020 a member's shard came from another hash: a shard other than today's
                conn.execute(text("UPDATE members SET shard = (shard + 1) % 4"))
        command.upgrade(config, "head")
        with engine.connect() as conn:
            events = [(r.partner_id, r.seq, r.type) for r in conn.execute(text(
                "SELECT partner_id, seq, type FROM partner_events ORDER BY partner_id, seq"))]
            assert check_events(conn).ok
            # 0018, 0019 and 0020 filled what the rows written before them lack: members of postings and
            # allocations, the hold lookup, the chain heads' anchors
            for check in (check_posting_members, check_hold_allocations_rebuild, check_hold_members,
                          check_member_cards):
                assert check(conn).ok, check(conn)
            anchors = conn.execute(text("SELECT shard, anchor_member_id FROM shard_heads ORDER BY shard")).all()
            assert [hash_range_index(uuid_hash(anchor), 4) for _, anchor in anchors] == [0, 1, 2, 3]
            moved = dict(conn.execute(text("SELECT member_id, shard FROM members")).all())  # 0020 moved them all
            assert moved == {uuid.UUID(m): shard_of(uuid.UUID(m), 4) for m in [member, *others]}
            assert conn.execute(text("SELECT member_id::text FROM hold_members WHERE hold_id = :h"),
                                {"h": hold}).scalar_one() == member
        assert events == [("old-a", 1, "points.earned"), ("old-b", 1, "redemption.authorized"),
                          ("old-b", 2, "hold.lapsed"), ("old-b", 3, "points.redeemed")], hold
    finally:
        engine.dispose()


@contextlib.contextmanager
def _later_columns(engine):
    """The columns of revisions after 0006 that today's ledger code writes or reads (0008: the contract's
    unverified-spend limit, how a member enrolled; 0018: a posting's and a hold allocation's member), present
    while it writes into the 0005 schema, dropped before the upgrade adds them for real (0018 fills them from the
    journal and the holds); and 0019's hold lookup and 0020's chain head anchors, likewise; and 0008's cards, which
    enrolment writes (0008 makes them again, from the members)."""
    later = (("contracts", "unverified_spend_limit_points", "bigint NOT NULL DEFAULT 0"),
             ("enrollments", "method", "varchar(8) NOT NULL DEFAULT 'earn'"), ("postings", "member_id", "uuid"),
             ("hold_allocations", "member_id", "uuid"), ("shard_heads", "anchor_member_id", "uuid"))
    with engine.begin() as conn:
        for table, column, definition in later:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {definition}"))
        conn.execute(text("CREATE TABLE hold_members (hold_id uuid PRIMARY KEY, member_id uuid NOT NULL)"))  # 0019
        conn.execute(text("CREATE TABLE cards (card_number varchar(19) PRIMARY KEY, member_id uuid NOT NULL, "
                          "status varchar(16) NOT NULL, created_at timestamptz NOT NULL)"))  # 0008
    try:
        yield
    finally:
        with engine.begin() as conn:
            for table, column, _ in later:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            conn.execute(text("DROP TABLE hold_members"))  # 0019 makes it again, from the holds
            conn.execute(text("DROP TABLE cards"))


class FixedClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextlib.contextmanager
def _events_disabled():
    """The ledger as it was before the outbox (the partner_events table does not exist yet), and before expiry
    policies (revision 0012: no contracts.expiry_policy, no member_activity)."""
    import types

    import network.store.contracts as contracts_module
    import network.store.journal as journal_module
    import network.store.ledger as ledger_module

    saved = (ledger_module.append_events, ledger_module.expiry, journal_module.activity_writes,
             contracts_module._COLUMNS)
    ledger_module.append_events = lambda conn, rows: None
    ledger_module.expiry = types.SimpleNamespace(LOT_EXPIRY="l.expires_at", LOT_EXPIRY_JOINS="")
    journal_module.activity_writes = lambda txs: []
    contracts_module._COLUMNS = saved[3].replace(", c.expiry_policy, c.expiry_months", "")
    try:
        yield
    finally:
        (ledger_module.append_events, ledger_module.expiry, journal_module.activity_writes,
         contracts_module._COLUMNS) = saved


def test_the_event_listener_logs_a_lost_database_once_as_one_line_without_a_traceback(caplog):
    """A database outage: the listener's reconnection attempts fail again and again; the log says so once, as one
    line naming the driver error (the outage tests refuse tracebacks in the server log), and again when it is
    back."""
    import psycopg2

    from network.event_feed import EventWakeups

    attempts = []

    class Down:
        def raw_connection(self):
            attempts.append(1)
            raise psycopg2.OperationalError("server closed the connection unexpectedly\nmore")

    caplog.set_level(logging.INFO, logger="network.store.notify")
    wakeups = EventWakeups(Down())  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 30
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        wakeups.close()
    assert len(attempts) >= 3
    lost = [r for r in caplog.records if r.name == "network.store.notify"]
    assert [(r.levelname, r.getMessage(), bool(r.exc_info)) for r in lost] == [
        ("WARNING", "listener on coalition_events lost its connection (OperationalError: server closed the "
                    "connection unexpectedly); WatchEvents streams poll until it is back", False)]


def test_the_sdk_refuses_a_gap_in_the_event_stream(make_partner):
    """EVENT_SEQUENCE_GAP (SDK side): a stream that skips a sequence number is not followed silently; the events up
    to the gap are yielded, then the watch stops with the missing sequence named."""
    shop = make_partner("gap")
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        for points in (10, 20, 30):
            network.earn(member, points=points)
        real = network._streams["WatchEvents"]

        class SkippingTwo:  # the network's own stream, with event 2 dropped on the way
            def __init__(self, body, metadata):
                self._stream = real(body, metadata=metadata, timeout=10)

            def __iter__(self):
                for raw in self._stream:
                    item = network_pb2.WatchEventsResponse.FromString(raw)
                    if not (item.HasField("event") and network.verified_event(item.event).sequence == 2):
                        yield raw

            def cancel(self):
                self._stream.cancel()

        network._streams["WatchEvents"] = SkippingTwo
        watched = network.watch_events(0, reconnect=False)
        assert next(watched).sequence == 1
        with pytest.raises(errors.Internal) as gap:
            next(watched)
        assert (gap.value.reason, gap.value.message) == ("EVENT_SEQUENCE_GAP", "event 2 missing: got 3")
