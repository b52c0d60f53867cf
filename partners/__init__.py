"""The partner SDK: coalition-sig-v1 signing, the signed client, typed errors, the partner CLI, a POS simulator."""

import protos  # noqa: F401 - first: gRPC core's fork handlers off before gRPC loads (protos/__init__.py)
