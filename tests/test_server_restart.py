"""A server stopped abruptly under load loses nothing it acknowledged; retries after the restart post once."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from network.server import start_server
from partners import errors
from partners.client import PartnerClient


def test_abrupt_stop_under_load_loses_nothing_acknowledged(engine, settings, network_signer, make_partner):
    shop = make_partner("restart")
    first = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    target = f"127.0.0.1:{first.port}"
    with PartnerClient(target, shop.key_id, shop.private_key, max_attempts=1, timeout=5) as setup:
        member = setup.enroll_member().member.member_id
    acknowledged: dict[str, str] = {}
    unanswered: list[str] = []
    stop = threading.Event()

    def terminal(index: int) -> None:
        with PartnerClient(target, shop.key_id, shop.private_key, max_attempts=1, timeout=5) as client:
            n = 0
            while not stop.is_set():
                request_id = f"t{index}-{n}"
                try:
                    acknowledged[request_id] = client.earn(member, points=1, request_id=request_id).transaction_id
                except errors.CoalitionError:
                    unanswered.append(request_id)
                n += 1

    threads = [threading.Thread(target=terminal, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    first.stop(0)  # abrupt: in-flight calls are cancelled
    stop.set()
    for t in threads:
        t.join()
    assert acknowledged, "no earn was acknowledged before the stop"

    second = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    try:
        with engine.connect() as conn:
            stored = {r.request_id: str(r.tx_id) for r in conn.execute(
                text("SELECT request_id, tx_id FROM journal WHERE partner_id = :p AND kind = 'earn'"),
                {"p": shop.partner_id})}
        for request_id, tx_id in acknowledged.items():
            assert stored.get(request_id) == tx_id, f"acknowledged earn {request_id} was lost"
        with PartnerClient(f"127.0.0.1:{second.port}", shop.key_id, shop.private_key) as client:
            for request_id in list(acknowledged)[:20]:  # a replay returns the acknowledged transaction
                assert client.earn(member, points=1, request_id=request_id).transaction_id == acknowledged[request_id]
            for request_id in unanswered:  # an unanswered call retried: posted exactly once
                client.earn(member, points=1, request_id=request_id)
            balance = client.get_balance(member).available_points
        with engine.connect() as conn:
            posted = conn.execute(text("SELECT count(*) FROM journal WHERE partner_id = :p AND kind = 'earn'"),
                                  {"p": shop.partner_id}).scalar_one()
        assert posted == len(acknowledged) + len(unanswered) == balance
    finally:
        second.stop(0)
