"""Throughput of every model on this machine, with and without DP-SGD, written to bench/models.json.

For each model in the registry: parameter count (task mi, age and sex), training and inference ECGs per
second at 100 Hz x 10 s with batch 64, and DP-SGD training ECGs per second under each Opacus per-sample
gradient mode ("hooks", "functorch", "ew"). A mode only counts if its per-sample gradients match ones
computed sample by sample; the fastest correct mode is reported beside the mode the registry declares.
Everything is measured on the CPU, and again on the GPU when torch sees one (`gpu` in each row).
`make bench` (bench/run.py) calls `benchmark()`.

    .venv/bin/python bench/models.py [--models resnet1d,inception1d] [--steps 3] [--out bench/models.json]

Timings are the median of `--steps` steps after one warm-up step. The machine's load average is recorded
at start and end: on a shared machine, other work lowers every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from opacus import PrivacyEngine
from torch.utils.data import DataLoader, TensorDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout

from bench.machine import describe_machine  # noqa: E402
from shared.losses import multitask_loss  # noqa: E402
from shared.models import MODEL_NAMES, WITHOUT_TRAINING_RANDOMNESS, count_parameters, create_model  # noqa: E402
from shared.models.per_sample_gradients import per_sample_gradient_mismatches  # noqa: E402

BATCH = 64
SAMPLES = 1000  # 100 Hz x 10 s
OPACUS_MODES = ("hooks", "functorch", "ew")
CPU = torch.device("cpu")


def _batch(
    size: int, seed: int = 0, device: torch.device = CPU
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    signals = 0.3 * torch.randn(size, 12, SAMPLES, generator=generator)
    clinical = torch.stack([torch.full((size,), 60.0), (torch.arange(size) % 2).float()], dim=1)
    labels = (torch.arange(size) % 2).float().unsqueeze(1)
    return signals.to(device), clinical.to(device), labels.to(device)


def _ecgs_per_second(step: Callable[[], None], steps: int, device: torch.device) -> float:
    def timed_step() -> float:
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # GPU kernels run asynchronously: wait for them
        return time.perf_counter() - start

    timed_step()  # warm-up: allocator, oneDNN / cuDNN kernel selection
    return BATCH / statistics.median(timed_step() for _ in range(steps))


def _standard_throughput(name: str, steps: int, device: torch.device = CPU) -> tuple[float, float]:
    torch.manual_seed(0)
    model = create_model(name, {"mi": 1})
    model.clinical_encoder.set_statistics([60.0, 0.5], [15.0, 0.5])
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    signals, clinical, labels = _batch(BATCH, device=device)

    def train_step() -> None:
        optimizer.zero_grad()
        multitask_loss(model(signals, clinical), {"mi": labels}).backward()
        optimizer.step()

    def inference_step() -> None:
        with torch.no_grad():
            model(signals, clinical)

    model.train()
    training = _ecgs_per_second(train_step, steps, device)
    model.eval()
    return training, _ecgs_per_second(inference_step, steps, device)


def _per_sample_gradients_exact(name: str, mode: str) -> bool:
    """True when `mode` gives every sample its own gradient (checked on three short records)."""
    torch.manual_seed(0)
    model = create_model(name, {"mi": 1}, dp=True, **WITHOUT_TRAINING_RANDOMNESS.get(name, {}))
    signals, clinical, _ = _batch(3)
    try:
        return not per_sample_gradient_mismatches(model, mode, signals[:, :, :400], clinical)
    except RuntimeError:  # Opacus does not support the mode for one of the layers
        return False


def _dp_throughput(name: str, mode: str, steps: int, device: torch.device = CPU) -> float:
    torch.manual_seed(0)
    model = create_model(name, {"mi": 1}, dp=True)
    model.clinical_encoder.set_statistics([60.0, 0.5], [15.0, 0.5])
    model.to(device)
    loader = DataLoader(TensorDataset(*_batch(BATCH, device=device)), batch_size=BATCH)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    private_model, private_optimizer, _ = PrivacyEngine().make_private(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        grad_sample_mode=mode,
        poisson_sampling=False,  # fixed batches, so every step times 64 records
    )
    signals, clinical, labels = _batch(BATCH, device=device)

    def train_step() -> None:
        private_optimizer.zero_grad()
        multitask_loss(private_model(signals, clinical=clinical), {"mi": labels}, dp=True).backward()
        private_optimizer.step()

    return _ecgs_per_second(train_step, steps, device)


def _gpu_row(name: str, dp_mode: str, steps: int) -> dict[str, float]:
    """The same figures on the GPU (DP-SGD under the mode that was fastest and correct on the CPU)."""
    gpu = torch.device("cuda")
    training, inference = _standard_throughput(name, steps, gpu)
    dp_training = _dp_throughput(name, dp_mode, steps, gpu)
    return {
        "train_ecg_per_s": round(training, 1),
        "inference_ecg_per_s": round(inference, 1),
        "dp_train_ecg_per_s": round(dp_training, 1),
        "dp_slowdown": round(training / dp_training, 2),
    }


def benchmark(names: list[str], steps: int, say: Callable[[str], None] = print) -> dict:
    """Measure every model in `names`; returns the JSON-ready report."""
    report: dict = {
        "machine": describe_machine(),
        "batch": BATCH,
        "input": f"12 leads x {SAMPLES} samples (100 Hz x 10 s)",
        "models": {},
    }
    for name in names:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="opacus")  # secure-RNG and accountant notices
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            report["models"][name] = _model_row(name, steps)
        row = report["models"][name]
        fastest = row["fastest_correct_opacus_mode"]
        say(
            f"{name:18s} {row['parameters']:>9,d} params  train {row['train_ecg_per_s']:7.1f}  "
            f"infer {row['inference_ecg_per_s']:7.1f}  DP {row['dp_train_ecg_per_s'][fastest]:6.1f} "
            f"({fastest}) ECG/s on the CPU"
        )
    report["load_average_end"] = describe_machine()["load_average"]
    return report


def _model_row(name: str, steps: int) -> dict[str, Any]:
    """One model's figures (see the module docstring)."""
    training, inference = _standard_throughput(name, steps)
    dp_modes: dict[str, float | str] = {}
    for mode in OPACUS_MODES:
        if not _per_sample_gradients_exact(name, mode):
            dp_modes[mode] = "incorrect or unsupported"
            continue
        dp_modes[mode] = round(_dp_throughput(name, mode, steps), 1)
    timed = {mode: value for mode, value in dp_modes.items() if isinstance(value, float)}
    fastest = max(timed, key=lambda mode: timed[mode])
    model = create_model(name, {"mi": 1})
    row = {
        "parameters": count_parameters(model),
        "train_ecg_per_s": round(training, 1),
        "inference_ecg_per_s": round(inference, 1),
        "dp_train_ecg_per_s": dp_modes,
        "fastest_correct_opacus_mode": fastest,
        "declared_opacus_mode": model.opacus_grad_sample_mode,
        "dp_slowdown": round(training / timed[fastest], 2),
    }
    if torch.cuda.is_available():
        row["gpu"] = _gpu_row(name, fastest, steps)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated model names")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (median)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("models.json"))
    args = parser.parse_args()
    names = [name for name in args.models.split(",") if name]
    unknown = sorted(set(names) - set(MODEL_NAMES))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(MODEL_NAMES)}")
    report = benchmark(names, args.steps)
    report["command"] = " ".join(["python", "bench/models.py", *sys.argv[1:]])
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({len(names)} models, load average {report['load_average_end'][0]:.1f})")


if __name__ == "__main__":
    main()
