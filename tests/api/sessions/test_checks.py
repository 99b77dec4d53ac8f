"""What a session is made or changed with: its runner's id and the names it uses."""

import pytest

from models.sessions import SessionSettings
from service.api.errors import InvalidInput, RejectedArgument
from service.api.sessions.checks import (
    NAMED_SETTINGS,
    RUNNER_ARG_KEYS,
    check_named_fields,
    check_named_settings,
    check_runner_id,
    runner_id_for,
)


class TestCheckRunnerId:
    @pytest.mark.parametrize(
        ("runner_id", "message"),
        [("", "at least 1 character"), ("My Run", "Invalid Runner ID"), ("a-", "Invalid")],
    )
    def test_refuses_what_is_not_its_own_slug(self, runner_id, message):
        with pytest.raises(RejectedArgument, match=message) as raised:
            check_runner_id(runner_id)
        assert raised.value.field == "runner_id"

    def test_accepts_a_slug(self):
        check_runner_id("my-run-2")


class TestRunnerIdFor:
    @pytest.mark.parametrize(
        ("name", "runner_id"),
        [("My Runner", "my-runner"), ("  Émile's  test #2 ", "emile-s-test-2"), ("a", "a")],
    )
    def test_slugs_the_name_as_moonshot_does(self, name, runner_id):
        assert runner_id_for(name) == runner_id

    @pytest.mark.parametrize("name", ["", "  ", "!!!"])
    def test_a_name_without_letters_or_digits_is_invalid(self, name):
        with pytest.raises(InvalidInput) as raised:
            runner_id_for(name)
        assert raised.value.field == "name"


class TestNamedSettings:
    def test_every_named_setting_is_a_session_setting(self):
        assert {field for field, _, _ in NAMED_SETTINGS} <= set(SessionSettings.model_fields)

    def test_moonshot_reads_the_metric_from_metric_id(self):
        assert RUNNER_ARG_KEYS == {"metric": "metric_id"}

    async def test_runner_args_name_the_argument(self, db):
        with pytest.raises(RejectedArgument, match="Metric nope does not exist") as raised:
            await check_named_settings({"metric_id": "nope", "metric": "ignored"}, "default")
        assert raised.value.field == "metric_id"
        await check_named_settings({"metric": "nope", "metric_id": ""}, "default")

    async def test_fields_name_the_field_and_empty_clears(self, db):
        with pytest.raises(RejectedArgument) as raised:
            await check_named_fields({"metric": "nope"}, "default")
        assert raised.value.field == "metric"
        await check_named_fields({"metric": "", "system_prompt": "anything"}, "default")
