"""Accuracy of the protocols side by side: FedAvg (pooled) vs centralised vs local-only, LOHO, and DP.

Usage: python bench/accuracy_gap.py [--quick] [--records-per-hospital N] [--rounds R] [--local-epochs E]
                                   [--seed S] [--only PART ...] [--no-baselines]

Every figure is a real Flower simulation (`server.launcher.run_simulation`) with the same model, data and
epochs; only the protocol (and DP) changes. Two data sets: four synthetic hospitals (generated here) and the
real PTB-XL subset by site (`CARDIOFED_PTBXL500`, default ../shared/data/ptbxl500). The `mi` AUROCs are
written to bench/accuracy_gap.json; `bench/run.py` calls `measure()` for `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout

from server.launcher import run_simulation  # noqa: E402
from shared.data.synthetic import generate_hospitals  # noqa: E402

OUTPUT = REPO_ROOT / "bench" / "accuracy_gap.json"
PTBXL500 = Path(os.environ.get("CARDIOFED_PTBXL500", REPO_ROOT.parent / "shared" / "data" / "ptbxl500"))
PARTS = ("synthetic", "dp", "ptbxl500")


@dataclass(frozen=True)
class Size:
    """How much the comparisons run: data, rounds, DP targets, and whether local and LOHO baselines run."""

    records_per_hospital: int
    rounds: int
    dp_epsilons: tuple[float, ...]
    baselines: bool


# The full size fits `make bench`'s 30 minutes on a 2-core CPU; at it FedAvg has not converged (with 4
# hospitals each takes a quarter of the optimizer steps per epoch), so the gap also shows that cost.
# `--quick` runs only FedAvg, centralised and DP at epsilon 8 on tiny data: it proves the path only.
FULL = Size(records_per_hospital=300, rounds=6, dp_epsilons=(1.0, 3.0, 8.0), baselines=True)
QUICK = Size(records_per_hospital=100, rounds=2, dp_epsilons=(8.0,), baselines=False)
SETTINGS = {
    "task": "mi", "model": "resnet1d", "batch-size": 32, "learning-rate": 0.001,
    "seed": 0, "sample-rate": 100,
}  # fmt: skip
SYNTHETIC_SEED = 3
LOCAL_EPOCHS = 1  # per round; centralised trains rounds x this many epochs


def _simulate(out: Path, **config: Any) -> tuple[dict[str, Any], float]:
    """One real Flower simulation; (results.json, wall seconds)."""
    started = time.perf_counter()
    results = json.loads(run_simulation({**SETTINGS, **config, "run-dir": str(out)}).read_text())
    return results, round(time.perf_counter() - started, 1)


def _pooled_test_auroc(results: dict[str, Any]) -> float | None:
    return results["metrics"]["pooled"]["mi"]["auroc"]


def _held_out_aurocs(results: dict[str, Any]) -> dict[str, float | None]:
    return {fold["held_out"]: fold["held_out_metrics"]["mi"]["auroc"] for fold in results["folds"]}


def _local_cross_site(results: dict[str, Any]) -> dict[str, Any]:
    """The local baseline: each hospital's own model scored at every hospital (trained at -> scored at)."""
    matrix = {
        owner: {site: summary["mi"]["auroc"] for site, summary in row.items()}
        for owner, row in results["metrics"]["cross_site"].items()
    }
    return {"cross_site_auroc": matrix, "other_sites_pooled_auroc": _pooled_test_auroc(results)}


def _protocols(
    data: Path, scratch: Path, schedule: dict[str, int], baselines: bool, say: Callable[[str], None]
) -> dict[str, Any]:
    """pooled (FedAvg) and centralized, then (with `baselines`) local and loho: same model and epochs."""
    figures: dict[str, Any] = {}
    common = {"data-path": str(data), "hospital-by": "site", **schedule}
    for protocol in ("pooled", "centralized"):
        results, seconds = _simulate(scratch / protocol, protocol=protocol, **common)
        figures[protocol] = {"pooled_test_auroc": _pooled_test_auroc(results), "seconds": seconds}
        say(f"{protocol}: {figures[protocol]}")
    pooled, central = figures["pooled"]["pooled_test_auroc"], figures["centralized"]["pooled_test_auroc"]
    figures["fedavg_minus_centralized_auroc"] = (
        None if None in (pooled, central) else round(pooled - central, 4)
    )
    if not baselines:
        return figures
    results, seconds = _simulate(scratch / "local", protocol="local", **common)
    figures["local"] = {**_local_cross_site(results), "seconds": seconds}
    say(f"local: AUROC where each model was not trained {figures['local']['other_sites_pooled_auroc']}")
    results, seconds = _simulate(scratch / "loho", protocol="loho", **common)
    figures["loho"] = {"held_out_auroc": _held_out_aurocs(results), "seconds": seconds}
    say(f"loho: {figures['loho']}")
    return figures


