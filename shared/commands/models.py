"""`cardiofed models list`: the model zoo at a glance."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the models subcommands to the root parser."""
    models_parser = subparsers.add_parser("models", help="the model architectures hospitals can train")
    models_subparsers = models_parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    list_parser = models_subparsers.add_parser(
        "list", help="name, parameter count (task mi, age and sex), expected input, DP variant"
    )
    list_parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of a table"
    )
    list_parser.set_defaults(handler=list_models)

    def show_models_help(_: argparse.Namespace) -> int:
        models_parser.print_help()
        return 2

    models_parser.set_defaults(handler=show_models_help)


def list_models(args: argparse.Namespace) -> int:
    """Print every registered model as a table, or as JSON with `--json`."""
    from shared.models import describe_models  # imported here: building models loads torch and opacus

    rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="cardiofed models")
    table.add_column("name", no_wrap=True)
    table.add_column("parameters", justify="right")
    table.add_column("expected input")
    table.add_column("DP variant (Opacus mode)", no_wrap=True)
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['parameters']:,}",
            row["expected_input"],
            f"yes ({row['opacus_grad_sample_mode']})" if row["dp_variant"] else "no",
        )
    console = Console()
    console.print(table)
    console.print(f"{len(rows)} models; parameters counted for task mi with 2 clinical features (age, sex)")
    return 0
