"""Small real samples shipped with the engine, for the demo, the tests and first steps.

============== ==================================================================================
name           content
============== ==================================================================================
brats-pat0001  16 axial FLAIR MRI slices (240x240) of BRATS 2013 patient 1 with the whole-tumour
               mask; gaze of 7 simulated observers (4 frames/s, 12 px per degree). Licence:
               CC BY-NC-SA 3.0 (``LICENSE.txt``).
davis-blackswan first 8 frames of DAVIS 2016 ``blackswan`` shrunk to 427x240, masks, gaze of the
               same 7 simulated observers scaled to that size (8 frames/s, 13.3 px per degree).
               Research use (``LICENSE.txt``).
============== ==================================================================================

``make_samples.py`` records how they were cut from the team's real-data folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLES = ("brats-pat0001", "davis-blackswan")


@dataclass
class Sample:
    """A shipped sample: arrays and the paths they came from.

    Attributes
    ----------
    name : str
    frames : (T, H, W) or (T, H, W, 3) ndarray
    truth : (T, H, W) bool ndarray
    gaze : list of DataFrame
        One canonical gaze table per observer.
    px_per_degree : float
    fps : float
    frames_path, truth_path : Path
    gaze_paths : list of Path
    """

    name: str
    frames: np.ndarray
    truth: np.ndarray
    gaze: list
    px_per_degree: float
    fps: float
    frames_path: Path
    truth_path: Path
    gaze_paths: list


def sample_path(name: str) -> Path:
    """Folder of the sample ``name`` (one of :data:`SAMPLES`)."""
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    return HERE / name


def load_sample(name: str = "brats-pat0001") -> Sample:
    """Load a shipped sample (frames, reference masks, the 7 observers' gaze).

    Examples
    --------
    >>> s = load_sample("brats-pat0001")
    >>> s.frames.shape, len(s.gaze)
    ((16, 240, 240), 7)
    """
    from ..io import read_gaze_csv, read_json, read_masks, read_sequence

    folder = sample_path(name)
    meta = read_json(folder / "sample.json")
    if name.startswith("brats"):
        frames_path, truth_path = folder / "flair.nii.gz", folder / "tumour.nii.gz"
    else:
        frames_path, truth_path = folder / "frames", folder / "masks"
    gaze_paths = sorted((folder / "gaze").glob("observer-*.csv"))
    return Sample(
        name=name,
        frames=read_sequence(frames_path).frames,
        truth=read_masks(truth_path),
        gaze=[read_gaze_csv(p) for p in gaze_paths],
        px_per_degree=float(meta["px_per_degree"]),
        fps=float(meta["fps"]),
        frames_path=frames_path,
        truth_path=truth_path,
        gaze_paths=gaze_paths,
    )
