"""The project's own docs stay true: nothing points outside the repository, every file and name the docs give
exists, and the money model's worked example is what the code computes."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from network.core import ledger, rules
from network.core.ledger import LotBalance
from network.core.terms import ContractTerms
from settlement.domain.netting import HeldAmount, net_cycle
from settlement.domain.obligations import Flow, Terms, obligations
from settlement.domain.payment_plan import PAYOUT, plan_position

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("docs/architecture.md", "docs/money-model.md")  # the docs whose names and paths are checked
PACKAGES = ("protos", "partners", "network", "settlement", "console", "coalition")
# Spelled in pieces so that this file does not mention them itself.
OUTSIDE = ("../" + "shared", "DESIGN" + ".md")
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".coalition", ".pytest_cache", ".hypothesis",
                "artifacts", "bench-results", "build"}
FILE_SUFFIXES = (".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".proto", ".json", ".ini", ".xsd")
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
PATH = re.compile(r"[A-Za-z0-9_.*-]+(/[A-Za-z0-9_.*-]*)*")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def repository_files() -> list[Path]:
    """The files of the repository: tracked or new and not ignored (git), else a walk skipping build output."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
        return [ROOT / name for name in listed if name and (ROOT / name).is_file()]
    except (OSError, subprocess.SubprocessError):
        found = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
            found += [Path(folder) / f for f in files if not f.endswith(".pyc")]
        return found


def test_nothing_in_the_repository_points_outside_it():
    offenders = []
    for path in repository_files():
        try:
            content = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary
        for number, line in enumerate(content.splitlines(), 1):
            if any(marker in line for marker in OUTSIDE):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "refer to docs/ instead:\n" + "\n".join(offenders)


def _prose(text: str) -> str:
    """The text without its fenced blocks (diagrams are not checked name by name)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def named_in(doc: str) -> tuple[set[str], set[str]]:
    """(file paths, dotted project names) in the backticks of a doc, and the relative links it makes."""
    text = _prose((ROOT / doc).read_text(encoding="utf-8"))
    paths, names = set(), set()
    for token in re.findall(r"`([^`\n]+)`", text):
        if DOTTED.fullmatch(token) and token.split(".")[0] in PACKAGES:
            names.add(token)
        elif PATH.fullmatch(token) and ("/" in token or token.endswith(FILE_SUFFIXES)):
            paths.add(token)
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:|#", target):
            paths.add(os.path.normpath(os.path.join(os.path.dirname(doc), target.split("#")[0])))
    return paths, names


def resolve(name: str) -> object:
    """Import the longest module prefix of `name`, then getattr the rest (classes, methods, constants)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name is not None and not ".".join(parts[:cut]).startswith(exc.name):
                raise  # the module exists but something it imports is missing
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(name)


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_a_doc_names_exists(doc):
    paths, _ = named_in(doc)
    assert paths, f"{doc} names no files: is the parser still reading it?"
    missing = sorted(p for p in paths if not (list(ROOT.glob(p.rstrip("/"))) if "*" in p else (ROOT / p).exists()))
    assert not missing, f"{doc} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_name_a_doc_gives_imports(doc):
    _, names = named_in(doc)
    assert names, f"{doc} names no functions: is the parser still reading it?"
    missing = []
    for name in sorted(names):
        try:
            resolve(name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name} ({exc.__class__.__name__}: {exc})")
    assert not missing, f"{doc} names what does not exist (write a path, or fix the name):\n" + "\n".join(missing)


def test_architecture_answers_the_three_questions_by_one_file_and_function_each():
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    table = text.split("## Three questions, three answers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| How") or line.startswith("| Where")]
    assert len(rows) == 3
    for row in rows:
        _, question, file, function, _ = row.split("|")
        path, name = file.strip().strip("`"), function.strip().strip("`")
        assert (ROOT / path).is_file(), row
        assert callable(resolve(name)), row
        assert path.removesuffix(".py").replace("/", ".") in name, f"{name} is not in {path}"


def test_readme_and_console_point_to_the_docs():
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/money-model.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/money-model.md" in (ROOT / "console/pages/ledger_health.py").read_text(encoding="utf-8")


# --- the worked example of docs/money-model.md, recomputed --------------------------------------------------

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
POINT_VALUE = Decimal(1)
COFFEE = ContractTerms(1, "coffee", 1, T0, Decimal(10), "issuer_pays", 150, Decimal(0), Decimal(0), 2500, 86400, 365,
                       10_000, 500_000, 100_000, "EUR")
