"""Read a sequence of frames (or a reference mask) from images, NIfTI, DICOM or a video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class SequenceData:
    """Frames of a video or the slices of a volume, with what is known of their geometry.

    Attributes
    ----------
    frames : (T, H, W) or (T, H, W, 3) ndarray
        Frame k is ``frames[k]``; row index first, column second. The dtype is the file's
        (uint8 for images and videos, float for most volumes).
    kind : str
        ``"images"``, ``"nifti"``, ``"dicom"`` or ``"video"``.
    affine : (4, 4) ndarray or None
        Voxel to world transform of a NIfTI volume (in the file's axis order).
    spacing : tuple of float or None
        Pixel spacing (row, column[, slice]) in mm when the file gives it.
    fps : float or None
        Frame rate of a video.
    source : str
        The path read.
    """

    frames: np.ndarray
    kind: str
    affine: np.ndarray | None = None
    spacing: tuple | None = None
    fps: float | None = None
    source: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of one frame."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _stack(frames: list[np.ndarray], names: list[str], source: str) -> np.ndarray:
    """Stack frames, naming the first one whose shape differs from frame 0."""
    if not frames:
        raise InputError(f"{source}: no frames found (expected images, a volume or a video)")
    first = frames[0].shape
    for k, (f, name) in enumerate(zip(frames, names)):
        if f.shape != first:
            raise InputError(
                f"{source}: frame {k} ({name}) has shape {f.shape}, expected {first} like frame 0"
            )
    return np.stack(frames)


def _squeeze_channels(frame: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1..4) -> (H, W) grey or (H, W, 3) RGB (alpha dropped)."""
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        rgb = frame[:, :, :3]
        # Grey images saved as RGB: keep them grey so that the engine treats them as such.
        if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
            return rgb[:, :, 0]
        return rgb
    raise InputError(f"unsupported image shape {frame.shape}: expected (H, W) or (H, W, 3)")


def _read_images(folder: Path) -> SequenceData:
    import imageio.v3 as iio

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(
            f"{folder}: no image files (expected {', '.join(sorted(IMAGE_SUFFIXES))}), "
            "no DICOM files either"
        )
    frames = []
    for p in files:
        try:
            im = np.asarray(iio.imread(p))
        except Exception as exc:  # imageio raises many types; name the file
            raise InputError(f"{p}: not a readable image ({exc})") from exc
        try:
            frames.append(_squeeze_channels(im))
        except InputError as exc:
            raise InputError(f"{p}: {exc}") from exc
    arr = _stack(frames, [p.name for p in files], str(folder))
    return SequenceData(arr, "images", source=str(folder))


def _read_nifti(path: Path, axis: int) -> SequenceData:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        vol = np.asarray(img.dataobj)
    except Exception as exc:
        raise InputError(f"{path}: not a readable NIfTI volume ({exc})") from exc
    if vol.ndim == 2:
        vol = vol[:, :, None]
    if vol.ndim != 3:
        raise InputError(f"{path}: volume has {vol.ndim} dimensions, expected 3 (rows, cols, slices)")
    if vol.shape[axis] == 0:
        raise InputError(f"{path}: no slices along axis {axis}")
    frames = np.ascontiguousarray(np.moveaxis(vol, axis, 0))
    if frames.dtype == np.float64:  # scaled integers come back as float64; float32 is plenty
        frames = frames.astype(np.float32)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    in_plane = tuple(z for i, z in enumerate(zooms) if i != axis % 3)
    spacing = in_plane + (zooms[axis % 3],)
    return SequenceData(frames, "nifti", affine=np.asarray(img.affine), spacing=spacing,
                        source=str(path))


def _read_dicom(folder: Path) -> SequenceData:
    import pydicom

    datasets = []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p)
        except Exception:
            continue  # not DICOM: the caller names the folder if nothing remains
        if "PixelData" not in ds:
            continue
        datasets.append((p, ds))
    if not datasets:
        raise InputError(f"{folder}: no DICOM files with pixel data")

    def order(item):
        _, ds = item
        pos = getattr(ds, "ImagePositionPatient", None)
        if pos is not None:
            return (0, float(pos[2]))
        return (1, float(getattr(ds, "InstanceNumber", 0) or 0))

    datasets.sort(key=order)
    frames, names = [], []
    for p, ds in datasets:
        try:
            arr = ds.pixel_array.astype(np.float32)
        except Exception as exc:
            raise InputError(f"{p}: cannot decode DICOM pixel data ({exc})") from exc
        slope = float(getattr(ds, "RescaleSlope", 1) or 1)
        intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
        frames.append(arr * slope + intercept)
        names.append(p.name)
    vol = _stack(frames, names, str(folder))
    ds0 = datasets[0][1]
    spacing = None
    if getattr(ds0, "PixelSpacing", None) is not None:
        spacing = (float(ds0.PixelSpacing[0]), float(ds0.PixelSpacing[1]),
                   float(getattr(ds0, "SliceThickness", 0) or 0) or None)
    return SequenceData(vol, "dicom", spacing=spacing, source=str(folder))


