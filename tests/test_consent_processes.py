"""Consent across real server processes: the PIN lockout and a card freeze hold at once on
every server. One server is this test process's (the session's `target`), the other a real
`coalition network serve --processes 2` in a subprocess (two OS processes on one port, SO_REUSEPORT): eight
connections to it are spread by the kernel over its processes. So every step crosses between two server processes
for certain (this one and the subprocess's), and very likely all three; no assertion depends on which of the
subprocess's processes answered. Nothing is cached across requests: each server
reads the member's credentials, cards and freeze from the database inside the spend (network.store.consent), so the
first call after the failure or the freeze is refused everywhere, without waiting."""

from __future__ import annotations

import pytest

from network.store import credentials
from partners import errors
from partners.client import PartnerClient

FAST = credentials.ScryptParams(2**10, 8, 1)
PIN, WRONG = "2580", "2581"
CONNECTIONS = 8

pytestmark = pytest.mark.usefixtures("verified_ledger")


@pytest.fixture(scope="module")
def processes_target(database_url, session_dir, supervised_server):
    server = supervised_server(database_url, session_dir, 2)
    yield f"127.0.0.1:{server.port}"
    assert server.stop() == 0


def far_clients(partner, target: str) -> list[PartnerClient]:
    """One connection each (no shared subchannel), so the kernel spreads them over the server's processes."""
    return [PartnerClient(target, partner.key_id, partner.private_key, max_attempts=1,
                          channel_options=(("grpc.use_local_subchannel_pool", 1),)) for _ in range(CONNECTIONS)]


def refused(call, error_type, reason: str) -> errors.CoalitionError:
    with pytest.raises(error_type) as caught:
        call()
    assert caught.value.reason == reason, caught.value
    return caught.value


@pytest.fixture
def member_at_home(make_partner, engine):
    home = make_partner("proc-home", unverified_spend_limit_points=50)
    with home.client(max_attempts=1) as till:
        member = till.enroll_member().member
        till.earn(member.member_id, points=1000)
    with engine.begin() as conn:
        credentials.set_pin(conn, member.member_id, PIN, params=FAST)
    return member


def test_pin_lockout_holds_across_partners_and_server_processes(make_partner, member_at_home, processes_target):
    member = member_at_home
    near_shop, far_shop = make_partner("proc-near"), make_partner("proc-far")
    near = near_shop.client(max_attempts=1)
    far = far_clients(far_shop, processes_target)
    try:
        # four failures, alternating servers and partners: not locked yet, the right PIN still works
        for client in (near, far[0], near, far[1]):
            refused(lambda: client.redeem(member.member_id, 1, pin=WRONG), errors.PermissionDenied,
                    "MEMBER_VERIFICATION_FAILED")
        assert far[2].redeem(member.member_id, 1, pin=PIN).points == 1  # and the count starts again
        for client in (far[3], near, far[4], near):
            refused(lambda: client.redeem(member.member_id, 1, pin=WRONG), errors.PermissionDenied,
                    "MEMBER_VERIFICATION_FAILED")
        refused(lambda: far[5].redeem(member.member_id, 1, pin=WRONG), errors.PermissionDenied,
                "MEMBER_VERIFICATION_FAILED")  # the fifth in a row, in the other server's processes
        for client in (near, *far):  # locked on every connection of both servers, for the right PIN too
            lock = refused(lambda: client.redeem(member.member_id, 1, pin=PIN), errors.FailedPrecondition,
                           "MEMBER_LOCKED")
            assert lock.metadata["member_id"] == member.member_id and lock.metadata["locked_until"]
    finally:
        near.close()
        for client in far:
            client.close()


def test_a_frozen_card_is_refused_by_every_server_process_at_once(engine, make_partner, member_at_home,
                                                                  processes_target):
    member = member_at_home
    shop = make_partner("proc-freeze")
    near = shop.client(max_attempts=1)
    far = far_clients(shop, processes_target)
    try:
        for client in (near, *far):  # every connection finds the member by card, and spends with the PIN
            assert client.find_member(card_number=member.card_number).member.member_id == member.member_id
        assert far[0].redeem(member.member_id, 1, pin=PIN).points == 1
        with engine.begin() as conn:
            credentials.freeze_card(conn, member.card_number, "ops@test", "reported lost")
        for client in (near, *far):  # the first call after the commit, on each connection: refused
            found = refused(lambda: client.find_member(card_number=member.card_number), errors.FailedPrecondition,
                            "CARD_FROZEN")
            assert found.metadata["card_status"] == "frozen"
            refused(lambda: client.redeem(member.member_id, 1, pin=PIN), errors.FailedPrecondition, "CARD_FROZEN")
        with engine.begin() as conn:
            credentials.unfreeze_card(conn, member.card_number, "ops@test")
        for client in (near, *far):
            assert client.redeem(member.member_id, 1, pin=PIN).points == 1
    finally:
        near.close()
        for client in far:
            client.close()
