"""The TypeScript client (partners/typescript) against the real network server.

The setup installs its npm dependencies when missing (coalition.testing.ensure_typescript_client), generates
its messages from protos/ with buf (src/gen is generated on every run, never committed), type-checks it with
tsc, and runs its tests with Node's built-in runner: SIGNING.md's vectors, enroll, earn, redeem, receipt
verification, typed refusals and retries, with a partner registered here and its key written as the key file
`coalition-partner keygen` writes. Without node and npm the test fails: it does not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from coalition.testing import TYPESCRIPT_CLIENT, ensure_typescript_client
from partners import signing
from partners.keyfile import KeyFile, save_key_file


def _run(args: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=TYPESCRIPT_CLIENT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_typescript_client_against_the_network(tmp_path: Path, make_partner):
    assert shutil.which("node") and shutil.which("npm"), "node and npm (Node.js 20+) are needed for partners/typescript"
    ensure_typescript_client()
    npm = shutil.which("npm")
    _run([npm, "run", "--silent", "generate"])
    _run([npm, "run", "--silent", "typecheck"])

    partner = make_partner("ts")
    key_file = save_key_file(tmp_path / "partner-key.json", KeyFile(
        partner_id=partner.partner_id, key_id=partner.key_id,
        private_key_pem=signing.private_key_to_pem(partner.private_key).decode("ascii"), target=partner.target))
    output = _run([npm, "test", "--silent"], {"COALITION_TARGET": partner.target, "COALITION_KEY_FILE": str(key_file)})
    assert re.search(r"\bpass 14\b", output) and re.search(r"\bfail 0\b", output), output  # TAP or spec reporter
