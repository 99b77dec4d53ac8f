"""Prompting a session through the in-process task queue, on both database tiers."""

import asyncio
import logging
import time

import pytest
from pydantic import ValidationError

from models import (
    BatchStatus,
    ChatBucket,
    ChatRecord,
    PromptBatch,
    PromptTask,
    SessionEvent,
    TaskStatus,
)
from service.api import api_get_all_chats_from_session
from service.api.errors import InvalidInput, NotFound
from service.api.prompting import (
    api_send_prompt,
    cancel_prompts,
    create_batch,
    get_batch,
    run_prompt_task,
    wait_for_batch,
)
from service.api.registries import create_prompt_template
from service.api.runners import delete_runner
from service.redteam.records import ERROR_PREFIX
from service.settings import Settings
from service.workers.queue import TaskQueue
from tests.factories import create_endpoint, create_session
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI

CONTRACT_FIELDS = set(ChatRecord.model_fields)


async def fake_endpoint(fake: FakeOpenAI, name: str, *, token: str = VALID_TOKEN, **options):
    params = {"timeout": options.pop("timeout", 5), "max_attempts": options.pop("attempts", 1)}
    return await create_endpoint(
        name, "openai-connector", uri=fake.base_url, token=token, model=name, params=params,
        **options,
    )


async def chats(runner_id: str) -> dict[str, list[dict]]:
    return await api_get_all_chats_from_session(runner_id)


class TestApiSendPrompt:
    async def test_answers_from_every_endpoint_in_moonshots_shape(self, db, task_queue):
        await create_endpoint("Echo A")
        await create_endpoint("Echo B", model="b")
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        result = await api_send_prompt(
            runner_id, "Hello", enqueue=task_queue.enqueue, wait_s=30
        )
        assert result.finished and result.status is BatchStatus.DONE
        info = result.prompt_info()
        assert set(info) == {
            "current_runner_id", "current_chats", "current_batch_size", "current_status",
        }
        assert info["current_runner_id"] == runner_id
        assert info["current_status"] == "COMPLETED" and info["current_batch_size"] == 2
        (a,), (b,) = info["current_chats"]["echo-a"], info["current_chats"]["echo-b"]
        assert set(a) == CONTRACT_FIELDS
        assert (a["predicted_result"], b["predicted_result"]) == ("Hello", "b: Hello")
        assert await chats(runner_id) == {"echo-a": [a], "echo-b": [b]}

    async def test_template_and_context_apply_per_endpoint(self, db, task_queue):
        await create_endpoint("Echo A")
        runner_id = await create_session(
            endpoints=["echo-a"],
            runner_args={"prompt_template": "complete-sentence",
                         "context_strategy": "add_previous_prompt", "cs_num_of_prev_prompts": 1,
                         "system_prompt": "Be kind."},
        )
        await api_send_prompt(runner_id, "One", enqueue=task_queue.enqueue, wait_s=30)
        await api_send_prompt(runner_id, "Two", enqueue=task_queue.enqueue, wait_s=30)
        first, second = (await chats(runner_id))["echo-a"]
        assert first["prepared_prompt"] == "Complete the following sentence: One"
        assert second["prepared_prompt"] == (
            "Complete the following sentence: One\nComplete the following sentence: One\n\nTwo"
        )
        assert second["prompt"] == "Two" and second["system_prompt"] == "Be kind."
        assert second["context_strategy"] == "add_previous_prompt"
        assert second["prompt_template"] == "complete-sentence"
        assert [first["chat_record_id"], second["chat_record_id"]] == [1, 2]

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

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [(("", 10), ValidationError), (("Hi", -1), ValidationError), (("Hi", "ten"),
                                                                       ValidationError)],
    )
    async def test_bad_input_stores_nothing(self, db, task_queue, arguments, error):
        runner_id = await create_session(endpoints=["echo-a"])
        with pytest.raises(error):
            await api_send_prompt(runner_id, *arguments, enqueue=task_queue.enqueue)
        assert await PromptBatch.find_all().count() == 0
        assert await PromptTask.find_all().count() == 0

    async def test_unknown_session_and_no_endpoints(self, db, task_queue):
        with pytest.raises(NotFound):
            await api_send_prompt("nope", "Hi", enqueue=task_queue.enqueue)
        runner_id = await create_session(endpoints=[])
        with pytest.raises(InvalidInput) as raised:
            await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue)
        assert raised.value.field == "endpoints"
        assert await PromptBatch.find_all().count() == 0

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


class TestExactlyOnce:
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
        batch_id, (task_id,) = await create_batch(runner_id, "Hi")
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


class TestCancel:
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


class TestFanOutAndLimits:
    async def test_ten_endpoints_take_about_as_long_as_one(self, db, task_queue, fake_openai):
        names = [f"model-{number}" for number in range(10)]
        for name in names:
            fake_openai.behaviours[name] = Behaviour(latency_s=0.2)
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
        assert fan_out <= 2 * one_call, (fan_out, one_call)
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

def test_settings_default_wait():
    assert Settings().prompt_wait_s == 60
