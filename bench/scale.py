"""Scale: rounds per second and peak memory with more and more simulated hospitals sharing the same data.

The total number of records stays fixed while it is split among 2, 4, 8, ... hospitals, so what grows is
the federation itself: messages per round, virtual SuperNodes, per-hospital set-up. Memory is the resident
set (RSS) and proportional set (PSS: shared pages divided among the processes that share them) of this
process and every process it started (SuperLink, `flwr run`, the simulation runtime and its Ray workers),
sampled every second while the run lasts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.overhead import SETTINGS
from bench.timeline import phases, timed_simulation
from shared.data.synthetic import generate_hospitals

FULL_HOSPITALS = (2, 4, 8, 16, 32)
QUICK_HOSPITALS = (2, 4)
FULL_RECORDS = 960  # in total, whatever the number of hospitals (30 each at 32 hospitals)
QUICK_RECORDS = 240
ROUNDS = 2
SAMPLE_INTERVAL_S = 1.0


def _process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                # the command name (field 2) may contain spaces; the parent id follows its closing ")"
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(parent, []).append(int(entry))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; (0, 0) if it is gone or unreadable."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class TreeMemory:
    """Samples the memory of this process tree in a background thread; keeps the peaks."""

    def __init__(self) -> None:
        self.peak_rss_kib = self.peak_pss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            usage = [_memory_kib(pid) for pid in _process_tree(os.getpid())]
            self.peak_rss_kib = max(self.peak_rss_kib, sum(rss for rss, _ in usage))
            self.peak_pss_kib = max(self.peak_pss_kib, sum(pss for _, pss in usage))
            if self._stop.wait(SAMPLE_INTERVAL_S):
                return


def measure(
    scratch: Path, hospital_counts: tuple[int, ...], total_records: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """One pooled FedAvg run per number of hospitals, same records in total, same rounds."""
    rows = []
    for hospitals in hospital_counts:
        data = scratch / f"scale-{hospitals}-hospitals"
        generate_hospitals(
            data,
            hospitals=hospitals,
            records_per_hospital=total_records // hospitals,
            seed=7,
            sample_rate=100,
        )
        config = {
            **SETTINGS,
            "data-path": str(data),
            "run-dir": str(scratch / f"scale-{hospitals}-run"),
            "rounds": ROUNDS,
            "local-epochs": 1,
            "evaluate-every": ROUNDS,
        }
        with TreeMemory() as memory:
            run = timed_simulation(config)
        breakdown = phases(run)
        row = {
            "hospitals": hospitals,
            "records_per_hospital": total_records // hospitals,
            "rounds_per_s": round(ROUNDS / breakdown["rounds_s"], 4),
            "seconds_per_round": round(breakdown["rounds_s"] / ROUNDS, 2),
            "startup_s": breakdown["startup_s"],
            "total_s": breakdown["total_s"],
            "peak_rss_mib": round(memory.peak_rss_kib / 1024),
            "peak_pss_mib": round(memory.peak_pss_kib / 1024),
            "rounds_breakdown_s": breakdown["rounds"],
        }
        rows.append(row)
        say(
            f"{hospitals:2d} hospitals: {row['seconds_per_round']:.1f} s/round, "
            f"start-up {row['startup_s']:.0f} s, peak memory {row['peak_pss_mib']} MiB PSS, "
            f"{row['peak_rss_mib']} MiB RSS"
        )
    return {
        "what": f"pooled FedAvg, {total_records} synthetic records in total split among N hospitals, "
        f"{ROUNDS} rounds x 1 local epoch, validation after the last round; memory of the whole process tree",
        "runs": rows,
    }
