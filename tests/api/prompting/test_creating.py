"""Sending a prompt: a batch and its tasks stored, queued, waited for; on both tiers."""

import pytest
from pydantic import ValidationError

from models import BatchStatus, PromptBatch, PromptTask
from service.api.errors import InvalidInput, NotFound
from service.api.prompting import (
    api_send_prompt,
)
from service.api.sessions.store import find_session
from service.settings import Settings
from tests.api.prompting.support import CONTRACT_FIELDS, chats
from tests.factories import create_endpoint, create_session


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

    async def test_a_session_read_by_the_caller_spares_the_read_but_must_be_this_one(
        self, db, task_queue
    ):
        await create_endpoint("Echo A")
        await create_endpoint("Echo B")
        mine = await create_session(endpoints=["echo-a"])
        other = await create_session(endpoints=["echo-b"])
        read = await find_session(mine, "default")
        result = await api_send_prompt(
            mine, "Hi", enqueue=task_queue.enqueue, wait_s=30, session=read
        )
        assert list(result.current_chats) == ["echo-a"]
        # Another session's metadata is not taken for this one: it is read afresh.
        result = await api_send_prompt(
            other, "Hi", enqueue=task_queue.enqueue, wait_s=30, session=read
        )
        assert list(result.current_chats) == ["echo-b"]


def test_settings_default_wait():
    assert Settings().prompt_wait_s == 60
