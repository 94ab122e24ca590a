"""What a layout reports before any signal is read: the records it lists, with metadata and hospital.

Every layout turns its own metadata (a CSV, header comments, a labels file) into `ListedRecord`s, and into
`SkippedRecord`s for entries it cannot interpret, so that nothing it found is dropped silently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shared.data.dataset import DataError, SkippedRecord
from shared.data.quality import MISSING_AGE, MISSING_SEX

#: Ways of splitting a dataset into hospitals ("auto" picks the layout's natural one).
HOSPITAL_BY_CHOICES: tuple[str, ...] = ("auto", "site", "source", "dir", "none")

_SOURCE_PREFIX = re.compile(r"([A-Za-z]+)\d")
_SEX_CODES = {"m": "M", "male": "M", "f": "F", "female": "F"}
_UNKNOWN_TEXT = {"", "nan", "unknown", "none", "na", "n/a"}


@dataclass(frozen=True)
class ListedRecord:
    """A record a layout found, with everything known about it before its signal is read."""

    record: str  # path relative to the dataset root, without extension (what wfdb is given); images keep it
    patient_id: str
    hospital: str
    age: float | None
    sex: str | None  # "M", "F" or None
    codes: tuple[str, ...]
    strat_fold: int | None = None
    extra_clinical: tuple[float, ...] = ()  # values for Listing.extra_clinical_names, NaN when missing

    @property
    def flags(self) -> tuple[str, ...]:
        """Quality flags that follow from the metadata alone."""
        missing = ((MISSING_AGE, self.age is None), (MISSING_SEX, self.sex is None))
        return tuple(flag for flag, is_missing in missing if is_missing)


@dataclass
class Listing:
    """Everything a layout found under a dataset root."""

    records: list[ListedRecord]
    skipped: list[SkippedRecord] = field(default_factory=list)
    extra_clinical_names: tuple[str, ...] = ()  # clinical columns beyond age and sex that this layout fills

    @property
    def hospitals(self) -> list[str]:
        found = {r.hospital for r in self.records} | {s.hospital for s in self.skipped if s.hospital}
        return sorted(found, key=hospital_sort_key)

    def only_hospital(self, hospital: str, root: Path) -> Listing:
        """The records (and skipped records) of one hospital; DataError naming the known ids otherwise."""
        if hospital not in self.hospitals:
            raise DataError(f"{root}: no hospital {hospital!r}; known hospitals: {', '.join(self.hospitals)}")
        return Listing(
            records=[r for r in self.records if r.hospital == hospital],
            skipped=[s for s in self.skipped if s.hospital == hospital],
            extra_clinical_names=self.extra_clinical_names,
        )


class Layout(Protocol):
    """The interface each layout module provides (see `shared.data.layouts`)."""

    NAME: str
    HOSPITAL_BY: tuple[str, ...]  # supported splits; the first is what "auto" means

    def is_layout(self, root: Path) -> bool: ...

    def input_files(self, root: Path, records: str) -> list[Path]: ...

    def list_records(self, root: Path, *, hospital_by: str, hospital_name: str, records: str) -> Listing: ...


def hospital_sort_key(hospital: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order ("2" before "10"), then names alphabetically."""
    return (0, int(hospital), "") if hospital.isdigit() else (1, 0, hospital)


def hospital_from_path(record: str, hospital_by: str, hospital_name: str) -> str | None:
    """Hospital of a record from its relative path (`dir`, `source`, `none`); None when it has none."""
    if hospital_by == "none":
        return hospital_name
    if hospital_by == "dir":
        parts = record.split("/")
        return parts[0] if len(parts) > 1 else None
    if hospital_by == "source":
        match = _SOURCE_PREFIX.match(record.rsplit("/", 1)[-1])
        return match.group(1).upper() if match else None
    raise ValueError(f"hospital_by={hospital_by!r} cannot be derived from a record path")


def no_hospital_reason(hospital_by: str) -> str:
    """Reason for a record whose path does not name a hospital under `hospital_by`."""
    if hospital_by == "dir":
        return "not inside a hospital sub-folder (--hospital-by dir)"
    return "record name has no source prefix such as A, Q, HR (--hospital-by source)"


def check_hospital_by(layout: str, hospital_by: str, supported: tuple[str, ...], root: Path) -> str:
    """Resolve "auto" and reject splits a layout cannot provide."""
    if hospital_by == "auto":
        return supported[0]
    if hospital_by not in supported:
        raise DataError(
            f"{root}: --hospital-by {hospital_by} does not apply to the {layout} layout "
            f"(choose from {', '.join(supported)})"
        )
    return hospital_by


def parse_age(text: str | None) -> float | None:
    """Age in years from free text ("74", "74.0", "NaN", "Unknown" -> None); negative ages are unknown."""
    if text is None or text.strip().lower() in _UNKNOWN_TEXT:
        return None
    try:
        age = float(text)
    except ValueError:
        raise ValueError(f"age {text!r} is not a number") from None
    return age if math.isfinite(age) and age >= 0 else None


def parse_sex(text: str | None) -> str | None:
    """ "M"/"F" from "Male", "female", "M", ...; None when unknown; ValueError for anything else."""
    if text is None or text.strip().lower() in _UNKNOWN_TEXT:
        return None
    try:
        return _SEX_CODES[text.strip().lower()]
    except KeyError:
        raise ValueError(f"sex {text!r} is not male/female") from None


def header_comments(header_path: Path) -> dict[str, str]:
    """The `# Key: value` comment lines of a WFDB header (free text to wfdb), keys lower-cased."""
    comments: dict[str, str] = {}
    for line in header_path.read_text(errors="replace").splitlines():
        if line.startswith("#") and ":" in line:
            key, value = line[1:].split(":", 1)
            comments.setdefault(key.strip().lower(), value.strip())
    return comments
