"""An `echo` connector for Moonshot, written for the benchmarks: it answers with the prompt."""

from moonshot.src.connectors.connector import Connector, perform_retry
from moonshot.src.connectors.connector_response import ConnectorResponse
from moonshot.src.connectors_endpoints.connector_endpoint_arguments import (
    ConnectorEndpointArguments,
)


class EchoConnector(Connector):
    def __init__(self, ep_arguments: ConnectorEndpointArguments) -> None:
        super().__init__(ep_arguments)

    @Connector.rate_limited
    @perform_retry
    async def get_response(self, prompt: str) -> ConnectorResponse:
        return ConnectorResponse(response=f"{self.pre_prompt}{prompt}{self.post_prompt}")
