"""ECG images: a tree of PNG/JPEG files of the standard 12-lead page, described by a `labels.csv` at the root.

For hospitals that keep only images of their ECGs; they train `multitask_image`, which reads images (the
other models need signals). The CSV is the plain layout's (see `shared.data.layouts.plain`), except that
`record` is the image's path relative to the root *with* its extension (`north/00017.png`): columns
`record`, `patient`, `age`, `sex`, `codes`, optional `smoking`, `hypertension`, `diabetes`, `dyslipidemia`.
Only `record` and `codes` are required. Images must be the page `multitask_image` draws from signals
(`shared.data.images`); others are skipped with their reason.
"""

from __future__ import annotations

from pathlib import Path

from shared.data.dataset import DataError
from shared.data.images import is_image_file
from shared.data.layouts import plain
from shared.data.layouts.listing import Listing

NAME = "image"
HOSPITAL_BY: tuple[str, ...] = plain.HOSPITAL_BY


def _images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if is_image_file(p))


def is_layout(root: Path) -> bool:
    """A folder with a `labels.csv`, ECG images and no WFDB headers (which would make it plain WFDB)."""
    return (
        plain.is_layout(root)
        and next(root.rglob("*.hea"), None) is None
        and any(is_image_file(p) for p in root.rglob("*"))
    )


def input_files(root: Path, records: str) -> list[Path]:
    """The labels file and every image under the root."""
    if not plain.is_layout(root):
        raise DataError(f"{root}: no {plain.LABELS_CSV}, which the image layout needs")
    return [root / plain.LABELS_CSV, *_images(root)]


def list_records(root: Path, *, hospital_by: str, hospital_name: str, records: str) -> Listing:
    """Every row of `labels.csv`, plus images on disk that no row describes (skipped)."""
    return plain.list_labelled_records(
        root,
        layout=NAME,
        supported=HOSPITAL_BY,
        hospital_by=hospital_by,
        hospital_name=hospital_name,
        record_id=lambda text: text.strip().removeprefix("./"),
        on_disk=[p.relative_to(root).as_posix() for p in _images(root)],
    )
