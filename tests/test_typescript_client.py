"""The TypeScript client (partners/typescript) against the real network server.

The setup installs its npm dependencies when missing (coalition.testing.ensure_typescript_client), generates
its messages from protos/ with buf (src/gen is generated on every run, never committed), type-checks it with
tsc, and runs its tests with Node's built-in runner: SIGNING.md's vectors, enroll, earn, redeem, receipt
verification, typed refusals and retries, and mutual TLS (a server of its own with the local CA's certificates), with a partner registered here and its key written as the key file
`coalition-partner keygen` writes. Without node and npm the test fails: it does not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from coalition.certificates import LocalTls, issue_local_tls
from coalition.testing import TYPESCRIPT_CLIENT, ensure_typescript_client
from partners import signing
from network.server import start_server
from partners.keyfile import KeyFile, save_key_file


def _run(args: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=TYPESCRIPT_CLIENT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def mtls_server(engine, settings, network_signer, tmp_path: Path) -> Iterator[tuple[str, LocalTls]]:
    """The network server on its own port with mutual TLS (certificates from coalition.certificates)."""
    local = issue_local_tls(tmp_path / "tls")
    served = settings.model_copy(update={"tls_cert_file": local.server_cert_file, "tls_key_file": local.server_key_file,
                                         "tls_client_ca_file": local.ca_file})
    running = start_server(engine, served, address="127.0.0.1:0", signer=network_signer)
    yield f"127.0.0.1:{running.port}", local
    running.stop(0)


def test_typescript_client_against_the_network(tmp_path: Path, make_partner, mtls_server):
    assert shutil.which("node") and shutil.which("npm"), "node and npm (Node.js 20+) are needed for partners/typescript"
    ensure_typescript_client()
    npm = shutil.which("npm")
    _run([npm, "run", "--silent", "generate"])
    _run([npm, "run", "--silent", "typecheck"])

    partner = make_partner("ts")
    key_file = save_key_file(tmp_path / "partner-key.json", KeyFile(
        partner_id=partner.partner_id, key_id=partner.key_id,
        private_key_pem=signing.private_key_to_pem(partner.private_key).decode("ascii"), target=partner.target))
    tls_target, local = mtls_server
    other = make_partner("ts")
    issue_local_tls(local.directory, [partner.partner_id, other.partner_id])
    output = _run([npm, "test", "--silent"], {
        "COALITION_TARGET": partner.target, "COALITION_KEY_FILE": str(key_file), "COALITION_TLS_TARGET": tls_target,
        "COALITION_TLS_CA_FILE": str(local.ca_file),
        "COALITION_TLS_CLIENT_CERT_FILE": str(local.client_cert_file(partner.partner_id)),
        "COALITION_TLS_CLIENT_KEY_FILE": str(local.client_key_file(partner.partner_id)),
        "COALITION_TLS_OTHER_CERT_FILE": str(local.client_cert_file(other.partner_id)),
        "COALITION_TLS_OTHER_KEY_FILE": str(local.client_key_file(other.partner_id))})
    declared = sum(len(re.findall(r"^test\(", path.read_text(), re.M)) for path in (TYPESCRIPT_CLIENT / "test").glob("*.test.ts"))
    assert declared >= 12  # every test the client's files declare ran and passed (TAP or spec reporter)
    assert re.search(rf"\bpass {declared}\b", output) and re.search(r"\bfail 0\b", output), output
