"""The `coalition` command line: composes the network, settlement, console and the one-command runner."""

import protos  # noqa: F401 - first: gRPC core's fork handlers off before gRPC loads (protos/__init__.py)
