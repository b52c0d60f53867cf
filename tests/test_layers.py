"""Layers enforced: the import-linter contract in pyproject.toml passes, and fails when a forbidden import is added.

protos <- partners <- network <- settlement <- console, with coalition composing on top: a package imports only
the packages below it (docs/architecture.md, "The layers"). The pure cores (network.core, settlement.domain) import
no shell module of their packages and no SQL, gRPC or Temporal library.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protos", "partners", "network", "settlement", "console", "coalition")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env={"PYTHONPATH": str(root), "PATH": ""},
                          capture_output=True, text=True, timeout=300)


def test_the_layers_contract_holds():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("network/upward.py", "from settlement import models  # network may not import it", "network.upward -> settlement.models"),
    ("network/core/impure.py", "import sqlalchemy  # the pure core may not", "network.core.impure -> sqlalchemy"),
    ("settlement/domain/impure.py", "from settlement import store  # the domain may not", "settlement.domain.impure -> settlement.store"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, broken):
    """A copy of the tree with one forbidden import added fails the contracts, naming that import."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / module).write_text(line + "\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and broken in result.stdout


def test_the_purity_contract_names_every_shell_module():
    """A new shell module in network/ or settlement/ cannot escape the purity contract: every top-level module of
    those packages outside the cores is forbidden to the cores."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [purity] = [c for c in contracts if c["type"] == "forbidden"]
    cores = set(purity["source_modules"])
    for package in ("network", "settlement"):
        for path in (ROOT / package).iterdir():
            name = f"{package}.{path.stem}"
            if path.name.startswith("_") or name in cores or path.name in ("migrations", "schemas"):
                continue
            if path.suffix == ".py" or (path / "__init__.py").exists():
                assert name in purity["forbidden_modules"], f"{name} is missing from the purity contract"
