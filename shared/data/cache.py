"""The preprocessed cache: load a dataset once, then memory-map it for every later epoch and run.

An entry is a folder named by a SHA-256 key over everything the arrays depend on: the layout and loading
options, the preprocessing config, `FORMAT_VERSION`, and the relative path, size and mtime of every input
file. Computing the key stats files but parses none, so a hit never touches wfdb. Entries are written to a
temporary folder and renamed into place, so readers never see a half-written entry and concurrent writers
(several simulated hospitals loading at once) cannot corrupt each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from shared.data.dataset import ECGDataset, RecordInfo, SkippedRecord

#: Bump when the stored arrays or metadata change meaning, so old entries are not reused.
FORMAT_VERSION = 1
CACHE_DIR_ENV = "CARDIOFED_CACHE_DIR"

_SIGNALS = "signals.npy"
_ARRAYS = "arrays.npz"
_METADATA = "metadata.json"


def cache_root() -> Path:
    """Where entries live: $CARDIOFED_CACHE_DIR, else ~/.cache/cardiofed."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "cardiofed")


def cache_key(settings: dict[str, Any], root: Path, files: Sequence[Path]) -> str:
    """SHA-256 over the loading settings and the identity (path, size, mtime) of every input file."""
    digest = hashlib.sha256()
    header = {"format_version": FORMAT_VERSION, "root": str(root.resolve()), **settings}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load(key: str) -> ECGDataset | None:
    """The cached dataset for `key` with memory-mapped signals, or None when there is no usable entry."""
    entry = cache_root() / key
    if not (entry / _METADATA).is_file():
        return None
    try:
        metadata = json.loads((entry / _METADATA).read_text("utf-8"))
        signals = np.load(entry / _SIGNALS, mmap_mode="r")
        with np.load(entry / _ARRAYS) as arrays:
            labels = {task: arrays[f"labels/{task}"] for task in metadata["label_names"]}
            clinical = arrays["clinical"]
    except (OSError, ValueError, KeyError):
        return None  # an entry from an incompatible version or a damaged disk: rebuild it
    return ECGDataset(
        layout=metadata["layout"],
        root=Path(metadata["root"]),
        sample_rate=metadata["sample_rate"],
        duration_s=metadata["duration_s"],
        signals=signals,
        records=[_record_from_json(r) for r in metadata["records"]],
        labels=labels,
        label_names={task: tuple(names) for task, names in metadata["label_names"].items()},
        clinical=clinical,
        clinical_names=tuple(metadata["clinical_names"]),
        records_found=metadata["records_found"],
        skipped=[SkippedRecord(**s) for s in metadata["skipped"]],
    )


def store(key: str, dataset: ECGDataset) -> ECGDataset:
    """Write `dataset` under `key` atomically and return it re-opened from the cache (memory-mapped)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        np.save(staging / _SIGNALS, np.ascontiguousarray(dataset.signals, dtype=np.float32))
        arrays = {"clinical": dataset.clinical, **{f"labels/{task}": y for task, y in dataset.labels.items()}}
        np.savez(staging / _ARRAYS, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
        (staging / _METADATA).write_text(json.dumps(_metadata(dataset)), "utf-8")
        # OSError: another process stored the same key first, and its entry is identical
        with contextlib.suppress(OSError):
            staging.rename(root / key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    cached = load(key)
    if cached is None:
        raise OSError(f"preprocessed cache entry {root / key} could not be read back")
    return cached


def _metadata(dataset: ECGDataset) -> dict[str, Any]:
    return {
        "layout": dataset.layout,
        "root": str(dataset.root),
        "sample_rate": dataset.sample_rate,
        "duration_s": dataset.duration_s,
        "records": [asdict(r) for r in dataset.records],
        "label_names": {task: list(names) for task, names in dataset.label_names.items()},
        "clinical_names": list(dataset.clinical_names),
        "records_found": dataset.records_found,
        "skipped": [asdict(s) for s in dataset.skipped],
    }


def _record_from_json(fields: dict[str, Any]) -> RecordInfo:
    return RecordInfo(**{**fields, "codes": tuple(fields["codes"]), "flags": tuple(fields["flags"])})
