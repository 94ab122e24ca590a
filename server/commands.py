"""Coordinator subcommands: `cardiofed run` (an experiment in simulation) and `cardiofed demo`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from server.launcher import LaunchError, run_simulation
from shared.config import PROTOCOLS, STRATEGIES, ConfigError, parse_set_options
from shared.data import DataError

#: CLI flag -> Flower run-config key; flags left out keep the pyproject defaults.
_RUN_FLAGS: dict[str, str] = {
    "data": "data-path",
    "layout": "layout",
    "hospital_by": "hospital-by",
    "records": "records",
    "task": "task",
    "protocol": "protocol",
    "model": "model",
    "rounds": "rounds",
    "local_epochs": "local-epochs",
    "evaluate_every": "evaluate-every",
    "batch_size": "batch-size",
    "learning_rate": "learning-rate",
    "loss": "loss",
    "strategy": "strategy",
    "proximal_mu": "proximal-mu",
    "sample_rate": "sample-rate",
    "duration": "duration-s",
    "seed": "seed",
    "out": "run-dir",
    "resume": "resume",
    "dp": "dp",
    "epsilon": "epsilon",
    "delta": "delta",
    "max_grad_norm": "max-grad-norm",
    "central_dp": "central-dp",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the coordinator subcommands."""
    run = subparsers.add_parser(
        "run",
        help="[coordinator] run an experiment (LOHO, pooled, local, centralized) in simulation",
        description="Run an experiment on Flower's simulation runtime, one virtual hospital per hospital "
        "of the dataset. Unset options keep the defaults of [tool.flwr.app.config] in pyproject.toml.",
    )
    run.add_argument("--data", required=True, help="dataset folder to split into hospitals")
    run.add_argument("--layout", help="ptbxl | challenge | plain | image | auto")
    run.add_argument("--hospital-by", help="site | source | dir")
    run.add_argument("--records", help="PTB-XL: 100 | 500 | auto")
    run.add_argument("--task", help="task name(s), comma-separated (e.g. mi or mi,hyp)")
    run.add_argument("--protocol", choices=PROTOCOLS)
    run.add_argument("--model", help="model name (see `cardiofed models list`)")
    run.add_argument("--rounds", type=int)
    run.add_argument("--local-epochs", type=int)
    run.add_argument(
        "--evaluate-every", type=int, help="pooled/loho: validate every N rounds (always after the last)"
    )
    run.add_argument("--batch-size", type=int)
    run.add_argument("--learning-rate", type=float)
    run.add_argument("--loss", help="bce | double_soft_f1")
    run.add_argument("--strategy", choices=STRATEGIES)
    run.add_argument("--proximal-mu", type=float, help="FedProx proximal term")
    run.add_argument("--sample-rate", type=int, help="resample every ECG to this rate (Hz)")
    run.add_argument("--duration", type=float, help="crop/pad every ECG to this many seconds")
    run.add_argument("--seed", type=int)
    run.add_argument("--out", required=True, help="run folder (results.json, checkpoints, audit logs)")
    run.add_argument("--resume", action="store_true", default=None, help="continue from the last checkpoint")
    run.add_argument(
        "--dp",
        action="store_true",
        default=None,
        help="DP-SGD at every hospital (the model that learns under it: median_beat; see the README)",
    )
    run.add_argument("--epsilon", type=float, help="target epsilon for the whole experiment")
    run.add_argument("--delta", type=float)
    run.add_argument("--max-grad-norm", type=float, help="DP-SGD per-sample clipping norm")
    run.add_argument("--central-dp", choices=("off", "fixed", "adaptive"), help="server-side DP")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other run-config key (a TOML value, or a bare word for a string)",
    )
    run.set_defaults(handler=_run)
    register_demo(subparsers)


