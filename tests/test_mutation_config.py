"""The mutation-testing setup (`coalition mutate`, [tool.mutmut] in pyproject.toml) is valid without running it:
the modules it mutates exist and are pure rule modules, the tests it runs exist and need no database, and the
score is read from mutmut's verdict files as documented. The mutation run itself is not part of this suite."""

from __future__ import annotations

import ast
import json
import warnings
from pathlib import Path

import pytest

from mutmut import configuration
from mutmut.stats import status_by_exit_code

from coalition import mutate

ROOT = Path(__file__).resolve().parents[1]
CONFIG = mutate.mutmut_config(ROOT)


def _conftest_fixtures() -> set[str]:
    """Every fixture of the shared conftests: they start PostgreSQL, the network server or Temporal."""
    names = set()
    for conftest in (ROOT / "tests" / "conftest.py", ROOT / "tests" / "settlement" / "conftest.py"):
        for node in ast.walk(ast.parse(conftest.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
                names.add(node.name)
    return names


SERVICE_FIXTURES = _conftest_fixtures()


def test_every_mutated_module_exists_and_lies_in_a_copied_package():
    assert CONFIG["only_mutate"], "no module is mutated"
    for module in CONFIG["only_mutate"]:
        assert (ROOT / module).is_file(), module
        assert module.split("/")[0] in CONFIG["source_paths"], f"{module} is not copied into mutants/"
    for package in CONFIG["source_paths"]:
        assert (ROOT / package / "__init__.py").is_file(), package


def test_the_mutated_modules_are_the_pure_rule_modules():
    expected = {"network/core/rules.py", "network/core/ledger.py", "network/core/terms.py",
                "settlement/domain/obligations.py", "settlement/domain/netting.py",
                "settlement/domain/payment_plan.py", "partners/signing.py"}
    assert expected <= set(CONFIG["only_mutate"])
    for module in CONFIG["only_mutate"]:
        for node in ast.walk(ast.parse((ROOT / module).read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    assert name.split(".")[0] not in {"sqlalchemy", "psycopg2", "grpc", "temporalio"}, \
                        f"{module} imports {name}: not a pure module"


def test_selected_tests_exist_and_request_no_database_or_service_fixture():
    selected = CONFIG["pytest_add_cli_args_test_selection"]
    assert selected and {"engine", "make_partner", "temporal"} <= SERVICE_FIXTURES
    for test_file in selected:
        path = ROOT / test_file
        assert path.is_file(), test_file
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                used = {a.arg for a in node.args.args} & SERVICE_FIXTURES
                assert not used, f"{test_file}::{node.name} uses {used}"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "usefixtures":
                pytest.fail(f"{test_file} uses fixtures by marker")


def test_deselected_tests_exist():
    args = CONFIG.get("pytest_add_cli_args", [])
    for flag, value in zip(args, args[1:]):
        if flag == "--deselect":
            test_file, _, name = value.partition("::")
            assert test_file in CONFIG["pytest_add_cli_args_test_selection"]
            assert f"def {name}(" in (ROOT / test_file).read_text(encoding="utf-8"), value


def test_mutmut_reads_the_configuration(monkeypatch):
    monkeypatch.chdir(ROOT)
    configuration.reset_config()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # deprecated or invalid keys warn
            config = configuration.config()
        assert [str(p) for p in config.source_paths] == CONFIG["source_paths"]
        assert all(config.should_mutate(Path(m)) for m in CONFIG["only_mutate"])
        assert not config.should_mutate(Path("network/store/ledger.py"))
        assert config.pytest_add_cli_args_test_selection == CONFIG["pytest_add_cli_args_test_selection"]
    finally:
        configuration.reset_config()


def test_scores_are_read_from_mutmuts_verdicts(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nonly_mutate = ["pkg/a.py", "pkg/b.py"]\n')
    (tmp_path / "mutants" / "pkg").mkdir(parents=True)
    verdicts = {"pkg.a.x_f__mutmut_1": 1, "pkg.a.x_f__mutmut_2": 0, "pkg.a.x_f__mutmut_10": 33,
                "pkg.a.x_f__mutmut_3": 36, "pkg.a.x_f__mutmut_4": 2}
    (tmp_path / "mutants" / "pkg" / "a.py.meta").write_text(json.dumps({"exit_code_by_key": verdicts}))
    a, b = mutate.read_scores(tmp_path)
    assert (a.module, a.total, a.killed, a.survived, a.no_tests, a.other) == ("pkg/a.py", 5, 2, 1, 1, 1)
    assert a.score == 40.0
    assert a.survivors == ["pkg.a.x_f__mutmut_2", "pkg.a.x_f__mutmut_4", "pkg.a.x_f__mutmut_10"]
    assert (b.total, b.score) == (0, 100.0)  # no verdicts yet
    figures = mutate.report([a, b])
    assert figures["overall"] == {"module": "overall", "total": 5, "killed": 2, "survived": 1, "no_tests": 1,
                                  "other": 1, "score_percent": 40.0}
    assert figures["modules"][0]["survivors"] == a.survivors


def test_verdicts_are_classified_as_mutmut_classifies_them():
    for exit_code, status in status_by_exit_code.items():
        ours = mutate.STATUS_BY_EXIT_CODE[exit_code]
        assert (ours in mutate.DETECTED) == (status in {"killed", "timeout", "caught by type check"}), exit_code
        assert (ours == "survived") == (status == "survived"), exit_code
        assert (ours == "no tests") == (status == "no tests"), exit_code


def test_the_working_copy_is_refreshed_but_verdicts_are_kept(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["pkg"]\nonly_mutate = ["pkg/a.py"]\n')
    copy = tmp_path / "mutants" / "pkg"
    (copy / "docs").mkdir(parents=True)
    for name in ("a.py", "a.py.meta", "a.py.spans", "b.py", "docs/SIGNING.md", "x.proto"):
        (copy / name).write_text("old")
    assert mutate.refresh_copy(tmp_path) == 2
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()) == [
        "a.py", "a.py.meta", "a.py.spans", "b.py"]
