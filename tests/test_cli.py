"""The `sparring` command: its parser, what it logs, and `sparring serve` really serving."""

import io
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from pymongo import MongoClient

from service.cli import build_parser, describe_database, load_settings, run_serve, server_options
from service.embedded import free_loopback_port
from service.embedded_credentials import CREDENTIALS_NAME, read_credentials
from service.logs import CHATTY_LOGGERS, SERVER_LOGGERS, configure_logging
from service.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[1]
READY_DEADLINE_S = 90.0
STOP_DEADLINE_S = 30.0
# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught.
STOPPED_CLEANLY = (0, -signal.SIGTERM)


class TestParser:
    def test_serve_with_overrides(self):
        args = build_parser().parse_args(["serve", "--host", "127.0.0.2", "--port", "9001"])
        assert (args.command, args.host, args.port) == ("serve", "127.0.0.2", 9001)
        assert args.handler is run_serve

    def test_serve_defaults_come_from_settings(self):
        args = build_parser().parse_args(["serve"])
        assert (args.host, args.port) == (None, None)

    @pytest.mark.parametrize("argv", [[], ["nonsense"], ["serve", "--port", "eighty"]])
    def test_bad_command_lines_exit_with_usage(self, argv, capsys):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        assert exit_info.value.code == 2
        assert "usage: sparring" in capsys.readouterr().err


class TestWiring:
    def test_every_subcommand_is_registered_in_one_place(self):
        from service.cli import SUBCOMMANDS

        commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
        assert set(commands) == {
            "serve", "admin", "worker", "import-moonshot", "export", "import",
        }
        assert len(SUBCOMMANDS) == len(commands)

    def test_subcommand_modules_do_not_import_the_command(self):
        # They share settings and logging through service.cli_support and service.logs: no
        # import cycle through service.cli.
        code = (
            "import sys, service.admin_cli, service.workers.cli, service.moonshot_import.cli, "
            "service.cli_support; "
            "sys.exit('service.cli' in sys.modules)"
        )
        completed = subprocess.run(
            [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True
        )
        assert completed.returncode == 0, completed.stderr

    def test_the_shared_pieces_are_still_importable_from_the_command(self):
        from service import cli, cli_support, logs

        assert cli.load_settings is cli_support.load_settings
        assert cli.configure_logging is logs.configure_logging


class TestLoadSettings:
    def test_command_line_overrides_win(self):
        settings = load_settings(host="127.0.0.3", port=8123)
        assert (settings.host, settings.port) == ("127.0.0.3", 8123)

    def test_invalid_settings_exit_naming_the_setting(self):
        with pytest.raises(SystemExit) as exit_info:
            load_settings(port=70000)
        message = str(exit_info.value.code)
        assert message.startswith("sparring: invalid settings:")
        assert "port" in message


class TestDescribeDatabase:
    def test_a_uri_is_shown_without_credentials_or_options(self):
        settings = Settings(
            mongodb_uri=SecretStr(
                "mongodb://admin:s3cret@db1:27017,db2:27017/"
                "?replicaSet=rs0&tlsCertificateKeyFilePassword=p4ss"
            ),
            database="prod",
        )
        described = describe_database(settings)
        assert described == "MongoDB at mongodb://db1:27017,db2:27017, database 'prod'"
        assert "s3cret" not in described and "p4ss" not in described

    def test_the_embedded_default_names_its_data_dir(self, tmp_path):
        described = describe_database(Settings(data_dir=tmp_path / "here"))
        assert described.startswith("the embedded database (SecantusDB)")
        assert str(tmp_path / "here" / "db") in described


class TestServerOptions:
    def test_uvicorn_believes_no_forwarded_header(self):
        options = server_options(Settings(host="127.0.0.1", port=8123))
        assert (options["proxy_headers"], options["forwarded_allow_ips"]) == (False, "")
        assert (options["host"], options["port"], options["log_config"]) == (
            "127.0.0.1", 8123, None
        )
        assert options["access_log"] is True


class TestLogging:
    KEY = "spk_0123456789ab_SecretPartOfTheKey-_x"

    @pytest.fixture
    def logged(self) -> Iterator[Callable[[str], str]]:
        """Configure logging at a level; returns what was logged so far."""
        names = ("", *CHATTY_LOGGERS, *SERVER_LOGGERS)
        saved = [
            (logger, logger.handlers[:], logger.level, logger.propagate)
            for logger in (logging.getLogger(name) for name in names)
        ]
        buffer = io.StringIO()

        def configure(level: str) -> str:
            configure_logging(Settings(log_level=level), stream=buffer)
            return buffer

        yield configure
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate

    @pytest.mark.parametrize("level", ["DEBUG", "INFO"])
    def test_secrets_are_masked_in_messages_arguments_and_tracebacks(self, logged, level):
        buffer = logged(level)
        log = logging.getLogger("service.test")
        log.warning("key %s in a header: Authorization: Bearer %s", self.KEY, "tok-123")
        log.warning("%s", "GET /api/v1/sessions/x/events?follow=false&access_token=abc HTTP/1.1")
        log.warning("calling %s", "http://user:pa55word@models.example:8080/v1")
        log.warning("options %s", {"api_key": "sk-live-1", "token": "tok-2"})
        try:
            raise ValueError(f"bad uri https://pa55word@models.example/ with {self.KEY}")
        except ValueError:
            log.exception("failed")
        output = buffer.getvalue()
        for secret in ("SecretPartOfTheKey", "tok-123", "access_token=abc", "pa55word",
                       "sk-live-1", "tok-2"):
            assert secret not in output
        assert "access_token=***" in output and "spk_0123456789ab_***" in output
        assert "Authorization: ***" in output and "http://***@models.example:8080/v1" in output
        assert "ValueError" in output

    def test_http_clients_are_quiet_unless_debug_is_asked(self, logged):
        buffer = logged("INFO")
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).info("HTTP Request: GET https://models.example/v1")
        assert buffer.getvalue() == ""
        logged("DEBUG")
        logging.getLogger("httpx").debug("HTTP Request: GET https://x:pw@models.example/v1")
        assert "HTTP Request: GET https://***@models.example/v1" in buffer.getvalue()


