"""The prompt pipeline: context, sandboxed template, system prompt, call, a complete record."""

from functools import partial

import pytest

from models import ChatRecord
from service.api import append_chat_record, reserve_chat_record_ids
from service.api.chats import recent_chat_records
from service.connectors.base import ConnectorError
from service.redteam.pipeline import PromptSettings, prepare_prompt, run_pipeline
from service.redteam.records import ERROR_PREFIX, is_error_record
from service.settings import Settings
from tests.factories import create_session, make_chat_record

CONTRACT_FIELDS = set(ChatRecord.model_fields)
ESCAPES = [
    "{{ prompt.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ prompt.__init__.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}{{ prompt }}",
    "{{ self._TemplateReference__context }}{{ prompt }}",
    "{{ '{0.__class__.__mro__}'.format(prompt) }}",
]


async def no_history(count: int) -> list[dict]:
    return []


class Calls:
    def __init__(self, answer: str = "ok", error: str = "") -> None:
        self.seen: list[tuple[str, str]] = []
        self.answer, self.error = answer, error

    async def __call__(self, prepared: str, system_prompt: str) -> str:
        self.seen.append((prepared, system_prompt))
        if self.error:
            raise ConnectorError(self.error)
        return self.answer


async def test_builds_a_record_with_every_contract_field():
    settings = PromptSettings(
        prompt_template="answer-template", template_source="{{ prompt }}\nAnswer:",
        system_prompt="Be terse.", attack_module="sample_attack_module", metric="exactstrmatch",
    )
    call = Calls("42")
    record = await run_pipeline(7, "What is 6x7?", settings, "echo-a", call, no_history)
    assert set(record.model_dump()) == CONTRACT_FIELDS
    assert call.seen == [("What is 6x7?\nAnswer:", "Be terse.")]
    assert record.chat_record_id == 7 and record.conn_id == "echo-a"
    assert record.prompt == "What is 6x7?"
    assert record.prepared_prompt == "What is 6x7?\nAnswer:"
    assert record.predicted_result == "42"
    assert (record.prompt_template, record.system_prompt) == ("answer-template", "Be terse.")
    assert (record.attack_module, record.metric) == ("sample_attack_module", "exactstrmatch")
    assert float(record.duration) >= 0 and record.prompt_time[:2] == "20"


async def test_context_goes_inside_the_template_as_moonshot_does(db):
    runner_id = await create_session(endpoints=["echo-a"])
    (first,) = await reserve_chat_record_ids(runner_id, "echo-a", 1)
    await append_chat_record(runner_id, "echo-a", make_chat_record(first, "echo-a"))
    settings = PromptSettings(
        template_source="Q: {{ prompt }}", context_strategy="add_previous_prompt",
        cs_num_of_prev_prompts=5,
    )
    # The history the domain hands the pipeline: this endpoint's own records.
    recent = partial(recent_chat_records, runner_id, "echo-a", workspace="default")
    prepared = await prepare_prompt("New?", settings, recent)
    assert prepared == "Q: prompt 1\nanswer 1\n\nNew?"


async def test_an_endpoint_failure_is_a_record_naming_the_cause():
    record = await run_pipeline(
        1, "Hi", PromptSettings(), "echo-a", Calls(error="answered HTTP 500"), no_history
    )
    assert record.predicted_result == f"{ERROR_PREFIX}endpoint echo-a: answered HTTP 500"
    assert is_error_record(record.model_dump())
    assert record.prepared_prompt == "Hi"


@pytest.mark.parametrize("template", ESCAPES)
async def test_sandbox_escapes_fail_cleanly_without_calling_the_endpoint(template):
    call = Calls()
    record = await run_pipeline(
        1, "Hi", PromptSettings(prompt_template="evil", template_source=template), "echo-a",
        call, no_history,
    )
    assert call.seen == []
    assert record.predicted_result.startswith(f"{ERROR_PREFIX}prompt template evil:")
    assert "uid=" not in record.predicted_result and "<class" not in record.predicted_result
    assert record.prepared_prompt == ""


async def test_anything_a_call_raises_is_a_record_naming_its_type_only(caplog):
    secret = "sk-in-an-exception-message"

    async def broken(prepared: str, system_prompt: str) -> str:
        raise AttributeError(f"'str' object has no attribute 'choices' ({secret})")

    record = await run_pipeline(
        1, "Hi", PromptSettings(system_prompt="S"), "echo-a", broken, no_history
    )
    assert record.predicted_result == (
        f"{ERROR_PREFIX}calling endpoint echo-a failed unexpectedly (AttributeError); "
        "see the server log"
    )
    assert secret not in record.predicted_result
    assert record.prepared_prompt == "Hi" and record.system_prompt == "S"
    assert set(record.model_dump()) == CONTRACT_FIELDS
    assert "calling endpoint echo-a" in caplog.text


async def test_a_template_that_raises_anything_is_a_record():
    call = Calls()
    record = await run_pipeline(
        1, "Hi", PromptSettings(
            prompt_template="huge",
            template_source="{{ prompt }} {{ 2.0 ** (prompt | length * 100000) }}",
        ),
        "echo-a", call, no_history,
    )
    assert call.seen == []
    assert record.predicted_result.startswith(ERROR_PREFIX)
    assert "Traceback" not in record.predicted_result and record.prepared_prompt == ""


async def test_a_history_that_fails_to_read_is_a_record_not_an_exception(caplog):
    async def unreadable(count: int) -> list[dict]:
        raise ConnectionError("database went away")

    call = Calls()
    record = await run_pipeline(
        1, "Hi", PromptSettings(context_strategy="add_previous_prompt", cs_num_of_prev_prompts=2),
        "echo-a", call, unreadable,
    )
    assert call.seen == []
    assert record.predicted_result == (
        f"{ERROR_PREFIX}preparing the prompt failed unexpectedly (ConnectionError); "
        "see the server log"
    )


class TestContextCapInThePipeline:
    """`max_context_chars`, stored with the batch, bounds what the strategy adds."""

    @staticmethod
    async def long_history(count: int) -> list[dict]:
        # Newest first: a short pair, then a long one behind it.
        return [
            make_chat_record(2, "echo-a", prompt="p2", predicted_result="a2").model_dump(),
            make_chat_record(1, "echo-a", prompt="p1", predicted_result="x" * 1000).model_dump(),
        ][:count]

    async def test_the_oldest_pairs_past_the_cap_are_left_out(self):
        settings = PromptSettings(
            context_strategy="add_previous_prompt", cs_num_of_prev_prompts=2, max_context_chars=10
        )
        assert await prepare_prompt("Hi", settings, self.long_history) == "p2\na2\n\nHi"

    async def test_settings_stored_before_the_cap_get_the_default(self):
        settings = PromptSettings(context_strategy="add_previous_prompt", cs_num_of_prev_prompts=2)
        assert settings.max_context_chars == Settings.model_fields["max_context_chars"].default
        prepared = await prepare_prompt("Hi", settings, self.long_history)
        assert prepared.startswith("p1\n" + "x" * 1000)

    async def test_the_record_keeps_the_capped_prepared_prompt(self):
        call = Calls()
        settings = PromptSettings(
            context_strategy="add_previous_prompt", cs_num_of_prev_prompts=2, max_context_chars=5
        )
        record = await run_pipeline(1, "Hi", settings, "echo-a", call, self.long_history)
        assert record.prepared_prompt == "p2\na2\n\nHi"
        assert call.seen == [("p2\na2\n\nHi", "")]
