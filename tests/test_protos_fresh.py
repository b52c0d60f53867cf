"""The committed generated code matches the .proto files."""

from protos.generate import stale_files


def test_generated_code_is_fresh():
    assert stale_files() == []
