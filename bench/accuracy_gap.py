"""Accuracy of the protocols side by side: FedAvg (pooled) vs centralised vs local-only, LOHO, and DP LOHO.

Usage: python bench/accuracy_gap.py [--records-per-hospital 300] [--rounds 5] [--quick]
Generates 4 synthetic hospitals, runs each protocol as a real Flower simulation with the same model and
epochs, and writes `mi` AUROCs (pooled test AUROC; LOHO held-out AUROC per fold; DP LOHO at epsilon 8) with
the machine and the command to bench/accuracy_gap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout

from server.launcher import run_simulation  # noqa: E402
from shared.data.synthetic import generate_hospitals  # noqa: E402

OUTPUT = REPO_ROOT / "bench" / "accuracy_gap.json"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _run(data: Path, out: Path, settings: dict[str, Any], **overrides: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    config = {**settings, "data-path": str(data), "run-dir": str(out), **overrides}
    results = json.loads(run_simulation(config).read_text())
    return results, time.perf_counter() - started


def _pooled_auroc(results: dict[str, Any]) -> float | None:
    return results["metrics"]["pooled"]["mi"]["auroc"]


def _held_out(results: dict[str, Any]) -> dict[str, float | None]:
    return {fold["held_out"]: fold["held_out_metrics"]["mi"]["auroc"] for fold in results["folds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records-per-hospital", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100 records per hospital, 2 rounds")
    args = parser.parse_args()
    records, rounds = (100, 2) if args.quick else (args.records_per_hospital, args.rounds)
    settings = {
        "task": "mi", "model": "resnet1d", "rounds": rounds, "local-epochs": 1, "batch-size": 32,
        "learning-rate": 0.001, "hospital-by": "site", "seed": 0,
    }  # fmt: skip
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "hospitals"
        generate_hospitals(data, hospitals=4, records_per_hospital=records, seed=3, sample_rate=100)
        for protocol in ("pooled", "centralized", "local"):
            results, seconds = _run(data, Path(scratch) / protocol, settings, protocol=protocol)
            figures[protocol] = {"pooled_test_auroc": _pooled_auroc(results), "seconds": round(seconds, 1)}
            print(protocol, figures[protocol], flush=True)
        loho, seconds = _run(data, Path(scratch) / "loho", settings, protocol="loho")
        figures["loho"] = {"held_out_auroc": _held_out(loho), "seconds": round(seconds, 1)}
        print("loho", figures["loho"], flush=True)
        dp, seconds = _run(data, Path(scratch) / "loho-dp", settings, protocol="loho", dp=True, epsilon=8.0)
        epsilons = {h: s["epsilon"] for h, s in dp["privacy"]["hospitals"].items()}
        figures["loho_dp_epsilon_8"] = {
            "held_out_auroc": _held_out(dp),
            "epsilon": epsilons,
            "seconds": round(seconds, 1),
        }
        print("loho dp", figures["loho_dp_epsilon_8"], flush=True)
    central = figures["centralized"]["pooled_test_auroc"]
    pooled = figures["pooled"]["pooled_test_auroc"]
    report = {
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "gpu": None},
        "command": " ".join(["python", "bench/accuracy_gap.py", *sys.argv[1:]]),
        "settings": {**settings, "records_per_hospital": records, "hospitals": 4},
        "fedavg_minus_centralized_auroc": None if None in (pooled, central) else round(pooled - central, 4),
        **figures,
    }
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"FedAvg - centralised AUROC: {report['fedavg_minus_centralized_auroc']}; wrote {OUTPUT}")


if __name__ == "__main__":
    main()
