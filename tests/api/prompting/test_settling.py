"""Ending batches: cancel, and what deleting a session leaves behind."""

import pytest

from models import BatchStatus, PromptBatch, PromptTask, SessionEvent
from service.api.errors import NotFound
from service.api.prompting import (
    api_send_prompt,
    cancel_prompts,
    get_batch,
    wait_for_batch,
)
from service.api.sessions.runners import delete_runner
from service.workers.queue import TaskQueue
from tests.api.prompting.support import chats, fake_endpoint
from tests.factories import create_endpoint, create_session
from tests.support.fake_openai import Behaviour


class TestCancelPrompts:
    async def test_cancel_midway_appends_nothing_afterwards(self, db, settings, fake_openai):
        queue = TaskQueue(settings.model_copy(update={"worker_max_tasks": 5}))
        await queue.start()
        try:
            endpoints = [f"slow-{number}" for number in range(50)]
            for endpoint in endpoints:
                fake_openai.behaviours[endpoint] = Behaviour(latency_s=0.2)
                await fake_endpoint(fake_openai, endpoint)
            runner_id = await create_session(endpoints=endpoints)
            result = await api_send_prompt(runner_id, "Hi", enqueue=queue.enqueue)
            # Midway: some answers are in, most are still to come.
            for _ in range(400):
                if (await wait_for_batch(runner_id, result.batch_id, 0.05)).current_chats:
                    break
            else:
                pytest.fail("No answer landed within 20 s.")
            assert await cancel_prompts(runner_id) == [result.batch_id]
            landed = sum(len(records) for records in (await chats(runner_id)).values())
            assert 0 < landed < 50
            await queue.wait_idle()
            assert sum(len(r) for r in (await chats(runner_id)).values()) == landed
            after = await get_batch(runner_id, result.batch_id)
            assert after.status is BatchStatus.CANCELLED and after.current_status == "CANCELLED"
            assert sum(len(records) for records in after.current_chats.values()) == landed
            # Cancelled tasks that had not called yet never did.
            assert len(fake_openai.calls) < 50
        finally:
            await queue.stop()

    async def test_cancel_without_work_and_on_an_unknown_session(self, db, task_queue):
        runner_id = await create_session(endpoints=["echo-a"])
        assert await cancel_prompts(runner_id) == []
        with pytest.raises(NotFound):
            await cancel_prompts("nope")


class TestDeletedSessions:
    async def test_deleting_a_session_removes_its_prompts_and_events(self, db, task_queue):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        kept = await create_session(endpoints=["echo-a"])
        for session in (runner_id, kept):
            result = await api_send_prompt(session, "Hi", enqueue=task_queue.enqueue, wait_s=30)
            assert result.finished
        await delete_runner(runner_id)
        for document in (PromptBatch, PromptTask, SessionEvent):
            assert await document.find(document.session_id == runner_id).count() == 0
            assert await document.find(document.session_id == kept).count() >= 1
