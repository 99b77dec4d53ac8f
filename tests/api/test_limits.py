"""The fair-share checks: each limit accepted at its value, refused one past it, naming the
field and the setting; the Python face keeps Moonshot's behaviour where the contract says so."""

import pytest

from models import PromptBatch, PromptTask, Runner, Session
from service.api import (
    api_create_session,
    api_load_session,
    api_update_cs_num_of_prev_prompts,
    api_update_system_prompt,
)
from service.api.errors import InvalidInput
from service.api.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_endpoint_list,
    check_prompt_cost,
    check_session_settings,
    check_template_source,
    prompt_answer_estimate,
)
from service.api.prompting import create_batch
from service.api.sessions.edits import set_context_strategy, set_system_prompt
from service.api.sessions.lifecycle import create_session_view
from service.settings import Settings
from tests.factories import create_endpoint, create_session


def limits(**changes: int) -> Limits:
    return Limits(**{**DEFAULT_LIMITS.__dict__, **changes})


class TestLimits:
    def test_defaults_are_the_settings_defaults(self):
        assert Limits(
            max_endpoints_per_session=50, max_system_prompt_chars=100_000,
            max_template_chars=20_000, max_prev_prompts=100, max_context_chars=100_000,
            max_prompt_answer_chars=10_000_000,
        ) == DEFAULT_LIMITS

    def test_read_from_settings(self, monkeypatch):
        monkeypatch.setenv("SPARRING_MAX_ENDPOINTS_PER_SESSION", "7")
        monkeypatch.setenv("SPARRING_MAX_CONTEXT_CHARS", "0")
        read = Limits.from_settings(Settings())
        assert (read.max_endpoints_per_session, read.max_context_chars) == (7, 0)

    @pytest.mark.parametrize(
        ("name", "value"),
        [("MAX_ENDPOINTS_PER_SESSION", "0"), ("MAX_TEMPLATE_CHARS", "20001"),
         ("MAX_PREV_PROMPTS", "-1"), ("MAX_PROMPT_ANSWER_CHARS", "0")],
    )
    def test_bad_settings_are_refused(self, monkeypatch, name, value):
        monkeypatch.setenv(f"SPARRING_{name}", value)
        with pytest.raises(ValueError, match=name.lower()):
            Settings()


class TestChecks:
    def test_endpoints_at_the_limit_and_one_past(self):
        check_endpoint_list([f"e{n}" for n in range(50)], DEFAULT_LIMITS)
        with pytest.raises(InvalidInput) as raised:
            check_endpoint_list([f"e{n}" for n in range(51)], DEFAULT_LIMITS)
        assert raised.value.field == "endpoints"
        assert "at most 50" in str(raised.value)
        assert "SPARRING_MAX_ENDPOINTS_PER_SESSION" in str(raised.value)

    def test_a_repeated_endpoint(self):
        with pytest.raises(InvalidInput, match="'a' appears more than once") as raised:
            check_endpoint_list(["a", "b", "a"], DEFAULT_LIMITS)
        assert raised.value.field == "endpoints"

    def test_session_settings(self):
        check_session_settings(
            {"system_prompt": "s" * 100_000, "cs_num_of_prev_prompts": 100}, DEFAULT_LIMITS
        )
        with pytest.raises(InvalidInput, match="it has 100001") as raised:
            check_session_settings({"system_prompt": "s" * 100_001}, DEFAULT_LIMITS)
        assert raised.value.field == "system_prompt"
        with pytest.raises(InvalidInput, match="SPARRING_MAX_PREV_PROMPTS") as raised:
            check_session_settings({"cs_num_of_prev_prompts": 101}, DEFAULT_LIMITS)
        assert raised.value.field == "cs_num_of_prev_prompts"

    def test_template_source(self):
        check_template_source("t" * 20_000, DEFAULT_LIMITS)
        with pytest.raises(InvalidInput, match="SPARRING_MAX_TEMPLATE_CHARS") as raised:
            check_template_source("t" * 20_001, DEFAULT_LIMITS)
        assert raised.value.field == "template"

    def test_the_answer_estimate_counts_what_each_record_repeats(self):
        settings = {"system_prompt": "s" * 7, "template_source": "T" * 5}
        # prompt 10 + prepared (10 + template 5) + system prompt 7, per endpoint.
        assert prompt_answer_estimate(3, "p" * 10, settings, DEFAULT_LIMITS) == 3 * 32
        with_context = {**settings, "context_strategy": "add_previous_prompt",
                        "cs_num_of_prev_prompts": 2}
        context = limits(max_context_chars=100)
        assert prompt_answer_estimate(1, "p" * 10, with_context, context) == 132
        # A strategy over no previous prompts adds nothing.
        no_count = {**with_context, "cs_num_of_prev_prompts": 0}
        assert prompt_answer_estimate(1, "p" * 10, no_count, context) == 32

    def test_prompt_cost_at_the_limit_and_one_past(self):
        tight = limits(max_prompt_answer_chars=40)
        stored = check_prompt_cost(["a", "b"], "p" * 10, {}, tight)
        assert stored == {"max_context_chars": DEFAULT_LIMITS.max_context_chars}
        with pytest.raises(InvalidInput, match="up to 44 characters") as raised:
            check_prompt_cost(["a", "b"], "p" * 11, {}, tight)
        assert raised.value.field == "user_prompt"

    def test_prompt_cost_counts_each_endpoint_once(self):
        check_prompt_cost(["a"] * 60, "p", {}, DEFAULT_LIMITS)
        with pytest.raises(InvalidInput) as raised:
            check_prompt_cost([f"e{n}" for n in range(51)], "p", {}, DEFAULT_LIMITS)
        assert raised.value.field == "endpoints"


