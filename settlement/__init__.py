"""Settlement on Temporal: the rules in domain/, the SQL in store/, a cycle's steps (cycles.py, responses.py,
payments.py), the Temporal workflows, activities and worker, and the payment rails."""

import protos  # noqa: F401 - first: gRPC core's fork handlers off before gRPC loads (protos/__init__.py)