RAIL = ContractTerms(2, "rail", 1, T0, Decimal(1), "issuer_pays", 200, Decimal(0), Decimal(0), 0, 0, 0, 5000, None, 0, "EUR")


def test_worked_example_earning():
    assert rules.points_for_earn(COFFEE, 1257, "EUR", None) == 125
    lot = rules.new_lot(COFFEE, T0)
    assert (lot.state, lot.available_at, lot.expires_at) == ("pending", T0 + timedelta(days=1), T0 + timedelta(days=365))
    assert rules.points_for_earn(RAIL, 1999, "EUR", None) == 19
    refused = rules.points_for_earn(RAIL, 99, "EUR", None)
    assert isinstance(refused, rules.Refusal) and refused.field == "purchase.amount_minor"


def test_worked_example_credit_limit():
    earns = [rules.EarnRequest(COFFEE, points) for points in (300_000, 300_000, 50_000)]
    decisions = rules.apply_credit_limits(earns, {"coffee": 250_000}, POINT_VALUE)
    assert [d.reason if d else None for d in decisions] == [None, "CREDIT_LIMIT_EXCEEDED", None]
    assert rules.exposure_minor(550_000, POINT_VALUE, 100_000) == 450_000
    assert rules.exposure_minor(600_000, POINT_VALUE, 100_000) == 500_000


def test_worked_example_spending_and_a_partial_reversal():
    lots = [LotBalance("L1", "coffee", 40, T0 + timedelta(days=30), T0),
            LotBalance("L2", "books", 100, T0 + timedelta(days=10), T0 + timedelta(hours=1)),
            LotBalance("L3", "coffee", 125, None, T0)]
    taken = ledger.allocate(lots, 150)
    assert [(a.lot_id, a.points) for a in taken] == [("L2", 100), ("L1", 40), ("L3", 10)]
    assert [(a.lot_id, a.points) for a in ledger.split_proportionally(taken, 47)] == [("L2", 31), ("L1", 13), ("L3", 3)]


def test_worked_example_basket_cap():
    assert rules.basket_cap_refusal(RAIL, 2000, 3999, POINT_VALUE).reason == "BASKET_CAP_EXCEEDED"
    assert rules.basket_cap_refusal(RAIL, 2000, 4000, POINT_VALUE) is None


def test_worked_example_cycle():
    coffee = Terms(1, "coffee", "issuer_pays", clearing_fee_bps=150, breakage_share_bps=2500)
    rail = Terms(2, "rail", "issuer_pays", clearing_fee_bps=200)
    books = Terms(3, "books", "prefunded", issue_price_minor_per_point=Decimal("0.8"),
                  redemption_rate_minor_per_point=Decimal("0.9"))
    flows = [Flow("issue", False, "coffee", None, 125, coffee), Flow("issue", False, "books", None, 250, books),
             Flow("redemption", False, "coffee", "rail", 333, coffee, rail),
             Flow("redemption", False, "books", "coffee", 101, books, coffee),
             Flow("redemption", False, "books", "books", 45, books, books),
             Flow("expiry", False, "coffee", None, 7, coffee, coffee)]
    lines = obligations(flows, POINT_VALUE, "EUR")
    assert [(o.cause, o.payer, o.payee, o.points, o.amount_minor) for o in lines] == [
        ("breakage_share", "coffee", "network", 7, 2),
        ("prefund_issue", "books", "network", 250, 200),
        ("prefund_reimburse", "network", "books", 45, 40),
        ("prefund_reimburse", "network", "coffee", 101, 101),
        ("redemption_clearing", "coffee", "rail", 333, 333),
        ("redemption_fee", "rail", "network", 333, 7)]
    netted = net_cycle(lines, [], "EUR")
    assert {p.partner_id: p.net_minor for p in netted.positions} == {"books": -160, "coffee": -234, "rail": 326}
    assert (netted.network_revenue_minor, netted.residual_minor, netted.conserved) == (68, 0, True)
    plan = plan_position("cyc-20261123-0000", "rail", "EUR", 326, [HeldAmount("d1", 100)], [])
    assert (plan.instruction.direction, plan.instruction.amount_minor) == (PAYOUT, 226)
    assert plan.settlement.carried_out == (HeldAmount("d1", 100),)
