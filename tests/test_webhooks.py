"""Webhooks end to end: endpoints managed over signed RPCs, events delivered by the real `coalition webhooks worker`
process (Temporal dev server, the dispatcher) to a real HTTP receiver on 127.0.0.1, signatures checked with the
standardwebhooks library (v1) and the network's public key (v1a); a receiver down then up, retries running out,
the worker killed -9 mid-delivery, replays. The retry schedule is shortened by settings (a few seconds in all);
tests/test_webhook_backoff.py runs the real 3-day schedule on the time-skipping test server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from coalition import webhooks as operator_webhooks
from coalition.cli import app as operator_app

from network import admin
from network.core import webhooks as rules
from network.ports import free_port
from network.server import start_server
from network.settings import from_environment
from network.store import webhooks as store
from partners import cli as partner_cli
from partners import signing
from partners.errors import CoalitionError
from partners.keyfile import KeyFile, save_key_file
from settlement.temporal_runtime import start_dev_server

ROOT = Path(__file__).resolve().parent.parent
INITIAL, COEFFICIENT, LONGEST, HORIZON = 0.2, 2.0, 1.0, 6.0
ATTEMPTS = rules.RetrySchedule(INITIAL, COEFFICIENT, LONGEST, HORIZON).attempts()


# --- a real HTTP receiver ----------------------------------------------------------------------------------------

@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers `fail_first` of them with 503, then 200 (after `delay` seconds when set)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    fail_first: int = 0
    fail_at: set[int] = field(default_factory=set)  # POSTs (0, 1, ... in arrival order) answered 503
    delay: float = 0.0
    got_request: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.got_request.set()
                if receiver.delay:
                    time.sleep(receiver.delay)
                index = len(receiver.received)
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                failing = receiver.fail_first > 0 or index in receiver.fail_at
                receiver.fail_first -= 1 if receiver.fail_first > 0 else 0
                self.send_response(503 if failing else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def deduped(self, ok_only: bool = True) -> list[str]:
        """webhook-ids in the order first received (what a receiver that dedupes on webhook-id processes)."""
        seen: list[str] = []
        for item in self.received:
            if item.headers["webhook-id"] not in seen:
                seen.append(item.headers["webhook-id"])
        return seen


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def logged(engine, endpoint_id: str, count: int) -> list[store.Delivery]:
    """The endpoint's delivery log once it has `count` attempts (an attempt is logged just after its POST)."""
    def read():
        with engine.connect() as conn:
            found = store.deliveries(conn, endpoint_id=endpoint_id, limit=1000)
        return sorted(found, key=lambda d: d.delivery_id) if len(found) >= count else None
    return wait_for(read, f"{count} logged attempts")


# --- Temporal, the webhook worker process, a server that allows http to localhost -----------------------------

