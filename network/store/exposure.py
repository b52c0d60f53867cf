"""Partners' outstanding points for the credit-limit check on earn, from a per-partner snapshot.

Summing a partner's outstanding lots on every earn would put a scan on the hot path, so the server keeps a
snapshot per partner, refreshed after `ttl_seconds`, plus what this process itself issued since. Across
several servers the check can lag by at most the TTL: the limit is enforced within one TTL of traffic.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from network.store import lots


class ExposureTracker:
    def __init__(self, engine: Engine, ttl_seconds: float = 2.0):
        self._engine = engine
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._snapshots: dict[str, tuple[float, int]] = {}

    def outstanding_points(self, partner_id: str) -> int:
        with self._lock:
            taken_at, points = self._snapshots.get(partner_id, (float("-inf"), 0))
            if time.monotonic() - taken_at <= self._ttl:
                return points
        with self._engine.connect() as conn:
            points = lots.outstanding_points(conn, partner_id)
        with self._lock:
            self._snapshots[partner_id] = (time.monotonic(), points)
        return points

    def issued(self, partner_id: str, points: int) -> None:
        """Count points this process just issued until the next snapshot."""
        with self._lock:
            if partner_id in self._snapshots:
                taken_at, current = self._snapshots[partner_id]
                self._snapshots[partner_id] = (taken_at, current + points)
