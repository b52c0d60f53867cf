"""Settlement's SQL: every read and write of the settlement tables, named rows in and out, inside the caller's
transaction (settlement.read_models holds the console's read-only frames)."""

from settlement.store import clearing, cycles, payments, positions, statements

__all__ = ["clearing", "cycles", "payments", "positions", "statements"]
