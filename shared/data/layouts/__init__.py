"""The folder layouts cardiofed reads, and automatic detection of which one a folder uses."""

from __future__ import annotations

from pathlib import Path

from shared.data.dataset import DataError
from shared.data.layouts import challenge, image, plain, ptbxl
from shared.data.layouts.listing import HOSPITAL_BY_CHOICES, Layout, ListedRecord, Listing

#: Layouts by name, in detection order: the metadata files of PTB-XL and plain folders are unambiguous
#: (image folders have plain's labels.csv but images instead of WFDB headers, so they are tried first),
#: the Challenge layout is recognised from its header comments.
LAYOUTS: dict[str, Layout] = {
    ptbxl.NAME: ptbxl,
    image.NAME: image,
    plain.NAME: plain,
    challenge.NAME: challenge,
}
LAYOUT_CHOICES: tuple[str, ...] = ("auto", *LAYOUTS)

__all__ = ["HOSPITAL_BY_CHOICES", "LAYOUTS", "LAYOUT_CHOICES", "ListedRecord", "Listing", "detect_layout"]


def detect_layout(root: Path) -> str:
    """Name of the layout of `root`; DataError naming the path when it matches none."""
    for name, layout in LAYOUTS.items():
        if layout.is_layout(root):
            return name
    if next(root.rglob("*.hea"), None) is None:
        raise DataError(f"{root}: no WFDB records (*.hea) found, nor ECG images with a {plain.LABELS_CSV}")
    raise DataError(
        f"{root}: cannot tell the layout: no {ptbxl.DATABASE_CSV}, no {plain.LABELS_CSV}, and the headers "
        "carry no '#Dx:' line; name it with --layout"
    )
