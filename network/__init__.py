"""The points network: ledger domain, persistence, the signed gRPC service and its interceptor."""

import protos  # noqa: F401 - first: gRPC core's fork handlers off before gRPC loads (protos/__init__.py)
