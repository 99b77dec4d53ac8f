"""Endpoint tokens at rest: encrypted with Fernet under the deployment's secret key."""

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from service.settings import Settings

KEY_FILE = "secret.key"
# Shown instead of a stored token; sent back unchanged (a form round trip), it keeps the token.
TOKEN_MASK = "********"
_KEY_CONTEXT = b"sparring endpoint tokens\x00"


class TokenUnreadable(ValueError):
    """A stored token does not decrypt under this key (the secret key changed)."""


def load_or_create_key_file(path: Path) -> bytes:
    """The secret in `path`, made (readable by its owner only) on first use."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48).encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process made it first; use theirs, so both encrypt alike.
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(secret)
    return secret


class TokenCipher:
    """Encrypts and decrypts endpoint tokens; the secret can be any string."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("The secret key must not be empty.")
        # Fernet wants 32 url-safe base64 bytes; hashing lets the secret be any passphrase.
        derived = hashlib.sha256(_KEY_CONTEXT + secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "TokenCipher(<secret>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenCipher":
        """`SPARRING_SECRET_KEY`, else the key kept in the data dir (made on first use)."""
        if settings.secret_key is not None:
            return cls(settings.secret_key.get_secret_value().encode())
        return cls(load_or_create_key_file(settings.data_dir.resolve() / KEY_FILE))

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode() if token else ""

    def decrypt(self, encrypted: str) -> str:
        if not encrypted:
            return ""
        try:
            return self._fernet.decrypt(encrypted.encode()).decode()
        except InvalidToken as error:
            raise TokenUnreadable(
                "The endpoint's token cannot be decrypted: the secret key changed since it was "
                "stored. Set the token again."
            ) from error
