"""Service settings: the only place that reads the environment."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Everything the service and its workers can be told, read from `SPARRING_*` variables."""

    model_config = SettingsConfigDict(env_prefix="SPARRING_", extra="ignore")

    # A URI may carry a password, so it is kept out of reprs and logs.
    mongodb_uri: SecretStr | None = Field(
        default=None,
        description="MongoDB to use; unset starts the embedded SecantusDB server.",
    )
    database: str = Field(default="sparring", min_length=1, description="Database name.")
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the HTTP server binds to.")
    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded database keeps its files."
    )
    log_level: LogLevel = "INFO"
    bucket_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Chat records per bucket document; fixed for the life of a database.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body accepted."
    )
    embedded_start_timeout_s: float = Field(
        default=60.0, gt=0, description="How long to wait for the embedded server to answer."
    )
