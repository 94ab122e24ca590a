"""ECG images (PNG or JPEG) as model input: one file becomes the ink array `multitask_image` reads.

Hospitals that keep only printed or exported ECGs store them as images of the standard page that
`multitask_image` renders from signals (`shared.models.ecg_image`): three rows of four 2.5-s panels
(I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6) over a lead II rhythm strip, dark ink on light paper,
`IMAGE_HEIGHT` x `IMAGE_WIDTH` pixels at `PIXELS_PER_MV`. An image becomes a `IMAGE_SHAPE` float32 array
of ink intensity in [0, 1] (1 = ink, 0 = paper), the same encoding as the rendered images, so the model
reads a hospital's images exactly as it reads signals drawn as images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from shared.data import quality
from shared.data.records import ReadSignal, UnusableRecord

#: File name endings (lower case) of the image formats read.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
#: Page size in pixels: four rows of 64 pixels and 512 columns for the whole record (10 s).
IMAGE_HEIGHT = 256
IMAGE_WIDTH = 512
#: Vertical scale: 2 pixels per millimetre of standard ECG paper (10 mm per mV), so a row spans 3.2 mV.
PIXELS_PER_MV = 20.0
#: Shape of one image as stored in `ECGDataset.signals` (one grey channel).
IMAGE_SHAPE: tuple[int, int, int] = (1, IMAGE_HEIGHT, IMAGE_WIDTH)


def is_image_file(path: Path) -> bool:
    """A file whose name ends in one of `IMAGE_SUFFIXES` (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def read_image(root: Path, record: str) -> ReadSignal:
    """Read the image `root/record` (a relative path with extension) as ink intensity `IMAGE_SHAPE`.

    Raises UnusableRecord when the file is missing, cannot be decoded, or is not the standard page size.
    Colour images are converted to grey first; transparency is ignored.
    """
    path = root / record
    if not path.is_file():
        raise UnusableRecord(quality.unreadable(record, "file not found"))
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"), dtype=np.float32)
    except (OSError, UnidentifiedImageError, ValueError) as error:  # truncated files raise OSError
        raise UnusableRecord(quality.unreadable(record, error)) from None
    reason = quality.check_image_size(grey.shape, (IMAGE_HEIGHT, IMAGE_WIDTH))
    if reason is not None:
        raise UnusableRecord(reason)
    ink = 1.0 - grey / 255.0
    # An image has no sampling rate; 0 keeps it out of the census's sampling-rate counts.
    return ReadSignal(signal=ink[None], source_rate=0.0, flags=())
