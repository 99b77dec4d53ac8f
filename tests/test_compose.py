"""docker-compose.yml can't be run here (no Docker engine), so its wiring is checked instead."""

from pathlib import Path

import pytest
import yaml

from service.settings import Settings

COMPOSE = yaml.safe_load((Path(__file__).parents[1] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SPARRING_SERVICES = [
    name for name, spec in SERVICES.items() if str(spec.get("image", "")).startswith("sparring")
]


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


@pytest.mark.parametrize("service", SPARRING_SERVICES)
def test_every_sparring_variable_is_a_real_setting(service):
    variables = [name for name in environment_of(SERVICES[service]) if name.startswith("SPARRING_")]
    assert variables, f"{service} sets no SPARRING_ variables"
    unknown = [
        name
        for name in variables
        if name.removeprefix("SPARRING_").lower() not in Settings.model_fields
    ]
    assert unknown == []


@pytest.mark.parametrize("service", SPARRING_SERVICES)
def test_the_settings_it_sets_are_valid(service, monkeypatch):
    for name, value in environment_of(SERVICES[service]).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.mongodb_uri is not None
    assert "replicaSet=rs0" in settings.mongodb_uri.get_secret_value()


@pytest.mark.parametrize("service", SPARRING_SERVICES)
def test_it_waits_for_a_healthy_mongodb(service):
    assert SERVICES[service]["depends_on"]["mongo"] == {"condition": "service_healthy"}


def test_mongodb_is_a_health_checked_single_node_replica_set():
    mongo = SERVICES["mongo"]
    assert mongo["image"].startswith("mongo:7")
    assert "--replSet" in mongo["command"]
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check and "isWritablePrimary" in check


def test_the_api_publishes_its_port_on_loopback_only():
    assert SERVICES["api"]["ports"] == ["127.0.0.1:8000:8000"]


@pytest.mark.parametrize("service", SPARRING_SERVICES)
def test_it_logs_json_lines(service, monkeypatch):
    for name, value in environment_of(SERVICES[service]).items():
        monkeypatch.setenv(name, value)
    assert Settings().log_format == "json"
