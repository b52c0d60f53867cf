"""The .proto files pass buf lint (STANDARD), as DESIGN.md 5 asks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from google.rpc import status_pb2

from coalition.testing import BUF
from protos.generate import PROTO_ROOT


def test_protos_pass_buf_standard_lint(tmp_path: Path):
    assert BUF.exists(), f"buf is not installed at {BUF}: run the suite through `./run test`"
    shutil.copytree(PROTO_ROOT / "coalition", tmp_path / "coalition",
                    ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__"))
    (tmp_path / "google" / "rpc").mkdir(parents=True)
    shutil.copy(Path(status_pb2.__file__).with_name("status.proto"), tmp_path / "google" / "rpc")
    shutil.copy(PROTO_ROOT / "buf.yaml", tmp_path / "buf.yaml")
    result = subprocess.run([str(BUF), "lint"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
