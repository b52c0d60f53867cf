"""`./run test` (coalition.testing) runs the suite in parallel workers unless told otherwise."""

from __future__ import annotations

import pytest

from coalition import testing


def cpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(testing.os, "sched_getaffinity", lambda pid: set(range(count)))


@pytest.mark.parametrize(("available", "workers"), [(1, 2), (2, 2), (3, 3), (4, 4), (5, 4), (64, 4)])
def test_workers_follow_the_cpus_between_two_and_four(monkeypatch, available, workers):
    cpus(monkeypatch, available)
    assert testing.parallel_arguments([], {}) == ["-n", str(workers), "--dist", "loadfile"]


def test_the_environment_sets_the_workers_and_one_means_in_process(monkeypatch):
    cpus(monkeypatch, 2)
    assert testing.parallel_arguments([], {"COALITION_TEST_WORKERS": "6"}) == ["-n", "6", "--dist", "loadfile"]
    assert testing.parallel_arguments([], {"COALITION_TEST_WORKERS": " 1 "}) == []
    for wrong in ("0", "two", "-2", "1.5"):
        with pytest.raises(SystemExit, match="COALITION_TEST_WORKERS"):
            testing.parallel_arguments([], {"COALITION_TEST_WORKERS": wrong})


@pytest.mark.parametrize("given", [["-n", "3"], ["-n3"], ["--numprocesses", "3"], ["--numprocesses=3"],
                                   ["-p", "no:xdist"], ["tests/test_ports.py", "-n", "0"]])
def test_arguments_that_choose_for_themselves_are_left_alone(monkeypatch, given):
    cpus(monkeypatch, 8)
    assert testing.parallel_arguments(given, {"COALITION_TEST_WORKERS": "4"}) == []


def test_other_arguments_still_run_in_parallel(monkeypatch):
    cpus(monkeypatch, 2)
    assert testing.parallel_arguments(["tests/test_ports.py", "-k", "range", "--no-header"], {}) == \
        ["-n", "2", "--dist", "loadfile"]