def _read_video(path: Path) -> SequenceData:
    import imageio.v3 as iio

    try:
        frames = [_squeeze_channels(np.asarray(f)) for f in iio.imiter(path, plugin="pyav")]
        meta = iio.immeta(path, plugin="pyav")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: not a readable video ({exc})") from exc
    arr = _stack(frames, [f"frame {k}" for k in range(len(frames))], str(path))
    fps = meta.get("fps")
    return SequenceData(arr, "video", fps=float(fps) if fps else None, source=str(path))


def read_sequence(path, *, axis: int = -1) -> SequenceData:
    """Read frames from a folder of images, a DICOM folder, a NIfTI volume or a video file.

    Parameters
    ----------
    path : str or Path
        A folder of images (PNG, JPEG, TIFF, BMP; sorted by file name), a folder of DICOM files
        (one slice each, ordered by slice position, else instance number), a ``.nii`` /
        ``.nii.gz`` volume, or a video file (any format PyAV reads).
    axis : int, default -1
        For volumes, the axis along which frames are taken: frame k is ``vol[:, :, k]`` for
        ``axis=-1``.

    Returns
    -------
    SequenceData

    Raises
    ------
    InputError
        The path is missing or unreadable, holds no frame, or its frames differ in shape.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (expected images, a volume or a video)")
    if path.is_dir():
        has_images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
        return _read_images(path) if has_images else _read_dicom(path)
    if _is_nifti(path):
        return _read_nifti(path, axis)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        import imageio.v3 as iio

        try:
            im = _squeeze_channels(np.asarray(iio.imread(path)))
        except Exception as exc:
            raise InputError(f"{path}: not a readable image ({exc})") from exc
        return SequenceData(im[None], "images", source=str(path))
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _read_video(path)
    raise InputError(
        f"{path}: unknown format (expected a folder of images or DICOM files, .nii/.nii.gz, "
        "or a video such as .mp4)"
    )


def read_masks(path, *, axis: int = -1) -> np.ndarray:
    """Read reference masks in any form :func:`read_sequence` reads; nonzero is foreground.

    Returns
    -------
    (T, H, W) bool ndarray
    """
    seq = read_sequence(path, axis=axis)
    m = seq.frames
    if m.ndim == 4:
        m = m.max(axis=-1)
    return m > (127 if m.dtype == np.uint8 and m.max() > 1 else 0)


def write_mask_pngs(masks: np.ndarray, folder, *, prefix: str = "") -> list[Path]:
    """Write (T, H, W) {0, 1} masks as 8-bit PNGs {0, 255}, one per frame, ``00000.png`` ...

    Returns the paths written.
    """
    import imageio.v3 as iio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, m in enumerate(np.asarray(masks)):
        p = folder / f"{prefix}{k:05d}.png"
        iio.imwrite(p, (m > 0).astype(np.uint8) * 255)
        paths.append(p)
    return paths
