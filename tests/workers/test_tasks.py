"""The prompt task as the broker runs it: in process, calling the domain, once per task."""

from models import BatchStatus, PromptTask, TaskStatus
from service.api import api_get_all_chats_from_session
from service.api.prompting import create_batch, get_batch
from service.workers.queue import TaskQueue
from service.workers.tasks import RUN_PROMPT_TASK
from tests.factories import create_endpoint, create_session


async def echo_session() -> str:
    await create_endpoint("Echo A")
    return await create_session(endpoints=["echo-a"])


class TestRunPromptTask:
    async def test_runs_the_prompt_through_the_broker_and_returns_its_status(
        self, db, task_queue: TaskQueue
    ):
        runner_id = await echo_session()
        batch_id, (task_id,) = await create_batch(runner_id, "Hello")
        task = task_queue.broker.find_task(RUN_PROMPT_TASK)
        assert task is not None
        kicked = await task.kiq(task_id)
        await task_queue.wait_idle()
        result = await kicked.get_result()
        assert not result.is_err, result.error
        assert result.return_value == TaskStatus.DONE.value
        (record,) = (await api_get_all_chats_from_session(runner_id))["echo-a"]
        assert (record["prompt"], record["predicted_result"]) == ("Hello", "Hello")
        assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE

    async def test_kicked_twice_appends_once(self, db, task_queue: TaskQueue):
        runner_id = await echo_session()
        batch_id, (task_id,) = await create_batch(runner_id, "Hello")
        task = task_queue.broker.find_task(RUN_PROMPT_TASK)
        assert task is not None
        # A redelivery: the same task id queued again while the first copy may still run.
        await task.kiq(task_id)
        await task.kiq(task_id)
        await task_queue.wait_idle()
        history = await api_get_all_chats_from_session(runner_id)
        assert [record["chat_record_id"] for record in history["echo-a"]] == [1]
        assert (await PromptTask.get(task_id)).status is TaskStatus.DONE
        assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE

    async def test_a_task_that_does_not_exist_returns_none(self, db, task_queue: TaskQueue):
        task = task_queue.broker.find_task(RUN_PROMPT_TASK)
        assert task is not None
        kicked = await task.kiq("default|no-such-batch|echo-a")
        await task_queue.wait_idle()
        result = await kicked.get_result()
        assert not result.is_err, result.error
        assert result.return_value is None
