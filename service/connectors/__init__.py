"""LLM connectors by type name. Adding one is adding a module here with a `Connector` subclass."""

import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from service.connectors.base import CallParams, Connector, ConnectorError, Target
from service.connectors.network import AddressNotAllowed, NetworkPolicy, guarded_http_client


def _discover() -> Mapping[str, type[Connector]]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found: dict[str, type[Connector]] = {}
    for connector in Connector.__subclasses__():
        if connector.connector_type in found:
            raise RuntimeError(f"Two connectors are named {connector.connector_type!r}.")
        found[connector.connector_type] = connector
    return MappingProxyType(found)


CONNECTORS = _discover()


def connector_types() -> list[str]:
    """The connector type names there are, sorted."""
    return sorted(CONNECTORS)


def connector_class(connector_type: str) -> type[Connector] | None:
    return CONNECTORS.get(connector_type)


def new_http_client(policy: NetworkPolicy) -> Any:
    """An HTTP client for connectors to share (one per process; the caller closes it).

    Making one costs an SSL context; sharing it keeps a fan-out to many endpoints as fast as
    one call, and reuses connections. It connects only to addresses `policy` allows.
    """
    return guarded_http_client(policy)


__all__ = [
    "CONNECTORS", "AddressNotAllowed", "CallParams", "Connector", "ConnectorError",
    "NetworkPolicy", "Target", "connector_class", "connector_types", "new_http_client",
]
