"""`echo` answers offline and deterministically."""

from service.connectors.base import Target
from service.connectors.echo import EchoConnector


async def test_answers_with_the_prompt():
    async with EchoConnector(Target("echo-a", "", "", token="")) as connector:
        assert await connector.predict("Hello there", "Be terse.") == "Hello there"
        assert await connector.predict("Hello there") == "Hello there"


async def test_a_model_name_prefixes_the_answer_so_two_echoes_differ():
    async with EchoConnector(Target("echo-b", "", "parrot", token="")) as connector:
        assert await connector.predict("Hi") == "parrot: Hi"
