"""Running prompt tasks: failures as records, exactly once, fan-out and endpoint limits."""

import asyncio
import logging
import time

from models import (
    BatchStatus,
    ChatBucket,
    EventKind,
    PromptBatch,
    PromptTask,
    SessionEvent,
    TaskStatus,
)
from service.api.prompting import (
    api_send_prompt,
    create_batch,
    get_batch,
    run_prompt_task,
)
from service.api.registries import create_prompt_template
from service.api.sessions.runners import delete_runner
from service.redteam.records import ERROR_PREFIX
from service.workers.queue import TaskQueue
from tests.api.prompting.support import chats, fake_endpoint
from tests.factories import create_endpoint, create_session
from tests.support.fake_openai import VALID_TOKEN, Behaviour


class TestFailuresAreData:
    async def test_500_timeout_bad_key_and_healthy_side_by_side(self, db, task_queue, fake_openai):
        fake_openai.behaviours["broken"] = Behaviour(status=500)
        fake_openai.behaviours["hanging"] = Behaviour(latency_s=1.5)
        await fake_endpoint(fake_openai, "broken")
        await fake_endpoint(fake_openai, "hanging", timeout=0.3)
        await fake_endpoint(fake_openai, "locked", token="sk-wrong-key-0000")
        await fake_endpoint(fake_openai, "healthy")
        runner_id = await create_session(endpoints=["broken", "hanging", "locked", "healthy"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        assert result.status is BatchStatus.DONE
        answers = {
            endpoint: records[0]["predicted_result"]
            for endpoint, records in (await chats(runner_id)).items()
        }
        assert answers["healthy"] == "healthy says: Hi"
        assert answers["broken"] == (
            f"{ERROR_PREFIX}endpoint broken: the endpoint answered HTTP 500 (1 attempt): "
            "fake failure 500"
        )
        assert answers["hanging"].startswith(f"{ERROR_PREFIX}endpoint hanging: timed out")
        assert answers["locked"] == (
            f"{ERROR_PREFIX}endpoint locked: the endpoint refused the token (HTTP 401)"
        )
        errors = {task.endpoint: task.error async for task in PromptTask.find_all()}
        assert errors["healthy"] == "" and all(errors[e] for e in ("broken", "hanging", "locked"))

    async def test_a_batch_where_every_endpoint_fails_reads_failed(
        self, db, task_queue, fake_openai
    ):
        fake_openai.behaviours["broken"] = Behaviour(status=503)
        await fake_endpoint(fake_openai, "broken")
        runner_id = await create_session(endpoints=["broken"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        assert result.status is BatchStatus.FAILED
        assert result.current_status == "COMPLETED_WITH_ERRORS"

    async def test_an_endpoint_answering_a_web_page_settles_with_an_error_record(
        self, db, task_queue, fake_openai
    ):
        fake_openai.behaviours["page"] = Behaviour(html="<html><body>It works!</body></html>")
        await fake_endpoint(fake_openai, "page")
        await fake_endpoint(fake_openai, "healthy")
        runner_id = await create_session(endpoints=["page", "healthy"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        assert result.status is BatchStatus.DONE
        assert result.current_chats["page"][0]["predicted_result"].startswith(
            f"{ERROR_PREFIX}endpoint page: the endpoint's answer is not a chat completion"
        )
        assert result.current_chats["healthy"][0]["predicted_result"] == "healthy says: Hi"

    async def test_an_endpoint_deleted_since_is_an_error_record(self, db, task_queue):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a", "gone"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        assert result.current_chats["gone"][0]["predicted_result"] == (
            f"{ERROR_PREFIX}endpoint gone: it does not exist in the workspace"
        )
        assert result.current_chats["echo-a"][0]["predicted_result"] == "Hi"

    async def test_a_template_reaching_for_internals_fails_cleanly(self, db, task_queue):
        await create_endpoint("Echo A")
        await create_prompt_template(
            "evil", "", "{{ prompt.__class__.__mro__[1].__subclasses__() }}"
        )
        runner_id = await create_session(
            endpoints=["echo-a"], runner_args={"prompt_template": "evil"}
        )
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        assert result.status is BatchStatus.FAILED
        (record,) = result.current_chats["echo-a"]
        assert record["predicted_result"].startswith(f"{ERROR_PREFIX}prompt template evil:")
        assert "unsafe" in record["predicted_result"] and "<class" not in record["predicted_result"]

    async def test_the_token_never_reaches_a_log_record_or_a_chat(
        self, db, task_queue, fake_openai, caplog
    ):
        caplog.set_level(logging.DEBUG)
        await fake_endpoint(fake_openai, "healthy")
        await fake_endpoint(fake_openai, "locked", token="sk-refused-secret-4242")
        runner_id = await create_session(endpoints=["healthy", "locked"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        assert result.finished
        for secret in (VALID_TOKEN, "sk-refused-secret-4242"):
            assert all(secret not in record.getMessage() for record in caplog.records)
            assert secret not in str(await chats(runner_id))
            assert secret not in result.model_dump_json()


class TestRunPromptTask:
    async def test_running_a_task_again_or_concurrently_appends_once(self, db, task_queue):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        batch_id, (task_id,) = await create_batch(runner_id, "Hi")
        runtime = task_queue.broker.state["runtime"]
        statuses = await asyncio.gather(*[run_prompt_task(task_id, runtime) for _ in range(5)])
        assert TaskStatus.DONE in statuses
        assert await run_prompt_task(task_id, runtime) is TaskStatus.DONE
        (record,) = (await chats(runner_id))["echo-a"]
        assert record["chat_record_id"] == 1
        assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE

    async def test_a_task_left_appending_by_a_dead_worker_is_appended_once(
        self, db, task_queue
    ):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        _, (task_id,) = await create_batch(runner_id, "Hi")
        built = {
            "chat_record_id": 1, "conn_id": "echo-a", "prompt": "Hi", "prepared_prompt": "Hi",
            "predicted_result": "built before the crash", "prompt_time": "2026-11-25 09:00:00",
        }
        await PromptTask.get_pymongo_collection().update_one(
            {"_id": task_id}, {"$set": {"status": "appending", "record": built}}
        )
        runtime = task_queue.broker.state["runtime"]
        assert await run_prompt_task(task_id, runtime) is TaskStatus.DONE
        assert await run_prompt_task(task_id, runtime) is TaskStatus.DONE
        (record,) = (await chats(runner_id))["echo-a"]
        assert record["predicted_result"] == "built before the crash"

    async def test_a_redelivered_finished_task_settles_a_batch_left_unsettled(
        self, db, task_queue
    ):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        batch_id, (task_id,) = await create_batch(runner_id, "Hi")
        runtime = task_queue.broker.state["runtime"]
        assert await run_prompt_task(task_id, runtime) is TaskStatus.DONE
        # Its worker died after finishing the task, before settling the batch.
        await PromptBatch.get_pymongo_collection().update_one(
            {"batch_id": batch_id}, {"$set": {"status": "running"}}
        )
        assert await run_prompt_task(task_id, runtime) is TaskStatus.DONE
        assert (await get_batch(runner_id, batch_id)).status is BatchStatus.DONE
        assert len((await chats(runner_id))["echo-a"]) == 1

    async def test_a_batch_whose_last_task_died_after_its_note_is_settled_once(
        self, db, task_queue
    ):
        await create_endpoint("Echo A")
        await create_endpoint("Echo B")
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        # The batch is answered once its status is set; its event is logged just after that.
        await task_queue.wait_idle()
        events_before = await SessionEvent.find_all().count()
        # As if the last task's process died after noting its append on the batch, before
        # ending the batch's tasks: both appending, the batch running, its note complete.
        await PromptTask.get_pymongo_collection().update_many(
            {}, {"$set": {"status": "appending"}}
        )
        await PromptBatch.get_pymongo_collection().update_one(
            {"batch_id": result.batch_id}, {"$set": {"status": "running"}}
        )
        runtime = task_queue.broker.state["runtime"]
        task_ids = [task.id async for task in PromptTask.find_all()]
        statuses = await asyncio.gather(*(run_prompt_task(t, runtime) for t in task_ids))
        assert statuses == [TaskStatus.DONE, TaskStatus.DONE]
        assert (await get_batch(runner_id, result.batch_id)).status is BatchStatus.DONE
        assert {task.status async for task in PromptTask.find_all()} == {TaskStatus.DONE}
        history = await chats(runner_id)
        assert [len(history[e]) for e in ("echo-a", "echo-b")] == [1, 1]
        # Nothing logged twice: the records' and the batch's events are there already.
        stored = await SessionEvent.find(SessionEvent.kind != EventKind.VOID).count()
        assert stored == events_before

    async def test_a_task_of_a_deleted_session_runs_nothing(self, db, settings):
        await create_endpoint("Echo A")
        runner_id = await create_session(endpoints=["echo-a"])
        _, task_ids = await create_batch(runner_id, "Hi")
        await delete_runner(runner_id)
        queue = TaskQueue(settings)
        await queue.start()
        await queue.enqueue(task_ids)
        await queue.wait_idle()
        await queue.stop()
        assert await PromptTask.find_all().count() == 0
        assert await ChatBucket.find_all().count() == 0


class TestFanOutAndLimits:
    async def test_ten_endpoints_take_about_as_long_as_one(self, db, task_queue, fake_openai):
        names = [f"model-{number}" for number in range(10)]
        for name in names:
            # Long enough that the endpoints' time, not the database's, is what fanning out saves.
            fake_openai.behaviours[name] = Behaviour(latency_s=0.5)
            await fake_endpoint(fake_openai, name)
        single = await create_session(endpoints=names[:1])
        started = time.perf_counter()
        one = await api_send_prompt(single, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        one_call = time.perf_counter() - started
        fan = await create_session(endpoints=names)
        started = time.perf_counter()
        ten = await api_send_prompt(fan, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        fan_out = time.perf_counter() - started
        assert one.status is ten.status is BatchStatus.DONE
        assert len(ten.current_chats) == 10
        # Serial would be 10x; the calls overlapping (below) is the sharp check, this the wide one.
        assert fan_out <= 4 * one_call, (fan_out, one_call)
        fanned = [call for call in fake_openai.calls if call.started >= started]
        assert len(fanned) == 10
        # All ten were in flight together: each started before any of them finished.
        assert max(call.started for call in fanned) < min(call.finished for call in fanned)

    async def test_max_concurrency_holds_in_process(self, db, task_queue, fake_openai):
        fake_openai.behaviours["narrow"] = Behaviour(latency_s=0.05)
        await fake_endpoint(fake_openai, "narrow", max_concurrency=2)
        runner_id = await create_session(endpoints=["narrow"])
        batches = [await create_batch(runner_id, f"Prompt {n}") for n in range(12)]
        await task_queue.enqueue([task_id for _, task_ids in batches for task_id in task_ids])
        await task_queue.wait_idle()
        assert len((await chats(runner_id))["narrow"]) == 12
        assert fake_openai.max_in_flight["narrow"] == 2

    async def test_max_calls_per_second_holds_in_process(self, db, task_queue, fake_openai):
        await fake_endpoint(fake_openai, "paced", max_calls_per_second=5)
        runner_id = await create_session(endpoints=["paced"])
        batches = [await create_batch(runner_id, f"Prompt {n}") for n in range(8)]
        await task_queue.enqueue([task_id for _, task_ids in batches for task_id in task_ids])
        await task_queue.wait_idle()
        starts = sorted(call.started for call in fake_openai.calls_for("paced"))
        # Five at once (a second's worth), then one every 1/5 s: the eighth no sooner than
        # 0.6 s after the first (less what the first call's own start-up took).
        assert starts[7] - starts[0] >= 0.3, [round(t - starts[0], 3) for t in starts]
