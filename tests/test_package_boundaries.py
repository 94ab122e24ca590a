"""The coordinator's package (server/) and the hospital's (client/) never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, however it spells the import (relative imports stay inside)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    return imported


@pytest.mark.parametrize(("package", "forbidden"), [("server", "client"), ("client", "server")])
def test_package_does_not_import_the_other_side(package: str, forbidden: str) -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / package).rglob("*.py"))
        if forbidden in _imported_packages(path)
    ]
    assert not offenders, f"{package}/ imports {forbidden}/ in {offenders}"


def test_shared_imports_neither_side() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "shared").rglob("*.py"))
        if _imported_packages(path) & {"server", "client"}
    ]
    assert not offenders, f"shared/ imports a side's package in {offenders}"
