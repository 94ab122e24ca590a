"""Time loading the 500-record PTB-XL subset at 100 Hz: cold (empty cache) and from the preprocessed cache.

Usage: python bench/data_loading.py [PTBXL500_DIR]   (default: $CARDIOFED_PTBXL500 or ../shared/data/ptbxl500)
Prints the figures and writes them, with the machine they were measured on, to bench/data_loading.json;
`make bench` (bench/run.py) calls `measure()`. Targets: under 30 s cold, under 3 s cached.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout

from bench.machine import describe_machine  # noqa: E402
from shared.data import load_dataset  # noqa: E402
from shared.data.cache import CACHE_DIR_ENV  # noqa: E402

OUTPUT = REPO_ROOT / "bench" / "data_loading.json"
PTBXL500 = Path(os.environ.get("CARDIOFED_PTBXL500", REPO_ROOT.parent / "shared" / "data" / "ptbxl500"))
CACHED_REPEATS = 3


def _timed_load(path: Path, records: str) -> tuple[float, int]:
    start = time.perf_counter()
    dataset = load_dataset(path, hospital_by="site", records=records, sample_rate=100, progress=False)
    return time.perf_counter() - start, len(dataset)


def measure(path: Path = PTBXL500, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Cold and cached load times of the PTB-XL subset at `path`, from both its 100 Hz and 500 Hz files."""
    results = {}
    saved_cache_dir = os.environ.get(CACHE_DIR_ENV)
    with tempfile.TemporaryDirectory(prefix="cardiofed-bench-cache-") as cache_dir:
        os.environ[CACHE_DIR_ENV] = cache_dir  # an empty cache, so the first load is cold
        try:
            for records in ("100", "500"):
                cold_s, usable = _timed_load(path, records)
                cached_s = min(_timed_load(path, records)[0] for _ in range(CACHED_REPEATS))
                results[f"records{records}"] = {
                    "usable": usable,
                    "cold_s": round(cold_s, 3),
                    "cached_s": round(cached_s, 4),
                }
                say(f"records{records}: {usable} records, cold {cold_s:.2f} s, cached {cached_s:.3f} s")
        finally:
            if saved_cache_dir is None:
                os.environ.pop(CACHE_DIR_ENV)
            else:
                os.environ[CACHE_DIR_ENV] = saved_cache_dir
    return {
        "what": "load_dataset of the 500-record PTB-XL subset, resampled to 100 Hz, 10 s, task mi",
        "data": str(path),
        "targets": {"cold_s": 30, "cached_s": 3},
        "results": results,
    }


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else PTBXL500
    report = measure(path)
    report["machine"] = describe_machine()
    report["command"] = " ".join(["python", "bench/data_loading.py", *sys.argv[1:]])
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
