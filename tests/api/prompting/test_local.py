"""What one process shares about its batches (one read each, and their ends told directly)
and about the endpoints its runs call (one read every few seconds)."""

import asyncio
from functools import partial

import pytest

from models import PromptBatch
from service.api.endpoints import api_delete_endpoint, api_update_endpoint, load_target
from service.api.errors import NotFound
from service.api.prompting import ProcessBatches
from service.api.prompting.local import ProcessTargets
from tests.factories import TEST_CIPHER, create_endpoint


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


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TestTargets:
    """Reads of the stored endpoint, through `load_target` as a run's calls make them."""

    @staticmethod
    def reader(endpoint: str, workspace: str = "default"):
        return partial(load_target, endpoint, TEST_CIPHER, workspace=workspace)

    async def test_an_edit_reaches_the_calls_once_the_read_is_stale(self, db):
        await create_endpoint("target", token="old-token")
        clock = Clock()
        targets = ProcessTargets(fresh_s=2.0, clock=clock)
        _, first = await targets.read("default", "target", self.reader("target"))
        await api_update_endpoint("target", cipher=TEST_CIPHER, token="new-token")
        clock.now = 1.9
        _, kept = await targets.read("default", "target", self.reader("target"))
        clock.now = 2.0
        _, fresh = await targets.read("default", "target", self.reader("target"))
        assert (first.token, kept.token, fresh.token) == ("old-token", "old-token", "new-token")

    async def test_a_deleted_endpoint_is_not_called_once_the_read_is_stale(self, db):
        await create_endpoint("target")
        clock = Clock()
        targets = ProcessTargets(fresh_s=2.0, clock=clock)
        await targets.read("default", "target", self.reader("target"))
        await api_delete_endpoint("target")
        clock.now = 2.0
        with pytest.raises(NotFound):
            await targets.read("default", "target", self.reader("target"))

    async def test_a_failed_read_is_not_kept(self, db):
        targets = ProcessTargets(clock=Clock())
        with pytest.raises(NotFound):
            await targets.read("default", "late", self.reader("late"))
        await create_endpoint("late")
        document, _ = await targets.read("default", "late", self.reader("late"))
        assert document.endpoint_id == "late"

    async def test_each_workspace_reads_its_own_endpoint_of_the_same_id(self, db):
        await create_endpoint("shared", token="ours", workspace="ours")
        await create_endpoint("shared", token="theirs", workspace="theirs")
        targets = ProcessTargets(clock=Clock())
        _, ours = await targets.read("ours", "shared", self.reader("shared", "ours"))
        _, theirs = await targets.read("theirs", "shared", self.reader("shared", "theirs"))
        assert (ours.token, theirs.token) == ("ours", "theirs")

    async def test_calls_side_by_side_share_one_read(self, db):
        await create_endpoint("target")
        reads = 0

        async def read():
            nonlocal reads
            reads += 1
            return await self.reader("target")()

        targets = ProcessTargets(clock=Clock())
        found = await asyncio.gather(*(targets.read("default", "target", read) for _ in range(10)))
        assert reads == 1 and {document.endpoint_id for document, _ in found} == {"target"}
