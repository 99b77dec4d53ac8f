"""What the modules of a package import, read from their source (nothing is imported)."""

import ast
from pathlib import Path


def imported_modules(path: Path) -> set[str]:
    """Absolute module names `path` imports (`from a.b import c` gives `a.b` and `a.b.c`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, packages: tuple[str, ...]) -> bool:
    """Whether module `name` is one of `packages` or inside one."""
    return any(name == package or name.startswith(f"{package}.") for package in packages)


def reached(package_dir: Path, forbidden: tuple[str, ...]) -> set[tuple[str, str]]:
    """(file, module) for every import of a module in `forbidden` by a file of the package."""
    return {
        (path.name, name)
        for path in sorted(package_dir.glob("*.py"))
        for name in imported_modules(path)
        if within(name, forbidden)
    }
