"""An attacker (or judge) endpoint scripted by the test: fixed answers, every call kept."""

from service.connectors.base import ConnectorError


class ScriptedModel:
    def __init__(self, *answers: str | ConnectorError) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, system_prompt: str, prompt: str) -> str:
        self.calls.append((system_prompt, prompt))
        answer = self.answers.pop(0)
        if isinstance(answer, ConnectorError):
            raise answer
        return answer
