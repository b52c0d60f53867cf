"""GroupCommit: calls that queue while a commit is written share the next one, each with its own outcome."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from network.errors import DomainError
from network.group_commit import GroupCommit


class Recorder:
    """A stand-in for the earn committer: records each batch; the first one waits until released."""

    def __init__(self, fail_with: Exception | None = None):
        self.batches: list[list] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.fail_with = fail_with

    def post(self, connection, payloads):
        assert connection.driver_connection.autocommit  # the writer's own connection, in autocommit mode
        self.batches.append(list(payloads))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        return [f"posted {p}" for p in payloads]


def run(commit: GroupCommit, recorder: Recorder, keys: list[tuple[str, str]]) -> list:
    async def scenario():
        first = asyncio.ensure_future(commit.submit("p1", "r0", "r0"))
        await asyncio.get_running_loop().run_in_executor(None, recorder.first_started.wait, 10)
        rest = [asyncio.ensure_future(commit.submit(p, r, r)) for p, r in keys]
        await asyncio.sleep(0.05)  # every one of them is queued behind the first commit
        recorder.release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)
    return asyncio.run(scenario())


@pytest.fixture
def group_commit(engine):
    made: list[GroupCommit] = []

    def make(recorder: Recorder) -> GroupCommit:
        made.append(GroupCommit(engine, recorder.post, linger_seconds=0.0))
        return made[-1]
    yield make
    for commit in made:
        commit.close()


def test_calls_queued_during_a_commit_share_the_next_one(group_commit):
    recorder = Recorder()
    outcomes = run(group_commit(recorder), recorder, [("p1", f"r{i}") for i in range(1, 6)] + [("p2", "r1")])
    assert recorder.batches == [["r0"], ["r1", "r2", "r3", "r4", "r5", "r1"]]
    assert outcomes == ["posted r0"] + [f"posted r{i}" for i in range(1, 6)] + ["posted r1"]


def test_a_key_twice_in_one_batch_is_posted_once(group_commit):
    recorder = Recorder()
    outcomes = run(group_commit(recorder), recorder, [("p1", "r1"), ("p1", "r1"), ("p1", "r2")])
    assert recorder.batches == [["r0"], ["r1", "r2"]]
    assert outcomes[1] == "posted r1" and outcomes[2] == ("duplicate-in-batch", "posted r1")


def test_a_failed_commit_fails_every_call_in_it(group_commit):
    recorder = Recorder(fail_with=RuntimeError("database gone"))
    outcomes = run(group_commit(recorder), recorder, [("p1", "r1"), ("p1", "r2")])
    assert all(isinstance(o, RuntimeError) for o in outcomes)


def test_a_call_whose_commit_does_not_end_in_time_gets_a_retryable_status(group_commit):
    recorder = Recorder()
    commit = group_commit(recorder)

    async def scenario():
        slow = asyncio.ensure_future(commit.submit("p1", "r0", "r0", timeout=0.2))
        with pytest.raises(DomainError) as refused:
            await slow
        recorder.release.set()  # the writer finishes that commit and goes on with the next call
        return refused.value, await commit.submit("p1", "r1", "r1", timeout=10)
    refused, later = asyncio.run(scenario())
    assert (refused.code, refused.reason) == (grpc.StatusCode.UNAVAILABLE, "COMMIT_TIMEOUT")
    assert later == "posted r1" and recorder.batches == [["r0"], ["r1"]]
