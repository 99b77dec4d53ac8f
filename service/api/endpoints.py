"""Moonshot's connector-endpoint API, async and workspace-scoped; tokens stored encrypted."""

import time
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, validate_call
from pymongo.errors import DuplicateKeyError
from slugify import slugify

from models import Endpoint, EndpointParams, Session
from models.endpoints import endpoint_key
from service.api.coalescing import Coalescer
from service.api.context import require_database
from service.api.errors import Conflict, InvalidInput, NotFound, Stale, UnknownName
from service.api.paging import check_page
from service.api.schemas import DEFAULT_WORKSPACE
from service.connectors import CallParams, Target, connector_class, connector_types
from service.tokens import TOKEN_MASK, TokenCipher

PositiveInt = Annotated[int, Field(gt=0)]
NonEmpty = Annotated[str, Field(min_length=1)]
# The fields an update may change; `id` follows the name only at creation, as in Moonshot.
UPDATABLE = (
    "name", "connector_type", "uri", "token", "max_calls_per_second", "max_concurrency", "model",
    "params",
)
# Sent back by clients that PUT what they read; derived, so not changed by an update.
IGNORED_ON_UPDATE = {"id", "created_date"}
MAX_URI_CHARS = 2048


def endpoint_not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"[ConnectorEndpoint] Endpoint {endpoint_id} does not exist.")


def _check_connector_type(connector_type: str) -> None:
    if connector_class(connector_type) is None:
        raise InvalidInput(
            f"Connector type {connector_type} does not exist; "
            f"known types: {', '.join(connector_types())}.",
            field="connector_type",
        )


def _check_uri(uri: str) -> None:
    if len(uri) > MAX_URI_CHARS:
        raise InvalidInput(f"uri is longer than {MAX_URI_CHARS} characters.", field="uri")
    if uri and not uri.startswith(("http://", "https://")):
        raise InvalidInput("uri must start with http:// or https://.", field="uri")
    # Credentials go in the token, which is stored encrypted and never shown; a URI is shown to
    # every member. The message does not quote the URI, so it never repeats a password.
    if "@" in urlsplit(uri).netloc:
        raise InvalidInput(
            "uri must not carry a user name or password (user:password@); put credentials in "
            "token.",
            field="uri",
        )


def _check_token_follows(stored: dict[str, Any], changes: dict[str, Any], token_sent: bool) -> None:
    """A token is only for the URI (and connector) it was given with; InvalidInput otherwise.

    Without this, anyone who may edit an endpoint could point it at their own server and
    receive its token with the next prompt.
    """
    moved = [
        key for key in ("uri", "connector_type")
        if key in changes and changes[key] != stored.get(key, "")
    ]
    if moved and not token_sent:
        raise InvalidInput(
            f"Changing {' and '.join(moved)} needs the token in the same request "
            '(send "" to remove it).',
            field="token",
        )


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    try:
        return EndpointParams.model_validate(params).model_dump(exclude_none=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in ("params", *first["loc"]))
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from error


def endpoint_dict(document: Endpoint | dict[str, Any]) -> dict[str, Any]:
    """Moonshot's endpoint dict, with the token masked: it is never given back."""
    fields: dict[str, Any] = document if isinstance(document, dict) else document.model_dump()
    return {
        "id": fields["endpoint_id"],
        "name": fields["name"],
        "connector_type": fields["connector_type"],
        "uri": fields.get("uri", ""),
        "token": TOKEN_MASK if fields.get("token_encrypted") else "",
        "max_calls_per_second": fields["max_calls_per_second"],
        "max_concurrency": fields["max_concurrency"],
        "model": fields.get("model", ""),
        "params": fields.get("params", {}),
        "created_date": fields.get("created_date", ""),
    }


class EndpointFields(BaseModel):
    """An endpoint's fields with Moonshot's types and bounds, checked as a whole."""

    name: NonEmpty
    connector_type: str
    uri: str
    token: str
    max_calls_per_second: PositiveInt
    max_concurrency: PositiveInt
    model: str
    params: dict


def _checked(fields: EndpointFields) -> dict[str, Any]:
    """What pydantic cannot check: the id, connector type, URI and params; returns params."""
    if not slugify(fields.name, lowercase=True):
        raise InvalidInput(
            f"name {fields.name!r} has no letters or digits to make an id from.", field="name"
        )
    _check_connector_type(fields.connector_type)
    _check_uri(fields.uri)
    return _check_params(fields.params)


