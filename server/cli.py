"""The `cardiofed` command: one entry point whose subcommands are grouped by who uses them.

The coordinator's package owns the root because it is the one side that already knows both others;
each group registers its own subcommands, and every handler only parses arguments and calls a library
function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from client import commands as explain_commands
from client import hospital_commands
from server import commands as coordinator_commands
from server import deployment_commands, report_commands
from shared.commands import data as data_commands
from shared.commands import models as model_commands

_EPILOG = """\
who uses what:
  hospital      data check, explain, hospital join, hospital privacy
  coordinator   run, report, coordinator start|register|nodes|submit
  anyone        synth, models list, demo
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and for generating the README's command list)."""
    parser = argparse.ArgumentParser(
        prog="cardiofed",
        description="Federated 12-lead ECG training with leave-one-hospital-out evaluation.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups = (
        data_commands,
        model_commands,
        coordinator_commands,
        report_commands,
        deployment_commands,
        explain_commands,
        hospital_commands,
    )
    for group in groups:
        group.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