def _dp(
    data: Path,
    scratch: Path,
    schedule: dict[str, int],
    epsilons: tuple[float, ...],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """FedAvg (pooled) test AUROC with DP-SGD at each hospital, per target epsilon (delta 1e-5)."""
    figures: dict[str, Any] = {}
    common = {"data-path": str(data), "hospital-by": "site", "protocol": "pooled", **schedule}
    for epsilon in epsilons:
        name = f"epsilon_{epsilon:g}"
        results, seconds = _simulate(scratch / f"dp-{name}", **common, dp=True, epsilon=epsilon, delta=1e-5)
        spent = [h["epsilon"] for h in results["privacy"]["hospitals"].values()]
        figures[name] = {
            "pooled_test_auroc": _pooled_test_auroc(results),
            "max_epsilon_spent": round(max(spent), 3),
            "seconds": seconds,
        }
        say(f"dp {name}: {figures[name]}")
    return figures


def measure(
    quick: bool = False,
    records_per_hospital: int | None = None,
    rounds: int | None = None,
    parts: tuple[str, ...] = PARTS,
    say: Callable[[str], None] = print,
    baselines: bool | None = None,
    local_epochs: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Run the accuracy comparisons and return their figures (with the settings that produced them).

    `baselines=False` runs only FedAvg and centralised (no local or LOHO runs), e.g. to follow both to
    convergence at a size where the baselines would take too long."""
    size = QUICK if quick else FULL
    baselines = size.baselines if baselines is None else baselines
    records = records_per_hospital or size.records_per_hospital
    schedule = {"rounds": rounds or size.rounds, "local-epochs": local_epochs or LOCAL_EPOCHS}
    if seed is not None:  # the model's initialisation, the hospitals' splits and batch order; not the data
        schedule["seed"] = seed
    report: dict[str, Any] = {
        "settings": {**SETTINGS, **schedule, "synthetic_hospitals": 4,
                     "synthetic_records_per_hospital": records, "synthetic_seed": SYNTHETIC_SEED},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cardiofed-accuracy-") as scratch_dir:
        scratch = Path(scratch_dir)
        synthetic = scratch / "hospitals"
        if {"synthetic", "dp"} & set(parts):
            generate_hospitals(
                synthetic, hospitals=4, records_per_hospital=records, seed=SYNTHETIC_SEED, sample_rate=100
            )
        if "synthetic" in parts:
            report["synthetic"] = _protocols(synthetic, scratch / "synthetic", schedule, baselines, say)
        if "dp" in parts:
            # The no-DP reference is FedAvg on the same data and schedule: the synthetic part's run, if any.
            if "synthetic" in report:
                no_dp = report["synthetic"]["pooled"]
            else:
                config = {"data-path": str(synthetic), "hospital-by": "site", "protocol": "pooled"}
                results, seconds = _simulate(scratch / "dp-none", **schedule, **config)
                no_dp = {"pooled_test_auroc": _pooled_test_auroc(results), "seconds": seconds}
            report["dp"] = {"no_dp": no_dp, **_dp(synthetic, scratch, schedule, size.dp_epsilons, say)}
        if "ptbxl500" in parts and not quick:
            if PTBXL500.is_dir():
                report["ptbxl500"] = _protocols(PTBXL500, scratch / "ptbxl500", schedule, True, say)
            else:
                report["ptbxl500"] = {"skipped": f"no PTB-XL subset at {PTBXL500}"}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="FedAvg, centralised, DP at epsilon 8; 4 x 100 records"
    )
    parser.add_argument("--records-per-hospital", type=int, help="synthetic records per hospital")
    parser.add_argument("--rounds", type=int, help="federated rounds (centralised: rounds x local epochs)")
    parser.add_argument(
        "--local-epochs", type=int, help=f"epochs each hospital trains per round (default {LOCAL_EPOCHS})"
    )
    parser.add_argument(
        "--seed", type=int, help=f"run seed (default {SETTINGS['seed']}); the same generated hospitals"
    )
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--no-baselines", action="store_true", help="FedAvg and centralised only: no local or LOHO run"
    )
    args = parser.parse_args()
    report = measure(
        args.quick,
        args.records_per_hospital,
        args.rounds,
        tuple(args.only),
        baselines=False if args.no_baselines else None,
        local_epochs=args.local_epochs,
        seed=args.seed,
    )
    report["command"] = " ".join(["python", "bench/accuracy_gap.py", *sys.argv[1:]])
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    gap = report.get("synthetic", {}).get("fedavg_minus_centralized_auroc")
    print(f"FedAvg - centralised AUROC on synthetic hospitals: {gap}; wrote {OUTPUT}")


if __name__ == "__main__":
    main()