@validate_call(config=ConfigDict(arbitrary_types_allowed=True))
async def api_create_endpoint(
    name: NonEmpty,
    connector_type: str,
    uri: str,
    token: str,
    max_calls_per_second: PositiveInt,
    max_concurrency: PositiveInt,
    model: str,
    params: dict,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    cipher: TokenCipher,
) -> str:
    """Add an endpoint; its id is the slug of its name. Returns the id.

    `cipher` encrypts the token: the service's (`TokenCipher.from_settings(settings)`), so
    that the workers holding the same key can use it.
    """
    fields = EndpointFields(
        name=name, connector_type=connector_type, uri=uri, token=token,
        max_calls_per_second=max_calls_per_second, max_concurrency=max_concurrency, model=model,
        params=params,
    )
    checked_params = _checked(fields)
    endpoint_id = slugify(name, lowercase=True)
    require_database()
    created_at = time.time()
    document = Endpoint(
        id=endpoint_key(workspace, endpoint_id),
        workspace=workspace,
        endpoint_id=endpoint_id,
        name=name,
        connector_type=connector_type,
        uri=uri,
        model=model,
        token_encrypted=cipher.encrypt(token),
        max_calls_per_second=max_calls_per_second,
        max_concurrency=max_concurrency,
        params=checked_params,
        created_date=datetime.fromtimestamp(created_at).replace(microsecond=0).isoformat(" "),
        created_at=created_at,
    )
    try:
        await document.insert()
    except DuplicateKeyError as error:
        raise Conflict(f"[ConnectorEndpoint] Endpoint {endpoint_id} already exists.") from error
    return endpoint_id


async def _stored(endpoint_id: str, workspace: str) -> dict[str, Any]:
    require_database()
    document = await Endpoint.get_pymongo_collection().find_one(
        {"_id": endpoint_key(workspace, endpoint_id)}
    )
    if document is None:
        raise endpoint_not_found(endpoint_id)
    return document


@validate_call
async def api_read_endpoint(ep_id: NonEmpty, *, workspace: str = DEFAULT_WORKSPACE) -> dict:
    """The endpoint's dict (token masked)."""
    return endpoint_dict(await _stored(ep_id, workspace))


@validate_call(config=ConfigDict(arbitrary_types_allowed=True))
async def api_update_endpoint(
    ep_id: NonEmpty,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    cipher: TokenCipher,
    **kwargs: Any,
) -> bool:
    """Change the fields given (None: unchanged) in one atomic update by `_id`; the id stays.

    `cipher` encrypts a new token, as in `api_create_endpoint`.
    """
    unknown = sorted(set(kwargs) - set(UPDATABLE) - IGNORED_ON_UPDATE)
    if unknown:
        raise InvalidInput(f"{unknown[0]} cannot be updated.", field=unknown[0])
    changes = {key: value for key, value in kwargs.items() if value is not None}
    stored = await _stored(ep_id, workspace)
    current = {key: stored.get(key) for key in UPDATABLE if key != "token"}
    # The mask is what reads show; a client sending it back means "keep the token".
    new_token = changes.pop("token", None)
    if new_token == TOKEN_MASK:
        new_token = None
    fields = EndpointFields.model_validate({**current, **changes, "token": new_token or ""})
    update: dict[str, Any] = {key: getattr(fields, key) for key in changes}
    checked_params = _checked(fields)
    _check_token_follows(stored, changes, token_sent=new_token is not None)
    if "params" in changes:
        update["params"] = checked_params
    if new_token is not None:
        update["token_encrypted"] = cipher.encrypt(fields.token)
    if update:
        where: dict[str, Any] = {"_id": endpoint_key(workspace, ep_id)}
        if new_token is None:
            # The stored token stays only with the uri and type checked above: another
            # request may move the endpoint (with its own token) between that check and now.
            where.update({key: stored.get(key) for key in ("uri", "connector_type")})
        result = await Endpoint.get_pymongo_collection().update_one(where, {"$set": update})
        if result.matched_count == 0:
            await _stored(ep_id, workspace)
            raise Stale(f"[ConnectorEndpoint] Endpoint {ep_id} changed meanwhile; read it again.")
    return True


