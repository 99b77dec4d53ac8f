"""Who a request acts as (API key, local mode, trusted client) and what its role lets it do.

Applied app-wide, so a route added later is protected without doing anything: only the paths
in `PUBLIC_PATHS` answer without credentials.
"""

import re
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from models import Role
from service.api.accounts import (
    LOCAL_USER,
    Principal,
    authenticate_key,
    ensure_local_owner,
    principal_for_user,
)
from service.api.errors import NotFound, Unauthenticated
from service.api.schemas import DEFAULT_WORKSPACE
from service.http.guards import in_networks, networks
from service.settings import LOCAL_AUTH_ON_PUBLIC_BIND, AuthMode, Settings, is_loopback

# Liveness, readiness, the OpenAPI schema (with its UI) and the metrics (which check the client
# address instead) answer without credentials.
PUBLIC_PATHS = re.compile(r"^/(health|ready|metrics)/?$|^/schema(/|$)")
WORKSPACE_HEADER = "x-workspace"
API_KEY_HEADER = "x-api-key"
# Browsers' EventSource cannot send headers, so the live events route also takes the key in
# the query. Only a route marked `opt={ACCESS_TOKEN_OPT: True}` does: chosen by the route, not
# by the path, since a session, runner or endpoint may be named "events"; and anywhere else a
# key in the URL would only land in access logs and browser history.
ACCESS_TOKEN_QUERY = "access_token"
ACCESS_TOKEN_OPT = "access_token_query"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A handler names the role it needs with `opt={ROLE_OPT: Role.OWNER}`; otherwise reads need
# viewer and changes need editor.
ROLE_OPT = "role"
# A handler for server admins only (creating users and workspaces) says `opt={ADMIN_OPT: True}`;
# the caller's role in their workspace does not matter there.
ADMIN_OPT = "server_admin"
NO_KEY = "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
# What a request refused for its credentials is told to authenticate with.
CHALLENGE = "Bearer"


class LocalAuthOnPublicBind(ValueError):
    """`local` mode was asked for on an address other machines can reach."""


def auth_mode(settings: Settings) -> AuthMode:
    """The mode to run in; refuses `local` unless the server binds to loopback only.

    Settings already check this; checked again here because settings changed after
    validation (`model_copy(update=...)`, a `--host` option) are not validated again.
    """
    loopback = is_loopback(settings.host)
    if settings.auth == "local" and not loopback:
        raise LocalAuthOnPublicBind(LOCAL_AUTH_ON_PUBLIC_BIND.format(host=settings.host))
    return settings.auth or ("local" if loopback else "required")


def is_public(path: str) -> bool:
    return PUBLIC_PATHS.match(path) is not None


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The API key the request carries, if any."""
    authorization = connection.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if authorization:
        raise Unauthenticated("The Authorization header must read 'Bearer <key>'.")
    if key := connection.headers.get(API_KEY_HEADER, "").strip():
        return key
    # Middlewares run after routing, so the route (and what it allows) is known here.
    if connection.scope.get("method") == "GET" and connection.route_handler.opt.get(
        ACCESS_TOKEN_OPT
    ):
        return connection.query_params.get(ACCESS_TOKEN_QUERY) or None
    return None


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal the authentication middleware put on the request."""
    principal = connection.scope.get("auth")
    if not isinstance(principal, Principal):
        raise Unauthenticated(NO_KEY)
    return principal


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """Turns the request's key (or else local mode, or a trusted client) into a principal."""

    def __init__(self, app: ASGIApp, *, settings: Settings, secret: bytes) -> None:
        # OPTIONS is not exempt: every method of a protected route needs credentials.
        super().__init__(app, exclude=PUBLIC_PATHS.pattern, exclude_http_methods=[])
        self.mode = auth_mode(settings)
        self.trusted_user = settings.trusted_user
        self.secret = secret
        self.trusted_networks = networks(settings.trusted_clients)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        try:
            principal = await self._principal(connection)
        except Unauthenticated as error:
            raise Unauthenticated(str(error), challenge=CHALLENGE) from error
        return AuthenticationResult(user=principal.user, auth=principal)

    async def _principal(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
        workspace = connection.headers.get(WORKSPACE_HEADER) or None
        key = presented_key(connection)
        if key is not None:
            # A key acts in its own workspace only; X-Workspace may merely repeat it.
            return await authenticate_key(key, secret=self.secret, workspace=workspace)
        if self.mode == "local":
            return await self._local_owner(workspace)
        if self.trusted_user is not None and self._is_trusted(connection):
            return await principal_for_user(self.trusted_user, workspace=workspace)
        raise Unauthenticated(NO_KEY)

    async def _local_owner(self, workspace: str | None) -> Principal:
        try:
            return await principal_for_user(LOCAL_USER, workspace=workspace or DEFAULT_WORKSPACE)
        except NotFound:
            if workspace not in (None, DEFAULT_WORKSPACE):
                raise
        # The first key-less request of a fresh database makes the local owner.
        return await ensure_local_owner()

    def _is_trusted(self, connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
        client = connection.client
        return client is not None and in_networks(client.host, self.trusted_networks)


def required_role(route_handler: BaseRouteHandler, method: str) -> Role:
    named = route_handler.opt.get(ROLE_OPT)
    if named is not None:
        return Role(named)
    return Role.VIEWER if method in READ_METHODS else Role.EDITOR


def role_guard(
    connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler
) -> None:
    """App-wide guard: the caller's role in their workspace must include what the route needs."""
    if is_public(connection.scope["path"]):
        return
    # Also a safety net: a protected route reached without a principal is refused.
    principal = principal_of(connection)
    if route_handler.opt.get(ADMIN_OPT):
        principal.require_admin()
        return
    principal.require(required_role(route_handler, str(connection.scope.get("method", "GET"))))
