"""Settings come from SPARRING_* variables, default to the embedded setup, and hide secrets."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_defaults_run_the_embedded_setup(monkeypatch):
    for name in ("SPARRING_MONGODB_URI", "SPARRING_HOST", "SPARRING_PORT", "SPARRING_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.mongodb_uri is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.data_dir == Path("data")
    assert settings.bucket_size == 20


def test_reads_prefixed_variables(monkeypatch):
    monkeypatch.setenv("SPARRING_MONGODB_URI", "mongodb://user:hunter2@db.example:27017")
    monkeypatch.setenv("SPARRING_PORT", "9001")
    monkeypatch.setenv("SPARRING_BUCKET_SIZE", "250")
    settings = Settings()
    assert settings.port == 9001
    assert settings.bucket_size == 250
    assert settings.mongodb_uri.get_secret_value().endswith("@db.example:27017")


def test_the_uri_never_shows_in_reprs(monkeypatch):
    monkeypatch.setenv("SPARRING_MONGODB_URI", "mongodb://user:hunter2@db.example:27017")
    settings = Settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SPARRING_PORT", "70000"), ("SPARRING_BUCKET_SIZE", "0"), ("SPARRING_LOG_LEVEL", "LOUD"),
     ("SPARRING_SHUTDOWN_GRACE_S", "0"), ("SPARRING_SHUTDOWN_GRACE_S", "soon"),
     ("SPARRING_TASK_REQUEUE_AFTER_S", "-1")],
)
def test_bad_values_name_the_setting(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert variable.removeprefix("SPARRING_").lower() in str(raised.value)


def test_address_and_origin_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("SPARRING_FORWARDED_ALLOW_IPS", "10.0.0.1, 192.168.0.0/16")
    monkeypatch.setenv("SPARRING_ALLOWED_HOSTS", "sparring.test,box:8000")
    monkeypatch.setenv("SPARRING_CORS_ORIGINS", "http://app.example")
    settings = Settings()
    assert settings.forwarded_allow_ips == ["10.0.0.1", "192.168.0.0/16"]
    assert settings.allowed_hosts == ["sparring.test", "box:8000"]
    assert settings.cors_origins == ["http://app.example"]


def test_nothing_is_forwarded_allowed_or_cross_origin_by_default(monkeypatch):
    for name in ("FORWARDED_ALLOW_IPS", "ALLOWED_HOSTS", "CORS_ORIGINS"):
        monkeypatch.delenv(f"SPARRING_{name}", raising=False)
    settings = Settings()
    assert (settings.forwarded_allow_ips, settings.allowed_hosts, settings.cors_origins) == (
        [], [], []
    )


def test_a_proxy_must_be_an_address_or_network(monkeypatch):
    monkeypatch.setenv("SPARRING_FORWARDED_ALLOW_IPS", "proxy.example")
    with pytest.raises(ValidationError, match="forwarded_allow_ips"):
        Settings()


def test_the_embedded_cache_is_small_and_commits_are_fsynced_by_default(monkeypatch):
    for name in ("EMBEDDED_CACHE_SIZE", "EMBEDDED_SYNC_ON_COMMIT"):
        monkeypatch.delenv(f"SPARRING_{name}", raising=False)
    settings = Settings()
    assert (settings.embedded_cache_size, settings.embedded_sync_on_commit) == ("256M", True)
    monkeypatch.setenv("SPARRING_EMBEDDED_CACHE_SIZE", "2g")
    monkeypatch.setenv("SPARRING_EMBEDDED_SYNC_ON_COMMIT", "false")
    settings = Settings()
    assert (settings.embedded_cache_size, settings.embedded_sync_on_commit) == ("2G", False)


@pytest.mark.parametrize("value", ["lots", "256", "256MB", "1.5G", "-1G", "0M", "512K", ""])
def test_an_embedded_cache_size_needs_a_whole_number_and_unit(monkeypatch, value):
    monkeypatch.setenv("SPARRING_EMBEDDED_CACHE_SIZE", value)
    with pytest.raises(ValidationError, match="SPARRING_EMBEDDED_CACHE_SIZE must be a whole"):
        Settings()


def test_shutdown_and_requeue_wait_half_a_minute_by_default(monkeypatch):
    for name in ("SPARRING_SHUTDOWN_GRACE_S", "SPARRING_TASK_REQUEUE_AFTER_S"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.shutdown_grace_s, settings.task_requeue_after_s) == (30.0, 30.0)


def test_metrics_are_for_loopback_and_no_worker_port_by_default(monkeypatch):
    for name in ("METRICS_ALLOW", "WORKER_METRICS_PORT"):
        monkeypatch.delenv(f"SPARRING_{name}", raising=False)
    settings = Settings()
    assert (settings.metrics_allow, settings.worker_metrics_port) == (
        ["127.0.0.1/8", "::1"], None
    )


def test_metrics_allow_is_a_comma_separated_list_of_networks(monkeypatch):
    monkeypatch.setenv("SPARRING_METRICS_ALLOW", "10.0.0.0/8, 192.0.2.7")
    monkeypatch.setenv("SPARRING_WORKER_METRICS_PORT", "9101")
    settings = Settings()
    assert (settings.metrics_allow, settings.worker_metrics_port) == (
        ["10.0.0.0/8", "192.0.2.7"], 9101
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SPARRING_METRICS_ALLOW", "prometheus.internal"), ("SPARRING_WORKER_METRICS_PORT", "70000")],
)
def test_bad_metrics_settings_name_the_setting(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("SPARRING_").lower()):
        Settings()


def test_logs_are_text_unless_json_is_asked(monkeypatch):
    monkeypatch.delenv("SPARRING_LOG_FORMAT", raising=False)
    assert Settings().log_format == "text"
    monkeypatch.setenv("SPARRING_LOG_FORMAT", "json")
    assert Settings().log_format == "json"


def test_an_unknown_log_format_names_the_setting(monkeypatch):
    monkeypatch.setenv("SPARRING_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()


def test_imports_take_up_to_a_gibibyte_unless_set(monkeypatch):
    monkeypatch.delenv("SPARRING_IMPORT_MAX_BYTES", raising=False)
    assert Settings().import_max_bytes == 1024**3
    monkeypatch.setenv("SPARRING_IMPORT_MAX_BYTES", "5000000")
    assert Settings().import_max_bytes == 5_000_000
    monkeypatch.setenv("SPARRING_IMPORT_MAX_BYTES", "12")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "import_max_bytes" in str(raised.value)
