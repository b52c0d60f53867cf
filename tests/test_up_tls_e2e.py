"""`coalition up --demo --tls` end to end, with mutual TLS required (COALITION_TLS_CLIENT_CA_FILE): the local CA is
made under the data directory, the POS simulator's traffic arrives over mutual TLS, a demo partner calls with its
key and client certificate, a plaintext client is refused, and the printed instructions name the CA."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from coalition.up import HEALTH_CHECK_CLIENT, TLS_DIR
from partners.client import PartnerClient
from partners.errors import Unavailable
from partners.keyfile import load_key_file
from tests.test_up_e2e import COALITION, database_url, free_ports, wait_until


@pytest.mark.slow
def test_up_tls_serves_mutual_tls_to_the_simulator_and_partners(tmp_path: Path):
    import os

    grpc_port, console_port, temporal_port, ui_port = free_ports(4)
    data_dir = tmp_path / "coalition"
    tls_dir = data_dir / TLS_DIR
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")
           and not k.startswith("COALITION_")}
    env.update({
        "COALITION_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}", "COALITION_CONSOLE_PORT": str(console_port),
        "COALITION_TEMPORAL_PORT": str(temporal_port), "COALITION_TEMPORAL_UI_PORT": str(ui_port),
        "COALITION_DEMO_MEMBERS": "200", "COALITION_DEMO_RATE_PER_SECOND": "10",
        "COALITION_DEMO_HISTORY_DAYS": "0",  # the back-dated history is test_up_e2e's
        "COALITION_TLS_CLIENT_CA_FILE": str(tls_dir / "ca.pem"),  # made by `up --tls` before the server starts
    })
    target = f"127.0.0.1:{grpc_port}"
    log = tmp_path / "up.log"
    with open(log, "ab") as out:
        up = subprocess.Popen([str(COALITION), "up", "--demo", "--tls", "--data-dir", str(data_dir)], env=env,
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until("the console line", lambda: "Ctrl-C stops everything" in log.read_text(), 300, up, log)
        printed = log.read_text()
        assert "mutual TLS" in printed and f"--ca-file {tls_dir / 'ca.pem'}" in " ".join(printed.split())
        assert (tls_dir / "clients" / f"{HEALTH_CHECK_CLIENT}.pem").exists()
        engine = create_engine(database_url(data_dir))
        try:
            with engine.connect() as conn:
                before = conn.execute(text("SELECT count(*) FROM journal")).scalar_one()

            def simulated() -> bool:
                with engine.connect() as conn:
                    return conn.execute(text("SELECT count(*) FROM journal")).scalar_one() > before + 5
            wait_until("POS traffic over mutual TLS", simulated, 60, up, log)
        finally:
            engine.dispose()

        key = load_key_file(data_dir / "keys" / "brewhouse.json")
        pem = {"root_certificates": (tls_dir / "ca.pem").read_bytes(),
               "certificate_chain": (tls_dir / "clients" / "brewhouse.pem").read_bytes(),
               "tls_private_key": (tls_dir / "clients" / "brewhouse-key.pem").read_bytes()}
        with PartnerClient(target, key.key_id, key.private_key(), **pem) as client:
            assert client.get_partner_position().partner_id == "brewhouse"
        with PartnerClient(target, key.key_id, key.private_key(), max_attempts=1) as plaintext:
            with pytest.raises(Unavailable):
                plaintext.get_network_keys()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(90) == 0, log.read_text()[-3000:]
