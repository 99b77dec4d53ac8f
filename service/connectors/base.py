"""The one interface every connector implements: prompt in, text out, failures as ConnectorError."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class CallParams:
    """How to call an endpoint: sampling options, and the time and attempts a call may take.

    The connectors' own type, so they know nothing of how endpoints are stored; the domain
    fills it from a stored endpoint's (already validated) parameters.
    """

    temperature: float | None = None
    max_tokens: int | None = None
    # Seconds per call attempt.
    timeout: float = 60.0
    # Attempts per call, retries on 429/5xx included.
    max_attempts: int = 3


@dataclass(frozen=True)
class Target:
    """What a connector needs to know about the endpoint it calls."""

    endpoint_id: str
    uri: str
    model: str
    # Kept out of repr, so a logged or raised Target never shows it.
    token: str = field(repr=False)
    params: CallParams = field(default_factory=CallParams)


class ConnectorError(Exception):
    """A call that did not produce an answer; the message names the cause, never the token."""


class Connector(ABC):
    """Calls one endpoint. Subclasses set `connector_type`, the name endpoints refer to them by.

    Use as `async with connector_class(target) as connector: await connector.predict(...)`.
    """

    connector_type: ClassVar[str]

    def __init__(self, target: Target, *, http_client: Any = None) -> None:
        # A process-wide HTTP client (see `new_http_client`), so calls share connections;
        # a connector given none makes and closes its own.
        self.target = target
        self.http_client = http_client

    @abstractmethod
    async def predict(self, prompt: str, system_prompt: str = "") -> str:
        """The endpoint's answer to `prompt`; raises ConnectorError when there is none."""

    async def aclose(self) -> None:  # noqa: B027 - optional to override, so not abstract
        """Release what the connector holds (connections); nothing by default."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
