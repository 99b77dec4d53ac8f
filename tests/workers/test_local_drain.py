"""The in-process broker on shutdown: what runs gets its time, what waits is left stored."""

import asyncio

from service.workers.broker import LocalBroker


async def test_drain_lets_running_tasks_finish_and_starts_no_more():
    broker = LocalBroker(max_tasks=2)
    started: list[int] = []
    finished: list[int] = []
    two_started, release = asyncio.Event(), asyncio.Event()

    async def job(number: int) -> None:
        started.append(number)
        if len(started) == 2:
            two_started.set()
        await release.wait()
        finished.append(number)

    task = broker.register_task(job, task_name="job")
    await broker.startup()
    for number in range(4):
        await task.kiq(number)
    async with asyncio.timeout(5):
        await two_started.wait()
    draining = asyncio.create_task(broker.drain(timeout_s=10))
    await asyncio.sleep(0)
    assert not draining.done(), "drain returned while tasks ran"
    release.set()
    async with asyncio.timeout(5):
        await draining
    # The two running finished; the two waiting never started (they stay stored, unfinished).
    assert sorted(finished) == sorted(started) == [0, 1]
    await broker.shutdown()
    assert started == [0, 1]


async def test_drain_gives_up_after_its_timeout_and_shutdown_stops_the_rest():
    broker = LocalBroker(max_tasks=1)
    cancelled = asyncio.Event()
    running = asyncio.Event()

    async def stuck() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = broker.register_task(stuck, task_name="stuck")
    await broker.startup()
    await task.kiq()
    async with asyncio.timeout(5):
        await running.wait()
    async with asyncio.timeout(5):
        await broker.drain(timeout_s=0.05)
    assert not cancelled.is_set()
    await broker.shutdown()
    assert cancelled.is_set()
