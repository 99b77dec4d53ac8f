"""Backpressure: a workspace's unfinished prompt tasks are capped; past the cap, nothing stored."""

import httpx
import pytest

from models import PromptBatch, PromptTask, SessionEvent
from models.events import EventCounter
from service.api.errors import RateLimited
from service.api.prompting import api_send_prompt, create_batch, unfinished_tasks
from service.api.prompting.admission import RETRY_AFTER_S, queue_cap
from service.http import create_app
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.factories import create_endpoint, create_session
from tests.support.asgi import app_lifespan

ENDPOINTS = ["echo-a", "echo-b", "echo-c"]


async def nothing_queued(task_ids) -> None:
    """Stores only: the tasks stay queued, as under a flood."""


async def three_endpoint_session(workspace: str = "default") -> str:
    for name in ("Echo A", "Echo B", "Echo C"):
        await create_endpoint(name, workspace=workspace)
    return await create_session(endpoints=ENDPOINTS, workspace=workspace)


async def stored() -> tuple[int, int, int, list[dict]]:
    counters = await EventCounter.get_pymongo_collection().find({}).to_list()
    return (
        await PromptBatch.count(), await PromptTask.count(), await SessionEvent.count(), counters,
    )


class TestCap:
    async def test_at_the_cap_accepted_one_past_refused_nothing_stored(self, db):
        runner_id = await three_endpoint_session()
        await create_batch(runner_id, "One", max_queued=6)
        await create_batch(runner_id, "Two", max_queued=6)
        assert await unfinished_tasks("default") == 6
        before = await stored()
        with pytest.raises(RateLimited) as refused:
            await create_batch(runner_id, "Three", max_queued=6)
        assert refused.value.retry_after == RETRY_AFTER_S > 0
        assert "limit of 6" in str(refused.value)
        assert await stored() == before
        # No chat record id was reserved by the refused prompt: the next one takes the third.
        _, task_ids = await create_batch(runner_id, "Three", max_queued=9)
        numbers = {task.chat_record_id for task in await PromptTask.find().to_list()
                   if task.id in task_ids}
        assert numbers == {3}

    async def test_finished_tasks_do_not_count(self, db, task_queue):
        runner_id = await three_endpoint_session()
        for prompt in ("One", "Two", "Three"):
            result = await api_send_prompt(
                runner_id, prompt, enqueue=task_queue.enqueue, wait_s=30, max_queued=3
            )
            assert result.finished
        assert await unfinished_tasks("default") == 0

    async def test_another_workspaces_flood_does_not_count(self, db):
        flooded = await three_endpoint_session("team-a")
        await create_batch(flooded, "Flood", workspace="team-a", max_queued=3)
        with pytest.raises(RateLimited):
            await create_batch(flooded, "More", workspace="team-a", max_queued=3)
        quiet = await three_endpoint_session("team-b")
        await create_batch(quiet, "Hi", workspace="team-b", max_queued=3)
        assert await unfinished_tasks("team-b") == 3

    async def test_the_service_queue_applies_its_setting(self, db, settings):
        queue = TaskQueue(settings.model_copy(update={"max_queued_tasks_per_workspace": 2}))
        assert queue_cap(queue.enqueue) == 2
        assert queue_cap(nothing_queued) is None
        runner_id = await three_endpoint_session()
        with pytest.raises(RateLimited):
            await api_send_prompt(runner_id, "Hi", enqueue=queue.enqueue)
        assert await PromptBatch.count() == 0

    def test_the_setting_must_be_positive(self, settings):
        with pytest.raises(ValueError, match="max_queued_tasks_per_workspace"):
            Settings(**{**settings.model_dump(), "max_queued_tasks_per_workspace": 0})


async def test_over_http_past_the_cap_answers_429_with_retry_after(db, settings):
    app = create_app(settings.model_copy(update={"max_queued_tasks_per_workspace": 3}),
                     database=db)
    runner_id = await three_endpoint_session()
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            url = f"/api/v1/sessions/{runner_id}/prompt"
            await create_batch(runner_id, "Waiting")
            before = await stored()
            refused = await http.post(url, params={"wait": "false"},
                                      json={"user_prompt": "Hi", "history_length": 0})
            assert refused.status_code == 429, refused.text
            assert refused.headers["retry-after"] == str(RETRY_AFTER_S)
            assert "limit of 3" in refused.json()["detail"]
            assert await stored() == before