@validate_call
async def api_delete_endpoint(ep_id: NonEmpty, *, workspace: str = DEFAULT_WORKSPACE) -> bool:
    """Remove the endpoint; Conflict while a session of the workspace uses it."""
    await _stored(ep_id, workspace)
    user = await Session.get_pymongo_collection().find_one(
        {"workspace": workspace, "endpoints": ep_id}, {"session_id": 1}
    )
    if user is not None:
        raise Conflict(
            f"[ConnectorEndpoint] Endpoint {ep_id} is used by session {user['session_id']}; "
            "remove it from the session or delete the session first."
        )
    result = await Endpoint.get_pymongo_collection().delete_one(
        {"_id": endpoint_key(workspace, ep_id)}
    )
    if result.deleted_count == 0:
        raise endpoint_not_found(ep_id)
    return True


async def api_get_all_endpoint(
    *, workspace: str = DEFAULT_WORKSPACE, limit: int | None = None, offset: int = 0
) -> list[dict]:
    """Every endpoint of the workspace, newest first (tokens masked); a page with `limit`."""
    return [endpoint_dict(document) for document in await _list_endpoints(workspace, limit, offset)]


async def api_get_all_endpoint_name(
    *, workspace: str = DEFAULT_WORKSPACE, limit: int | None = None, offset: int = 0
) -> list[str]:
    """The ids of the workspace's endpoints (Moonshot calls them names), newest first."""
    documents = await _list_endpoints(workspace, limit, offset, fields=("endpoint_id",))
    return [document["endpoint_id"] for document in documents]


async def _list_endpoints(
    workspace: str, limit: int | None, offset: int, *, fields: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    # The one listing query: newest first on the (workspace, created_at) index, only `fields`
    # when given; without `limit` everything, as Moonshot's routes answer.
    check_page(limit=limit, offset=offset)
    require_database()
    projection = None if fields is None else {"_id": 0, **dict.fromkeys(fields, 1)}
    cursor = Endpoint.get_pymongo_collection().find(
        {"workspace": workspace}, projection, sort=[("created_at", -1)], skip=offset,
        limit=limit or 0,
    )
    return [document async for document in cursor]


def api_get_all_connector_type() -> list[str]:
    """The connector types endpoints can use."""
    return connector_types()


async def require_endpoints(endpoints: list[str], *, workspace: str = DEFAULT_WORKSPACE) -> None:
    """UnknownName naming the first of `endpoints` the workspace has no endpoint for."""
    require_database()
    wanted = list(dict.fromkeys(endpoints))
    cursor = Endpoint.get_pymongo_collection().find(
        {"_id": {"$in": [endpoint_key(workspace, endpoint) for endpoint in wanted]}},
        {"endpoint_id": 1},
    )
    found = {document["endpoint_id"] async for document in cursor}
    missing = [endpoint for endpoint in wanted if endpoint not in found]
    if missing:
        # Moonshot's text when a runner names an endpoint that is not there.
        raise UnknownName(
            f"[Runner] Connector endpoint {missing[0]} does not exist.", field="endpoints"
        )


async def load_target(
    endpoint_id: str, cipher: TokenCipher, *, workspace: str = DEFAULT_WORKSPACE
) -> tuple[Endpoint, Target]:
    """The endpoint and what its connector needs, token decrypted; for running prompts only.

    The tasks of a fan-out start together: those of this process reading endpoints while
    another read is on its way read theirs together, in one query by `_id`.
    """
    require_database()
    stored = await _TARGET_READS.call(None, endpoint_key(workspace, endpoint_id))
    if stored is None:
        raise endpoint_not_found(endpoint_id)
    document = Endpoint.model_validate(stored)
    params = EndpointParams.model_validate(document.params)
    target = Target(
        endpoint_id=document.endpoint_id,
        uri=document.uri,
        model=document.model,
        token=cipher.decrypt(document.token_encrypted),
        # The connectors' own type: they know nothing of how endpoints are stored.
        params=CallParams(
            temperature=params.temperature,
            max_tokens=params.max_tokens,
            timeout=params.timeout,
            max_attempts=params.max_attempts,
        ),
    )
    return document, target


async def _read_together(_: Hashable, keys: Sequence[str]) -> list[dict[str, Any] | None]:
    found = {
        document["_id"]: document
        async for document in Endpoint.get_pymongo_collection().find({"_id": {"$in": list(keys)}})
    }
    return [found.get(key) for key in keys]


_TARGET_READS: Coalescer[str, dict[str, Any] | None] = Coalescer(_read_together)
