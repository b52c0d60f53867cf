"""network.ports.free_port: below the kernel's ephemeral range (where outgoing connections and the Temporal dev
server's own HTTP API port come from), never a port something is bound to, the kernel's choice where the range
cannot be read."""

from __future__ import annotations

import socket
from pathlib import Path

from network import ports


def ephemeral_range() -> tuple[int, int]:
    low, high = (int(x) for x in ports.EPHEMERAL_RANGE.read_text().split())
    return low, high


def test_ports_are_picked_below_the_ephemeral_range_and_can_be_listened_on():
    low, _high = ephemeral_range()
    picked = {ports.free_port() for _ in range(20)}
    assert all(ports.LOWEST <= port < low for port in picked)
    assert len(picked) > 1  # at random, not one fixed port
    for port in list(picked)[:3]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()


def test_a_port_in_use_is_passed_over(monkeypatch):
    low, _ = ephemeral_range()
    with socket.socket() as held:  # a port below the range, bound for the test
        for candidate in range(low - 1, ports.LOWEST, -1):
            try:
                held.bind(("127.0.0.1", candidate))
                break
            except OSError:
                continue
        offered = iter([candidate, candidate, candidate - 1])
        monkeypatch.setattr(ports.random, "randrange", lambda a, b: next(offered))
        assert ports.free_port() == candidate - 1


def test_without_the_range_the_kernel_picks(monkeypatch, tmp_path: Path):
    low, high = ephemeral_range()
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "missing")
    assert low <= ports.free_port() <= high


def test_a_thousand_ports_below_the_range_are_searched_fewer_are_not(monkeypatch, tmp_path: Path):
    low, high = ephemeral_range()
    bounds = tmp_path / "range"
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", bounds)
    bounds.write_text(f"{ports.LOWEST + 1000}\t{high}\n")
    assert ports.LOWEST <= ports.free_port() < ports.LOWEST + 1000
    bounds.write_text(f"{ports.LOWEST + 999}\t{high}\n")  # not worth searching: the kernel's choice
    assert low <= ports.free_port() <= high
