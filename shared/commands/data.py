"""`cardiofed data check` and `cardiofed synth`: what a hospital's ECG folder holds, and demo hospitals."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the data subcommands to the root parser."""
