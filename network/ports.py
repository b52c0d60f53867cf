"""Free TCP ports on 127.0.0.1 for a process about to be started (a server, Temporal, a test's receiver).

The port is picked below the kernel's ephemeral range: a port from bind(("127.0.0.1", 0)) comes from that range,
the range every outgoing connection takes its local port from, so between picking it and the child's bind another
process's connection may take it ("address already in use"; seen with two test processes on one machine). Below
the range only a listener that chose the same port can take it, and a port is picked at random among thousands.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000  # above the well-known and most registered service ports


def _ephemeral_low() -> int | None:
    try:
        low, _high = (int(x) for x in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return None  # not Linux, or not readable: the kernel's choice
    return low


def free_port(attempts: int = 200) -> int:
    """A port nothing listens on right now (nothing will, unless a process binds it), below the ephemeral range
    where there is room, else one the kernel picks."""
    low = _ephemeral_low()
    if low is not None and low - LOWEST >= 1000:
        for _ in range(attempts):
            port = random.randrange(LOWEST, low)
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


__all__ = ["free_port"]
