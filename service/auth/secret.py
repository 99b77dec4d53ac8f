"""The server secret API keys are hashed with, derived from the deployment's secret key."""

import hashlib

from service.settings import Settings
from service.tokens import KEY_FILE, load_or_create_key_file

# Keeps the API-key hash apart from other uses of the same secret key (endpoint tokens).
_CONTEXT = b"sparring api keys\x00"


def api_key_secret(settings: Settings) -> bytes:
    """32 bytes from `SPARRING_SECRET_KEY`, else from the key kept in the data dir."""
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value().encode()
    else:
        secret = load_or_create_key_file(settings.data_dir.resolve() / KEY_FILE)
    return derive_api_key_secret(secret)


def derive_api_key_secret(secret_key: bytes) -> bytes:
    return hashlib.sha256(_CONTEXT + secret_key).digest()
