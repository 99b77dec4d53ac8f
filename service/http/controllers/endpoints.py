"""LLM endpoints and connector types: Moonshot's web API routes and shapes."""

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from service.api.endpoints import (
    api_create_endpoint,
    api_delete_endpoint,
    api_get_all_connector_type,
    api_get_all_endpoint,
    api_get_all_endpoint_name,
    api_read_endpoint,
    api_update_endpoint,
)
from service.http.deps import Workspace
from service.http.endpoint_schemas import (
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    Message,
)
from service.http.params import Limit, Offset
from service.http.prompting_state import provide_cipher
from service.tokens import TokenCipher

EndpointId = FromPath[str]


class EndpointController(Controller):
    path = "/api/v1/llm-endpoints"
    tags = ["Endpoints"]
    dependencies = {"cipher": Provide(provide_cipher, sync_to_thread=False)}

    @post("/", status_code=200, summary="Add an endpoint; its id is the slug of its name")
    async def create_endpoint(
        self,
        data: JSONBody[EndpointCreate],
        workspace: Workspace,
        cipher: NamedDependency[TokenCipher],
    ) -> EndpointCreated:
        endpoint_id = await api_create_endpoint(
            data.name, data.connector_type, data.uri, data.token, data.max_calls_per_second,
            data.max_concurrency, data.model, data.params, workspace=workspace, cipher=cipher,
        )
        return EndpointCreated(message="Endpoint added successfully", id=endpoint_id)

    @get("/", summary="All endpoints, newest first (tokens masked)")
    async def list_endpoints(
        self, workspace: Workspace, limit: Limit = None, offset: Offset = 0
    ) -> list[EndpointOut]:
        return [
            EndpointOut.model_validate(item)
            for item in await api_get_all_endpoint(workspace=workspace, limit=limit, offset=offset)
        ]

    @get("/name", summary="Ids of all endpoints, newest first")
    async def list_endpoint_names(
        self, workspace: Workspace, limit: Limit = None, offset: Offset = 0
    ) -> list[str]:
        return await api_get_all_endpoint_name(workspace=workspace, limit=limit, offset=offset)

    @get("/{endpoint_id:str}", summary="One endpoint (token masked)")
    async def get_endpoint(self, endpoint_id: EndpointId, workspace: Workspace) -> EndpointOut:
        return EndpointOut.model_validate(await api_read_endpoint(endpoint_id, workspace=workspace))

    @put("/{endpoint_id:str}", summary="Change the fields given; the id stays")
    async def update_endpoint(
        self,
        endpoint_id: EndpointId,
        data: JSONBody[EndpointUpdate],
        workspace: Workspace,
        cipher: NamedDependency[TokenCipher],
    ) -> Message:
        await api_update_endpoint(endpoint_id, workspace=workspace, cipher=cipher, **data.changes())
        return Message(message="Endpoint updated successfully")

    @delete("/{endpoint_id:str}", status_code=200, summary="Delete an endpoint no session uses")
    async def delete_endpoint(self, endpoint_id: EndpointId, workspace: Workspace) -> Message:
        await api_delete_endpoint(endpoint_id, workspace=workspace)
        return Message(message="Endpoint deleted successfully")


class ConnectorController(Controller):
    path = "/api/v1/connectors"
    tags = ["Endpoints"]

    @get("/", summary="Connector types an endpoint can use")
    async def list_connector_types(self) -> list[str]:
        return api_get_all_connector_type()
