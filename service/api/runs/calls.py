"""Calling an attacker or a judge endpoint: the same limits, token handling and network
policy as a target's call, since it goes through the same connector, limiter and HTTP client,
and the same reads of the endpoint as a run's targets (`Runtime.targets`)."""

from collections.abc import Awaitable, Callable
from functools import partial

from models.endpoints import endpoint_key
from service.api.endpoints import load_target
from service.api.errors import NotFound
from service.api.prompting import Runtime
from service.connectors import ConnectorError, connector_class
from service.tokens import TokenUnreadable

# (system prompt, prompt) -> the endpoint's answer; raises ConnectorError when it gives none.
EndpointCall = Callable[[str, str], Awaitable[str]]


def endpoint_call(endpoint: str, runtime: Runtime, *, workspace: str) -> EndpointCall:
    """An async callable that sends one prompt to `endpoint` of `workspace`."""

    async def call(system_prompt: str, prompt: str) -> str:
        read = partial(load_target, endpoint, runtime.cipher, workspace=workspace)
        try:
            document, target = await runtime.targets.read(workspace, endpoint, read)
        except NotFound:
            raise ConnectorError(f"endpoint {endpoint} does not exist in the workspace") from None
        except TokenUnreadable as error:
            raise ConnectorError(str(error)) from None
        connector = connector_class(document.connector_type)
        if connector is None:
            raise ConnectorError(f"connector type {document.connector_type} does not exist")
        async with runtime.limiter.slot(
            endpoint_key(workspace, endpoint),
            document.max_concurrency,
            document.max_calls_per_second,
        ), connector(target, http_client=runtime.http_client) as client:
            return await client.predict(prompt, system_prompt)

    return call
