"""The .proto files pass buf lint (STANDARD); the vendored google/rpc files are ignored."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from coalition.testing import BUF
from protos.generate import PROTO_ROOT


def test_protos_pass_buf_standard_lint(tmp_path: Path):
    assert BUF.exists(), f"buf is not installed at {BUF}: run the suite through `./run test`"
    shutil.copytree(PROTO_ROOT, tmp_path / "protos",
                    ignore=shutil.ignore_patterns("*.py", "*.pyi", "*.md", "__pycache__"))
    result = subprocess.run([str(BUF), "lint"], cwd=tmp_path / "protos", capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
