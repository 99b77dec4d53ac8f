"""The task queue: started, it queues again what a previous run left; it queues and waits."""

import pytest
from taskiq import TaskiqMessage, TaskiqMiddleware

from models import BatchStatus, PromptBatch
from service.api import api_get_all_chats_from_session
from service.api.prompting import create_batch, get_batch
from service.settings import Settings
from service.workers.broker import LocalBroker, build_broker
from service.workers.queue import TaskQueue
from tests.factories import create_endpoint, create_session


class KickedTasks(TaskiqMiddleware):
    """Notes the task id of every prompt task sent to the broker, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.task_ids: list[str] = []

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        self.task_ids.extend(message.args)
        return message


@pytest.fixture
def kicked() -> KickedTasks:
    return KickedTasks()


@pytest.fixture
async def new_queue(settings: Settings, kicked: KickedTasks, db):
    """Makes queues on brokers built from `settings` that note what they are sent; each is
    stopped after the test."""
    queues: list[TaskQueue] = []

    def make() -> TaskQueue:
        broker = build_broker(settings)
        broker.add_middlewares(kicked)
        queues.append(TaskQueue(settings, broker))
        return queues[-1]

    yield make
    for queue in queues:
        await queue.stop()


async def prompts(runner_id: str) -> dict[str, list[str]]:
    chats = await api_get_all_chats_from_session(runner_id)
    return {endpoint: [chat["prompt"] for chat in records] for endpoint, records in chats.items()}


async def two_endpoint_session() -> str:
    await create_endpoint("Echo A")
    await create_endpoint("Echo B")
    return await create_session(endpoints=["echo-a", "echo-b"])


class TestInit:
    def test_a_broker_without_the_prompt_task_is_refused(self, settings):
        with pytest.raises(RuntimeError, match="no prompt task"):
            TaskQueue(settings, LocalBroker(max_tasks=2))

    def test_in_process_unless_redis_is_set(self, settings):
        assert TaskQueue(settings).in_process
        scaled = Settings(**{**settings.model_dump(), "redis_url": "redis://127.0.0.1:1/0"})
        assert not TaskQueue(scaled).in_process


class TestStart:
    async def test_queues_again_the_unfinished_tasks_of_unfinished_batches(
        self, task_queue, new_queue, kicked
    ):
        runner_id = await two_endpoint_session()
        first, first_tasks = await create_batch(runner_id, "One")
        await task_queue.enqueue(first_tasks)
        # A previous run answered one endpoint of the second batch, then stopped.
        second, (second_answered, second_left) = await create_batch(runner_id, "Two")
        await task_queue.enqueue([second_answered])
        await task_queue.wait_idle()
        third, third_tasks = await create_batch(runner_id, "Three")
        queue = new_queue()
        await queue.start()
        await queue.wait_idle()
        # The answered task waits, appended, for its batch to end (`finish_alongside`): it is
        # queued again too, and ends without calling or appending again.
        assert sorted(kicked.task_ids) == sorted([second_answered, second_left, *third_tasks])
        for batch_id in (first, second, third):
            assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE
        assert await prompts(runner_id) == {
            "echo-a": ["One", "Two", "Three"], "echo-b": ["One", "Two", "Three"],
        }

    async def test_settles_a_batch_whose_tasks_all_ended_without_queueing_them(
        self, task_queue, new_queue, kicked
    ):
        runner_id = await two_endpoint_session()
        batch_id, task_ids = await create_batch(runner_id, "One")
        await task_queue.enqueue(task_ids)
        await task_queue.wait_idle()
        # Its process died after ending the tasks, before saying the batch was done.
        await PromptBatch.get_pymongo_collection().update_one(
            {"batch_id": batch_id}, {"$set": {"status": "running"}}
        )
        queue = new_queue()
        await queue.start()
        await queue.wait_idle()
        assert kicked.task_ids == []
        assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE
        assert await prompts(runner_id) == {"echo-a": ["One"], "echo-b": ["One"]}

    async def test_queues_nothing_when_nothing_is_unfinished(self, new_queue, kicked):
        queue = new_queue()
        await queue.start()
        await queue.wait_idle()
        assert kicked.task_ids == []


class TestEnqueue:
    async def test_queues_each_task_and_wait_idle_returns_when_they_all_ended(
        self, new_queue, kicked
    ):
        runner_id = await two_endpoint_session()
        queue = new_queue()
        await queue.start()
        batch_id, task_ids = await create_batch(runner_id, "One")
        await queue.enqueue(task_ids)
        assert kicked.task_ids == task_ids
        await queue.wait_idle()
        # No polling: once idle, the batch has ended and both answers are in.
        assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE
        assert await prompts(runner_id) == {"echo-a": ["One"], "echo-b": ["One"]}
