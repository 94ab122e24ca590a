"""`cardiofed models list`: the model zoo at a glance."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the models subcommands to the root parser."""
