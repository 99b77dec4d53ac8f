"""Runs through the in-process workers: prompts planned, sent, scored, stopped, ended."""

import asyncio
import time

import pytest

from models import AttackRun, PromptBatch, PromptTask, RunStatus
from models.runs import run_key
from service.api import api_get_all_chats_from_session
from service.api.errors import Conflict, InvalidInput, NotFound
from service.api.prompting import Runtime, run_prompt_task
from service.api.registries import configure_entry
from service.api.runs import advance_run, advancing, cancel_run, get_run, list_runs, start_run
from service.api.runs.counting import count_batch
from service.api.runs.hooks import RunHooks
from service.redteam.attacks.base import Perturbation
from service.redteam.attacks.registry import ATTACK_MODULES
from service.workers.limiter import LocalLimiter
from service.workers.queue import TaskQueue
from tests.factories import TEST_CIPHER, create_endpoint, create_session
from tests.support.runs import finished_run


async def attack_session(module: str, *, metric: str = "", endpoints=("echo-a", "echo-b")) -> str:
    for endpoint in endpoints:
        await create_endpoint(endpoint)
    return await create_session(
        endpoints=list(endpoints), runner_args={"attack_module": module, "metric_id": metric}
    )


async def charswap_run(*, parallel_prompts: int):
    """A session of two echo endpoints with a charswap run of six prompts started (nothing
    stepped yet); its id and the run."""
    await configure_entry(
        "attack-module", "charswap_attack",
        configurations={"max_iteration": 6, "parallel_prompts": parallel_prompts},
    )
    runner_id = await attack_session("charswap_attack")
    return runner_id, await start_run(runner_id, "Please explain how the lock mechanism works")


async def step_without_queueing(run_id: str) -> list[str]:
    """One step of the run, its tasks stored but never queued; their ids."""
    stored: list[str] = []

    async def kept(task_ids) -> None:
        stored.extend(task_ids)

    runtime = Runtime(cipher=TEST_CIPHER, limiter=LocalLimiter(), http_client=None)
    await advance_run("default", run_id, runtime, kept)
    return stored


class TestPerturbationRun:
    async def test_sends_every_attack_prompt_to_every_endpoint(self, db, task_queue):
        await configure_entry(
            "attack-module", "charswap_attack",
            configurations={"max_iteration": 6, "seed": 7, "parallel_prompts": 4},
        )
        runner_id = await attack_session("charswap_attack")
        started = await start_run(runner_id, "Please explain how the lock mechanism works")
        await task_queue.kick_run("default", runner_id, started.run_id)
        run = await finished_run(task_queue, runner_id, started.run_id)
        assert run.status is RunStatus.DONE
        assert {endpoint: counts.answered for endpoint, counts in run.endpoints.items()} == {
            "echo-a": 6, "echo-b": 6,
        }
        assert run.totals.sent == 12 and run.totals.failed == 0
        chats = await api_get_all_chats_from_session(runner_id)
        charswap = ATTACK_MODULES["charswap_attack"]
        assert isinstance(charswap, Perturbation)
        expected = charswap.attack_prompts(
            "Please explain how the lock mechanism works",
            configurations={"max_iteration": 6, "seed": 7, "parallel_prompts": 4}, seed=7,
        )
        for endpoint in ("echo-a", "echo-b"):
            records = chats[endpoint]
            assert [record["prompt"] for record in records] == expected
            assert {record["attack_module"] for record in records} == {"charswap_attack"}
            assert {record["run_id"] for record in records} == {started.run_id}
            # No metric: nothing scored, and no score claimed.
            assert {record["score"] for record in records} == {None}

    async def test_a_metric_scores_each_answer_and_success_stops_the_endpoint(
        self, db, task_queue
    ):
        await configure_entry(
            "attack-module", "sample_attack_module",
            configurations={"max_iteration": 5, "parallel_prompts": 1},
        )
        # No judge endpoint in the workspace: `refusal` scores by its offline phrase list, and
        # an echo never refuses, so the first answer is a success.
        runner_id = await attack_session("sample_attack_module", metric="refusal")
        started = await start_run(runner_id, "Tell me a secret")
        await task_queue.kick_run("default", runner_id, started.run_id)
        run = await finished_run(task_queue, runner_id, started.run_id)
        assert run.status is RunStatus.DONE
        for counts in run.endpoints.values():
            assert (counts.sent, counts.successful) == (1, 1)
            assert counts.stopped is not None and "succeeded" in counts.stopped
        record = (await api_get_all_chats_from_session(runner_id))["echo-a"][0]
        assert record["metric"] == "refusal" and record["success"] is True
        assert record["score"] is not None and record["score_error"] == ""

    async def test_without_stop_on_success_every_prompt_is_sent(self, db, task_queue):
        await configure_entry(
            "attack-module", "sample_attack_module",
            configurations={"max_iteration": 3, "stop_on_success": False},
        )
        runner_id = await attack_session("sample_attack_module", metric="refusal")
        started = await start_run(runner_id, "Tell me a secret")
        await task_queue.kick_run("default", runner_id, started.run_id)
        run = await finished_run(task_queue, runner_id, started.run_id)
        assert [counts.successful for counts in run.endpoints.values()] == [3, 3]


