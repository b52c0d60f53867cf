"""Mutation testing of the pure rule modules: runs mutmut as configured in pyproject.toml ``[tool.mutmut]`` and
reports the share of mutants the database-free tests kill, per module and overall.

The configuration names the modules mutated (``only_mutate``) and the test files run against each mutant
(``pytest_add_cli_args_test_selection``); mutmut writes its working copy and verdicts under ``mutants/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code); any other code is "suspicious".
STATUS_BY_EXIT_CODE = {
    1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious",
    36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "caught by type check",
    -11: "segfault", -9: "segfault", 2: "interrupted", None: "not checked",
}
DETECTED = {"killed", "timeout", "caught by type check"}


@dataclass
class ModuleScore:
    module: str
    total: int = 0
    killed: int = 0
    survived: int = 0
    no_tests: int = 0
    other: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Percentage of mutants detected; a mutant no selected test reaches counts as not detected."""
        return 100.0 * self.killed / self.total if self.total else 100.0


def mutmut_config(root: Path = ROOT) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]


def read_scores(root: Path = ROOT) -> list[ModuleScore]:
    """One score per configured module, read from mutmut's ``mutants/<module>.meta`` verdict files."""
    scores = []
    for module in mutmut_config(root)["only_mutate"]:
        score = ModuleScore(module)
        meta = root / "mutants" / (module + ".meta")
        verdicts = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        for name, exit_code in sorted(verdicts.items(), key=lambda item: _natural(item[0])):
            status = STATUS_BY_EXIT_CODE.get(exit_code, "suspicious")
            score.total += 1
            if status in DETECTED:
                score.killed += 1
            elif status == "survived":
                score.survived += 1
                score.survivors.append(name)
            elif status == "no tests":
                score.no_tests += 1
                score.survivors.append(name)
            else:
                score.other += 1
                score.survivors.append(name)
        scores.append(score)
    return scores


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return (stem, int(number) if number.isdigit() else 0)


def overall(scores: list[ModuleScore]) -> ModuleScore:
    total = ModuleScore("overall")
    for s in scores:
        total.total += s.total
        total.killed += s.killed
        total.survived += s.survived
        total.no_tests += s.no_tests
        total.other += s.other
    return total


def refresh_copy(root: Path = ROOT) -> int:
    """Delete the stale non-Python files of mutmut's working copy (mutants/<package>/...), so that mutmut copies
    them afresh: it re-copies Python files on every run but keeps any other file it copied once (a changed
    SIGNING.md or .proto would otherwise be read in its old form). Its verdicts (.meta, .spans) are kept."""
    removed = 0
    for package in mutmut_config(root).get("source_paths", []):
        copy = root / "mutants" / package
        if not copy.is_dir():
            continue
        for path in copy.rglob("*"):
            if path.is_file() and path.suffix not in {".py", ".meta", ".spans"}:
                path.unlink()
                removed += 1
    return removed


def run_mutmut(max_children: int, root: Path = ROOT) -> int:
    """Runs ``mutmut run`` in the repository root, then once more on the mutants not killed so far.

    mutmut keeps the verdict of every mutant of an unchanged function, also when tests were added since: the
    second run names the survivors, which makes mutmut test them again against the current tests."""
    refresh_copy(root)
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut) if mutmut.exists() else "mutmut", "run", "--max-children", str(max_children)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    returncode = subprocess.run(command, cwd=root, env=env).returncode
    survivors = [name for score in read_scores(root) for name in score.survivors]
    if returncode == 0 and survivors:
        returncode = subprocess.run([*command, *survivors], cwd=root, env=env).returncode
    return returncode


def report(scores: list[ModuleScore]) -> dict:
    total = overall(scores)
    return {
        "tool": "mutmut",
        "overall": {**_figures(total)},
        "modules": [{**_figures(s), "survivors": s.survivors} for s in scores],
    }


def _figures(s: ModuleScore) -> dict:
    figures = asdict(s)
    figures.pop("survivors")
    figures["score_percent"] = round(s.score, 2)
    return figures
