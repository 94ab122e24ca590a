"""PhysioNet Challenge 2020/2021: WFDB headers whose comments carry `#Age:`, `#Sex:` and `#Dx:` (SNOMED CT).

Signals sit beside the headers as `.mat` or `.dat` files, often in one sub-folder per source
(`training/cpsc_2018/g1/A0001.hea`). A `.mat` file is a MATLAB v4 matrix `val` of shape (12, n) whose
column-major data is exactly WFDB format 16 after a 24-byte header, which is what the Challenge's `16+24`
signal lines say; wfdb therefore reads it natively and no scipy.io.loadmat fallback is needed (a test writes
such a file with scipy and checks the decoded millivolts). The Challenge has no patient ids, so each
record is its own patient. Hospitals are the record-name prefix (A, Q, I, S, HR, E, JS).
"""

from __future__ import annotations

from pathlib import Path

from shared.data.dataset import SkippedRecord
from shared.data.layouts.listing import (
    ListedRecord,
    Listing,
    check_hospital_by,
    header_comments,
    hospital_from_path,
    no_hospital_reason,
    parse_age,
    parse_sex,
)
from shared.data.quality import unreadable

NAME = "challenge"
HOSPITAL_BY: tuple[str, ...] = ("source", "dir", "none")
_SIGNAL_SUFFIXES = (".hea", ".mat", ".dat")


def is_layout(root: Path) -> bool:
    """Headers carrying a `#Dx:` comment (the first header found decides)."""
    first_header = next(root.rglob("*.hea"), None)
    return first_header is not None and "dx" in header_comments(first_header)


def input_files(root: Path, records: str) -> list[Path]:
    """Every header and signal file under the root."""
    return sorted(p for p in root.rglob("*") if p.suffix in _SIGNAL_SUFFIXES and p.is_file())


def list_records(root: Path, *, hospital_by: str, hospital_name: str, records: str) -> Listing:
    """Every header under the root, with demographics and diagnoses from its comments."""
    hospital_by = check_hospital_by(NAME, hospital_by, HOSPITAL_BY, root)
    listing = Listing(records=[])
    for header_path in sorted(root.rglob("*.hea")):
        record = header_path.relative_to(root).with_suffix("").as_posix()
        hospital = hospital_from_path(record, hospital_by, hospital_name)
        if hospital is None:
            listing.skipped.append(SkippedRecord(record, no_hospital_reason(hospital_by)))
            continue
        try:
            comments = header_comments(header_path)
            age, sex = parse_age(comments.get("age")), parse_sex(comments.get("sex"))
        except (OSError, ValueError) as error:
            listing.skipped.append(SkippedRecord(record, unreadable(f"{record}.hea", error), hospital))
            continue
        if "dx" not in comments:
            listing.skipped.append(SkippedRecord(record, "no #Dx line in header", hospital))
            continue
        codes = tuple(code.strip() for code in comments["dx"].split(",") if code.strip())
        listing.records.append(
            ListedRecord(record, patient_id=record, hospital=hospital, age=age, sex=sex, codes=codes)
        )
    return listing
