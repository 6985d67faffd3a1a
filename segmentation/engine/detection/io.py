"""Files of gaze-on-still-images labelling: fixation tables, image folders, masks, models.

Kept apart from the algorithms (which take arrays) so that the platform can hand in what it
read from its own storage. The fixation table is the format of ``kvasir/fixations.csv``::

    image,observer,t_ms,x,y,duration_ms
    cju88y1mwoln50871emyfny1g,expert,7,123.05,115.81,455

``image`` is the image's file name without its extension; ``x`` is the column and ``y`` the row
in image pixels (origin at the centre of the top-left pixel); ``t_ms`` is the fixation's start
from the start of the image's display; ``duration_ms`` its length.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd

from ..errors import InputError

FIXATION_COLUMNS = ("image", "observer", "t_ms", "x", "y", "duration_ms")
#: Image file extensions read from a folder (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _fixation_number(text: str, col: str, *, where: str) -> float:
    """A finite number of a fixation's ``col`` (a duration also >= 0)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"{where}: {col}={text!r} is not a finite "
                         f"number (expected {_EXPECTED[col]})")
    if col == "duration_ms" and value < 0:
        raise InputError(f"{where}: duration_ms={text} is negative "
                         "(expected a duration in milliseconds >= 0)")
    return value


def read_fixations_csv(path: str | Path) -> pd.DataFrame:
    """Read a fixation table ``image,observer,t_ms,x,y,duration_ms``.

    Parameters
    ----------
    path : str or Path
        The CSV file. Extra columns are allowed and kept; the six above are required.

    Returns
    -------
    pandas.DataFrame
        Columns ``image`` (str), ``observer`` (str), ``t_ms`` (float), ``x``, ``y`` (float,
        column and row in pixels), ``duration_ms`` (float), one row per fixation in file order.

    Raises
    ------
    InputError
        The file is missing or empty, a required column is absent, or a value is not a number
        (the message gives the file, the line and what is expected). Empty ``x``/``y`` are not
        allowed: a fixation without a position is not a fixation.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: fixation file not found (expected a CSV with columns "
                         f"{','.join(FIXATION_COLUMNS)})")
    rows: dict[str, list] = {c: [] for c in FIXATION_COLUMNS}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}: empty file (expected a header line "
                             f"{','.join(FIXATION_COLUMNS)})")
        header = [h.strip() for h in header]
        missing = [c for c in FIXATION_COLUMNS if c not in header]
        if missing:
            raise InputError(f"{path}, line 1: missing column(s) {', '.join(missing)} "
                             f"(expected the header {','.join(FIXATION_COLUMNS)})")
        index = {c: header.index(c) for c in FIXATION_COLUMNS}
        extra = [h for h in header if h not in FIXATION_COLUMNS]
        extras: dict[str, list] = {h: [] for h in extra}
        for lineno, rec in enumerate(reader, start=2):
            if not rec or all(not v.strip() for v in rec):
                continue  # blank line
            if len(rec) != len(header):
                raise InputError(f"{path}, line {lineno}: {len(rec)} fields, expected "
                                 f"{len(header)} as in the header")
            name = rec[index["image"]].strip()
            if not name:
                raise InputError(f"{path}, line {lineno}: empty image name (expected the "
                                 "image's file name without extension)")
            rows["image"].append(name)
            rows["observer"].append(rec[index["observer"]].strip())
            for col in ("t_ms", "x", "y", "duration_ms"):
                rows[col].append(_fixation_number(rec[index[col]].strip(), col,
                                                  where=f"{path}, line {lineno}"))
            for h in extra:
                extras[h].append(rec[header.index(h)])
    frame = pd.DataFrame(rows)
    for h in extra:
        frame[h] = extras[h]
    frame["image"] = frame["image"].astype(str)
    frame["observer"] = frame["observer"].astype(str)
    return frame


_EXPECTED = {
    "t_ms": "the fixation start in milliseconds",
    "x": "the column in image pixels",
    "y": "the row in image pixels",
    "duration_ms": "the fixation duration in milliseconds",
}


def list_images(folder: str | Path) -> dict[str, Path]:
    """The image files of a folder, by name without extension, sorted by name.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    dict
        ``{stem: path}`` for every file whose extension is in :data:`IMAGE_EXTENSIONS`.

    Raises
    ------
    InputError
        The folder does not exist, holds no image, or holds two images with the same stem.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (expected a folder of images)")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            if p.stem in found:
                raise InputError(f"{folder}: two images named {p.stem!r} ({found[p.stem].name} "
                                 f"and {p.name}); image names must be unique without extension")
            found[p.stem] = p
    if not found:
        raise InputError(f"{folder}: no image found (expected files ending in "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    return found


def read_image(path: str | Path) -> np.ndarray:
    """One image as an (H, W, 3) uint8 RGB array (grey images are repeated to 3 channels).

    Raises
    ------
    InputError
        The file cannot be decoded as an image.
    """
    path = Path(path)
    try:
        image = iio.imread(path)
    except Exception as exc:  # imageio raises many kinds for undecodable files
        raise InputError(f"{path}: cannot read the image ({exc})") from exc
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise InputError(f"{path}: image of shape {image.shape}; expected (H, W), (H, W, 3) "
                         "or (H, W, 4)")
    image = image[..., :3]
    if image.dtype != np.uint8:
        # 16-bit or float images are scaled into 0..255 so that colour models see one range.
        image = image.astype(np.float64)
        lo, hi = float(image.min()), float(image.max())
        image = ((image - lo) / (hi - lo if hi > lo else 1.0) * 255).round().astype(np.uint8)
    return image


def read_mask(path: str | Path) -> np.ndarray:
    """A binary mask image as an (H, W) bool array (any non-zero pixel is foreground)."""
    path = Path(path)
    try:
        mask = np.asarray(iio.imread(path))
    except Exception as exc:
        raise InputError(f"{path}: cannot read the mask ({exc})") from exc
    if mask.ndim == 3:
        mask = mask[..., 0]
    return mask > (127 if mask.dtype == np.uint8 and mask.max() > 1 else 0)


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write an (H, W) bool mask as an 8-bit PNG with values {0, 255}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, (np.asarray(mask, dtype=bool) * np.uint8(255)))


def save_model_file(path, data: dict) -> Path:
    """Write a detector's weights and parameters (``data``) as a torch file; returns the path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


def load_model_file(path, *, what: str = "weights file") -> object:
    """A torch file of tensors and plain values, loaded on the CPU without unpickling code.

    Raises
    ------
    InputError
        When the file does not exist.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    return torch.load(path, map_location="cpu", weights_only=True)
