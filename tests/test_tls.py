"""TLS and mutual TLS on the real listener: the network server (with SettlementService on the same port) serving
certificates from the local CA `coalition up --tls` makes; the Python SDK calling with a CA bundle and a client
certificate. Under mutual TLS a client certificate names its partner (subject CN); a call signed by another
partner's key is refused with PERMISSION_DENIED / CERTIFICATE_PARTNER_MISMATCH and writes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from coalition.certificates import LocalTls, issue_local_tls
from network.server import RunningServer, start_server
from partners.cli import app as cli_app
from partners.client import PartnerClient
from partners.errors import PermissionDenied, Unavailable
from partners.keyfile import KeyFile, save_key_file
from partners.signing import private_key_to_pem
from settlement.grpc_service import registration


@pytest.fixture(scope="module")
def local_tls(tmp_path_factory) -> LocalTls:
    return issue_local_tls(tmp_path_factory.mktemp("tls"))


def _serve(engine, settings, signer, tls: LocalTls, *, mutual: bool) -> RunningServer:
    served = settings.model_copy(update={"tls_cert_file": tls.server_cert_file, "tls_key_file": tls.server_key_file,
                                         "tls_client_ca_file": tls.ca_file if mutual else None})
    return start_server(engine, served, address="127.0.0.1:0", signer=signer,
                        extra_services=[registration(engine, served)])


@pytest.fixture(scope="module")
def tls_target(engine, settings, network_signer, local_tls) -> Iterator[str]:
    running = _serve(engine, settings, network_signer, local_tls, mutual=False)
    yield f"127.0.0.1:{running.port}"
    running.stop(0)


@pytest.fixture(scope="module")
def mtls_target(engine, settings, network_signer, local_tls) -> Iterator[str]:
    running = _serve(engine, settings, network_signer, local_tls, mutual=True)
    yield f"127.0.0.1:{running.port}"
    running.stop(0)


def _client(partner, target: str, tls: LocalTls, certificate_of: str | None = None, **options) -> PartnerClient:
    """A client of `partner`'s key over TLS trusting the local CA, with `certificate_of`'s client certificate."""
    chain = key = None
    if certificate_of is not None:
        issue_local_tls(tls.directory, [certificate_of])
        chain = tls.client_cert_file(certificate_of).read_bytes()
        key = tls.client_key_file(certificate_of).read_bytes()
    return PartnerClient(target, partner.key_id, partner.private_key, root_certificates=tls.ca_file.read_bytes(),
                         certificate_chain=chain, tls_private_key=key, **options)


def _enrolled(engine, partner_id: str, customer_ref: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM enrollments WHERE partner_id = :p AND customer_ref = :c"),
                            {"p": partner_id, "c": customer_ref}).scalar_one()


def test_a_call_over_tls_with_the_ca_succeeds(engine, make_partner, tls_target, local_tls):
    partner = make_partner("tls")
    with _client(partner, tls_target, local_tls) as client:
        enrolled = client.enroll_member(customer_ref="c-tls-1")
        assert enrolled.created and client.last_receipt is not None  # the receipt verified over TLS too
        assert client.get_partner_position().partner_id == partner.partner_id  # SettlementService: same listener
    assert _enrolled(engine, partner.partner_id, "c-tls-1") == 1


def test_tls_without_the_ca_or_in_plaintext_fails(make_partner, tls_target):
    partner = make_partner("tls")
    with PartnerClient(tls_target, partner.key_id, partner.private_key, tls=True, max_attempts=1) as untrusting:
        with pytest.raises(Unavailable):  # the system roots do not know the local CA
            untrusting.get_network_keys()
    with PartnerClient(tls_target, partner.key_id, partner.private_key, max_attempts=1) as plaintext:
        with pytest.raises(Unavailable):
            plaintext.get_network_keys()


def test_mutual_tls_refuses_a_connection_without_a_client_certificate(make_partner, mtls_target, local_tls):
    partner = make_partner("mtls")
    with _client(partner, mtls_target, local_tls, max_attempts=1) as client:
        with pytest.raises(Unavailable):
            client.get_network_keys()


def test_mutual_tls_accepts_the_partner_s_own_certificate(engine, make_partner, mtls_target, local_tls):
    partner = make_partner("mtls")
    with _client(partner, mtls_target, local_tls, certificate_of=partner.partner_id) as client:
        assert client.enroll_member(customer_ref="c-mtls-1").created
        assert client.get_partner_position().partner_id == partner.partner_id
        assert list(client.list_statements()) == []
        events = client.watch_events(0)  # WatchEvents (server-streaming) behind the same check: served
        first = next(events)
        events.close()
        assert (first.partner_id, first.sequence) == (partner.partner_id, 1)
    assert _enrolled(engine, partner.partner_id, "c-mtls-1") == 1


def test_a_certificate_of_another_partner_is_refused_and_nothing_is_written(engine, make_partner, mtls_target,
                                                                            local_tls):
    signer, other = make_partner("mtls"), make_partner("mtls")
    with _client(signer, mtls_target, local_tls, certificate_of=other.partner_id) as client:
        with pytest.raises(PermissionDenied) as refused:
            client.enroll_member(customer_ref="c-mismatch", request_id="mismatch-1")
        assert refused.value.reason == "CERTIFICATE_PARTNER_MISMATCH"
        with pytest.raises(PermissionDenied) as refused_earn:  # Earn: a coroutine on the event loop, same check
            client.earn(str(uuid.uuid4()), points=1, request_id="mismatch-2")
        assert refused_earn.value.reason == "CERTIFICATE_PARTNER_MISMATCH"
        with pytest.raises(PermissionDenied) as refused_settlement:
            client.get_partner_position()  # SettlementService behind the same check
        assert refused_settlement.value.reason == "CERTIFICATE_PARTNER_MISMATCH"
        with pytest.raises(PermissionDenied) as refused_watch:  # WatchEvents: refused before any event is sent
            next(client.watch_events(0))
        assert refused_watch.value.reason == "CERTIFICATE_PARTNER_MISMATCH"
        assert client.get_network_keys().keys  # public (unsigned) calls name no partner: served
    assert _enrolled(engine, signer.partner_id, "c-mismatch") == 0
    assert _enrolled(engine, other.partner_id, "c-mismatch") == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE request_id IN ('mismatch-1', 'mismatch-2')")).scalar_one() == 0


def test_the_local_ca_is_kept_and_completed_when_issued_again(tmp_path: Path):
    first = issue_local_tls(tmp_path / "tls", ["acme"])
    ca, server = first.ca_file.read_bytes(), first.server_cert_file.read_bytes()
    again = issue_local_tls(tmp_path / "tls", ["acme", "bolt"])
    assert (again.ca_file.read_bytes(), again.server_cert_file.read_bytes()) == (ca, server)
    assert again.client_cert_file("bolt").exists() and oct(again.client_key_file("bolt").stat().st_mode)[-3:] == "600"


def test_coalition_partner_calls_over_mutual_tls(engine, make_partner, mtls_target, local_tls, tmp_path: Path):
    partner = make_partner("mtls")
    issue_local_tls(local_tls.directory, [partner.partner_id])
    key_path = tmp_path / "partner.key"
    save_key_file(key_path, KeyFile(partner.partner_id, partner.key_id,
                                    private_key_to_pem(partner.private_key).decode(), target=mtls_target))
    pem_options = ["--key-file", str(key_path), "--ca-file", str(local_tls.ca_file)]
    mutual = [*pem_options, "--cert-file", str(local_tls.client_cert_file(partner.partner_id)),
              "--cert-key-file", str(local_tls.client_key_file(partner.partner_id))]
    shown = CliRunner().invoke(cli_app, ["position", *mutual])
    assert shown.exit_code == 0, shown.output
    assert f"position of {partner.partner_id}" in shown.output and "credit limit" in shown.output
    report = CliRunner().invoke(cli_app, ["report", "--from", "2026-01-01", "--to", "2026-01-31", *mutual])
    assert report.exit_code == 0, report.output
    without_certificate = CliRunner().invoke(cli_app, ["position", *pem_options, "--timeout", "2"])
    assert without_certificate.exit_code == 2 and "UNAVAILABLE" in without_certificate.output
    half = CliRunner().invoke(cli_app, ["position", *pem_options, "--cert-file", str(local_tls.ca_file)])
    assert half.exit_code == 2 and "--cert-key-file" in half.output