class Service:
    """`python -m service.cli serve` as a child process, on a free loopback port."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "SPARRING_HOST": "127.0.0.1", "SPARRING_PORT": str(self.port)}
        self.cwd = cwd
        self.log = cwd / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve"],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + READY_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                pytest.fail(f"sparring serve exited with {code}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            # A separate process gives no event to await; poll, within the deadline.
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"sparring serve was not ready in {READY_DEADLINE_S:.0f} s:\n{self.output()}")

    def stop(self) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        process.terminate()
        try:
            return process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"sparring serve did not stop on SIGTERM:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def service_env(**variables: str) -> dict[str, str]:
    # The child gets this process's environment without any SPARRING_* setting of its own.
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("SPARRING_")}
    # It runs in a temporary directory, and must import this checkout whether installed or not.
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY), inherited.get("PYTHONPATH")]))
    return {**inherited, "PYTHONPATH": python_path, **variables}


@pytest.fixture
def running() -> Iterator[list[Service]]:
    """Services a test started, stopped at its end whatever happens."""
    services: list[Service] = []
    yield services
    for service in services:
        service.stop()


def create_and_restart(service: Service) -> dict:
    endpoint = httpx.post(
        f"{service.url}/api/v1/llm-endpoints",
        json={"name": "echo-a", "connector_type": "echo"},
        timeout=30,
    )
    assert endpoint.status_code == 200, endpoint.text
    body = {"name": "Survivor", "description": "Outlives restarts.", "endpoints": ["echo-a"]}
    created = httpx.post(f"{service.url}/api/v1/sessions", json=body, timeout=30)
    assert created.status_code == 200, created.text
    assert service.stop() in STOPPED_CLEANLY
    assert service.output().count("Application shutdown complete.") == 1
    service.start()
    fetched = httpx.get(f"{service.url}/api/v1/sessions/survivor", timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == created.json()
    return fetched.json()


class TestServe:
    def test_serves_a_mongodb_uri_and_keeps_data_across_restarts(
        self, server_uri, tmp_path, running
    ):
        database = f"sparring_cli_{uuid.uuid4().hex[:8]}"
        service = Service(
            service_env(
                SPARRING_MONGODB_URI=server_uri,
                SPARRING_DATABASE=database,
                SPARRING_DATA_DIR=str(tmp_path / "data"),
            ),
            tmp_path,
        )
        running.append(service)
        try:
            service.start()
            health = httpx.get(f"{service.url}/health", timeout=10)
            assert health.json() == {"status": "ok"}
            assert httpx.get(f"{service.url}/schema/openapi.json", timeout=10).status_code == 200
            create_and_restart(service)
            names = httpx.get(f"{service.url}/api/v1/sessions/name", timeout=10).json()
            assert names == ["survivor"]
        finally:
            service.stop()
            with MongoClient(server_uri) as client:
                client.drop_database(database)
        output = service.output()
        # The address is named, its login (the test server has one) never.
        userinfo, _, address = server_uri.split("//")[1].split("/")[0].rpartition("@")
        assert f"Using MongoDB at mongodb://{address}" in output
        assert not userinfo or userinfo.partition(":")[2] not in output
        assert "embedded" not in output

    def test_the_embedded_default_starts_its_own_database_that_keeps_data(
        self, tmp_path, running
    ):
        data_dir = tmp_path / "data"
        service = Service(service_env(SPARRING_DATA_DIR=str(data_dir)), tmp_path)
        running.append(service)
        service.start()
        create_and_restart(service)
        assert service.stop() in STOPPED_CLEANLY
        output = service.output()
        assert "Using the embedded database (SecantusDB)" in output
        assert "Started the embedded database (SecantusDB) on 127.0.0.1:" in output
        assert "Stopped the embedded database." in output
        assert (data_dir / "db").is_dir()
        # It ran behind the login it provisioned, which no log line shows.
        credentials = read_credentials(data_dir / CREDENTIALS_NAME)
        assert credentials is not None and credentials.password not in output
