"""The console's Webhooks page under AppTest against the real PostgreSQL: endpoints, a disabled endpoint's alert,
the delivery log with status codes, and the admin's enable and replay (recorded in operator_actions)."""

from __future__ import annotations

from sqlalchemy import text

from network.store import webhooks as store
from network.store.webhooks import Attempt
from test_console_pages import (ADMIN, ADMIN_PASSWORD, VIEWER, VIEWER_PASSWORD, console_env, logged_in, page,  # noqa: F401
                                password_hashes, table)


def test_webhooks_page_shows_alerts_and_the_log_and_the_admin_enables_and_replays(console_env, make_partner, engine):
    shop = make_partner("conhook")
    with shop.client() as network:
        created = network.create_webhook_endpoint("https://example.com/console")
        network.earn(network.enroll_member().member.member_id, points=9)
    endpoint_id = created.endpoint.endpoint_id
    with engine.begin() as conn:  # what the worker writes when the retries run out
        endpoint = store.endpoint(conn, endpoint_id)
        store.log_attempt(conn, endpoint, endpoint.delivered_through + 1, 1, False, Attempt(500, "HTTP 500", 12, False))
        store.disable_for_failures(conn, endpoint_id, "disabled by the network: event 1 not delivered after 9 attempts")

    viewer = page(logged_in(VIEWER, VIEWER_PASSWORD), "webhooks")
    assert any(endpoint_id in e.value and "not delivered after 9 attempts" in e.value for e in viewer.error)
    viewer.selectbox(key="webhook_endpoint").set_value(endpoint_id).run()
    assert not [b for b in viewer.button if b.key in ("webhook_enable", "webhook_replay")]  # a viewer cannot act
    log = table(viewer, "latency ms")
    assert [tuple(r) for r in log[["endpoint", "attempt", "status", "error"]].values] == [
        (endpoint_id, 1, 500, "HTTP 500")]

    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "webhooks")
    at.selectbox(key="webhook_endpoint").set_value(endpoint_id).run()
    at.button(key="webhook_enable").click().run()
    assert not at.exception
    at.number_input(key="replay_first").set_value(endpoint.delivered_through + 1).run()
    at.button(key="webhook_replay").click().run()
    assert not at.exception
    with engine.connect() as conn:
        assert store.endpoint(conn, endpoint_id).enabled and store.endpoint(conn, endpoint_id).alert is None
        recorded = conn.execute(text("SELECT operator, action FROM operator_actions WHERE subject = :s "
                                     "ORDER BY action_id"), {"s": endpoint_id}).all()
        replays = conn.execute(text("SELECT first_seq, last_seq, requested_by FROM webhook_replays "
                                    "WHERE endpoint_id = :s"), {"s": endpoint_id}).all()
    assert [tuple(r) for r in recorded] == [(ADMIN, "webhook.enable"), (ADMIN, "webhook.replay")]
    assert [tuple(r) for r in replays] == [(endpoint.delivered_through + 1, endpoint.delivered_through + 1,
                                            f"operator:{ADMIN}")]
    assert not [e for e in page(at, "webhooks").error if endpoint_id in e.value]  # the alert is gone