def run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The run-config overrides the user asked for (flags not given are left to the defaults)."""
    overrides = {
        key: getattr(args, flag) for flag, key in _RUN_FLAGS.items() if getattr(args, flag) is not None
    }
    overrides["data-path"] = str(Path(args.data).resolve())
    overrides["run-dir"] = str(Path(args.out).resolve())
    overrides.update(parse_set_options(args.set))
    return overrides


def _run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        results_path = run_with_progress(run_overrides(args), console)
    except (LaunchError, ConfigError, DataError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    console.print(one_line_summary(json.loads(results_path.read_text())))
    console.print(f"results: {results_path}")
    return 0


def run_with_progress(overrides: dict[str, Any], console: Console) -> Path:
    """Run the experiment with a live progress bar (fold, round, held-out AUROC so far)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("starting the federation", total=None)

        def on_event(event: dict[str, Any]) -> None:
            kind = event["event"]
            if kind == "census":
                description = f"census: hospitals {', '.join(event['hospitals'])}"
                progress.update(bar, description=description, total=event["total_rounds"])
            elif kind == "round":
                label = f"fold {event['fold']} (held out) " if "fold" in event else ""
                auroc = event.get("held_out_auroc", event.get("pooled_validation_auroc"))
                shown = "n/a" if auroc is None else f"{auroc:.3f}"
                description = f"{label}round {event['round']}/{event['rounds']}  AUROC {shown}"
                progress.update(bar, advance=1, description=description)
            elif kind in ("census-problem", "resumed"):
                console.print(f"[yellow]{event.get('message', kind)}[/yellow]")

        return run_simulation(overrides, on_event)


def one_line_summary(results: dict[str, Any]) -> str:
    """E.g. `loho resnet1d mi: held-out AUROC 0.81 (0), 0.77 (1) ...`."""
    head = f"{results['protocol']} {results['model']} {results['task']}"
    task = results["tasks"][0]
    if results["protocol"] == "loho":
        parts = []
        for fold in results["folds"]:
            auroc = fold["held_out_metrics"].get(task, {}).get("auroc")
            parts.append(f"{fold['held_out']}: {'n/a' if auroc is None else f'{auroc:.3f}'}")
        return f"{head}: held-out AUROC by hospital  " + ", ".join(parts)
    auroc = results["metrics"]["pooled"].get(task, {}).get("auroc")
    return f"{head}: pooled test AUROC {'n/a' if auroc is None else f'{auroc:.3f}'}"


def register_demo(subparsers: argparse._SubParsersAction) -> None:
    """Add `cardiofed demo`: synthetic hospitals, then a LOHO federated run on them."""
    demo = subparsers.add_parser(
        "demo",
        help="[anyone] synthetic hospitals -> leave-one-hospital-out federated run -> report",
        description="Generate synthetic hospitals (once), run LOHO on them and write the report.",
    )
    demo.add_argument("--out", default="runs/demo", help="demo folder (data/ and run/ inside)")
    demo.add_argument("--hospitals", type=int, default=4)
    demo.add_argument("--records-per-hospital", type=int, default=120)
    demo.add_argument("--rounds", type=int, default=3)
    demo.add_argument("--model", default="resnet1d")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    # Imported here: the report pulls in matplotlib, which no other coordinator command needs.
    from server.report import write_report
    from shared.data.synthetic import generate_hospitals

    console = Console(stderr=True)
    out = Path(args.out).resolve()
    data = out / "data"
    if not (data / "synthetic_manifest.json").is_file():
        console.print(f"writing {args.hospitals} synthetic hospitals to {data}")
        generate_hospitals(
            data, hospitals=args.hospitals, records_per_hospital=args.records_per_hospital, seed=args.seed
        )
    overrides = {
        "data-path": str(data),
        "run-dir": str(out / "run"),
        "hospital-by": "site",
        "protocol": "loho",
        "model": args.model,
        "rounds": args.rounds,
        "seed": args.seed,
    }
    try:
        results_path = run_with_progress(overrides, console)
    except (LaunchError, ConfigError, DataError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    console.print(one_line_summary(json.loads(results_path.read_text())))
    report = write_report(results_path.parent)
    console.print(f"results: {results_path}")
    console.print(f"report: {report.html}")
    return 0
