"""`X-Request-ID` on every answer, and the id in the request's context for every log line.

Wrapped around the whole of Litestar's ASGI handler rather than added as a Litestar
middleware: those run only for a matched route, and 404s, 405s and errors raised before a
handler need the id too. uvicorn writes its access line from inside the `send` the app awaits,
in the request's own task, so the access line sees the id as well.
"""

from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.request_context import new_request_id, request_id_set, well_formed

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode("latin-1")


def requested_id(scope: Scope) -> str | None:
    """The client's `X-Request-ID` (the first one) if well formed, else `None`."""
    for name, value in scope.get("headers", ()):
        if name.lower() == _HEADER_BYTES:
            return well_formed(value.decode("latin-1"))
    return None


class RequestIds:
    """Takes a well-formed `X-Request-ID` or makes one, and echoes it on the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = requested_id(scope) or new_request_id()
        encoded = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value) for name, value in message.get("headers", ())
                    if name.lower() != _HEADER_BYTES
                ]
                headers.append((_HEADER_BYTES, encoded))
                message = {**message, "headers": headers}
            await send(message)

        with request_id_set(request_id):
            await self.app(scope, receive, send_with_id)


def with_request_ids(app: Litestar) -> Litestar:
    """`app`, every request it serves given an id (see the module's docstring)."""
    app.asgi_handler = RequestIds(app.asgi_handler)
    return app
