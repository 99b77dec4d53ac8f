"""Start-up: unfinished batches are queued again, and each record lands once."""


from models import BatchStatus, ChatBucket, PromptBatch
from service.api.prompting import (
    create_batch,
    get_batch,
)
from service.api.sessions.runners import delete_runner
from service.workers.queue import TaskQueue
from tests.api.prompting.support import chats
from tests.factories import create_endpoint, create_session


class TestRecoverUnfinished:
    async def test_a_restart_queues_unfinished_batches_again_and_each_lands_once(
        self, db, settings
    ):
        await create_endpoint("Echo A")
        await create_endpoint("Echo B")
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        # Recorded, then the process stopped before anything ran.
        first, _ = await create_batch(runner_id, "One")
        second, _ = await create_batch(runner_id, "Two")
        for _ in range(2):
            queue = TaskQueue(settings)
            await queue.start()
            await queue.wait_idle()
            await queue.stop()
        for batch_id in (first, second):
            assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE
        history = await chats(runner_id)
        assert [r["prompt"] for r in history["echo-a"]] == ["One", "Two"]
        assert [r["chat_record_id"] for r in history["echo-b"]] == [1, 2]

    async def test_a_deleted_session_voids_its_queued_prompts(self, db, settings):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        batch_id, _ = await create_batch(runner_id, "Hi")
        await delete_runner(runner_id)
        queue = TaskQueue(settings)
        await queue.start()
        await queue.wait_idle()
        await queue.stop()
        # The batch went with its session, and nothing ran for it.
        assert await PromptBatch.get_pymongo_collection().find_one({"batch_id": batch_id}) is None
        assert await ChatBucket.find_all().count() == 0
