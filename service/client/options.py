"""What both clients are made with: base URL, key, timeouts; and where they read them from."""

from typing import Any

import httpx

from service.api.errors import InvalidInput
from service.settings import Settings

DEFAULT_TIMEOUT_S = 30.0
# The events stream sends a keep-alive every 15 s; a read waits longer than that before it
# decides the server is gone.
STREAM_READ_TIMEOUT_S = 60.0
URL_MISSING = "SPARRING_URL is not set: the client needs the server's base URL."


def http_options(url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    """httpx's options: the key only in the Authorization header, never in a URL."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return {"base_url": url, "headers": headers, "timeout": timeout}


def stream_timeout(timeout: float) -> httpx.Timeout:
    return httpx.Timeout(timeout, read=max(timeout, STREAM_READ_TIMEOUT_S))


def from_settings(settings: Settings) -> tuple[str, str | None]:
    """The server URL and key `SPARRING_URL` and `SPARRING_API_KEY` name."""
    if settings.url is None:
        raise InvalidInput(URL_MISSING, field="SPARRING_URL")
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    return settings.url, key
