"""Test support: the pyproject.toml of a small Flower app that a test writes itself."""

from __future__ import annotations


def app_pyproject(name: str, publisher: str, serverapp: str, clientapp: str, config: str = "") -> str:
    """A Flower app's pyproject.toml; `config` is the body of its `[tool.flwr.app.config]` table, if any."""
    text = f"""\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "1.0.0"

[tool.flwr.app]
publisher = "{publisher}"

[tool.flwr.app.components]
serverapp = "{serverapp}"
clientapp = "{clientapp}"
"""
    return text + (f"\n[tool.flwr.app.config]\n{config}" if config else "")
