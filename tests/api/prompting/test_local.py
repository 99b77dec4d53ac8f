"""What one process shares about its batches: one read each, and their ends told directly."""

import asyncio

from models import PromptBatch
from service.api.prompting import ProcessBatches


def stored_batch(key: str) -> PromptBatch:
    return PromptBatch(
        id=key, workspace=key.split("|")[0], session_id="s", session_epoch="1",
        batch_id=key.split("|")[1], user_prompt="Hi", created_at=0.0,
    )


class TestRead:
    async def test_tasks_side_by_side_share_one_read(self, db):
        batches = ProcessBatches()
        reads = 0
        release = asyncio.Event()

        async def read() -> PromptBatch | None:
            nonlocal reads
            reads += 1
            await release.wait()
            return stored_batch("default|b1")

        waiting = [asyncio.create_task(batches.read("default|b1", read)) for _ in range(10)]
        await asyncio.sleep(0)
        release.set()
        found = await asyncio.gather(*waiting)
        assert reads == 1 and {batch.id for batch in found} == {"default|b1"}
        # Kept for the tasks that start later, until the batch ends.
        await batches.read("default|b1", read)
        assert reads == 1
        batches.ended("default|b1")
        await batches.read("default|b1", read)
        assert reads == 2

    async def test_a_failed_or_empty_read_is_not_kept(self, db):
        batches = ProcessBatches()
        answers: list[PromptBatch | Exception | None] = [
            ConnectionError("database away"), None, stored_batch("default|b1"),
        ]

        async def read() -> PromptBatch | None:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        try:
            await batches.read("default|b1", read)
        except ConnectionError:
            pass
        else:
            raise AssertionError("the failed read was not raised")
        assert await batches.read("default|b1", read) is None
        found = await batches.read("default|b1", read)
        assert found is not None and found.id == "default|b1" and answers == []

    async def test_the_kept_reads_are_bounded(self, db, monkeypatch):
        monkeypatch.setattr("service.api.prompting.local.KEPT_BATCHES", 3)
        batches = ProcessBatches()
        reads: list[str] = []

        def reader(key: str):
            async def read() -> PromptBatch | None:
                reads.append(key)
                return stored_batch(key)
            return read

        for number in range(5):
            await batches.read(f"default|b{number}", reader(f"default|b{number}"))
        await batches.read("default|b4", reader("default|b4"))
        await batches.read("default|b0", reader("default|b0"))
        # b4 was kept; b0, the oldest, was let go and read again.
        assert reads == [f"default|b{number}" for number in range(5)] + ["default|b0"]


class TestWatch:
    async def test_the_end_wakes_its_waiters_and_no_one_else(self):
        batches = ProcessBatches()
        with batches.watch("team-a", "s", "team-a|b1") as mine, \
                batches.watch("team-b", "s", "team-b|b1") as other:
            # The same batch id in another workspace is another batch.
            batches.ended("team-a|b1")
            assert mine.pending().is_set()
            assert not other.pending().is_set()
        assert batches.waiting() == 0

    async def test_an_end_told_before_the_wait_begins_is_not_missed(self):
        batches = ProcessBatches()
        with batches.watch("default", "s", "default|b1") as end:
            batches.ended("default|b1")
            async with asyncio.timeout(5):
                await end.pending().wait()
        batches.ended("default|b1")
        assert batches.waiting() == 0
