"""The order tasks run in: round robin over workspaces, then over a workspace's sessions."""

import asyncio

from service.workers.broker import LocalBroker
from service.workers.fairness import FairQueue, labels_place, reserved_slots, scheduling_labels


def drain(queue: FairQueue[str]) -> list[str]:
    taken = []
    while (item := queue.pop()) is not None:
        taken.append(item)
    return taken


class TestFairQueue:
    def test_round_robin_over_workspaces_then_sessions(self):
        queue: FairQueue[str] = FairQueue()
        for number in range(3):
            queue.push("a", "s1", f"a-s1-{number}")
            queue.push("a", "s2", f"a-s2-{number}")
        queue.push("b", "t1", "b-t1-0")
        queue.push("b", "t1", "b-t1-1")
        assert len(queue) == 8
        # The newest to have work is served first (it was owed a turn), then strict turns.
        assert drain(queue) == [
            "b-t1-0", "a-s2-0", "b-t1-1", "a-s1-0", "a-s2-1", "a-s1-1", "a-s2-2", "a-s1-2",
        ]
        assert len(queue) == 0 and queue.pop() is None

    def test_a_workspace_that_arrives_late_is_served_first(self):
        queue: FairQueue[str] = FairQueue()
        for number in range(5):
            queue.push("a", "s1", f"a{number}")
        assert queue.pop() == "a0"
        queue.push("b", "t1", "b0")
        assert drain(queue) == ["b0", "a1", "a2", "a3", "a4"]

    def test_clear_returns_what_waited(self):
        queue: FairQueue[str] = FairQueue()
        queue.push("a", "s1", "x")
        queue.push("b", "s1", "y")
        assert sorted(queue.clear()) == ["x", "y"]
        assert len(queue) == 0 and queue.pop() is None


def test_labels_round_trip_and_unlabelled_messages_share_one_queue():
    assert labels_place(scheduling_labels("team-a", "demo")) == ("team-a", "demo")
    assert labels_place({}) == ("", "")


async def test_local_broker_gives_a_free_slot_to_the_other_workspace_first():
    broker = LocalBroker(max_tasks=2)
    assert broker.reserved == reserved_slots(2) == 1
    order: list[str] = []
    gate = asyncio.Event()
    b_started = asyncio.Event()

    async def job(name: str) -> None:
        order.append(name)
        if name.startswith("b"):
            b_started.set()
        if name in ("a0", "a1", "b0"):
            await gate.wait()

    task = broker.register_task(job, task_name="job")
    await broker.startup()
    try:
        for number in range(4):
            await task.kicker().with_labels(**scheduling_labels("a", "s1")).kiq(f"a{number}")
        await task.kicker().with_labels(**scheduling_labels("b", "t1")).kiq("b0")
        await task.kicker().with_labels(**scheduling_labels("b", "t1")).kiq("b1")
        # A holds both slots; b0 takes the reserved one at once, b1 (B now runs one) waits.
        async with asyncio.timeout(5):
            await b_started.wait()
        assert order == ["a0", "a1", "b0"]
        gate.set()
        async with asyncio.timeout(5):
            await broker.wait_all()
    finally:
        await broker.shutdown()
    # FIFO would run b1 last; in turns it takes the first slot that frees.
    assert order[:4] == ["a0", "a1", "b0", "b1"]
    assert sorted(order[4:]) == ["a2", "a3"]


class TestReservedSlots:
    def test_a_tenth_at_least_one(self):
        assert [reserved_slots(n) for n in (1, 4, 10, 100)] == [1, 1, 1, 10]

    def test_pop_where_takes_the_first_eligible_in_turn(self):
        queue: FairQueue[str] = FairQueue()
        queue.push("a", "s1", "a0")
        queue.push("b", "t1", "b0")
        queue.push("c", "u1", "c0")
        assert queue.pop_where(lambda workspace: workspace != "c") == "b0"
        assert queue.pop_where(lambda workspace: workspace == "z") is None
        assert drain(queue) == ["c0", "a0"]
