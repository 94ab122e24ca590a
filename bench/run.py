"""`make bench`: every benchmark in one process, written to bench/results.json and bench/results.md.

    python -m bench.run [--quick] [--only SECTION ...] [--out bench/results.json]

Sections, in the order they run: federation_overhead, communication (it analyses the federation_overhead
run, so it runs that too), data_loading, throughput (bench/models.py), scale, accuracy_gap and dp_cost (both
from bench/accuracy_gap.py; dp_cost also uses throughput's figures). The full run is sized for 30 minutes on
an idle 2-core machine, `--quick` for 5 (its results go to bench/results-quick.json unless `--out` says
otherwise). With `--only`, the named sections replace theirs in an existing results file and the rest is
kept; every section records the command that produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench import accuracy_gap, communication, data_loading, models, overhead, scale
from bench.machine import NO_GPU, describe_machine
from shared.data.cache import CACHE_DIR_ENV

BENCH_DIR = Path(__file__).resolve().parent
RAY_WORKER_NICENESS = "RAY_worker_niceness"  # Ray setting (environment): how much nicer its workers run
SECTIONS = (  # in the order they run: the headline ratios first
    "federation_overhead",
    "communication",
    "data_loading",
    "throughput",
    "scale",
    "accuracy_gap",
    "dp_cost",
)
QUICK_MODELS = ("resnet1d",)
Say = Callable[[str], None]


def _throughput(quick: bool, say: Say) -> dict[str, Any]:
    names = list(QUICK_MODELS if quick else models.MODEL_NAMES)
    report = models.benchmark(names, steps=2 if quick else 3, say=say)
    gpu = report.pop("machine")["gpu"]  # the results name the machine once, at the top
    report["gpu"] = f"{gpu}: see each model's `gpu`" if gpu != NO_GPU else f"{NO_GPU}: CPU figures only"
    return report


def _accuracy_and_dp(wanted: set[str], quick: bool, say: Say) -> dict[str, Any]:
    """The accuracy comparisons of bench/accuracy_gap.py: only the parts the wanted sections need."""
    parts = tuple(
        part
        for part, section in (("synthetic", "accuracy_gap"), ("dp", "dp_cost"), ("ptbxl500", "accuracy_gap"))
        if section in wanted
    )
    return accuracy_gap.measure(quick=quick, parts=parts, say=say)


def _dp_cost(throughput: dict[str, Any] | None, accuracy: dict[str, Any]) -> dict[str, Any]:
    ratios = None
    if throughput is not None:
        ratios = {name: round(1 / row["dp_slowdown"], 3) for name, row in throughput["models"].items()}
    return {
        "what": "DP-SGD training throughput / standard training throughput per model (fastest correct Opacus "
        "mode, CPU), and FedAvg test AUROC at each target epsilon vs no DP (bench/accuracy_gap.py)",
        "throughput_ratio_dp_over_standard": ratios,
        "auroc": accuracy.get("dp", accuracy.get("skipped")),
    }


def measure_sections(
    wanted: set[str], quick: bool, scratch: Path, say: Callable[[str, str], None], earlier: dict[str, Any]
) -> Iterator[tuple[str, Any]]:
    """Measure the wanted sections, yielding (results key, figures) as each is done.

    `earlier` is the results file being updated: dp_cost takes throughput from it when not measuring it.
    """

    def section_say(section: str) -> Say:
        return lambda message: say(section, message)

    if {"federation_overhead", "communication"} & wanted:
        size = overhead.QUICK if quick else overhead.FULL
        figures, run = overhead.measure(scratch, size, section_say("federation_overhead"))
        yield "federation_overhead", figures
        yield "federation_overhead_ratio", figures["ratio"]
        yield "federation_overhead_ratio_including_startup", figures["ratio_including_startup"]
        traffic = communication.measure(run, scratch, section_say("communication"))
        yield "communication", traffic
        yield "bytes_per_round_ratio", traffic["ratio"]
    if "data_loading" in wanted:
        yield "data_loading", data_loading.measure(say=section_say("data_loading"))
    throughput = earlier.get("throughput")
    if "throughput" in wanted:
        throughput = _throughput(quick, section_say("throughput"))
        yield "throughput", throughput
    if "scale" in wanted:
        counts, records = (
            (scale.QUICK_HOSPITALS, scale.QUICK_RECORDS)
            if quick
            else (scale.FULL_HOSPITALS, scale.FULL_RECORDS)
        )
        yield "scale", scale.measure(scratch, counts, records, section_say("scale"))
    if {"accuracy_gap", "dp_cost"} & wanted:
        accuracy = _accuracy_and_dp(wanted, quick, section_say("accuracy_gap"))
        if "accuracy_gap" in wanted:
            yield "accuracy_gap", {k: v for k, v in accuracy.items() if k != "dp"}
        if "dp_cost" in wanted:
            yield "dp_cost", _dp_cost(throughput, accuracy)


def _headlines(results: dict[str, Any]) -> list[str]:
    """Table rows (figure | value | goal) for the sections present in `results`."""
    rows = []
    if "federation_overhead" in results:
        figures = results["federation_overhead"]
        size = figures["size"]
        rows.append(
            f"| federation overhead: {size['hospitals']} hospitals, {size['rounds']} rounds x "
            f"{size['local_epochs']} epochs, {size['training_records']} training ECGs, vs a plain loop | "
            f"{figures['ratio']:.3f}x ({figures['ratio_including_startup']:.3f}x with "
            f"{figures['federated']['startup_s']:.0f} s start-up) | <= 1.10 |"
        )
        if "ratio_vs_hospital_training" in figures:
            rows.append(
                "| federated rounds / the hospitals' own training time in them (same run) | "
                f"{figures['ratio_vs_hospital_training']:.3f}x | <= 1.10 |"
            )
    if "communication" in results:
        traffic = results["communication"]
        rows.append(
            f"| bytes per hospital per round / parameter bytes, validating every "
            f"{traffic['benchmark_federation']['evaluate_every']} rounds | {traffic['ratio']:.3f}x "
            f"({traffic['evaluate_every_1']['ratio']:.3f}x validating every round) | <= 2.1 |"
        )
    gap = results.get("accuracy_gap", {}).get("synthetic", {}).get("fedavg_minus_centralized_auroc")
    if gap is not None:
        rows.append(f"| FedAvg - centralised test AUROC (synthetic hospitals, `mi`) | {gap:+.3f} | |")
    dp_auroc = results.get("dp_cost", {}).get("auroc")
    if isinstance(dp_auroc, dict):
        values = ", ".join(
            f"{name.replace('_', ' ')} {figures['pooled_test_auroc']:.3f}"
            for name, figures in dp_auroc.items()
            if isinstance(figures, dict) and figures.get("pooled_test_auroc") is not None
        )
        rows.append(f"| FedAvg test AUROC with DP-SGD (synthetic hospitals) | {values} | |")
    if "data_loading" in results:
        loading = results["data_loading"]["results"]["records100"]
        rows.append(
            f"| PTB-XL subset load, cold / cached | {loading['cold_s']:.2f} s / {loading['cached_s']:.3f} s "
            "| < 30 s / < 3 s |"
        )
    return rows


def markdown(results: dict[str, Any]) -> str:
    """A short Markdown summary of results.json: the headline figures, throughput per model and scale."""
    machine = results["machine"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB memory, "
        f"GPU: {machine['gpu']}; torch {machine['torch']}, flwr {machine['flwr']}; load average "
        f"{machine['load_average'][0]} at the start. Command: `{results['command']}`.",
    ]
    headlines = _headlines(results)
    if headlines:
        lines += ["", "| figure | value | goal |", "|---|---|---|", *headlines]
    if "throughput" in results:
        header = "| model | parameters | train ECG/s | inference ECG/s | DP-SGD train ECG/s | DP / standard |"
        lines += ["", header, "|---|---|---|---|---|---|"]
        for name, row in results["throughput"]["models"].items():
            dp = row["dp_train_ecg_per_s"][row["fastest_correct_opacus_mode"]]
            lines.append(
                f"| {name} | {row['parameters']:,} | {row['train_ecg_per_s']} | "
                f"{row['inference_ecg_per_s']} | {dp} ({row['fastest_correct_opacus_mode']}) | "
                f"{1 / row['dp_slowdown']:.3f} |"
            )
    if "scale" in results:
        header = "| hospitals | s / round | rounds / s | start-up s | peak PSS MiB | peak RSS MiB |"
        lines += ["", header, "|---|---|---|---|---|---|"]
        for row in results["scale"]["runs"]:
            lines.append(
                f"| {row['hospitals']} | {row['seconds_per_round']} | {row['rounds_per_s']} | "
                f"{row['startup_s']} | {row['peak_pss_mib']} | {row['peak_rss_mib']} |"
            )
    lines += _dp_loho_lines(BENCH_DIR / "dp_loho.json")
    return "\n".join(lines) + "\n"


def _dp_loho_lines(path: Path) -> list[str]:
    """Held-out AUROC per fold with and without DP-SGD, from bench/dp_loho.py's own file (it runs alone)."""
    if not path.is_file():
        return []
    runs = json.loads(path.read_text())
    settings = runs["settings"]
    lines = [
        "",
        f"LOHO held-out AUROC (`{settings['task']}`) per fold, {settings['synthetic_hospitals']} synthetic "
        f"hospitals x {settings['synthetic_records_per_hospital']} records, {settings['rounds']} rounds x "
        f"{settings['local-epochs']} local epochs, batch {settings['batch-size']}; DP-SGD at epsilon "
        f"{settings['epsilon']}, delta {settings['delta']}. Command: `{runs['command']}`.",
        "",
        "| model | without DP | with DP | epsilon spent per hospital |",
        "|---|---|---|---|",
    ]
    for model, run in runs.items():
        if model in ("settings", "command"):
            continue
        folds = {
            mode: ", ".join(f"{auroc:.3f}" for auroc in run[mode]["held_out_auroc"].values()) for mode in run
        }
        spent = ", ".join(f"{entry['epsilon']:.2f}" for entry in run["dp"]["privacy"].values())
        lines.append(
            f"| {model} | {folds['no_dp']} (mean {run['no_dp']['mean_held_out_auroc']:.3f}) | "
            f"{folds['dp']} (mean {run['dp']['mean_held_out_auroc']:.3f}) | {spent} |"
        )
    return lines


