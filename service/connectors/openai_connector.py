"""`openai-connector`: any OpenAI-compatible chat-completions server, via the official client."""

import re
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from service.connectors.base import Connector, ConnectorError, Target

# Servers that take no key still need the header filled; this is sent instead of nothing.
NO_TOKEN = "no-token"
MAX_DETAIL_CHARS = 200
# The client's own prefix of a status error's text; the status is already in ours.
_STATUS_PREFIX = re.compile(r"^Error code: \d+ - ")


class OpenAIConnector(Connector):
    """Chat completions with the client's own retries (backoff on 429 and 5xx) and timeout."""

    connector_type = "openai-connector"

    def __init__(self, target: Target, *, http_client: Any = None) -> None:
        super().__init__(target, http_client=http_client)
        self._client = AsyncOpenAI(
            api_key=target.token or NO_TOKEN,
            # Moonshot's rule: an empty URI means OpenAI's own API.
            base_url=target.uri or None,
            timeout=target.params.timeout,
            max_retries=target.params.max_attempts - 1,
            http_client=http_client,
        )

    async def aclose(self) -> None:
        if self.http_client is None:
            await self._client.close()

    async def predict(self, prompt: str, system_prompt: str = "") -> str:
        messages: list[dict[str, str]] = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages.append({"role": "user", "content": prompt})
        options: dict[str, Any] = {}
        if self.target.params.temperature is not None:
            options["temperature"] = self.target.params.temperature
        if self.target.params.max_tokens is not None:
            options["max_tokens"] = self.target.params.max_tokens
        try:
            completion = await self._client.chat.completions.create(
                model=self.target.model, messages=messages, **options  # type: ignore[arg-type]
            )
        except openai.APITimeoutError as error:
            raise ConnectorError(
                f"timed out: no answer within {self.target.params.timeout:g} s "
                f"({self._attempts()})"
            ) from error
        except openai.AuthenticationError as error:
            # The server's own text may quote part of the key, so it is not passed on.
            raise ConnectorError(
                f"the endpoint refused the token (HTTP {error.status_code})"
            ) from error
        except openai.PermissionDeniedError as error:
            raise ConnectorError(
                f"the endpoint refused the token (HTTP {error.status_code})"
            ) from error
        except openai.RateLimitError as error:
            raise ConnectorError(
                f"rate limited by the endpoint (HTTP 429, {self._attempts()})"
            ) from error
        except openai.APIStatusError as error:
            raise ConnectorError(
                f"the endpoint answered HTTP {error.status_code} ({self._attempts()})"
                f"{self._detail(error.message)}"
            ) from error
        except openai.APIConnectionError as error:
            raise ConnectorError(
                f"could not connect to the endpoint ({self._attempts()})"
            ) from error
        except openai.OpenAIError as error:
            raise ConnectorError(
                f"unusable answer from the endpoint{self._detail(str(error))}"
            ) from error
        return _answer_text(completion)

    def _attempts(self) -> str:
        count = self.target.params.max_attempts
        return f"{count} attempt{'s' if count != 1 else ''}"

    def _detail(self, message: str) -> str:
        if self.target.token:
            message = message.replace(self.target.token, "***")
        message = _STATUS_PREFIX.sub("", message.strip())[:MAX_DETAIL_CHARS]
        return f": {message}" if message else ""


def _answer_text(completion: Any) -> str:
    """The first choice's text; ConnectorError unless the answer is a chat completion.

    The client does not check what a server answered with 200: a page that is not JSON (a web
    server's or a proxy's) comes back as a str, JSON of another shape as a model without fields.
    """
    if not isinstance(completion, ChatCompletion):
        raise ConnectorError(
            "the endpoint's answer is not a chat completion (its body is not JSON; is the URI "
            "an OpenAI-compatible API, e.g. ending in /v1?)"
        )
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list):
        raise ConnectorError("the endpoint's answer is not a chat completion (no choices)")
    if not choices:
        raise ConnectorError("the endpoint answered with no choices")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if message is None or not isinstance(content, str | None):
        raise ConnectorError(
            "the endpoint's answer is not a chat completion (its first choice has no message)"
        )
    return content or ""
