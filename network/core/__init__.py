"""The network's pure rules core: frozen dataclasses and functions that decide every ledger outcome (no SQL, clock, settings or grpc)."""
