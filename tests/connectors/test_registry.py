"""The connector registry: every module of service/connectors that defines a connector is one."""

import pkgutil

import service.connectors as connectors
from service.connectors import CONNECTORS, Connector, connector_class, connector_types
from service.connectors.echo import EchoConnector
from service.connectors.fixed_answer import FixedAnswerConnector
from service.connectors.openai_connector import OpenAIConnector


def test_moonshot_and_offline_types_are_registered():
    assert connector_types() == ["echo", "fixed-answer", "openai-connector"]
    assert connector_class("openai-connector") is OpenAIConnector
    assert connector_class("echo") is EchoConnector
    assert connector_class("fixed-answer") is FixedAnswerConnector
    assert connector_class("no-such-connector") is None


def test_each_connector_module_contributes_its_class():
    # `base` holds the interface and `network` where connectors may connect: no connector.
    support = {"base", "network"}
    modules = {module.name for module in pkgutil.iter_modules(connectors.__path__)} - support
    defined_in = {cls.__module__.rsplit(".", 1)[1] for cls in CONNECTORS.values()}
    assert defined_in == modules
    assert all(issubclass(cls, Connector) for cls in CONNECTORS.values())