class TemporalServer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.env = asyncio.run_coroutine_threadsafe(start_dev_server(), self.loop).result(120)
        self.address = self.env.client.service_client.config.target_host

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.env.shutdown(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def temporal_address() -> Iterator[str]:
    server = TemporalServer()
    yield server.address
    server.close()


class WorkerProcess:
    """`coalition webhooks worker` in a subprocess (its own task queue), killed and restarted by tests."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env, self.log_path, self.process = env, log_path, None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "coalition.cli", "webhooks", "worker"], cwd=ROOT,
                                        env=self.env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def webhook_worker(database_url, session_dir, network_signer, temporal_address, tmp_path_factory) -> Iterator[WorkerProcess]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "COALITION_DATA_DIR": str(session_dir),
           "COALITION_NETWORK_KEY_FILE": str(session_dir / "network-key.pem"), "TEMPORAL_ADDRESS": temporal_address,
           "COALITION_WEBHOOK_TASK_QUEUE": f"hooks-{uuid.uuid4().hex[:8]}", "COALITION_LOG_LEVEL": "INFO",
           "COALITION_WEBHOOK_RETRY_INITIAL_SECONDS": str(INITIAL), "COALITION_WEBHOOK_RETRY_BACKOFF": str(COEFFICIENT),
           "COALITION_WEBHOOK_RETRY_MAX_INTERVAL_SECONDS": str(LONGEST),
           "COALITION_WEBHOOK_RETRY_HORIZON_SECONDS": str(HORIZON), "COALITION_WEBHOOK_TIMEOUT_SECONDS": "2",
           "COALITION_WEBHOOK_DISPATCH_POLL_SECONDS": "1"}
    worker = WorkerProcess(env, tmp_path_factory.mktemp("webhooks") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def hooks_target(engine, settings, network_signer) -> Iterator[str]:
    """A network server on which plain http to 127.0.0.1 is allowed (the test receivers)."""
    running = start_server(engine, settings.model_copy(update={"webhook_allow_http_localhost": True}),
                           address="127.0.0.1:0", signer=network_signer)
    yield f"127.0.0.1:{running.port}"
    running.stop(0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def shop(make_partner, hooks_target):
    handle = make_partner("hooks")
    handle.target = hooks_target
    return handle


def member_of(network) -> str:
    return network.enroll_member().member.member_id


def verify_both(item: Received, secret: str, network_signer) -> dict:
    """The v1 signature with the standardwebhooks library, the v1a one with the network's public key."""
    payload = Webhook(secret).verify(item.body, item.headers)
    signatures = dict(part.split(",", 1) for part in item.headers["webhook-signature"].split(" "))
    public = Ed25519PublicKey.from_public_bytes(network_signer.public_raw)
    public.verify(base64.b64decode(signatures["v1a"]), rules.signed_content(
        item.headers["webhook-id"], int(item.headers["webhook-timestamp"]), item.body))  # raises when it does not
    return payload


# --- endpoints: refusals and idempotency (no delivery involved) -------------------------------------------------

def test_endpoint_refusals_write_nothing(shop, make_partner, target, engine):
    strict = make_partner("strict")  # the session server: plain http is not allowed there
    with strict.client() as network:
        with pytest.raises(CoalitionError) as refused:
            network.create_webhook_endpoint("http://127.0.0.1:9/hooks")
        assert refused.value.reason == "WEBHOOK_URL_REFUSED"
        assert refused.value.field_violations == [("url", "must be https (plain http to localhost is not allowed on "
                                                          "this network)")]
        assert network.list_webhook_endpoints() == []
    with shop.client() as network:
        for url, problem in (("ftp://example.com/x", "must be https"),
                             ("http://example.com/hooks", "must be https"),
                             ("https://user:pw@example.com/", "must not carry a user name or password"),
                             ("https:///nohost", "must name a host")):
            with pytest.raises(CoalitionError) as refused:
                network.create_webhook_endpoint(url)
            assert (refused.value.reason, refused.value.field_violations) == ("WEBHOOK_URL_REFUSED", [("url", problem)])
        with pytest.raises(CoalitionError) as refused:
            network.create_webhook_endpoint("https://example.com/hooks", ["points.earned", "points.eaten"])
        assert refused.value.reason == "WEBHOOK_EVENT_TYPE_UNKNOWN"
        assert network.list_webhook_endpoints() == []

        first = network.create_webhook_endpoint("https://example.com/a", ["points.earned"], request_id="wh-create-1")
        again = network.create_webhook_endpoint("https://example.com/a", ["points.earned"], request_id="wh-create-1")
        assert again == first and first.secret.startswith("whsec_")  # a retry: the same endpoint and secret
        assert len(network.list_webhook_endpoints()) == 1
        for i in range(rules.MAX_ENDPOINTS_PER_PARTNER - 1):
            network.create_webhook_endpoint(f"https://example.com/{i}")
        with pytest.raises(CoalitionError) as refused:
            network.create_webhook_endpoint("https://example.com/one-too-many")
        assert refused.value.reason == "TOO_MANY_WEBHOOK_ENDPOINTS" and refused.value.metadata["limit"] == "10"

        endpoint_id = first.endpoint.endpoint_id
        disabled = network.update_webhook_endpoint(endpoint_id, state="disabled")
        assert not disabled.enabled and disabled.disabled_reason == "disabled by the partner"
        member_id = member_of(network)
        network.earn(member_id, points=10)
        with pytest.raises(CoalitionError) as refused:
            network.replay_webhook_events(endpoint_id, 1)
        assert refused.value.reason == "WEBHOOK_ENDPOINT_DISABLED"
        assert network.update_webhook_endpoint(endpoint_id, state="enabled").enabled
        with pytest.raises(CoalitionError) as refused:
            network.update_webhook_endpoint(endpoint_id, state="paused")
        assert refused.value.field_violations == [("state", 'must be "enabled", "disabled" or empty')]

    other = make_partner("other")
    other.target = shop.target
    with other.client() as network:  # another partner's endpoint does not exist for it
        with pytest.raises(CoalitionError) as refused:
            network.delete_webhook_endpoint(endpoint_id)
        assert refused.value.reason == "WEBHOOK_ENDPOINT_NOT_FOUND"
        assert refused.value.metadata["endpoint_id"] == endpoint_id
    with engine.connect() as conn:
        assert store.endpoint(conn, endpoint_id) is not None
    with shop.client() as network:
        network.delete_webhook_endpoint(endpoint_id)
        assert endpoint_id not in {e.endpoint_id for e in network.list_webhook_endpoints()}


# --- delivery ----------------------------------------------------------------------------------------------------

def test_events_are_delivered_signed_in_order_and_filtered(shop, receiver, webhook_worker, network_signer, engine):
    with shop.client() as network:
        everything = network.create_webhook_endpoint(receiver.url)
        redeemed_only = network.create_webhook_endpoint(receiver.url.replace("/hooks", "/redeemed"),
                                                        ["points.redeemed"])
        member_id = member_of(network)  # enrolling is no event
        network.earn(member_id, points=300)
        network.redeem(member_id, points=100)
        network.earn(member_id, points=5)
    wait_for(lambda: len(receiver.received) == 4, "4 deliveries (3 to one endpoint, 1 to the filtered one)")
    by_path: dict[str, list[dict]] = {}
    for item in receiver.received:
        payload, secret = None, None
        for candidate in (everything.secret, redeemed_only.secret):
            try:
                payload = verify_both(item, candidate, network_signer)
                secret = candidate
                break
            except Exception:  # noqa: BLE001 - the other endpoint's secret
                continue
        assert payload is not None, "the v1 signature verifies with the endpoint's secret"
        assert item.headers["webhook-id"] == rules.webhook_id(shop.partner_id, int(payload["data"]["sequence"]))
        by_path.setdefault("all" if secret == everything.secret else "redeemed", []).append(payload)
    assert [p["type"] for p in by_path["all"]] == ["points.earned", "points.redeemed", "points.earned"]
    sequences = [int(p["data"]["sequence"]) for p in by_path["all"]]
    assert sequences == sorted(sequences)
    assert [p["type"] for p in by_path["redeemed"]] == ["points.redeemed"]
    logged(engine, everything.endpoint.endpoint_id, 3)
    with shop.client() as network:
        log = network.list_webhook_deliveries(everything.endpoint.endpoint_id)
        assert {(d.attempt, d.status_code, d.delivered) for d in log} == {(1, 200, True)} and len(log) == 3
        [endpoint] = [e for e in network.list_webhook_endpoints() if e.endpoint_id == everything.endpoint.endpoint_id]
        assert endpoint.delivered_through_sequence == sequences[-1]


def test_a_tampered_body_fails_both_signatures(shop, receiver, webhook_worker, network_signer):
    with shop.client() as network:
        created = network.create_webhook_endpoint(receiver.url)
        network.earn(member_of(network), points=7)
    item = wait_for(lambda: receiver.received and receiver.received[0], "one delivery")
    verify_both(item, created.secret, network_signer)
    forged = Received(item.headers, item.body.replace(b'"points":"7"', b'"points":"70"'))
    assert forged.body != item.body
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(created.secret).verify(forged.body, forged.headers)
    with pytest.raises(Exception):
        verify_both(forged, created.secret, network_signer)


def test_receiver_down_then_up_gets_every_event_in_order_once_per_id(shop, receiver, webhook_worker, engine):
    receiver.fail_first = 4  # the first four POSTs get 503
    with shop.client() as network:
        created = network.create_webhook_endpoint(receiver.url)
        member_id = member_of(network)
        for points in (1, 2, 3):
            network.earn(member_id, points=points)
    wait_for(lambda: len([r for r in receiver.received[4:]]) >= 3, "the three events after the outage")
    ids = receiver.deduped()
    sequences = [int(i.rsplit("_", 1)[1]) for i in ids]
    assert len(ids) == 3 and sequences == sorted(sequences)
    assert [json.loads(r.body)["data"]["transaction"]["points"] for r in receiver.received[4:7]] == ["1", "2", "3"]
    log = logged(engine, created.endpoint.endpoint_id, 7)
    failed = [d for d in log if not d.delivered]
    assert len(failed) == 4 and {d.status_code for d in failed} == {503} and {d.error for d in failed} == {"HTTP 503"}
    assert max(d.attempt for d in log) == 5  # the first event: four refusals, then the fifth attempt


def test_a_later_event_of_a_page_that_fails_gets_its_own_schedule(shop, receiver, webhook_worker, engine):
    """Events delivered a page per activity: the second of three fails its first POST; it is retried (attempt 2)
    after the first wait, never skipped, and the third follows it."""
    receiver.fail_at = {1}
    with shop.client() as network:
        created = network.create_webhook_endpoint(receiver.url)
        endpoint_id = created.endpoint.endpoint_id
        network.update_webhook_endpoint(endpoint_id, state="disabled")  # the three events wait: one page
        member_id = member_of(network)
        for points in (1, 2, 3):
            network.earn(member_id, points=points)
        network.update_webhook_endpoint(endpoint_id, state="enabled")
    wait_for(lambda: len(receiver.received) == 4, "three events, one of them twice")
    assert [json.loads(r.body)["data"]["transaction"]["points"] for r in receiver.received] == ["1", "2", "2", "3"]
    log = logged(engine, endpoint_id, 4)
    first = log[0].seq
    assert [(d.seq - first, d.attempt, d.status_code) for d in log] == [(0, 1, 200), (1, 1, 503), (1, 2, 200),
                                                                        (2, 1, 200)]


def test_retries_run_out_the_endpoint_is_disabled_with_an_alert_and_gets_nothing_more(shop, webhook_worker, engine):
    dead_port = free_port()  # nothing listens on it: every attempt is refused
    with shop.client() as network:
        created = network.create_webhook_endpoint(f"http://127.0.0.1:{dead_port}/hooks")
        member_id = member_of(network)
        network.earn(member_id, points=1)
    endpoint_id = created.endpoint.endpoint_id

    def disabled():
        with engine.connect() as conn:
            found = store.endpoint(conn, endpoint_id)
        return None if found.enabled else found
    endpoint = wait_for(disabled, "the endpoint disabled after its retries")
    assert endpoint.alert.startswith(f"disabled by the network: event {endpoint.delivered_through + 1} not delivered "
                                     f"after {ATTEMPTS} attempts")
    with engine.connect() as conn:
        log = store.deliveries(conn, endpoint_id=endpoint_id)
    assert sorted(d.attempt for d in log) == list(range(1, ATTEMPTS + 1))
    assert all(d.status_code is None and "ConnectError" in d.error for d in log)
    with shop.client() as network:
        network.earn(member_id, points=2)  # a new event: the dispatcher must not wake a disabled endpoint
        [shown] = [e for e in network.list_webhook_endpoints() if e.endpoint_id == endpoint_id]
        assert not shown.enabled and shown.disabled_reason == endpoint.alert
    time.sleep(3 * 1.0)  # three dispatcher polls
    with engine.connect() as conn:
        assert len(store.deliveries(conn, endpoint_id=endpoint_id)) == ATTEMPTS


def test_worker_killed_mid_delivery_the_event_still_arrives(shop, receiver, webhook_worker, engine):
    receiver.delay = 1.5  # the first POST is in flight when the worker is killed
    with shop.client() as network:
        created = network.create_webhook_endpoint(receiver.url)
        network.earn(member_of(network), points=11)
    assert receiver.got_request.wait(60), "the worker started delivering"
    webhook_worker.kill()
    receiver.delay = 0.0
    webhook_worker.start()
    endpoint_id = created.endpoint.endpoint_id

    def caught_up():
        with engine.connect() as conn:
            found = store.endpoint(conn, endpoint_id)
            return found.delivered_through > created.endpoint.delivered_through_sequence and found
    endpoint = wait_for(caught_up, "delivery after the restart", timeout=90)
    assert receiver.deduped() == [rules.webhook_id(shop.partner_id, endpoint.delivered_through)]
    with engine.connect() as conn:
        log = store.deliveries(conn, endpoint_id=endpoint_id)
    assert [d for d in log if d.delivered], "the attempt after the restart is logged"


def test_replay_of_a_range_redelivers_those_ids(shop, receiver, webhook_worker, engine):
    with shop.client() as network:
        created = network.create_webhook_endpoint(receiver.url)
        member_id = member_of(network)
        for points in (1, 2, 3):
            network.earn(member_id, points=points)
    wait_for(lambda: len(receiver.received) == 3, "three deliveries")
    first_ids = [r.headers["webhook-id"] for r in receiver.received]
    first_seq = int(first_ids[0].rsplit("_", 1)[1])
    endpoint_id = created.endpoint.endpoint_id
    with shop.client() as network:
        replay = network.replay_webhook_events(endpoint_id, first_seq, first_seq + 1)
        assert (replay.first_sequence, replay.last_sequence) == (first_seq, first_seq + 1)
        with pytest.raises(CoalitionError) as refused:
            network.replay_webhook_events(endpoint_id, first_seq + 3)  # after the partner's last event
        assert refused.value.field_violations[0][0] == "first_sequence"
    wait_for(lambda: len(receiver.received) == 5, "the two replayed events")
    assert [r.headers["webhook-id"] for r in receiver.received[3:]] == first_ids[:2]
    with engine.begin() as conn:  # the operator's replay of one event, recorded
        replay_id = admin.replay_webhook_events(conn, "ops-test", endpoint_id, first_seq + 2)
    wait_for(lambda: len(receiver.received) == 6, "the operator's replay")
    assert receiver.received[5].headers["webhook-id"] == first_ids[2]
    log = logged(engine, endpoint_id, 6)
    with engine.connect() as conn:
        action = conn.execute(text("SELECT operator, action, detail FROM operator_actions WHERE subject = :s"),
                              {"s": endpoint_id}).one()
    assert sorted(d.seq for d in log if d.replay) == [first_seq, first_seq + 1, first_seq + 2]
    assert (action.operator, action.action, action.detail["replay_id"]) == ("ops-test", "webhook.replay", replay_id)


# --- the partner's and the operator's commands ----------------------------------------------------------------------

def test_partner_and_operator_commands(shop, engine, database_url, tmp_path, monkeypatch):
    key_file = save_key_file(tmp_path / "key.json", KeyFile(
        partner_id=shop.partner_id, key_id=shop.key_id,
        private_key_pem=signing.private_key_to_pem(shop.private_key).decode("ascii"), target=shop.target))
    for console in (partner_cli.console, operator_webhooks.console):  # tables whole, whatever terminal (or none)
        monkeypatch.setattr(console, "_width", 250)
    partner = lambda *args: CliRunner().invoke(partner_cli.app, [*args, "--key-file", str(key_file)])  # noqa: E731
    added = partner("webhooks", "add", "https://example.com/cli", "--event", "points.earned")
    assert added.exit_code == 0 and "whsec_" in added.output, added.output
    refused = partner("webhooks", "add", "https://example.com/x", "--event", "points.eaten")
    assert refused.exit_code != 0 and "WEBHOOK_EVENT_TYPE_UNKNOWN" in refused.output
    with engine.connect() as conn:
        [endpoint] = store.endpoints(conn, shop.partner_id)
    listed = partner("webhooks", "list")
    assert endpoint.endpoint_id in listed.output and "points.earned" in listed.output
    disabled = partner("webhooks", "enable", endpoint.endpoint_id, "--disable")
    assert disabled.exit_code == 0 and "disabled: disabled by the partner" in disabled.output
    with shop.client() as network:
        network.earn(member_of(network), points=4)

    monkeypatch.setenv("DATABASE_URL", database_url)
    from_environment.cache_clear()
    try:
        operator = lambda *args: CliRunner().invoke(operator_app, list(args))  # noqa: E731
        shown = operator("webhooks", "list", "--partner", shop.partner_id)
        assert endpoint.endpoint_id in shown.output and "disabled" in shown.output
        refused = operator("webhooks", "replay", endpoint.endpoint_id, "--from", "1")
        assert refused.exit_code == 2 and "WEBHOOK_ENDPOINT_DISABLED" in refused.output
        enabled = operator("webhooks", "enable", endpoint.endpoint_id, "--operator", "ops-cli")
        assert enabled.exit_code == 0, enabled.output
        replayed = operator("webhooks", "replay", endpoint.endpoint_id, "--from", "1", "--operator", "ops-cli")
        assert replayed.exit_code == 0 and "requested" in replayed.output
        assert operator("webhooks", "deliveries", "--endpoint", endpoint.endpoint_id).exit_code == 0
    finally:
        from_environment.cache_clear()
    with engine.connect() as conn:
        actions = conn.execute(text("SELECT action FROM operator_actions WHERE subject = :s AND operator = 'ops-cli' "
                                    "ORDER BY action_id"), {"s": endpoint.endpoint_id}).scalars().all()
        assert store.endpoint(conn, endpoint.endpoint_id).enabled
    assert actions == ["webhook.enable", "webhook.replay"]
    assert partner("webhooks", "deliveries", "--endpoint", endpoint.endpoint_id).exit_code == 0
    replay = partner("webhooks", "replay", endpoint.endpoint_id, "--from", "1")
    assert replay.exit_code == 0 and "replay_id" in replay.output, replay.output
    assert partner("webhooks", "remove", endpoint.endpoint_id).exit_code == 0
    with engine.connect() as conn:
        assert store.endpoints(conn, shop.partner_id) == []
