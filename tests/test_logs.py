"""Log lines: text or JSON, each with its request id, and no secret in any field of either."""

import logging
from datetime import UTC, datetime

import pytest

from service.request_context import request_id_set
from service.settings import Settings
from tests.support.logs import captured_logs, json_lines

KEY = "spk_0123456789ab_SecretPartOfTheKey-_x"
SECRETS = (
    "SecretPartOfTheKey", "tok-Bearer-9", "pa55word", "sk-live-1", "tok-field-2", "Mongo-Pw-3",
)
log = logging.getLogger("service.test_logs")


def json_settings(level: str = "DEBUG") -> Settings:
    return Settings(log_level=level, log_format="json")


def log_every_secret() -> None:
    log.warning("key %s in a header: Authorization: Bearer %s", KEY, "tok-Bearer-9")
    log.warning("calling %s", "http://user:pa55word@models.example:8080/v1")
    log.warning("options %s", {"api_key": "sk-live-1", "token": "tok-field-2"})
    try:
        raise ValueError(
            f"bad uri https://pa55word@models.example/ with {KEY} after "
            "mongodb://sparring:Mongo-Pw-3@db.example:27017/?replicaSet=rs0"
        )
    except ValueError:
        log.exception("failed with %s", KEY)


class TestJsonLines:
    def test_each_record_is_one_json_object_with_time_level_logger_and_message(self):
        with captured_logs(json_settings()) as buffer:
            log.info("Hello %s", "there")
            log.debug("Second line")
        first, second = json_lines(buffer.getvalue())
        assert first["level"] == "INFO" and second["level"] == "DEBUG"
        assert first["logger"] == "service.test_logs"
        assert first["message"] == "Hello there"
        stamp = datetime.fromisoformat(first["time"])
        assert first["time"].endswith("Z") and stamp.utcoffset() == UTC.utcoffset(None)
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
        # Outside a request there is no id to give, and no empty field for one.
        assert "request_id" not in first and "exc_info" not in first

    def test_a_line_logged_for_a_request_carries_its_id(self):
        with captured_logs(json_settings()) as buffer:
            with request_id_set("req-42.a_b"):
                log.info("inside")
            log.info("outside")
        inside, outside = json_lines(buffer.getvalue())
        assert inside["request_id"] == "req-42.a_b"
        assert "request_id" not in outside

    def test_the_traceback_is_its_own_field_and_stays_on_the_line(self):
        with captured_logs(json_settings()) as buffer:
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                log.exception("it failed")
        (line,) = json_lines(buffer.getvalue())
        assert line["message"] == "it failed"
        assert line["exc_info"].startswith("Traceback (most recent call last):")
        assert "RuntimeError: boom" in line["exc_info"]

    def test_a_message_cannot_forge_a_second_line(self):
        forged = '\n{"level": "ERROR", "message": "forged", "request_id": "someone-else"}'
        with captured_logs(json_settings()) as buffer:
            log.info("user said %s", forged)
        (line,) = json_lines(buffer.getvalue())
        assert line["message"] == f"user said {forged}"
        assert line["level"] == "INFO" and "request_id" not in line

    @pytest.mark.parametrize("level", ["DEBUG", "INFO"])
    def test_no_secret_in_any_field(self, level):
        with captured_logs(json_settings(level)) as buffer, request_id_set("req-secrets"):
            log_every_secret()
            log.warning("where from", stack_info=True)  # token=tok-field-2
        output = buffer.getvalue()
        lines = json_lines(output)
        assert len(lines) == 5
        for secret in SECRETS:
            assert secret not in output
        assert "spk_0123456789ab_***" in lines[0]["message"]
        assert "Authorization: ***" in lines[0]["message"]
        assert lines[1]["message"] == "calling http://***@models.example:8080/v1"
        assert "ValueError: bad uri https://***@models.example/" in lines[3]["exc_info"]
        assert "mongodb://***@db.example:27017/" in lines[3]["exc_info"]
        assert "token=***" in lines[4]["stack_info"]
        assert {line["request_id"] for line in lines} == {"req-secrets"}


class TestTextLines:
    def test_the_request_id_follows_the_level(self):
        with captured_logs(Settings(log_level="INFO")) as buffer:
            with request_id_set("req-7"):
                log.info("inside")
            log.info("outside")
        inside, outside = buffer.getvalue().splitlines()
        assert inside.endswith(" INFO [req-7] service.test_logs: inside")
        assert outside.endswith(" INFO service.test_logs: outside")

    def test_no_secret_in_text_either(self):
        with captured_logs(Settings(log_level="DEBUG")) as buffer:
            log_every_secret()
        output = buffer.getvalue()
        for secret in SECRETS:
            assert secret not in output
        assert "Traceback (most recent call last):" in output
