"""`cardiofed data check` and `cardiofed synth`: what a hospital's ECG folder holds, and demo hospitals."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.data import TASK_NAMES, DataError, census, load_dataset
from shared.data.layouts import HOSPITAL_BY_CHOICES, LAYOUT_CHOICES
from shared.data.layouts.ptbxl import RECORDS_CHOICES
from shared.data.synthetic import LAYOUTS as SYNTH_LAYOUTS
from shared.data.synthetic import SynthHospital, generate_hospitals

_SKIPPED_ROWS_SHOWN = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the data subcommands to the root parser."""
    _register_check(subparsers)
    _register_synth(subparsers)


def _register_check(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="inspect a hospital's ECG folder")
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    check = data_commands.add_parser(
        "check",
        help="load, check and summarise an ECG folder by hospital",
        description="Read every record under PATH, run the quality checks, and summarise usable records, "
        "patients, positives and sampling rates per hospital, with every skipped record and its reason. "
        "Exit status 0 when at least one record is usable.",
    )
    check.add_argument("path", metavar="PATH", help="folder: PTB-XL, Challenge, plain WFDB or ECG images")
    check.add_argument("--layout", choices=LAYOUT_CHOICES, default="auto", help="layout (default: detect)")
    check.add_argument(
        "--hospital-by",
        choices=HOSPITAL_BY_CHOICES,
        default="auto",
        help="how records are grouped into hospitals (default: the layout's natural split)",
    )
    check.add_argument(
        "--task",
        action="extend",
        nargs="+",
        choices=TASK_NAMES,
        metavar="TASK",
        help=f"tasks to count positives for: {', '.join(TASK_NAMES)} (default: mi)",
    )
    check.add_argument(
        "--records",
        choices=RECORDS_CHOICES,
        default="auto",
        help="PTB-XL: read records100 or records500 (default: 100 Hz when present)",
    )
    check.add_argument(
        "--sample-rate", type=int, default=100, metavar="HZ", help="target sampling rate (default: 100)"
    )
    check.add_argument(
        "--duration-s",
        type=float,
        default=10.0,
        metavar="S",
        help="record duration; records under half of it are skipped (default: 10)",
    )
    check.add_argument("--json", action="store_true", help="print only the census as a JSON object")
    check.set_defaults(handler=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    tasks = args.task or ["mi"]
    try:
        dataset = load_dataset(
            args.path,
            layout=args.layout,
            hospital_by=args.hospital_by,
            tasks=tasks,
            sample_rate=args.sample_rate,
            duration_s=args.duration_s,
            records=args.records,
        )
    except DataError as error:
        print(f"cardiofed data check: {error}", file=sys.stderr)
        return 1
    summary = census(dataset, tasks)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_census(summary, tasks)
    return 0 if summary["usable"] > 0 else 1


def _print_census(summary: dict[str, Any], tasks: list[str]) -> None:
    console = Console()
    table = Table(title=f"{summary['root']} ({summary['layout']} layout)")
    for column in (
        "hospital",
        "records",
        "patients",
        *(f"{task} positives" for task in tasks),
        "sampling rates",
        "skipped",
    ):
        table.add_column(column, justify="left" if column in ("hospital", "sampling rates") else "right")
    for hospital, row in summary["hospitals"].items():
        positives = [_positives_text(row["positives"][task], row["records"]) for task in tasks]
        rates = ", ".join(f"{rate} Hz x{count}" for rate, count in row["sampling_rates"].items())
        table.add_row(
            hospital, str(row["records"]), str(row["patients"]), *positives, rates or "-", str(row["skipped"])
        )
    console.print(table)

    skipped = summary["skipped"]
    if skipped:
        skipped_table = Table(title="skipped records")
        for column in ("record", "hospital", "reason"):
            skipped_table.add_column(column)
        for entry in skipped[:_SKIPPED_ROWS_SHOWN]:
            skipped_table.add_row(entry["record"], entry["hospital"] or "-", entry["reason"])
        console.print(skipped_table)
        if len(skipped) > _SKIPPED_ROWS_SHOWN:
            console.print(f"... and {len(skipped) - _SKIPPED_ROWS_SHOWN} more (--json lists them all)")
    flags = ", ".join(f"{flag}: {count}" for flag, count in summary["flags"].items()) or "none"
    console.print(
        f"{summary['usable']} of {summary['records']} records usable in {len(summary['hospitals'])} "
        f"hospitals, {len(skipped)} skipped; flags on kept records: {flags}",
        soft_wrap=True,  # one line however narrow the terminal, so scripts can grep it
    )


def _positives_text(positives: int | dict[str, int], records: int) -> str:
    """ "17 (6.6%)" for a binary task; the three most frequent labels for a multi-label one."""
    if isinstance(positives, int):
        return f"{positives} ({100 * positives / records:.1f}%)" if records else "0"
    top = sorted(positives.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{label} {count}" for label, count in top if count) or "0"


def _register_synth(subparsers: argparse._SubParsersAction) -> None:
    synth = subparsers.add_parser(
        "synth",
        help="write synthetic hospitals (real WFDB files) for demos and tests",
        description="Write N synthetic hospitals of M 12-lead ECGs each into the new folder OUT, in the "
        "PTB-XL or PhysioNet Challenge layout. Hospitals differ in sampling rate, gain, noise, baseline "
        "wander, mains frequency, MI prevalence and age/sex mix; OUT/synthetic_manifest.json records what "
        "was written. The same seed always writes the same bytes.",
    )
    synth.add_argument("out", metavar="OUT", help="folder to create (must not exist or be empty)")
    synth.add_argument(
        "--hospitals", type=int, default=4, metavar="N", help="number of hospitals (default: 4)"
    )
    synth.add_argument(
        "--records-per-hospital", type=int, default=100, metavar="M", help="ECGs per hospital (default: 100)"
    )
    synth.add_argument(
        "--layout", choices=SYNTH_LAYOUTS, default="ptbxl", help="folder layout (default: ptbxl)"
    )
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument(
        "--duration-s", type=float, default=10.0, metavar="S", help="record length in seconds (default: 10)"
    )
    synth.add_argument(
        "--sample-rate",
        type=int,
        metavar="HZ",
        help="one sampling rate for every hospital (default: a mix of 500, 250, 1000, 360 Hz)",
    )
    synth.add_argument(
        "--mi-prevalence",
        type=float,
        nargs="+",
        metavar="P",
        help="MI prevalence per hospital, one number each (default: spread over 0.10-0.35)",
    )
    synth.set_defaults(handler=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    console = Console()

    def report(hospital: SynthHospital) -> None:
        console.print(
            f"hospital {hospital.hospital}: {hospital.records} ECGs of {hospital.patients} patients, "
            f"{hospital.mi_positives} MI ({100 * hospital.mi_prevalence:.0f}%), {hospital.sample_rate} Hz, "
            f"{hospital.mains_hz} Hz mains, gain {hospital.gain:.2f}"
        )

    try:
        summary = generate_hospitals(
            args.out,
            hospitals=args.hospitals,
            records_per_hospital=args.records_per_hospital,
            layout=args.layout,
            seed=args.seed,
            duration_s=args.duration_s,
            mi_prevalence=args.mi_prevalence,
            sample_rate=args.sample_rate,
            progress=report,
        )
    except (ValueError, FileExistsError) as error:
        print(f"cardiofed synth: {error}", file=sys.stderr)
        return 1
    console.print(
        f"wrote {summary.records} ECGs ({summary.mi_positives} MI) for {len(summary.hospitals)} hospitals "
        f"to {summary.root} ({summary.layout} layout, seed {summary.seed})",
        soft_wrap=True,
    )
    return 0
