"""Checks made before a handler sees a request: client address, Host, and the JSON body."""

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from service.http.errors import (
    BodyTooLarge,
    CrossSiteRequest,
    InvalidBody,
    MalformedRequest,
    UnsupportedMediaType,
    json_invalid,
)
from service.settings import Settings

# The deepest nesting of arrays and objects a JSON body may have; no request of the API needs
# more, and a deeper one would exhaust the parsers' recursion.
MAX_JSON_DEPTH = 64
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
FORWARDED_FOR = "x-forwarded-for"
TOO_LARGE = "Request Entity Too Large"
# A JSON string, escapes included; possessive, so a string that never ends costs linear time.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENING = frozenset(b"[{")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(items: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


def in_networks(address: str, allowed: list[Network]) -> bool:
    """Whether `address` is an IP address inside one of `allowed` (a host name never is)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in allowed)


def forwarded_client(peer: str, forwarded_for: str, proxies: list[Network]) -> str:
    """The client a request came from, believing X-Forwarded-For only from `proxies`.

    Each proxy appends the address it saw, so the right-most address that is not one of our
    proxies is the first one no proxy of ours can vouch for; anything left of it may be forged.
    """
    if not forwarded_for or not in_networks(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not in_networks(hop, proxies):
            return hop
    return hops[0] if hops else peer


class ForwardedClient(ASGIMiddleware):
    """Puts the resolved client address in the scope, for whatever ASGI server runs the app."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, settings: Settings) -> None:
        self.proxies = networks(settings.forwarded_allow_ips)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        client = scope.get("client")
        if client is not None and self.proxies:
            forwarded = ",".join(Headers.from_scope(scope).getall(FORWARDED_FOR, []))
            address = forwarded_client(client[0], forwarded, self.proxies)
            if address != client[0]:
                scope["client"] = (address, 0)
        await next_app(scope, receive, send)


def host_is_allowed(host: str, allowed: frozenset[str]) -> bool:
    """Whether a Host header value names this machine (or a host the settings allow)."""
    host = host.strip().lower()
    if host in allowed:
        return True
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.partition(":")[0]
    return name in LOOPBACK_HOSTS or name in allowed


class LoopbackHostOnly(ASGIMiddleware):
    """In `local` mode, answers only requests addressed to this machine by name.

    A page on another site can point its own host name at 127.0.0.1 (DNS rebinding) and then
    read answers as same-origin; its requests still carry that name in `Host`.
    """

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, settings: Settings) -> None:
        self.allowed = frozenset(host.strip().lower() for host in settings.allowed_hosts)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        host = Headers.from_scope(scope).get("host", "")
        if not host_is_allowed(host, self.allowed):
            raise MalformedRequest(
                f"Host {host!r} is not served in local mode; use localhost or 127.0.0.1, or "
                "list it in SPARRING_ALLOWED_HOSTS."
            )
        await next_app(scope, receive, send)


# Methods a page of another site can send without a CORS preflight only as reads.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_is_allowed(
    origin: str, allowed_hosts: frozenset[str], cors_origins: frozenset[str]
) -> bool:
    """Whether a browser `Origin` may change data on a `local` server: this machine's own pages,
    the hosts it serves, and the origins SPARRING_CORS_ORIGINS lists."""
    origin = origin.strip().lower()
    if origin in cors_origins:
        return True
    scheme, separator, host = origin.partition("://")
    return bool(separator) and scheme in ("http", "https") and host_is_allowed(host, allowed_hosts)


