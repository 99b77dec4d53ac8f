"""`fixed-answer`: answers offline with the endpoint's `model` text, whatever it is sent."""

from service.connectors.base import Connector


class FixedAnswerConnector(Connector):
    """A stand-in judge or attacker for dry runs and demos: a judge endpoint whose model is
    "not refuse" scores every answer as a success, one whose model is "refuse" as a failure.
    `\\n` in the model text is a line break, since judges read a verdict line and a reason."""

    connector_type = "fixed-answer"

    async def predict(self, prompt: str, system_prompt: str = "") -> str:
        return self.target.model.replace("\\n", "\n")
