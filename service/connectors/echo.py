"""`echo`: answers offline and deterministically with the prompt it was given."""

from service.connectors.base import Connector


class EchoConnector(Connector):
    """Needs no network, so demos and tests run anywhere; the model name, if any, prefixes it."""

    connector_type = "echo"

    async def predict(self, prompt: str, system_prompt: str = "") -> str:
        return f"{self.target.model}: {prompt}" if self.target.model else prompt
