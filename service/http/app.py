"""The Litestar application: `create_app(settings)` and the lifespan that owns the database."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from service.database import Database, close_database, open_database
from service.http.access import AccessControl
from service.http.controllers.admin import AdminController
from service.http.controllers.benchmarks import BenchmarkController
from service.http.controllers.bookmarks import BookmarkController
from service.http.controllers.endpoints import ConnectorController, EndpointController
from service.http.controllers.health import HealthController
from service.http.controllers.prompting import PromptingController
from service.http.controllers.registries import (
    AttackModuleController,
    ContextStrategyController,
    MetricController,
    PromptTemplateController,
)
from service.http.controllers.runners import RunnerController
from service.http.controllers.runs import RunController
from service.http.controllers.session_export import SessionExportController
from service.http.controllers.session_settings import SessionSettingsController
from service.http.controllers.sessions import SessionController
from service.http.deps import DATABASE_STATE_KEY, app_dependencies
from service.http.errors import exception_handlers
from service.http.live_state import live_events_lifespan
from service.http.prompting_state import prompting_lifespan
from service.http.request_ids import with_request_ids
from service.http.ui_webhook import ui_webhook_lifespan
from service.metrics.http import ServiceMetrics
from service.redteam.template_sandbox import close_template_sandbox
from service.settings import Settings

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


def _version() -> str:
    try:
        return version("sparring")
    except PackageNotFoundError:
        return "0.0.0"


def database_lifespan(settings: Settings, database: Database | None) -> Lifespan:
    """Open the database on start and close it on exit, unless the caller owns one already."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if database is not None:
            app.state[DATABASE_STATE_KEY] = database
            yield
            return
        app.state[DATABASE_STATE_KEY] = await open_database(settings)
        try:
            yield
        finally:
            await close_database()

    return lifespan


def create_app(settings: Settings, database: Database | None = None) -> Litestar:
    """The HTTP service; `database`, when given, is used as it is and left open on exit."""
    app = Litestar(
        route_handlers=[
            HealthController,
            SessionController,
            SessionSettingsController,
            SessionExportController,
            AdminController,
            RunnerController,
            PromptTemplateController,
            ContextStrategyController,
            AttackModuleController,
            MetricController,
            EndpointController,
            ConnectorController,
            PromptingController,
            RunController,
            BenchmarkController,
            BookmarkController,
        ],
        dependencies=app_dependencies(settings),
        lifespan=[
            database_lifespan(settings, database),
            prompting_lifespan(settings),
            live_events_lifespan(settings),
            ui_webhook_lifespan(settings),
        ],
        # The template worker processes start on first use; they end with the app.
        on_shutdown=[close_template_sandbox],
        exception_handlers=exception_handlers(),
        plugins=[AccessControl(settings), ServiceMetrics(settings)],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Sparring",
            version=_version(),
            description="Moonshot's Session API as a multi-user HTTP service.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
        # Logging is configured once by the process (`sparring serve`), not by the app.
        logging_config=None,
    )
    # Around everything, 404s and errors included: each answer carries its request's id.
    return with_request_ids(app)
