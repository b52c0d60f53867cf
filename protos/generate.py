"""Regenerate the Python code for protos/coalition/v1/*.proto: `python -m protos.generate [--check]`.

The generated modules live next to their .proto files and import each other as `protos.coalition.v1`.
protoc sees only protos/ (google/rpc vendored there) and protoc's own well-known types; the generated
code imports google.rpc.status_pb2 from googleapis-common-protos at run time.
With --check nothing is written; the exit code says whether the committed copy is stale.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tempfile

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = pathlib.Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "coalition" / "v1"
_IMPORT = re.compile(r"^from coalition\.v1 import ", re.MULTILINE)


def well_known_types_dir() -> pathlib.Path:
    """protoc's own google/protobuf/*.proto (timestamp, any, duration), as shipped with grpcio-tools."""
    return pathlib.Path(grpc_tools.__file__).resolve().parent / "_proto"


def _include_dirs() -> list[str]:
    # protos/ is self-contained: google/rpc/{status,error_details}.proto are vendored under protos/google/rpc.
    return [str(PROTO_ROOT), str(well_known_types_dir())]


def generate_into(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Run protoc for every .proto into out_dir; return the generated files (relative to out_dir)."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PACKAGE_DIR.glob("*.proto"))
    args = ["protoc", *(f"-I{d}" for d in _include_dirs())]
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = sorted(out_dir.glob("coalition/v1/*_pb2*.py*"))
    for path in generated:
        path.write_text(_IMPORT.sub("from protos.coalition.v1 import ", path.read_text()))
    return [p.relative_to(out_dir) for p in generated]


def stale_files() -> list[str]:
    """Files whose committed copy differs from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        stale = []
        for rel in generate_into(out):
            committed = PROTO_ROOT / rel
            if not committed.exists() or committed.read_text() != (out / rel).read_text():
                stale.append(str(rel))
        fresh = {str(rel) for rel in (p.relative_to(out) for p in out.glob("coalition/v1/*_pb2*.py*"))}
        stale += [str(p.relative_to(PROTO_ROOT)) for p in PACKAGE_DIR.glob("*_pb2*.py*")
                  if str(p.relative_to(PROTO_ROOT)) not in fresh]
        return stale


def main() -> None:
    if "--check" in sys.argv:
        stale = stale_files()
        if stale:
            print("stale generated code: " + ", ".join(stale) + " (run `python -m protos.generate`)")
            raise SystemExit(1)
        print("generated code is up to date")
        return
    for old in PACKAGE_DIR.glob("*_pb2*.py*"):
        old.unlink()
    for rel in generate_into(PROTO_ROOT):
        print(f"wrote protos/{rel}")


if __name__ == "__main__":
    main()
