"""`openai-connector` through the official client, against a fake server on 127.0.0.1."""

import logging
import socket

import pytest

from service.connectors.base import CallParams, ConnectorError, Target
from service.connectors.openai_connector import OpenAIConnector
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI


def target(fake: FakeOpenAI, model: str, token: str = VALID_TOKEN, **params) -> Target:
    return Target("ep", fake.base_url, model, token=token, params=CallParams(**params))


async def predict(target_: Target, prompt: str = "Hi", system_prompt: str = "") -> str:
    async with OpenAIConnector(target_) as connector:
        return await connector.predict(prompt, system_prompt)


async def test_answers_with_the_completion_and_sends_system_prompt_and_params(fake_openai):
    answer = await predict(
        target(fake_openai, "model-a", temperature=0.3, max_tokens=50), "Hi", "Be terse."
    )
    assert answer == "model-a says: Hi"
    (call,) = fake_openai.calls
    assert call.messages == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
    ]
    assert call.body["temperature"] == 0.3 and call.body["max_tokens"] == 50
    assert call.authorization == f"Bearer {VALID_TOKEN}"


async def test_no_system_message_without_a_system_prompt(fake_openai):
    await predict(target(fake_openai, "model-a"))
    assert [message["role"] for message in fake_openai.calls[0].messages] == ["user"]
    assert "temperature" not in fake_openai.calls[0].body


async def test_retries_rate_limits_with_the_clients_backoff(fake_openai):
    fake_openai.behaviours["busy"] = Behaviour(status=429, fail_times=2)
    assert await predict(target(fake_openai, "busy", max_attempts=3)) == "busy says: Hi"
    assert [call.status for call in fake_openai.calls] == [429, 429, 200]


async def test_gives_up_after_its_attempts(fake_openai):
    fake_openai.behaviours["broken"] = Behaviour(status=500)
    with pytest.raises(ConnectorError, match=r"answered HTTP 500 \(2 attempts\)"):
        await predict(target(fake_openai, "broken", max_attempts=2))
    assert len(fake_openai.calls) == 2


async def test_rate_limited_to_the_end(fake_openai):
    fake_openai.behaviours["busy"] = Behaviour(status=429)
    with pytest.raises(ConnectorError, match=r"rate limited by the endpoint \(HTTP 429"):
        await predict(target(fake_openai, "busy", max_attempts=1))


async def test_times_out_per_call(fake_openai):
    fake_openai.behaviours["slow"] = Behaviour(latency_s=2.0)
    with pytest.raises(ConnectorError, match=r"timed out: no answer within 0.2 s"):
        await predict(target(fake_openai, "slow", timeout=0.2, max_attempts=1))


async def test_a_refused_token_never_shows_in_the_error_or_logs(fake_openai, caplog):
    secret = "sk-wrong-1234567890-do-not-leak"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as raised:
        await predict(target(fake_openai, "model-a", token=secret, max_attempts=1))
    assert "refused the token (HTTP 401)" in str(raised.value)
    assert secret not in str(raised.value) and secret not in repr(raised.value)
    assert all(secret not in record.getMessage() for record in caplog.records)
    assert secret not in repr(target(fake_openai, "model-a", token=secret))


async def test_an_unreachable_endpoint_is_a_connector_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = Target(
        "ep", f"http://127.0.0.1:{port}/v1", "m", token="t",
        params=CallParams(max_attempts=1, timeout=2),
    )
    with pytest.raises(ConnectorError, match="could not connect"):
        await predict(unreachable)


async def test_a_web_page_instead_of_a_completion_is_a_connector_error(fake_openai):
    fake_openai.behaviours["page"] = Behaviour(html="<html><body>It works!</body></html>")
    with pytest.raises(ConnectorError, match="not a chat completion") as raised:
        await predict(target(fake_openai, "page", max_attempts=1))
    assert "It works" not in str(raised.value)
    assert len(fake_openai.calls) == 1
