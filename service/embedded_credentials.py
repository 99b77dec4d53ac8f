"""The embedded database's login: generated once, kept beside its data, readable by its owner only.

Every process of a deployment that joins the embedded server reads it from here, so the
password never travels on a command line, in `embedded.json` or in a log line.
"""

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

CREDENTIALS_NAME = "embedded-credentials.json"
USERNAME = "sparring"
# The user is made on the admin database and authenticates there.
AUTH_DATABASE = "admin"
# Full rights: the service creates indexes, runs transactions and change streams, and drops
# databases (tests and benchmarks); it is the only user of its own server.
ROLES = [{"role": "root", "db": AUTH_DATABASE}]
PASSWORD_BYTES = 32


class CredentialsError(RuntimeError):
    """The credentials file exists but cannot be used."""


@dataclass(frozen=True)
class Credentials:
    """A user of the embedded server; the password stays out of reprs."""

    username: str
    password: str = field(repr=False)

    def uri(self, host: str, port: int) -> str:
        return (
            f"mongodb://{quote_plus(self.username)}:{quote_plus(self.password)}@{host}:{port}/"
            f"?directConnection=true&authSource={AUTH_DATABASE}"
        )


def generate_credentials() -> Credentials:
    return Credentials(USERNAME, secrets.token_urlsafe(PASSWORD_BYTES))


def read_credentials(path: Path) -> Credentials | None:
    """The credentials kept at `path`, or None when there are none yet."""
    try:
        fields = json.loads(path.read_text())
        username, password = fields["username"], fields["password"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        # Never echo the content: it is the password.
        raise CredentialsError(
            f"The embedded database's credentials file {path} is unreadable "
            f"({type(error).__name__}); remove it to provision a new login."
        ) from None
    if not isinstance(username, str) or not isinstance(password, str) or not password:
        raise CredentialsError(
            f"The embedded database's credentials file {path} is malformed; remove it to "
            "provision a new login."
        )
    return Credentials(username, password)


def write_credentials(path: Path, credentials: Credentials) -> None:
    """Keep `credentials` at `path`: created 0600 (never readable by others, even briefly) and
    moved into place whole, so a reader finds the old file, the new one, or none."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    # O_EXCL: never reuse a file someone else created, with whatever mode it has.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump({"username": credentials.username, "password": credentials.password}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
