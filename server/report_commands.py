"""Coordinator subcommand `cardiofed report RUN_DIR [--compare OTHER_RUN_DIR ...]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `cardiofed report`."""
    report = subparsers.add_parser(
        "report",
        help="[coordinator] write RUN_DIR/report.html and report.md from a finished run",
        description="Write the clinical evaluation report of a run (census, per-hospital metrics with 95%% "
        "CIs, ROC/PR curves, subgroups, calibration, privacy, lead importance, configuration) as one "
        "self-contained HTML file and as Markdown, from RUN_DIR/results.json only.",
    )
    report.add_argument("run_dir", type=Path, help="run folder holding results.json")
    report.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        default=[],
        metavar="OTHER_RUN_DIR",
        help="other run folders to put side by side (e.g. local-only, centralized, DP)",
    )
    report.add_argument(
        "--prevalence",
        type=float,
        help="common prevalence for adjusted PPV/NPV (default: that of all evaluated records)",
    )
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from server.report import write_report  # matplotlib loads only for the command that draws

    console = Console(stderr=True)
    try:
        paths = write_report(args.run_dir, args.compare, args.prevalence)
    except (FileNotFoundError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    console.print(f"report: {paths.html} (and {paths.markdown.name})")
    return 0
