"""protos/ is the whole contract: a client generated from it alone, in a clean directory, talks to the network.

Only the .proto files under protos/ are copied into a fresh directory; protoc gets that directory and its own
well-known types (google/protobuf/*.proto) on the include path, nothing else. The generated Python modules are
imported in a separate interpreter that finds them first (they must not come from googleapis-common-protos),
build SIGNING.md's EarnRequest to the byte, and read the ErrorInfo out of the google.rpc.Status that the real
network server sends when a call is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from grpc_tools import protoc

from protos.generate import PROTO_ROOT, well_known_types_dir

# SIGNING.md section 6: the test vector's EarnRequest.
VECTOR_REQUEST_HEX = "0a087265712d3030303112066d2d303034321a0808e20912034555522a04722d37373204732d30313a03742d33"

CLIENT = textwrap.dedent('''
    import sys
    gen = sys.argv[1]
    sys.path.insert(0, gen)
    import grpc
    from google.rpc import error_details_pb2, status_pb2
    from coalition.v1 import network_pb2, network_pb2_grpc

    for module in (status_pb2, error_details_pb2, network_pb2):
        assert module.__file__.startswith(gen), f"{module.__name__} not from the generated client: {module.__file__}"

    request = network_pb2.EarnRequest(request_id="req-0001", member_id="m-0042", receipt_ref="r-77",
                                      store_id="s-01", terminal_id="t-3")
    request.purchase.amount_minor = 1250
    request.purchase.currency = "EUR"
    assert request.SerializeToString().hex() == sys.argv[3], request.SerializeToString().hex()

    with grpc.insecure_channel(sys.argv[2]) as channel:
        try:
            network_pb2_grpc.NetworkServiceStub(channel).Earn(request, timeout=10)  # unsigned: refused
            raise SystemExit("an unsigned Earn was accepted")
        except grpc.RpcError as exc:
            details = dict(exc.trailing_metadata())["grpc-status-details-bin"]
            code = exc.code()
    status = status_pb2.Status.FromString(details)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info), status.details[0].type_url
    print(code.name, status.code, info.domain, info.reason)
''')


def test_a_client_generated_from_protos_alone_reads_error_info(tmp_path: Path, target: str):
    contract = tmp_path / "contract"
    for proto in PROTO_ROOT.rglob("*.proto"):
        destination = contract / proto.relative_to(PROTO_ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(proto, destination)
    assert (PROTO_ROOT / "google" / "rpc" / "LICENSE").exists(), "the vendored google/rpc files need their licence"
    files = sorted(str(p.relative_to(contract)) for p in contract.rglob("*.proto"))
    assert "google/rpc/status.proto" in files and "google/rpc/error_details.proto" in files

    generated = tmp_path / "generated"
    generated.mkdir()
    args = ["protoc", f"-I{contract}", f"-I{well_known_types_dir()}",
            f"--python_out={generated}", f"--grpc_python_out={generated}", *files]
    assert protoc.main(args) == 0, "protoc failed on protos/ alone"

    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    result = subprocess.run([sys.executable, str(script), str(generated), target, VECTOR_REQUEST_HEX],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["UNAUTHENTICATED", "16", "coalition.network", "SIGNATURE_MISSING"]
