"""The prompting package: what callers import, and modules that never import back."""

from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import service.api.prompting
from tests.support.imports import imported_modules

PACKAGE = "service.api.prompting"


def package_imports() -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package (or the package) it imports."""
    folder = Path(service.api.prompting.__file__).parent
    names = {path.stem: PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"
             for path in folder.glob("*.py")}
    return {
        names[path.stem]: imported_modules(path) & set(names.values())
        for path in folder.glob("*.py")
    }


def test_callers_find_what_they_use_in_the_package():
    for name in (
        "api_send_prompt", "cancel_prompts", "create_batch", "get_batch", "wait_for_batch",
        "run_prompt_task", "recover_unfinished", "Runtime", "PromptResult",
    ):
        assert name in service.api.prompting.__all__
        assert getattr(service.api.prompting, name) is not None


def test_no_module_imports_the_package_or_one_that_imports_it():
    graph = package_imports()
    assert {module for module, imports in graph.items() if PACKAGE in imports} == set()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {error.args[1]}") from error
    # The raw writes depend on nothing else of the package.
    assert graph[f"{PACKAGE}.transitions"] == set()
    assert order[-1] == PACKAGE
