"""Group commit: a call sent alone when nothing is in flight, with those that arrived meanwhile
when something is, each with its own result."""

import asyncio
from collections import defaultdict
from collections.abc import Hashable, Sequence

import pytest

from service.api.coalescing import Coalescer


class Recorder:
    """A flush that records its groups, answers each item doubled, and can be held."""

    def __init__(self) -> None:
        self.groups: list[tuple[Hashable, list[int]]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.failing: set[int] = set()
        # Set when a command of the key is sent.
        self.sent: defaultdict[Hashable, asyncio.Event] = defaultdict(asyncio.Event)

    async def flush(self, key: Hashable, items: Sequence[int]) -> list[int]:
        self.groups.append((key, list(items)))
        self.started.set()
        self.sent[key].set()
        await self.release.wait()
        if self.failing & set(items):
            raise RuntimeError(f"refused {sorted(self.failing & set(items))}")
        return [item * 2 for item in items]

    def hold(self) -> None:
        self.started.clear()
        self.release.clear()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def test_a_call_with_nothing_in_flight_is_sent_alone(recorder):
    coalescer = Coalescer(recorder.flush)
    assert await coalescer.call("k", 3) == 6
    assert await coalescer.call("k", 4) == 8
    assert recorder.groups == [("k", [3]), ("k", [4])]


async def test_calls_of_one_turn_go_together(recorder):
    coalescer = Coalescer(recorder.flush)
    assert await asyncio.gather(*(coalescer.call("k", item) for item in (1, 2, 3))) == [2, 4, 6]
    assert recorder.groups == [("k", [1, 2, 3])]


async def test_calls_made_while_one_is_in_flight_go_in_the_next_command(recorder):
    coalescer = Coalescer(recorder.flush)
    recorder.hold()
    first = asyncio.create_task(coalescer.call("k", 1))
    await recorder.started.wait()
    later = [asyncio.create_task(coalescer.call("k", item)) for item in (2, 3, 4)]
    await asyncio.sleep(0)
    # The first command is still on its way: the later calls wait for it, unsent.
    assert recorder.groups == [("k", [1])]
    recorder.release.set()
    assert await first == 2
    assert await asyncio.gather(*later) == [4, 6, 8]
    assert recorder.groups == [("k", [1]), ("k", [2, 3, 4])]


async def test_keys_are_sent_apart_and_do_not_wait_for_each_other(recorder):
    coalescer = Coalescer(recorder.flush)
    recorder.hold()
    held = asyncio.create_task(coalescer.call("a", 1))
    await recorder.started.wait()
    other = Recorder()
    other_coalescer = Coalescer(other.flush)
    assert await other_coalescer.call("b", 5) == 10
    # On one coalescer too: a second key is sent while the first key's command is held.
    recorder.release.set()
    assert await held == 2
    recorder.hold()
    held_a = asyncio.create_task(coalescer.call("a", 7))
    await recorder.started.wait()
    sent_b = asyncio.create_task(coalescer.call("b", 8))
    await recorder.sent["b"].wait()
    assert recorder.groups[-2:] == [("a", [7]), ("b", [8])]
    recorder.release.set()
    assert (await held_a, await sent_b) == (14, 16)


async def test_a_failed_command_fails_its_own_group_only(recorder):
    coalescer = Coalescer(recorder.flush)
    recorder.failing = {2}
    recorder.hold()
    first = asyncio.create_task(coalescer.call("k", 1))
    await recorder.started.wait()
    failing = [asyncio.create_task(coalescer.call("k", item)) for item in (2, 3)]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == 2
    for task in failing:
        with pytest.raises(RuntimeError, match=r"refused \[2\]"):
            await task
    # The key is free again: the next call is sent.
    assert await coalescer.call("k", 5) == 10


async def test_a_cancelled_caller_leaves_the_others_their_answers(recorder):
    coalescer = Coalescer(recorder.flush)
    recorder.hold()
    leaving = asyncio.create_task(coalescer.call("k", 1))
    staying = asyncio.create_task(coalescer.call("k", 2))
    await recorder.started.wait()
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    recorder.release.set()
    assert await staying == 4
    assert recorder.groups == [("k", [1, 2])]


def test_a_command_its_closed_loop_left_unsent_does_not_block_the_next_loop():
    recorder_of_old_loop = Recorder()
    coalescer = Coalescer(recorder_of_old_loop.flush)

    async def left_hanging() -> None:
        recorder_of_old_loop.hold()
        asyncio.get_running_loop().create_task(coalescer.call("k", 1))
        await recorder_of_old_loop.started.wait()

    # The loop is closed with the command held, its sender never told.
    old_loop = asyncio.new_event_loop()
    old_loop.run_until_complete(left_hanging())
    old_loop.close()

    async def next_loop() -> int:
        # The old loop's events went with it.
        recorder_of_old_loop.started = asyncio.Event()
        recorder_of_old_loop.release = asyncio.Event()
        recorder_of_old_loop.release.set()
        return await asyncio.wait_for(coalescer.call("k", 2), timeout=10)

    assert asyncio.run(next_loop()) == 4
