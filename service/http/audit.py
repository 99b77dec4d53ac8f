"""Records every successful change made over HTTP in the caller's audit log, in one place.

Done here rather than in each api function because only the transport knows who the caller
is, and so a route added later (prompting, endpoints) is audited without anyone remembering
to. Account changes are the exception: they are recorded by the accounts functions
themselves, since the CLI makes them too, and their routes opt out with `AUDITED_ELSEWHERE`.
"""

import json
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState

from service.api.accounts import Principal
from service.api.audit import record_change

CHANGE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_ELSEWHERE = "audited_elsewhere"


class AuditChanges(ASGIMiddleware):
    """After a change succeeded, and before its answer goes out, writes who did what.

    "Who" is the principal: the user, and the API key they used (so an entry made with a key
    someone else obtained shows which key it was, and that key can be revoked).
    """

    scopes = (ScopeType.HTTP,)
    exclude_opt_key = AUDITED_ELSEWHERE

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("auth")
        method = cast(HTTPScope, scope)["method"]  # `scopes` lets HTTP requests alone through
        if method not in CHANGE_METHODS or not isinstance(principal, Principal):
            await next_app(scope, receive, send)
            return

        async def send_after_recording(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                # Recorded before the answer, so a client that saw success finds the entry.
                await record_change(
                    f"{method} {scope['path_template']}",
                    workspace=principal.workspace,
                    actor=principal.user,
                    key_id=principal.key_id,
                    target=_target(scope),
                    details={"path": scope["path"], "status": message["status"]},
                )
            await send(message)

        await next_app(scope, receive, send_after_recording)


def _target(scope: Scope) -> str:
    """What the change was made to: the session in the path, else the name in the body."""
    params: dict[str, Any] = scope.get("path_params", {})
    if "runner_id" in params:
        return str(params["runner_id"])
    if params:
        return "/".join(str(value) for value in params.values())
    body = value_or_default(ScopeState.from_scope(scope).body, b"")
    try:
        data = json.loads(body) if body else None
    except (UnicodeDecodeError, ValueError):
        return ""
    # Only a name: bodies can hold secrets (endpoint tokens) that must not reach the log.
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else ""
