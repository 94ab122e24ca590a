"""PTB-XL: `ptbxl_database.csv` lists every ECG with its patient, site, demographics and SCP-ECG codes.

Signals live in `records100/` (100 Hz) and/or `records500/` (500 Hz); the CSV's `filename_lr` / `filename_hr`
columns point at them. Hospitals are the `site` column. Labels come from the keys of `scp_codes` (any
likelihood); which statements form each diagnostic superclass is defined in `tasks.json`, so the
statement table `scp_statements.csv` is not needed at load time.
"""

from __future__ import annotations

import ast
import csv
import math
from pathlib import Path

from shared.data.dataset import DataError, SkippedRecord
from shared.data.layouts.listing import ListedRecord, Listing, check_hospital_by, parse_age
from shared.data.quality import unreadable_metadata_row

NAME = "ptbxl"
HOSPITAL_BY: tuple[str, ...] = ("site", "none")

DATABASE_CSV = "ptbxl_database.csv"
RECORD_FOLDERS = {"100": ("records100", "filename_lr"), "500": ("records500", "filename_hr")}
RECORDS_CHOICES: tuple[str, ...] = ("auto", "100", "500")
# PTB-XL writes 300 for patients older than 89 (de-identification); 90 is the closest honest value.
_AGE_OVER_89 = 300.0
_REQUIRED_COLUMNS = ("ecg_id", "patient_id", "age", "sex", "site", "scp_codes", "strat_fold")
_EXTRA_CLINICAL = ("height", "weight")
_SEX_CODES = {"0": "M", "0.0": "M", "1": "F", "1.0": "F"}  # PTB-XL: 0 = male, 1 = female


def is_layout(root: Path) -> bool:
    """A folder with PTB-XL's database CSV."""
    return (root / DATABASE_CSV).is_file()


def resolve_records(root: Path, records: str) -> str:
    """Which sampling-rate variant to read: "100", "500", or "auto" (100 Hz when present, else 500)."""
    if not is_layout(root):
        raise DataError(f"{root}: no {DATABASE_CSV}, so this is not a PTB-XL folder")
    if records == "auto":
        records = "100" if (root / RECORD_FOLDERS["100"][0]).is_dir() else "500"
    folder = RECORD_FOLDERS[records][0]
    if not (root / folder).is_dir():
        raise DataError(f"{root}: no {folder}/ folder for --records {records}")
    return records


def input_files(root: Path, records: str) -> list[Path]:
    """The CSV and every file of the chosen records folder (what the preprocessed cache depends on)."""
    folder = RECORD_FOLDERS[resolve_records(root, records)][0]
    return [root / DATABASE_CSV, *sorted(p for p in (root / folder).rglob("*") if p.is_file())]


def list_records(root: Path, *, hospital_by: str, hospital_name: str, records: str) -> Listing:
    """Every row of the database CSV, as a listed record or a skipped one."""
    hospital_by = check_hospital_by(NAME, hospital_by, HOSPITAL_BY, root)
    filename_column = RECORD_FOLDERS[resolve_records(root, records)][1]
    csv_path = root / DATABASE_CSV
    listed: list[ListedRecord] = []
    skipped: list[SkippedRecord] = []
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in (*_REQUIRED_COLUMNS, filename_column) if c not in columns]
            if missing:
                raise DataError(f"{csv_path}: missing columns {', '.join(missing)}")
            extras = tuple(c for c in _EXTRA_CLINICAL if c in columns)
            for row in reader:
                line = reader.line_num
                record = row.get(filename_column) or f"{DATABASE_CSV} line {line}"
                try:
                    listed.append(
                        _parse_row(row, record, filename_column, extras, hospital_by, hospital_name)
                    )
                except ValueError as error:
                    reason = unreadable_metadata_row(line, str(error))
                    hospital = _row_hospital(row, hospital_by, hospital_name)
                    skipped.append(SkippedRecord(record, reason, hospital))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{csv_path}: cannot read the PTB-XL database ({error})") from error
    return Listing(listed, skipped, extra_clinical_names=extras)


def _parse_row(
    row: dict,
    record: str,
    filename_column: str,
    extras: tuple[str, ...],
    hospital_by: str,
    hospital_name: str,
) -> ListedRecord:
    if None in row or None in row.values():
        raise ValueError("wrong number of fields")
    if not row[filename_column]:
        raise ValueError(f"{filename_column} is empty")
    scp_codes = _literal_dict(row["scp_codes"])
    if not row["patient_id"]:
        raise ValueError("patient_id is empty")
    if hospital_by == "site" and not row["site"]:
        raise ValueError("site is empty")
    sex = row["sex"].strip()
    if sex and sex not in _SEX_CODES:
        raise ValueError(f"sex {sex!r} is not 0 (male) or 1 (female)")
    age = parse_age(row["age"])
    return ListedRecord(
        record=record,
        patient_id=_integer_text(row["patient_id"]),
        hospital=_integer_text(row["site"]) if hospital_by == "site" else hospital_name,
        age=90.0 if age is not None and age >= _AGE_OVER_89 else age,
        sex=_SEX_CODES.get(sex),
        codes=tuple(str(code) for code in scp_codes),
        strat_fold=int(float(row["strat_fold"])) if row["strat_fold"] else None,
        extra_clinical=tuple(float(row[name]) if row[name] else math.nan for name in extras),
    )


def _literal_dict(text: str) -> dict:
    """PTB-XL's `scp_codes` cell, a Python dict literal such as "{'IMI': 100.0, 'SR': 0.0}"."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"scp_codes is not a dictionary: {text!r}")
    return value


def _integer_text(value: str) -> str:
    """PTB-XL stores integer ids as floats ("15709.0"); ids are compared as text, so drop the ".0"."""
    number = float(value)
    return str(int(number)) if number.is_integer() else value


def _row_hospital(row: dict, hospital_by: str, hospital_name: str) -> str | None:
    """Hospital of an unreadable row, when its site can still be read."""
    if hospital_by == "none":
        return hospital_name
    try:
        return _integer_text(row.get("site") or "")
    except ValueError:
        return None
