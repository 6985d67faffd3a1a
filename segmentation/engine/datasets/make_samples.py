"""How the shipped samples were cut from the team's real-data folder (not used at run time).

Run from the project root: ``python -m segmentation.engine.datasets.make_samples ../shared/data``.

* ``brats-pat0001``: 16 consecutive axial FLAIR slices (frames 29-44 of the tumour-cropped
  volume) with the whole-tumour mask; intensities stored as int16 with a NIfTI scale factor;
  the seven simulated observers' gaze samples on those frames, frames renumbered from 0 and
  times shifted to start at 0.
* ``davis-blackswan``: the first 8 frames shrunk to 427x240 (JPEG) with their masks, and the
  gaze samples on them scaled to the new pixel grid (``x' = (x + 0.5) / 2 - 0.5``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _gaze_rows(src: Path, first: int, count: int, scale: float = 1.0):
    import pandas as pd

    df = pd.read_csv(src)
    df = df[(df["frame"] >= first) & (df["frame"] < first + count)].copy()
    df["frame"] -= first
    df["t_ms"] = (df["t_ms"] - df["t_ms"].min()).round(1)
    if scale != 1.0:
        df["x"] = ((df["x"] + 0.5) * scale - 0.5).round(2)
        df["y"] = ((df["y"] + 0.5) * scale - 0.5).round(2)
    return df


def make_brats(data: Path, first: int = 29, count: int = 16) -> None:
    import nibabel as nib

    out = HERE / "brats-pat0001"
    (out / "gaze").mkdir(parents=True, exist_ok=True)
    for name in ("flair", "tumour"):
        img = nib.load(str(data / "brats/pat0001" / f"{name}.nii.gz"))
        vol = np.asarray(img.dataobj)[:, :, first:first + count]
        if name == "flair":
            new = nib.Nifti1Image(vol.astype(np.float32), img.affine)
            new.set_data_dtype(np.int16)  # nibabel picks a scale factor: ~1e-3 precision
        else:
            new = nib.Nifti1Image((vol > 0).astype(np.uint8), img.affine)
        nib.save(new, str(out / f"{name}.nii.gz"))
    shutil.copy(data / "brats/pat0001/LICENSE.txt", out / "LICENSE.txt")
    rec = json.loads((data / "gaze/brats-pat0001/recording.json").read_text())
    for k in range(1, 8):
        _gaze_rows(data / f"gaze/brats-pat0001/observer-{k}.csv", first, count).to_csv(
            out / "gaze" / f"observer-{k}.csv", index=False)
    meta = {"source": f"../shared/data brats/pat0001 frames {first}-{first + count - 1}",
            "fps": rec["fps"], "px_per_degree": rec["image_px_per_degree"], "frames": count,
            "observers": [o["name"] for o in rec["observers"]]}
    (out / "sample.json").write_text(json.dumps(meta, indent=1))


def make_davis(data: Path, count: int = 8) -> None:
    import imageio.v3 as iio
    from skimage.transform import resize

    out = HERE / "davis-blackswan"
    for sub in ("frames", "masks", "gaze"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for k in range(count):
        im = iio.imread(data / f"davis/blackswan/frames/{k:05d}.jpg")
        small = (resize(im, (240, 427), anti_aliasing=True) * 255).round().astype(np.uint8)
        # PNG: the package data globs of pyproject.toml ship *.png, not *.jpg.
        iio.imwrite(out / "frames" / f"{k:05d}.png", small)
        m = iio.imread(data / f"davis/blackswan/masks/{k:05d}.png")
        m = m if m.ndim == 2 else m[:, :, 0]
        ms = resize(m > 127, (240, 427), order=0, anti_aliasing=False)
        iio.imwrite(out / "masks" / f"{k:05d}.png", (ms > 0).astype(np.uint8) * 255)
    rec = json.loads((data / "gaze/davis-blackswan/recording.json").read_text())
    for k in range(1, 8):
        _gaze_rows(data / f"gaze/davis-blackswan/observer-{k}.csv", 0, count, 0.5).to_csv(
            out / "gaze" / f"observer-{k}.csv", index=False)
    meta = {"source": f"../shared/data davis/blackswan frames 0-{count - 1} shrunk to 427x240",
            "fps": rec["fps"], "px_per_degree": rec["image_px_per_degree"] / 2,
            "frames": count, "observers": [o["name"] for o in rec["observers"]]}
    (out / "sample.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    make_brats(root)
    make_davis(root)
