"""The `cardiofed` command: one entry point whose subcommands are grouped by who uses them.

The coordinator's (server/) and the hospital's (client/) packages must not import each other, so neither
can own the root. Each package declares its command groups as `cardiofed.commands` entry points in
pyproject.toml, and this root loads them by name: the packages meet only here, through their metadata.
Every handler only parses arguments and calls a library function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

#: The entry-point group in pyproject.toml that lists each package's command groups.
ENTRY_POINT_GROUP = "cardiofed.commands"
#: The order groups appear in `cardiofed --help`; each name is an entry point of ENTRY_POINT_GROUP.
COMMAND_GROUPS: tuple[str, ...] = (
    "data",
    "models",
    "coordinator",
    "report",
    "deployment",
    "explain",
    "hospital",
)

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
    declared = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    missing = [name for name in COMMAND_GROUPS if name not in declared]
    if missing:
        raise RuntimeError(
            f"cardiofed's command groups {', '.join(missing)} are not installed: run `make install`"
        )
    for name in COMMAND_GROUPS:
        declared[name].load()(subparsers)
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
