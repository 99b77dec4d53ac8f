"""Reading a batch: what has landed so far, within a workspace."""

import pytest

from models import BatchStatus
from service.api.errors import NotFound
from service.api.prompting import (
    api_send_prompt,
    cancel_prompts,
    get_batch,
    wait_for_batch,
)
from tests.api.prompting.support import fake_endpoint
from tests.factories import create_endpoint, create_session
from tests.support.fake_openai import Behaviour


class TestWaitForBatch:
    async def test_past_the_wait_it_answers_what_has_landed(self, db, task_queue, fake_openai):
        fake_openai.behaviours["slow"] = Behaviour(latency_s=1.5)
        await fake_endpoint(fake_openai, "slow")
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a", "slow"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=0.8)
        assert not result.finished and result.status is BatchStatus.RUNNING
        assert list(result.current_chats) == ["echo-a"]
        assert result.current_status == "RUNNING"
        done = await wait_for_batch(runner_id, result.batch_id, 30)
        assert done.status is BatchStatus.DONE and list(done.current_chats) == ["echo-a", "slow"]


class TestGetBatch:
    async def test_workspaces_are_apart(self, db, task_queue):
        await create_endpoint("Echo A", workspace="team-a")
        runner_id = await create_session(endpoints=["echo-a"], workspace="team-a")
        result = await api_send_prompt(
            runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30, workspace="team-a"
        )
        with pytest.raises(NotFound):
            await get_batch(runner_id, result.batch_id, workspace="team-b")
        with pytest.raises(NotFound):
            await cancel_prompts(runner_id, workspace="team-b")
