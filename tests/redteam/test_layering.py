"""The red-teaming pieces are handed what they need: they import nothing of the domain."""

from pathlib import Path

import service.redteam
from tests.support.imports import reached

# The domain, transport, workers and the database: what `service/redteam` must not reach into.
FORBIDDEN = ("service.api", "service.http", "service.workers", "service.database", "beanie")


def test_no_redteam_module_imports_the_domain():
    assert reached(Path(service.redteam.__file__).parent, FORBIDDEN) == set()
