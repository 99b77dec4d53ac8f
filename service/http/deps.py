"""Dependency providers: what handlers receive instead of reaching for globals."""

from collections.abc import Callable

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from service.api.accounts import Principal
from service.api.errors import NoDatabase
from service.api.sessions.runners import require_session
from service.api.sessions.schemas import SessionMetadata
from service.database import Database
from service.http.auth import principal_of
from service.http.params import RunnerId
from service.settings import Settings

DATABASE_STATE_KEY = "database"

# Handler parameters filled by name from the providers below.
Workspace = NamedDependency[str]
ExistingSession = NamedDependency[SessionMetadata]
DatabaseDependency = NamedDependency[Database]


def provide_principal(request: Request) -> Principal:
    """Who the request acts as, as the authentication middleware found."""
    return principal_of(request)


def provide_workspace(principal: NamedDependency[Principal]) -> str:
    """The caller's workspace: every api call a handler makes is scoped to it."""
    return principal.workspace


def provide_database(state: State) -> Database:
    """The database the app's lifespan opened (or was given)."""
    database = state.get(DATABASE_STATE_KEY)
    if database is None:
        raise NoDatabase("The service has no database open.")
    return database


async def provide_existing_session(runner_id: RunnerId, workspace: Workspace) -> SessionMetadata:
    """The session named in the path, or NotFound: over HTTP every route needs one that exists."""
    return await require_session(runner_id, workspace=workspace)


def _settings_provider(settings: Settings) -> Callable[[], Settings]:
    def provide_settings() -> Settings:
        return settings

    return provide_settings


def app_dependencies(settings: Settings) -> dict[str, Provide]:
    return {
        "settings": Provide(_settings_provider(settings), sync_to_thread=False, use_cache=True),
        "database": Provide(provide_database, sync_to_thread=False),
        "principal": Provide(provide_principal, sync_to_thread=False),
        "workspace": Provide(provide_workspace, sync_to_thread=False),
        "existing_session": Provide(provide_existing_session),
    }
