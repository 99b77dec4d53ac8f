"""A `bench_openai` connector for Moonshot, written for the benchmarks: one chat completion call
to an OpenAI-compatible server (the harness's fake one), as Moonshot's `openai-connector` makes
it, over aiohttp (which Moonshot's package installs; the `openai` client it is not).

Moonshot loads the first class of this file whose module is `bench_openai`: keep it the only
class here.
"""

import aiohttp
from moonshot.src.connectors.connector import Connector, perform_retry
from moonshot.src.connectors.connector_response import ConnectorResponse
from moonshot.src.connectors_endpoints.connector_endpoint_arguments import (
    ConnectorEndpointArguments,
)

TIMEOUT_S = 60.0


class BenchOpenAIConnector(Connector):
    def __init__(self, ep_arguments: ConnectorEndpointArguments) -> None:
        super().__init__(ep_arguments)

    @Connector.rate_limited
    @perform_retry
    async def get_response(self, prompt: str) -> ConnectorResponse:
        body = {
            "model": self.model,
            "messages": [
                {"role": "user", "content": f"{self.pre_prompt}{prompt}{self.post_prompt}"}
            ],
        }
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
        ) as client, client.post(
            f"{self.endpoint.rstrip('/')}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as answer:
            answer.raise_for_status()
            completion = await answer.json()
        return ConnectorResponse(response=completion["choices"][0]["message"]["content"])
