"""The HTTP transport: Litestar app, controllers and the error table."""

from service.http.app import create_app

__all__ = ["create_app"]
