"""The refusal reasons no other test raised: each triggered where it is raised, with its exact reason and
status code, and nothing written. Partner-side reasons go over signed gRPC; operator-side ones through the domain
functions the `coalition` CLI calls (network.admin). Settlement's reasons are in tests/settlement, the SDK's own
(RESPONSE_UNPARSABLE) in test_partner_client_unit.py."""

from __future__ import annotations

import base64
import threading
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from network import admin
from network.database import make_engine
from network.errors import DomainError
from network.server import start_server
from network.store.ledger import build_ledger
from partners import errors, signing
from partners.client import PartnerClient
from test_network_refusals import snapshot, writes_nothing  # noqa: F401 - writes_nothing is a fixture
from tests.conftest import wait_until_blocked_by

pytestmark = pytest.mark.usefixtures("verified_ledger")

OPERATOR_TABLES = ("partners", "contracts", "partner_keys", "operator_actions")


def luhn_card(body: str) -> str:
    """`body` with its Luhn check digit appended."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def random_card() -> str:
    return luhn_card("7" + str(uuid.uuid4().int)[:14])


@pytest.fixture
def shop(make_partner):
    return make_partner("reasons")


@pytest.fixture
def member(shop) -> str:
    with shop.client() as network:
        member_id = network.enroll_member().member.member_id
        network.earn(member_id, points=100)
        return member_id


# --- partner side, over gRPC -----------------------------------------------------------------------------

def test_customer_ref_taken(shop, writes_nothing):
    with shop.client() as network:
        first = network.enroll_member(customer_ref="cust-1", card_number=random_card()).member
        refused = writes_nothing(lambda: network.enroll_member(customer_ref="cust-1", card_number=random_card()),
                                 errors.AlreadyExists, "CUSTOMER_REF_TAKEN")
        assert refused.code.name == "ALREADY_EXISTS"
        again = network.enroll_member(customer_ref="cust-1", card_number=first.card_number)  # the same member: fine
        assert again.member.member_id == first.member_id


def test_hold_not_found(shop, member, writes_nothing):
    ghost = str(uuid.uuid4())
    with shop.client() as network:
        for call in (network.capture_redemption, network.void_redemption):
            refused = writes_nothing(lambda: call(ghost), errors.NotFound, "HOLD_NOT_FOUND")
            assert refused.code.name == "NOT_FOUND"


def test_transaction_not_found(shop, member, writes_nothing):
    with shop.client() as network:
        refused = writes_nothing(lambda: network.reverse(str(uuid.uuid4())), errors.NotFound, "TRANSACTION_NOT_FOUND")
        assert refused.code.name == "NOT_FOUND"


def test_not_reversible(shop, member, writes_nothing):
    with shop.client() as network:
        hold = network.authorize_redemption(member, 10)  # a hold is a transaction: void it, never reverse it
        refused = writes_nothing(lambda: network.reverse(hold.hold_id), errors.FailedPrecondition, "NOT_REVERSIBLE")
        assert refused.code.name == "FAILED_PRECONDITION"
        network.void_redemption(hold.hold_id)
        spent = network.redeem(member, 10)
        reversal = network.reverse(spent.transaction_id, points=4)
        writes_nothing(lambda: network.reverse(reversal.transaction_id), errors.FailedPrecondition, "NOT_REVERSIBLE")


def test_no_contract(engine, target, make_partner, writes_nothing):
    shop = make_partner("nocontract")
    with shop.client() as network:
        member_id = network.enroll_member().member.member_id
    key = signing.generate_private_key()
    partner_id = f"bare-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:  # a partner with a key but no contract
        admin.create_partner(conn, "test", partner_id, "Bare")
        admin.register_key(conn, "test", partner_id, f"{partner_id}-k", base64.b64encode(signing.raw_public(key)).decode())
    with PartnerClient(target, f"{partner_id}-k", key) as bare:
        refused = writes_nothing(lambda: bare.earn(member_id, points=5), errors.FailedPrecondition, "NO_CONTRACT")
        assert refused.code.name == "FAILED_PRECONDITION"
        writes_nothing(lambda: bare.redeem(member_id, 1), errors.FailedPrecondition, "NO_CONTRACT")


def _race_enrolments(engine, settings, shop, card_number: str = "", customer_ref: str = ""):
    """One enrolment in a transaction held open, a second of the same card or reference over gRPC (no retry) until
    it waits on the first; then the first commits. (first member, whether it was created, the second's outcome
    under "member" or "error", the snapshot before)."""
    racer = build_ledger(engine, settings)
    outcome: dict = {}

    def enroll(client) -> None:
        try:
            outcome["member"] = client.enroll_member(card_number=card_number, customer_ref=customer_ref).member
        except errors.CoalitionError as exc:
            outcome["error"] = exc

    before = snapshot(engine)
    with shop.client(max_attempts=1) as network:
        with engine.connect() as first:
            with first.begin():
                won, created = racer.enroll_member(first, shop.partner_id, customer_ref, card_number)
                holder = first.execute(text("SELECT pg_backend_pid()")).scalar_one()
                second = threading.Thread(target=enroll, args=(network,))
                second.start()
                wait_until_blocked_by(engine, holder)
            second.join(10)
    return won, created, outcome, before


def test_conflict_retry_on_a_lost_insert_race(engine, settings, shop):
    """Two enrollments of one new card: the one that loses the unique-key race is told to retry (ABORTED), and
    its retry finds the member the winner created."""
    card = random_card()
    won, _, outcome, before = _race_enrolments(engine, settings, shop, card_number=card)
    error = outcome.get("error")
    assert isinstance(error, errors.Aborted) and error.reason == "CONFLICT_RETRY", outcome
    assert error.code.name == "ABORTED" and error.retryable
    after = snapshot(engine)
    assert {k: after[k] - before[k] for k in ("members", "enrollments")} == {"members": 1, "enrollments": 1}
    assert {k: v for k, v in after.items() if k not in ("members", "enrollments")} == \
        {k: v for k, v in before.items() if k not in ("members", "enrollments")}  # the loser wrote nothing
    with shop.client() as network:
        assert network.enroll_member(card_number=card).member.member_id == won.member_id


def test_a_second_enrolment_of_one_customer_ref_waits_and_finds_the_first(engine, settings, shop):
    """Two enrolments of one customer reference, the first not yet committed: the second waits for it (the pair's
    lock), then answers the member the first enrolled, without a retry (max_attempts=1) and without a second
    member. Without the lock it would lose the race on enrollments' unique key (CONFLICT_RETRY); on a Citus cluster,
    where that key is dropped, it would enrol a second member under the same reference."""
    ref = f"cust-{uuid.uuid4().hex[:8]}"
    won, created, outcome, before = _race_enrolments(engine, settings, shop, customer_ref=ref)
    assert created and "error" not in outcome, outcome
    assert outcome["member"].member_id == won.member_id and outcome["member"].customer_ref == ref
    after = snapshot(engine)
    assert {k: after[k] - before[k] for k in ("members", "enrollments")} == {"members": 1, "enrollments": 1}


def test_database_unavailable(database_url, settings, network_signer, make_partner, engine):
    """The server's database connections die: the call is refused UNAVAILABLE (retryable), never UNKNOWN, and the
    server serves again once the database is back."""
    app_name = f"h5-unavailable-{uuid.uuid4().hex[:6]}"
    own_engine = make_engine(str(make_url(database_url).update_query_dict({"application_name": app_name})))
    running = start_server(own_engine, settings, address="127.0.0.1:0", signer=network_signer)
    try:
        shop = make_partner("dbdown")
        shop.target = f"127.0.0.1:{running.port}"
        with shop.client(max_attempts=1) as network:
            member_id = network.enroll_member().member.member_id
            network.earn(member_id, points=5)
            before = snapshot(engine)
            with engine.connect() as conn:
                killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                           "WHERE application_name = :a"), {"a": app_name}).scalar_one()
            assert killed >= 1
            with pytest.raises(errors.Unavailable) as refused:
                network.earn(member_id, points=5)
            assert refused.value.reason == "DATABASE_UNAVAILABLE" and refused.value.retryable
            assert snapshot(engine) == before
            assert network.earn(member_id, points=5).points == 5  # the next call gets a fresh connection
    finally:
        running.stop(0)
        own_engine.dispose()


# --- operator side: the domain functions behind `coalition partner ...` ------------------------------------

def operator_snapshot(engine) -> dict:
    counts = snapshot(engine)
    with engine.connect() as conn:
        for table in OPERATOR_TABLES:
            counts[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        counts["active_keys"] = conn.execute(text("SELECT count(*) FROM partner_keys WHERE status = 'active'")).scalar_one()
    return counts


def refused_by_operator(engine, action, reason: str, code: str) -> DomainError:
    before = operator_snapshot(engine)
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        action(conn)
    assert (caught.value.reason, caught.value.code.name) == (reason, code), caught.value
    assert operator_snapshot(engine) == before, "a refused operator action wrote something"
    return caught.value


def test_key_exists(engine, shop, make_partner):
    other = make_partner("keyclash")
    public = base64.b64encode(signing.raw_public(signing.generate_private_key())).decode()
    refused_by_operator(engine, lambda conn: admin.register_key(conn, "ops", other.partner_id, shop.key_id, public),
                        "KEY_EXISTS", "ALREADY_EXISTS")


def test_partner_not_found(engine):
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    public = base64.b64encode(signing.raw_public(signing.generate_private_key())).decode()
    for action in (lambda conn: admin.register_key(conn, "ops", ghost, f"{ghost}-k", public),
                   lambda conn: admin.set_contract(conn, "ops", ghost, admin.ContractDraft()),
                   lambda conn: admin.set_partner_status(conn, "ops", ghost, "suspended")):
        refused_by_operator(engine, action, "PARTNER_NOT_FOUND", "NOT_FOUND")


def test_key_not_found(engine, shop):
    refused_by_operator(engine, lambda conn: admin.revoke_key(conn, "ops", f"nokey-{uuid.uuid4().hex[:8]}"),
                        "KEY_NOT_FOUND", "NOT_FOUND")
    with engine.begin() as conn:
        admin.revoke_key(conn, "ops", shop.key_id)
    refused_by_operator(engine, lambda conn: admin.revoke_key(conn, "ops", shop.key_id),  # revoked already
                        "KEY_NOT_FOUND", "NOT_FOUND")


def test_a_fully_reversed_earn_is_not_reversed_again(shop, member, writes_nothing):
    """Nothing left to reverse is refused like a redemption with nothing left (EXCEEDS_REVERSIBLE), whether the
    reversal names its points or asks for all that is left (points 0)."""
    with shop.client() as network:
        earned = network.earn(member, points=10)
        assert network.reverse(earned.transaction_id).points == 10
        writes_nothing(lambda: network.reverse(earned.transaction_id, points=1), errors.FailedPrecondition,
                       "EXCEEDS_REVERSIBLE")
        writes_nothing(lambda: network.reverse(earned.transaction_id), errors.FailedPrecondition, "EXCEEDS_REVERSIBLE")