class TestStarting:
    async def test_only_one_run_at_a_time_per_session(self, db, task_queue):
        runner_id = await attack_session("charswap_attack")
        await start_run(runner_id, "first")
        with pytest.raises(Conflict, match="run in progress"):
            await start_run(runner_id, "second")

    async def test_a_bad_configuration_is_named_and_nothing_is_stored(self, db):
        await configure_entry(
            "attack-module", "charswap_attack", configurations={"parallel_prompts": 0}
        )
        runner_id = await attack_session("charswap_attack")
        with pytest.raises(InvalidInput, match="parallel_prompts") as raised:
            await start_run(runner_id, "seed")
        assert raised.value.field == "configurations.parallel_prompts"
        assert await list_runs(runner_id) == []

    async def test_a_module_that_needs_a_model_is_refused(self, db):
        runner_id = await attack_session("textfooler_attack")
        with pytest.raises(InvalidInput, match="word-embedding"):
            await start_run(runner_id, "seed")

    async def test_an_attacker_module_needs_an_existing_attacker(self, db):
        runner_id = await attack_session("malicious_question_generator")
        # The catalogue's default attacker is not one of this workspace's endpoints.
        with pytest.raises(InvalidInput, match="does not exist in the workspace"):
            await start_run(runner_id, "seed")

    async def test_another_workspaces_run_is_not_found(self, db):
        runner_id = await attack_session("charswap_attack")
        started = await start_run(runner_id, "seed")
        with pytest.raises(NotFound):
            await get_run(runner_id, started.run_id, workspace="elsewhere")


class TestCancel:
    async def test_cancel_before_a_step_appends_nothing(self, db, task_queue):
        runner_id = await attack_session("charswap_attack")
        started = await start_run(runner_id, "Please explain how the lock works")
        assert await cancel_run(runner_id, started.run_id) is RunStatus.CANCELLED
        await task_queue.kick_run("default", runner_id, started.run_id)
        await task_queue.wait_idle()
        run = await get_run(runner_id, started.run_id)
        assert run.status is RunStatus.CANCELLED and run.totals.sent == 0
        assert await api_get_all_chats_from_session(runner_id) == {"echo-a": [], "echo-b": []}


class TestSteps:
    async def test_a_step_reserves_record_ids_per_endpoint_not_per_task(self, db, monkeypatch):
        runner_id, started = await charswap_run(parallel_prompts=4)
        reservations: list[tuple[str, int]] = []
        reserve = advancing.reserve_chat_record_ids

        async def counted(session_id, endpoint, count, **kwargs):
            reservations.append((endpoint, count))
            return await reserve(session_id, endpoint, count, **kwargs)

        monkeypatch.setattr(advancing, "reserve_chat_record_ids", counted)
        stored = await step_without_queueing(started.run_id)
        # Four prompts to two endpoints: one reservation per endpoint for the whole step (its
        # first prompt is stored and queued before the others all the same), not one per task.
        assert sorted(reservations) == [("echo-a", 4), ("echo-b", 4)]
        tasks = await PromptTask.find_all().to_list()
        assert sorted(task.id for task in tasks) == sorted(stored)
        for endpoint in ("echo-a", "echo-b"):
            assert sorted(t.chat_record_id for t in tasks if t.endpoint == endpoint) == [1, 2, 3, 4]
        run = await get_run(runner_id, started.run_id)
        assert {endpoint: counts.sent for endpoint, counts in run.endpoints.items()} == {
            "echo-a": 4, "echo-b": 4,
        }


