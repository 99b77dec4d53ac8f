"""Moonshot connector endpoints into a workspace's endpoints, tokens encrypted as any other.

An endpoint whose id is the slug of its name and whose connector type Sparring has is created
by `api_create_endpoint`, as over the API. Otherwise (Moonshot's other connectors, or a file
named otherwise than its name's slug, which sessions refer to by that file name) it is stored
as Moonshot had it, under the same checks except the connector type's: Sparring keeps no
"runnable" flag on endpoints, because the type says it. Such an endpoint is listed and kept
in sessions, a prompt to it becomes an `[error] ` record naming the missing connector (as for
any endpoint that cannot be reached), and `api_update_endpoint` asks for a known type.
"""

import time
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError
from slugify import slugify

from models import Endpoint
from models.endpoints import endpoint_key
from service.api.context import require_database
from service.api.endpoints import (
    EndpointFields,
    _check_params,
    _check_uri,
    api_create_endpoint,
)
from service.api.errors import Conflict, InvalidInput
from service.connectors import connector_class
from service.moonshot_import.reader import EndpointFile
from service.tokens import TokenCipher

# Moonshot's defaults for fields an endpoint file may leave out.
DEFAULTS: dict[str, Any] = {
    "uri": "", "token": "", "max_calls_per_second": 10, "max_concurrency": 1, "model": "",
    "params": {},
}


class EndpointExists(Exception):
    """The workspace has an endpoint with this id already."""


async def endpoint_exists(endpoint_id: str, workspace: str) -> bool:
    require_database()
    found = await Endpoint.get_pymongo_collection().find_one(
        {"_id": endpoint_key(workspace, endpoint_id)}, {"_id": 1}
    )
    return found is not None


async def import_endpoint(
    source: EndpointFile, *, workspace: str, cipher: TokenCipher
) -> bool:
    """Create the endpoint; True when Sparring can run it (its connector type exists).

    InvalidInput names what is wrong with the file's fields; EndpointExists when its id is
    taken in the workspace.
    """
    if await endpoint_exists(source.endpoint_id, workspace):
        raise EndpointExists(source.endpoint_id)
    try:
        fields = EndpointFields.model_validate({**DEFAULTS, **source.fields})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from error
    runnable = connector_class(fields.connector_type) is not None
    try:
        if runnable and slugify(fields.name, lowercase=True) == source.endpoint_id:
            await api_create_endpoint(
                fields.name, fields.connector_type, fields.uri, fields.token,
                fields.max_calls_per_second, fields.max_concurrency, fields.model, fields.params,
                workspace=workspace, cipher=cipher,
            )
        else:
            await _store_as_given(source.endpoint_id, fields, workspace, cipher)
    except Conflict as error:
        raise EndpointExists(source.endpoint_id) from error
    return runnable


async def _store_as_given(
    endpoint_id: str, fields: EndpointFields, workspace: str, cipher: TokenCipher
) -> None:
    # The checks api_create_endpoint makes, but for the connector type: a URI never carries
    # credentials (it is shown to every member), and params are within their bounds.
    _check_uri(fields.uri)
    params = _check_params(fields.params)
    created_at = time.time()
    document = Endpoint(
        id=endpoint_key(workspace, endpoint_id),
        workspace=workspace,
        endpoint_id=endpoint_id,
        name=fields.name,
        connector_type=fields.connector_type,
        uri=fields.uri,
        model=fields.model,
        token_encrypted=cipher.encrypt(fields.token),
        max_calls_per_second=fields.max_calls_per_second,
        max_concurrency=fields.max_concurrency,
        params=params,
        created_date=datetime.fromtimestamp(created_at).replace(microsecond=0).isoformat(" "),
        created_at=created_at,
    )
    try:
        await document.insert()
    except DuplicateKeyError as error:
        raise EndpointExists(endpoint_id) from error