class TestPythonFace:
    """`api_*` follow Moonshot: no length or count limits; a prompt's cost is still checked."""

    async def test_moonshot_accepts_any_count_and_length(self, db):
        runner_id = await create_session()
        assert await api_update_cs_num_of_prev_prompts(runner_id, 1_000_000) is True
        assert await api_update_system_prompt(runner_id, "s" * 200_000) is True
        loaded = await api_load_session(runner_id)
        assert loaded is not None
        assert (loaded["cs_num_of_prev_prompts"], len(loaded["system_prompt"])) == (
            1_000_000, 200_000
        )

    async def test_moonshot_create_keeps_repeats_and_many_endpoints(self, db):
        endpoints = [f"e{n}" for n in range(51)] + ["e0"]
        session = await api_create_session("many", None, endpoints, {})
        assert session.session_metadata.endpoints == endpoints

    async def test_but_prompting_more_than_the_limit_is_refused_storing_nothing(self, db):
        for number in range(3):
            await create_endpoint(f"echo-{number}")
        await api_create_session("wide", None, ["echo-0", "echo-1", "echo-2", "echo-0"], {})
        with pytest.raises(InvalidInput) as raised:
            await create_batch("wide", "hello", limits=limits(max_endpoints_per_session=2))
        assert raised.value.field == "endpoints"
        assert await PromptBatch.count() == 0 and await PromptTask.count() == 0
        # Repeats count once: three distinct endpoints are at a limit of three.
        batch_id, tasks = await create_batch(
            "wide", "hello", limits=limits(max_endpoints_per_session=3)
        )
        assert len(tasks) == 3
        batch = await PromptBatch.find_one(PromptBatch.batch_id == batch_id)
        assert batch is not None
        assert batch.prompt_settings["max_context_chars"] == DEFAULT_LIMITS.max_context_chars


class TestHttpFaceFunctions:
    async def test_create_view_refused_leaves_nothing(self, db):
        await create_endpoint("echo-a")
        for endpoints, runner_args, field in [
            (["echo-a", "echo-a"], {}, "endpoints"),
            (["echo-a"], {"system_prompt": "s" * 100_001}, "system_prompt"),
            (["echo-a"], {"cs_num_of_prev_prompts": 101}, "cs_num_of_prev_prompts"),
        ]:
            with pytest.raises(InvalidInput) as raised:
                await create_session_view("refused", "", endpoints, runner_args)
            assert raised.value.field == field
        assert await Runner.count() == 0 and await Session.count() == 0

    async def test_single_setting_changes_check_first(self, db):
        runner_id = await create_session()
        before = await api_load_session(runner_id)
        with pytest.raises(InvalidInput) as raised:
            await set_context_strategy(runner_id, "add_previous_prompt", 101, workspace="default")
        assert raised.value.field == "num_of_prompt"
        with pytest.raises(InvalidInput):
            await set_system_prompt(runner_id, "s" * 100_001, workspace="default")
        assert await api_load_session(runner_id) == before
        await set_context_strategy(runner_id, "add_previous_prompt", 100, workspace="default")
        after = await api_load_session(runner_id)
        assert after is not None
        assert (after["context_strategy"], after["cs_num_of_prev_prompts"]) == (
            "add_previous_prompt", 100
        )
