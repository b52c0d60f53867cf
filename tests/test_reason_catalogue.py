"""The reason catalogue (partners/reasons.py): complete, published, and what the network actually sends.

- docs/errors.md is the catalogue rendered (`python -m partners.reasons`): a stale copy fails here;
- every reason literal handed to an error helper anywhere in the code is in the catalogue (an AST scan); the
  network also checks every refusal when it is built (network.errors.DomainError; strict in the test suite,
  see conftest.py), so a reason, code or metadata key the catalogue lacks fails the test that triggers it;
- metadata keys as catalogued over the wire: TIMESTAMP_STALE's network_time, MEMBER_NOT_FOUND's member_id
  (and its legacy key member).
"""

from __future__ import annotations

import ast
import re
import time
import uuid
from pathlib import Path

import grpc
import pytest

from network import errors
from partners import reasons, signing
from partners.errors import NotFound, SignatureInvalid, error_from_rpc
from protos.coalition.v1 import network_pb2 as pb

@pytest.fixture
def partner(make_partner):
    return make_partner("cat")


ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("network", "settlement", "partners", "console", "coalition")
# the helpers that build a refusal; any UPPER_SNAKE string constant among their arguments is a reason
HELPERS = {"DomainError", "invalid", "not_found", "precondition", "denied", "unauthenticated", "_precondition",
           "Refusal", "SignatureError", "CoalitionError", "Internal", "ReceiptInvalid", "error_class"}
REASON_SHAPE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_?$")


def _constants(node: ast.AST):
    """String constants an argument can evaluate to (directly, either branch of a conditional, or part of a
    concatenation, which is reported as such so a built-up reason cannot hide)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _constants(node.body)
        yield from _constants(node.orelse)
    elif isinstance(node, (ast.BinOp, ast.JoinedStr)):
        for child in ast.walk(node):
            if isinstance(child, ast.Constant) and isinstance(child.value, str):
                yield child.value + "<built up>"


def raised_reasons() -> dict[str, list[str]]:
    """reason -> where it is handed to an error helper."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "_pb2" in path.name or "node_modules" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for call in ast.walk(tree):
                if not isinstance(call, ast.Call):
                    continue
                name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                if name not in HELPERS:
                    continue
                arguments = [*call.args, *(k.value for k in call.keywords if k.arg == "reason")]
                for argument in arguments:
                    for value in _constants(argument):
                        if REASON_SHAPE.match(value.removesuffix("<built up>")):
                            found.setdefault(value, []).append(f"{path.relative_to(ROOT)}:{call.lineno}")
    return found


def test_docs_errors_md_is_the_catalogue_rendered():
    assert reasons.DOC.read_text(encoding="utf-8") == reasons.render(), \
        "docs/errors.md is stale: run `python -m partners.reasons`"
    assert reasons.main(["--check"]) == 0


def test_every_reason_raised_in_the_code_is_catalogued():
    found = raised_reasons()
    assert len(found) >= 40, sorted(found)  # the scan sees the helpers' calls (a broken scan finds nothing)
    missing = {reason: where for reason, where in found.items() if reason not in reasons.BY_NAME}
    assert not missing, f"reasons raised but not in partners/reasons.py: {missing}"


def test_the_scan_catches_a_reason_built_up_from_pieces():
    call = ast.parse('errors.precondition("STATEMENT_" + ("A" if x else "B"), "m")').body[0].value
    assert list(_constants(call.args[0])) == ["STATEMENT_<built up>", "A<built up>", "B<built up>"]


def test_catalogue_entries_are_consistent():
    for reason in reasons.REASONS:
        assert REASON_SHAPE.match(reason.name) and reason.meaning.strip(), reason
        assert reason.code in grpc.StatusCode.__members__, reason
        assert reason.retryable == (reason.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED",
                                                    "RESOURCE_EXHAUSTED")), reason
        for key in reason.allowed_keys():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", key), (reason.name, key)


def test_a_refusal_outside_the_catalogue_is_refused_where_it_is_built():
    assert errors.STRICT_REASONS  # conftest.py
    with pytest.raises(reasons.UncataloguedReason, match="not in partners/reasons.py"):
        errors.precondition("NO_SUCH_REASON", "made up")
    with pytest.raises(reasons.UncataloguedReason, match="catalogued as FAILED_PRECONDITION"):
        errors.DomainError(grpc.StatusCode.NOT_FOUND, "NO_CONTRACT", "wrong code")
    with pytest.raises(reasons.UncataloguedReason, match="metadata keys"):
        errors.precondition("HOLD_EXPIRED", "an unlisted key", hold_id="h", member="m")
    with pytest.raises(reasons.UncataloguedReason, match="lacks the catalogued metadata keys"):
        errors.precondition("HOLD_EXPIRED", "no hold id")
    errors.STRICT_REASONS = False
    try:
        assert errors.precondition("NO_SUCH_REASON", "logged, not raised").reason == "NO_SUCH_REASON"
    finally:
        errors.STRICT_REASONS = True


def test_timestamp_stale_carries_the_network_clock(partner, target):
    """The network's clock as integer Unix seconds in ErrorInfo.metadata network_time, so a client can correct
    its own clock; a request signed 1,000 s in the past is refused with it."""
    body = pb.GetBalanceRequest(member_id=str(uuid.uuid4())).SerializeToString()
    method = "/coalition.v1.NetworkService/GetBalance"
    signed_at = int(time.time()) - 1000
    headers = signing.sign_request(partner.private_key, partner.key_id, method, body, timestamp=signed_at)
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            call(body, metadata=headers.metadata(), timeout=10)
    error = error_from_rpc(refused.value)
    assert isinstance(error, SignatureInvalid) and error.reason == "TIMESTAMP_STALE"
    assert set(error.metadata) == {"network_time"}
    network_time = error.metadata["network_time"]
    assert re.fullmatch(r"[1-9][0-9]*", network_time)
    assert int(network_time) - signed_at > signing.FRESHNESS_SECONDS  # the clock that refused it


def test_verify_request_reports_the_clock_it_refused_with():
    key = signing.generate_private_key()
    headers = signing.sign_request(key, "k-1", "/m", b"", timestamp=1_000)
    with pytest.raises(signing.SignatureError) as stale:
        signing.verify_request(signing.collect_metadata(headers.metadata()), "/m", b"",
                               lambda _: key.public_key(), now=1_301.7)
    assert (stale.value.reason, stale.value.metadata) == ("TIMESTAMP_STALE", {"network_time": "1301"})


def test_member_not_found_carries_member_id_and_its_legacy_key(partner):
    unknown = str(uuid.uuid4())
    with partner.client() as network:
        with pytest.raises(NotFound) as refused:
            network.get_balance(unknown)
    assert refused.value.reason == "MEMBER_NOT_FOUND"
    assert refused.value.metadata == {"member_id": unknown, "member": unknown}


def test_every_catalogued_reason_is_asserted_by_some_test():
    """Each reason in the catalogue is raised by at least one test; a reason added without a test that
    names it (asserts it, over gRPC, the SDK or the TypeScript client) fails here."""
    root = Path(__file__).resolve().parents[1]
    tests = [p for p in (root / "tests").rglob("*.py") if p.name != "test_reason_catalogue.py"]
    tests += list((root / "partners" / "typescript" / "test").glob("*.ts"))
    text = "".join(p.read_text() for p in tests)
    untested = [r.name for r in reasons.REASONS if f'"{r.name}"' not in text and f"'{r.name}'" not in text]
    assert not untested, f"catalogued reasons no test asserts: {untested}"