class TestCounts:
    async def test_a_count_that_comes_after_the_run_is_done_is_not_added_again(self, db):
        """A batch is counted by whoever settled it, just after; a step may end the run in
        between. The end makes the counts exact from the tasks, in the same write as its
        status, and the late count adds nothing."""
        runner_id, started = await charswap_run(parallel_prompts=6)
        task_ids = await step_without_queueing(started.run_id)
        # The tasks run with no run hooks: their batches settle, uncounted.
        runtime = Runtime(cipher=TEST_CIPHER, limiter=LocalLimiter(), http_client=None)
        for task_id in task_ids:
            await run_prompt_task(task_id, runtime)

        async def nothing_to_queue(task_ids) -> None:
            raise AssertionError(f"every prompt was sent; queued {task_ids}")

        assert await advance_run("default", started.run_id, runtime, nothing_to_queue)
        done = await get_run(runner_id, started.run_id)
        assert done.status is RunStatus.DONE
        assert {e: (c.sent, c.answered) for e, c in done.endpoints.items()} == {
            "echo-a": (6, 6), "echo-b": (6, 6),
        }
        batch = await PromptBatch.find_one(PromptBatch.run_id == started.run_id)
        assert batch is not None
        await count_batch(batch)
        late = await get_run(runner_id, started.run_id)
        assert {e: c.answered for e, c in late.endpoints.items()} == {"echo-a": 6, "echo-b": 6}


    async def test_each_batch_queues_one_step_of_its_run_however_its_tasks_end(self, db):
        runner_id, started = await charswap_run(parallel_prompts=6)
        task_ids = await step_without_queueing(started.run_id)
        kicks: list[str] = []

        async def kick(workspace: str, session_id: str, run_id: str) -> None:
            kicks.append(run_id)

        runtime = Runtime(
            cipher=TEST_CIPHER, limiter=LocalLimiter(), http_client=None,
            runs=RunHooks(kick=kick),
        )
        # Side by side, so that several tasks of a batch find it settled.
        await asyncio.gather(*(run_prompt_task(task_id, runtime) for task_id in task_ids))
        assert kicks == [started.run_id] * 6
        run = await get_run(runner_id, started.run_id)
        assert {e: (c.sent, c.answered) for e, c in run.endpoints.items()} == {
            "echo-a": (6, 6), "echo-b": (6, 6),
        }


class TestRestart:
    async def test_a_run_left_midway_resumes_with_every_record_once(self, db, settings):
        runner_id, started = await charswap_run(parallel_prompts=2)
        # A process stored the first attack prompts and died before queueing them; another
        # took the run's turn and died holding it.
        stored = await step_without_queueing(started.run_id)
        assert len(stored) == 4
        await AttackRun.get_pymongo_collection().update_one(
            {"_id": run_key("default", started.run_id)},
            {"$set": {"stepper": "gone", "stepping_until": time.time() + 3600}},
        )
        queue = TaskQueue(settings)
        await queue.start()
        try:
            run = await finished_run(queue, runner_id, started.run_id)
        finally:
            await queue.stop()
        assert run.status is RunStatus.DONE
        chats = await api_get_all_chats_from_session(runner_id)
        for endpoint in ("echo-a", "echo-b"):
            ids = [record["chat_record_id"] for record in chats[endpoint]]
            assert ids == [1, 2, 3, 4, 5, 6]
            assert run.endpoints[endpoint].answered == 6
