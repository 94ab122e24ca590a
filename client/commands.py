"""Hospital subcommand `cardiofed explain`: saliency for one of the hospital's own ECGs."""

from __future__ import annotations

import argparse

from rich.console import Console

from client.explain import METHODS, explain_record
from shared.data import DataError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `cardiofed explain`."""
    explain = subparsers.add_parser(
        "explain",
        help="[hospital] draw one of your ECGs with the model's attribution overlaid (PNG)",
        description="Attribute a trained model's prediction on one local record to its leads and samples "
        "(captum) and draw the 12 leads with the attribution overlaid. Runs at the hospital; "
        "nothing is sent anywhere.",
    )
    explain.add_argument("--data", required=True, help="the hospital's ECG folder")
    explain.add_argument("--record", required=True, help="record id (relative path or file name)")
    explain.add_argument("--model-checkpoint", required=True, help="model file, e.g. RUN_DIR/models/final.pt")
    explain.add_argument("--out", required=True, help="PNG to write")
    explain.add_argument("--task", help="task to explain (default: the model's first)")
    explain.add_argument("--label", help="label of the task (default: its first)")
    explain.add_argument("--method", choices=METHODS, default="integrated-gradients")
    explain.set_defaults(handler=_explain)


def _explain(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        explanation = explain_record(
            args.data,
            args.record,
            args.model_checkpoint,
            args.out,
            task=args.task,
            label=args.label,
            method=args.method,
        )
    except (FileNotFoundError, ValueError, DataError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    top = sorted(explanation.lead_mass().items(), key=lambda item: item[1], reverse=True)[:3]
    console.print(
        f"{explanation.record}: P({explanation.task}/{explanation.label}) = "
        f"{explanation.probability:.3f}; leads driving it most: {', '.join(lead for lead, _ in top)}"
    )
    console.print(f"wrote {explanation.image}")
    return 0
