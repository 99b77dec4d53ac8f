"""Service settings: the only place that reads the environment."""

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]
AuthMode = Literal["local", "required"]
CACHE_SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}
# A list given as one comma-separated variable (split by `_split_comma_separated`).
CommaSeparated = Annotated[list[str], NoDecode]
LOCAL_AUTH_ON_PUBLIC_BIND = (
    "SPARRING_AUTH=local lets every key-less request act as the owner of workspace 'default', "
    "so it is only allowed when the server binds to a loopback address, and SPARRING_HOST is "
    "{host!r}. Bind to 127.0.0.1, or set SPARRING_AUTH=required and use API keys "
    "(sparring admin create-key)."
)


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    log_format: LogFormat = Field(
        default="text",
        description="`text`: one readable line per record; `json`: one JSON object per line.",
    )
    # 20, measured (bench/README.md, "Appends"): a `$push` costs in proportion to the bucket it
    # lands in, so 100 made appends 1.8x slower; 10 made full reads 1.8x slower.
    bucket_size: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Chat records per bucket document; fixed for the life of a database.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body accepted."
    )
    import_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1024,
        description=(
            "Largest session export accepted by POST /api/v1/sessions/import (read as a "
            "stream, so it is not held in memory); instead of SPARRING_MAX_BODY_BYTES there."
        ),
    )
    embedded_start_timeout_s: float = Field(
        default=60.0, gt=0, description="How long to wait for the embedded server to answer."
    )
    db_wait_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description=(
            "How long a database call waits for an unreachable database (server selection and "
            "connect timeout) before it fails (HTTP: 503 with Retry-After)."
        ),
    )
    embedded_cache_size: str = Field(
        default="256M",
        description="The embedded server's cache (WiredTiger): a size like 256M, 1G or 2048K.",
    )
    embedded_sync_on_commit: bool = Field(
        # On by default: without it SecantusDB (0.7.0b3) loses the last ~30 ms of acknowledged
        # writes when its process is killed (measured), which its supervisor then restarts.
        default=True,
        description=(
            "Make the embedded server flush its journal to disk (fsync) on every commit: no "
            "acknowledged commit lost when its process is killed or the machine fails, at some "
            "cost in write throughput. false trades that safety for speed."
        ),
    )
    # A Redis URL may carry a password, like the MongoDB URI.
    redis_url: SecretStr | None = Field(
        default=None,
        description=(
            "Redis for the task queue and the endpoint limits; unset runs prompts in-process."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key endpoint tokens are encrypted with at rest and API keys are hashed with; unset: "
            "one is generated once and kept in the data dir. Every process of a deployment needs "
            "the same."
        ),
    )
    prompt_wait_s: float = Field(
        default=60.0,
        ge=0,
        description="How long POST .../prompt waits for the answers before answering 202.",
    )
    worker_idle_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "A prompt task a Redis worker took and has not acknowledged for this long is given "
            "to another worker (its worker died); longer than the slowest endpoint call."
        ),
    )
    worker_max_tasks: int = Field(
        default=100, ge=1, description="Prompt tasks one worker process runs at once."
    )
    max_queued_tasks_per_workspace: int = Field(
        default=5000,
        ge=1,
        description=(
            "Unfinished prompt tasks (one per endpoint of each prompt) a workspace may have; a "
            "prompt that would pass it is refused with 429 and Retry-After, nothing stored."
        ),
    )
    task_queue: str = Field(
        default="sparring-prompts", min_length=1, description="Redis stream of prompt tasks."
    )
    task_requeue_after_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "A prompt task stored this long ago, unfinished and with no entry in Redis (Redis "
            "was down when it was sent, or restarted without its data) is queued again by the "
            "workers, which look every half of this."
        ),
    )
    shutdown_grace_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "On SIGTERM, how long `sparring serve` and `sparring worker` let running prompt "
            "tasks finish; what is still running then is handed back (queued again) and the "
            "process exits within this."
        ),
    )
    auth: AuthMode | None = Field(
        default=None,
        description=(
            "`required`: every request needs an API key; `local`: a key-less request acts as the "
            "owner of workspace 'default' (loopback binds only). Unset: `local` on a loopback "
            "bind, else `required`."
        ),
    )
    trusted_clients: CommaSeparated = Field(
        default_factory=list,
        description=(
            "Client addresses or networks (comma-separated) whose key-less requests act as "
            "`trusted_user` in `required` mode."
        ),
    )
    trusted_user: str | None = Field(
        default=None, description="The user key-less requests from `trusted_clients` act as."
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        description=(
            "Requests one API key (or, without a key, one client address) may make in any 60 "
            "seconds."
        ),
    )
    max_streams_per_key: int = Field(
        default=20,
        ge=1,
        description=(
            "Live event streams one API key (or, without a key, one user) may hold open at once, "
            "per server process; beyond it 429."
        ),
    )
    max_streams_per_workspace: int = Field(
        default=100,
        ge=1,
        description=(
            "Live event streams one workspace may hold open at once, per server process; "
            "beyond it 429."
        ),
    )
    forwarded_allow_ips: CommaSeparated = Field(
        default_factory=list,
        description=(
            "Proxy addresses or networks (comma-separated) whose X-Forwarded-For header is "
            "believed; from any other peer it is ignored. Default: none."
        ),
    )
    allowed_hosts: CommaSeparated = Field(
        default_factory=list,
        description=(
            "Host header values (comma-separated, port optional) served in `local` mode besides "
            "localhost, 127.0.0.1 and [::1]."
        ),
    )
    cors_origins: CommaSeparated = Field(
        default_factory=list,
        description="Origins (comma-separated) browsers may call the API from; default: none.",
    )
    url: str | None = Field(
        default=None,
        description=(
            "Base URL of a Sparring server for `service.client.Client.from_env()` and "
            "`sparring export`/`import`; unset: those commands use the local database."
        ),
    )
    # Read by the client and the export/import commands; kept out of reprs and logs.
    api_key: SecretStr | None = Field(
        default=None, description="API key the client sends to SPARRING_URL."
    )
    # A webhook URL may carry a token (user info, query), so it is kept out of reprs and logs.
    ui_art_callback_url: SecretStr | None = Field(
        default=None,
        description=(
            "Moonshot web UI's red-teaming webhook (its default: "
            "http://localhost:3000/api/v1/redteaming/status): a prompt to a session with an "
            "attack module posts its progress there. Unset: no webhook."
        ),
    )
    endpoint_allow_networks: CommaSeparated = Field(
        default_factory=list,
        description=(
            "Networks (comma-separated) endpoints may reach in `required` mode although they are "
            "loopback, link-local, private or otherwise not public; `local` mode reaches them all."
        ),
    )

    metrics_allow: CommaSeparated = Field(
        default_factory=lambda: ["127.0.0.1/8", "::1"],
        description=(
            "Client addresses or networks (comma-separated) that may read `GET /metrics`, "
            "without a key; every other client gets 404. Default: loopback."
        ),
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description=(
            "Port on which `sparring worker` serves its own `/metrics` (on SPARRING_HOST); "
            "unset: none."
        ),
    )

    # Fair share: what one request may store or cost (service.api.limits reads these).
    max_endpoints_per_session: int = Field(
        default=50, ge=1, description="Endpoints one session may have (HTTP), and so tasks one "
        "prompt may create (both faces)."
    )
    max_system_prompt_chars: int = Field(
        default=100_000, ge=1, description="Longest `system_prompt` accepted over HTTP."
    )
    # The template sandbox's own ceiling (service.redteam.templates) is 20,000: a longer
    # template costs the sandbox too much to compile, whatever this says.
    max_template_chars: int = Field(
        default=20_000, ge=1, le=20_000,
        description="Longest prompt template source accepted over HTTP (at most 20,000).",
    )
    max_prev_prompts: int = Field(
        default=100, ge=0, description="Largest `cs_num_of_prev_prompts` accepted over HTTP."
    )
    max_context_chars: int = Field(
        default=100_000, ge=0, description="Characters a context strategy may add in front of "
        "a prompt; the oldest previous prompts are left out first."
    )
    max_prompt_answer_chars: int = Field(
        default=10_000_000, ge=1, description="Largest prompt answer a `POST .../prompt` may "
        "cost: endpoints x (prompt + prepared prompt + system prompt), refused beyond."
    )

    @field_validator(
        "trusted_clients", "forwarded_allow_ips", "allowed_hosts", "cors_origins",
        "endpoint_allow_networks", "metrics_allow", mode="before",
    )
    @classmethod
    def _split_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "trusted_clients", "forwarded_allow_ips", "endpoint_allow_networks", "metrics_allow"
    )
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("embedded_cache_size")
    @classmethod
    def _check_cache_size(cls, value: str) -> str:
        size = value.strip().upper()
        match = re.fullmatch(r"([0-9]+)([KMG])", size)
        # WiredTiger's smallest cache is 1 MB.
        if match is None or int(match[1]) * CACHE_SIZE_UNITS[match[2]] < 1024 * 1024:
            raise ValueError(
                "SPARRING_EMBEDDED_CACHE_SIZE must be a whole number with K, M or G (like 256M "
                "or 1G), at least 1M."
            )
        return size

    @model_validator(mode="after")
    def _resolve_auth(self) -> "Settings":
        if self.auth is None:
            self.auth = "local" if is_loopback(self.host) else "required"
        elif self.auth == "local" and not is_loopback(self.host):
            raise ValueError(LOCAL_AUTH_ON_PUBLIC_BIND.format(host=self.host))
        if self.trusted_clients and not self.trusted_user:
            raise ValueError("SPARRING_TRUSTED_CLIENTS needs SPARRING_TRUSTED_USER to act as.")
        return self