class CrossSiteRefusal(ASGIMiddleware):
    """In `local` mode, refuses changes that a web page of another site sent.

    With no key to present, a local server cannot tell its user from any page open in their
    browser, and a page may POST without a preflight (a bodiless form or `fetch` in `no-cors`
    mode, which the JSON body check never sees). Browsers name the sending page in `Origin`
    (and `Sec-Fetch-Site`) on every such request; scripts send neither and are served.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.allowed_hosts = frozenset(host.strip().lower() for host in settings.allowed_hosts)
        self.cors_origins = frozenset(
            origin.strip().lower().rstrip("/") for origin in settings.cors_origins
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method", "GET") not in SAFE_METHODS:
            headers = Headers.from_scope(scope)
            origin = headers.get("origin")
            if origin is not None:
                if not origin_is_allowed(origin, self.allowed_hosts, self.cors_origins):
                    raise CrossSiteRequest(
                        f"A change sent from the web page origin {origin[:100]!r} is refused in "
                        "local mode; list the origin in SPARRING_CORS_ORIGINS to allow it."
                    )
            elif headers.get("sec-fetch-site", "").lower() == "cross-site":
                raise CrossSiteRequest(
                    "A change sent by a web page of another site is refused in local mode."
                )
        await next_app(scope, receive, send)


def is_json_media_type(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, without parsing (no recursion)."""
    depth = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the first key it was given twice."""

    duplicate: str | None = None


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    parsed = _Object()
    for key, value in pairs:
        if key in parsed and parsed.duplicate is None:
            parsed.duplicate = key
        parsed[key] = value
    return parsed


def duplicate_key_path(document: Any) -> list[str | int] | None:
    """The path to the first key some object of `document` has twice, in document order."""
    stack: list[tuple[list[str | int], Any]] = [([], document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _Object):
            if value.duplicate is not None:
                return [*path, value.duplicate]
            children = [([*path, key], item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [([*path, index], item) for index, item in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _not_json(offset: int, message: str) -> InvalidBody:
    return InvalidBody("JSON decode error", errors=[json_invalid(offset, message)])


def check_json_body(body: bytes, content_type: str) -> None:
    """Refuse a body that is not declared as JSON, is not JSON, nests too deep or repeats a key.

    One Python's decoder accepts but Litestar's refuses (`NaN`) is answered from Litestar's
    error, in the same shape.
    """
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType(
            "The request body must be JSON sent as 'Content-Type: application/json', not "
            f"{content_type.partition(';')[0].strip() or 'no content type'!r}."
        )
    if nesting_exceeds(body, MAX_JSON_DEPTH):
        raise MalformedRequest(
            f"The JSON body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels."
        )
    try:
        document = json.loads(body, object_pairs_hook=_object)
    except json.JSONDecodeError as error:
        # The decoder FastAPI uses, so offsets and messages are those Moonshot answers with.
        raise _not_json(error.pos, error.msg) from error
    except UnicodeDecodeError as error:
        raise _not_json(error.start, f"Invalid UTF-8: {error.reason}") from error
    except RecursionError:
        # Not reached below MAX_JSON_DEPTH; were it, the parser's own error would answer.
        return
    path = duplicate_key_path(document)
    if path is not None:
        key = path[-1]
        raise InvalidBody(
            "Duplicate key in JSON object.",
            errors=[
                {
                    "loc": ["body", *path],
                    "msg": f"Key {key!r} appears more than once in the same object.",
                    "type": "duplicate_key",
                    "input": key,
                }
            ],
        )


async def read_body(receive: Receive, limit: int) -> tuple[bytes, list[ReceiveMessage]]:
    """The whole body, at most `limit` bytes, and any non-body message received after it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), []


# A route that reads its body as a stream names the one media type it takes with
# `opt={STREAMED_BODY_OPT: "application/x-ndjson"}`; the route limits the body's size itself.
STREAMED_BODY_OPT = "streamed_body"


def check_streamed_body(content_type: str, expected: str) -> None:
    """A streamed body must be declared as the route's own type: never a type a web page may
    send without a CORS preflight (`text/plain`, forms), so a page cannot make a browser send it.
    """
    declared = content_type.partition(";")[0].strip().lower()
    if declared != expected:
        raise UnsupportedMediaType(
            f"The request body must be sent as 'Content-Type: {expected}', not "
            f"{declared or 'no content type'!r}."
        )


class JsonBodyGuard(ASGIMiddleware):
    """Reads a request's body once, checks it (`check_json_body`) and replays it to the app."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.max_body_bytes = settings.max_body_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = Headers.from_scope(scope)
        route_handler = scope.get("route_handler")
        streamed = None if route_handler is None else route_handler.opt.get(STREAMED_BODY_OPT)
        if streamed is not None:
            # Read by the handler as it arrives: holding it here would hold it whole.
            check_streamed_body(headers.get("content-type", ""), streamed)
            await next_app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            await next_app(scope, receive, send)
            return
        if (
            declared is not None
            and declared.strip().isdigit()
            and int(declared) > self.max_body_bytes
        ):
            raise BodyTooLarge(TOO_LARGE)
        body, pending = await read_body(receive, self.max_body_bytes)
        if body:
            check_json_body(body, headers.get("content-type", ""))
        replay: list[ReceiveMessage] = [{"type": "http.request", "body": body, "more_body": False}]
        replay.extend(pending)

        async def replayed() -> ReceiveMessage:
            return replay.pop(0) if replay else await receive()

        await next_app(scope, replayed, send)
