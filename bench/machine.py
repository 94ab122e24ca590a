"""What a benchmark ran on: CPU model, cores, memory, GPU, library versions and how busy the machine was."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

NO_GPU = "none available"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (what `lscpu` shows), else whatever platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def memory_gib() -> float | None:
    """Physical memory in GiB (None where /proc/meminfo does not exist)."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)  # the line is in KiB
    return None


def gpu_name() -> str:
    """The CUDA device torch would train on, or NO_GPU."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else NO_GPU


def describe_machine() -> dict[str, Any]:
    """The machine and software a benchmark ran on; the load average says how much else was running."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "gpu": gpu_name(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{package: metadata.version(package) for package in ("torch", "flwr", "opacus", "numpy", "wfdb")},
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
