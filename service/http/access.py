"""Everything that stands between a request and a handler, added to the app in one place."""

from collections.abc import Callable

from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol

from service.auth.secret import api_key_secret
from service.http.audit import AuditChanges
from service.http.auth import ApiKeyAuthentication, auth_mode, role_guard
from service.http.guards import (
    CrossSiteRefusal,
    ForwardedClient,
    JsonBodyGuard,
    LoopbackHostOnly,
)
from service.http.limits import RequestRateLimit, rate_limit_storage
from service.settings import Settings

# The dependency handlers that make API keys receive the server secret as.
KEY_SECRET = "key_secret"
# How the OpenAPI document tells clients to send a key: either header will do.
SECURITY_SCHEMES = Components(
    security_schemes={
        "bearer": SecurityScheme(type="http", scheme="bearer", description="An API key."),
        "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
    }
)


def _secret_provider(secret: bytes) -> Callable[[], bytes]:
    def provide_key_secret() -> bytes:
        return secret

    return provide_key_secret


class AccessControl(InitPluginProtocol):
    """Client address, Host, authentication, roles, the rate limit, body checks and the audit
    log, on every route of the app.

    App-wide on purpose: a route added later needs credentials, gets role checks, counts
    against the limit and is audited without doing anything.
    """

    def __init__(self, settings: Settings) -> None:
        # Refuse to build an app in local mode on a public bind, before anything starts.
        self.mode = auth_mode(settings)
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        secret = api_key_secret(self.settings)
        storage, release_storage = rate_limit_storage(self.settings)
        # Outermost first: where the request comes from and (in local mode) whether it is
        # addressed to this machine and not sent by another site's page, who is asking,
        # whether they may ask this often, whether the body is acceptable JSON, then the audit.
        app_config.middleware[:0] = [
            ForwardedClient(self.settings),
            *(
                [LoopbackHostOnly(self.settings), CrossSiteRefusal(self.settings)]
                if self.mode == "local"
                else []
            ),
            DefineMiddleware(ApiKeyAuthentication, settings=self.settings, secret=secret),
            RequestRateLimit(storage, self.settings.rate_limit_per_minute),
            JsonBodyGuard(self.settings),
            AuditChanges(),
        ]
        if self.settings.cors_origins:
            app_config.cors_config = CORSConfig(
                allow_origins=list(self.settings.cors_origins),
                # What a page may read of an answer beyond the CORS-safe headers: the cursor of
                # the next page and the id to quote when reporting a request.
                expose_headers=["X-Request-ID", "X-Next-After", "Location", "ETag"],
            )
        app_config.guards.append(role_guard)
        app_config.dependencies[KEY_SECRET] = Provide(
            _secret_provider(secret), sync_to_thread=False, use_cache=True
        )
        app_config.on_shutdown.append(release_storage)
        openapi = app_config.openapi_config
        if openapi is not None:
            # The app's own config object (create_app makes one per app), completed in place.
            existing = openapi.components
            openapi.components = [*(existing if isinstance(existing, list) else [existing])]
            openapi.components.append(SECURITY_SCHEMES)
            openapi.security = [{"bearer": []}, {"apiKey": []}]
        return app_config