def summary_line(results: dict[str, Any], seconds: float) -> str:
    """One line: the two headline ratios against their goals, and how long the benchmark took."""
    parts = []
    if "federation_overhead_ratio" in results:
        parts.append(f"federation overhead {results['federation_overhead_ratio']:.3f}x (goal <= 1.10)")
    if "bytes_per_round_ratio" in results:
        parts.append(f"bytes per round {results['bytes_per_round_ratio']:.3f}x parameters (goal <= 2.1)")
    return f"{'; '.join(parts) or 'benchmarks done'} in {seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: proves every path in < 5 min")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION", help=", ".join(SECTIONS))
    parser.add_argument("--out", type=Path, help="results file (default bench/results.json, or -quick)")
    args = parser.parse_args(argv)
    out = args.out or BENCH_DIR / ("results-quick.json" if args.quick else "results.json")
    command = " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)])
    wanted = set(args.only or SECTIONS)
    console = Console(stderr=True)
    started = time.time()
    results: dict[str, Any] = json.loads(out.read_text()) if args.only and out.is_file() else {}
    results.update(machine=describe_machine(), command=command, quick=args.quick)
    results["started_utc"] = datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds")
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with (
        tempfile.TemporaryDirectory(prefix="cardiofed-bench-") as scratch,
        Progress(*columns, console=console) as progress,
    ):
        # Preprocessed synthetic hospitals are cached under the scratch folder, never in the user's cache.
        os.environ[CACHE_DIR_ENV] = str(Path(scratch) / "cache")
        # Ray starts its workers (the simulated hospitals) 15 steps nicer than itself; on a shared machine
        # they would then get less CPU than the plain loop they are compared with. Same priority for both.
        os.environ[RAY_WORKER_NICENESS] = "0"
        task = progress.add_task("benchmarks", total=None)

        def say(section: str, message: str) -> None:
            progress.update(task, description=f"{section}: {message}")
            progress.console.print(f"[bold]{section}[/bold] {message}")

        # Written after every section: a failure late in a long run keeps what was measured before it.
        for key, figures in measure_sections(wanted, args.quick, Path(scratch), say, dict(results)):
            if isinstance(figures, dict):
                figures["command"] = command
            results[key] = figures
            results["machine"]["load_average_end"] = describe_machine()["load_average"]
            results["duration_s"] = round(time.time() - started, 1)
            out.write_text(json.dumps(results, indent=2) + "\n")
            out.with_suffix(".md").write_text(markdown(results))
        progress.update(task, description="done")
    console.print(f"{summary_line(results, time.time() - started)}; wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
