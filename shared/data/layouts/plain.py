"""Plain WFDB: any tree of `.hea` + signal files, described by a `labels.csv` at the root.

`labels.csv` columns: `record` (path relative to the root, without extension), `patient`, `age`, `sex`
(M/F/male/female), `codes` (SCP-ECG statements or SNOMED CT ids separated by ";" or ","). Only `record`
and `codes` are required. Optional columns `smoking`, `hypertension`, `diabetes`, `dyslipidemia`
(1/0, yes/no, true/false) become clinical features.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from shared.data.dataset import DataError, SkippedRecord
from shared.data.layouts.listing import (
    ListedRecord,
    Listing,
    check_hospital_by,
    hospital_from_path,
    no_hospital_reason,
    parse_age,
    parse_sex,
)
from shared.data.quality import unreadable_metadata_row

NAME = "plain"
HOSPITAL_BY: tuple[str, ...] = ("dir", "source", "none")
LABELS_CSV = "labels.csv"
_REQUIRED_COLUMNS = ("record", "codes")
_RISK_FACTORS = ("smoking", "hypertension", "diabetes", "dyslipidemia")
_YES_NO = {"1": 1.0, "1.0": 1.0, "yes": 1.0, "true": 1.0, "0": 0.0, "0.0": 0.0, "no": 0.0, "false": 0.0}
_CODE_SEPARATORS = re.compile(r"[;,]")
_SIGNAL_SUFFIXES = (".hea", ".dat", ".mat")


def is_layout(root: Path) -> bool:
    """A folder with a `labels.csv`."""
    return (root / LABELS_CSV).is_file()


def input_files(root: Path, records: str) -> list[Path]:
    """The labels file and every header and signal file under the root."""
    if not is_layout(root):
        raise DataError(f"{root}: no {LABELS_CSV}, which the plain WFDB layout needs")
    signals = sorted(p for p in root.rglob("*") if p.suffix in _SIGNAL_SUFFIXES and p.is_file())
    return [root / LABELS_CSV, *signals]


def list_records(root: Path, *, hospital_by: str, hospital_name: str, records: str) -> Listing:
    """Every row of `labels.csv`, plus headers on disk that no row describes (skipped)."""
    headers = [p.relative_to(root).with_suffix("").as_posix() for p in sorted(root.rglob("*.hea"))]
    return list_labelled_records(
        root,
        layout=NAME,
        supported=HOSPITAL_BY,
        hospital_by=hospital_by,
        hospital_name=hospital_name,
        record_id=_record_id,
        on_disk=headers,
    )


def list_labelled_records(
    root: Path,
    *,
    layout: str,
    supported: tuple[str, ...],
    hospital_by: str,
    hospital_name: str,
    record_id: Callable[[str], str],
    on_disk: Sequence[str],
) -> Listing:
    """The rows of `root/labels.csv` as records, for every layout described by such a file.

    `record_id` turns the text of the `record` column into the record id; `on_disk` lists the ids of the
    records found on disk, and those no row describes are skipped. "auto" splits by sub-folder when any
    record sits in one.
    """
    if hospital_by == "auto":
        hospital_by = "dir" if any("/" in record for record in on_disk) else "none"
    hospital_by = check_hospital_by(layout, hospital_by, supported, root)
    csv_path = root / LABELS_CSV
    listing = Listing(records=[])
    seen: set[str] = set()  # records of labels.csv rows, usable or not
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DataError(f"{csv_path}: missing columns {', '.join(missing)}")
            listing.extra_clinical_names = tuple(c for c in _RISK_FACTORS if c in columns)
            for row in reader:
                line = reader.line_num
                record = record_id(row.get("record") or f"{LABELS_CSV} line {line}")
                hospital = hospital_from_path(record, hospital_by, hospital_name)
                try:
                    if record in seen:
                        raise ValueError(f"record {record} is listed twice")
                    seen.add(record)
                    if hospital is None:
                        listing.skipped.append(SkippedRecord(record, no_hospital_reason(hospital_by)))
                        continue
                    listing.records.append(_parse_row(row, record, hospital, listing.extra_clinical_names))
                except ValueError as error:
                    listing.skipped.append(
                        SkippedRecord(record, unreadable_metadata_row(line, str(error)), hospital)
                    )
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{csv_path}: cannot read the labels file ({error})") from error
    for record in on_disk:
        if record not in seen:
            hospital = hospital_from_path(record, hospital_by, hospital_name)
            listing.skipped.append(SkippedRecord(record, f"no row in {LABELS_CSV}", hospital))
    return listing


def _record_id(text: str) -> str:
    record = text.strip().removeprefix("./")
    return record.removesuffix(".hea")


def _parse_row(row: dict, record: str, hospital: str, extras: tuple[str, ...]) -> ListedRecord:
    if None in row or None in row.values():
        raise ValueError("wrong number of fields")
    return ListedRecord(
        record=record,
        patient_id=(row.get("patient") or "").strip() or record,
        hospital=hospital,
        age=parse_age(row.get("age")),
        sex=parse_sex(row.get("sex")),
        codes=tuple(code.strip() for code in _CODE_SEPARATORS.split(row["codes"]) if code.strip()),
        extra_clinical=tuple(_yes_no(name, row[name]) for name in extras),
    )


def _yes_no(column: str, text: str) -> float:
    value = text.strip().lower()
    if not value:
        return math.nan
    if value not in _YES_NO:
        raise ValueError(f"{column} {text!r} is not yes/no or 1/0")
    return _YES_NO[value]
