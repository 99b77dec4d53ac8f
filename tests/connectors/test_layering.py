"""Connectors know nothing of storage or HTTP: they import neither `models` nor the service."""

from pathlib import Path

import service.connectors
from tests.support.imports import reached

FORBIDDEN = ("models", "beanie", "service.api", "service.http", "service.workers", "litestar")


def test_no_connector_module_imports_storage_or_the_domain():
    assert reached(Path(service.connectors.__file__).parent, FORBIDDEN) == set()
