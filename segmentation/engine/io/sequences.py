"""Read a sequence of frames (or a reference mask) from images, NIfTI, DICOM or a video.

Every reader can be given a pixel budget (``max_pixels``: frames x rows x columns): it reads
the size the file declares from its header (Pillow and tifffile for images, the NIfTI header,
the video stream's metadata through PyAV, DICOM Rows/Columns/NumberOfFrames) and raises
:class:`~segmentation.engine.errors.InputTooLarge` before decoding any pixel when the declared
size exceeds it. A few bytes that promise a huge volume are refused in milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, InputTooLarge

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
    dicom_headers : list of dict or None
        For a DICOM series, the header of frame k's source instance as DICOM JSON (PS3.18
        F.2), without pixel data or private elements: what a DICOM SEG needs to reference the
        series (UIDs, patient and study modules, geometry). None for other kinds.
    """

    frames: np.ndarray
    kind: str
    affine: np.ndarray | None = None
    spacing: tuple | None = None
    fps: float | None = None
    source: str = ""
    dicom_headers: list | None = None

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


def _over_budget(source, pixels: int, budget: int | None, what: str) -> None:
    """Raise :class:`InputTooLarge` when ``pixels`` exceed ``budget`` (None: no budget)."""
    if budget is not None and pixels > budget:
        raise InputTooLarge(
            f"{source}: {what} {pixels:,} pixels (frames x rows x columns), more than the "
            f"budget of {budget:,}; send a smaller or shorter sequence",
            pixels=pixels, budget=budget,
        )


def _image_pixels(path: Path, budget: int | None) -> int:
    """Pixels an image file declares (every image it holds), from its header only.

    Pillow reads the header without decoding (and refuses sizes beyond its own
    ``MAX_IMAGE_PIXELS`` guard); TIFFs Pillow cannot open are measured with tifffile.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            pixels = width * height * max(1, int(getattr(im, "n_frames", 1)))
    except Image.DecompressionBombError as exc:  # beyond twice Pillow's MAX_IMAGE_PIXELS
        raise InputTooLarge(f"{path}: the image declares too many pixels ({exc})",
                            pixels=2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1, budget=budget or 0) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if path.suffix.lower() not in {".tif", ".tiff"}:
            raise InputError(f"{path}: not a readable image ({exc})") from exc
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                pixels = sum(int(p.imagewidth) * int(p.imagelength) * max(1, int(p.imagedepth))
                             for p in tif.pages)
        except Exception as exc2:  # tifffile raises many types; name the file
            raise InputError(f"{path}: not a readable image ({exc2})") from exc2
    return pixels


def _read_images(folder: Path, max_pixels: int | None = None) -> SequenceData:
    import imageio.v3 as iio

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(
            f"{folder}: no image files (expected {', '.join(sorted(IMAGE_SUFFIXES))}), "
            "no DICOM files either"
        )
    if max_pixels is not None:
        total = 0
        for p in files:
            total += _image_pixels(p, max_pixels)
            _over_budget(folder, total, max_pixels, f"{len(files)} images; the headers alone declare")
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


def _read_nifti(path: Path, axis: int, max_pixels: int | None = None) -> SequenceData:
    import nibabel as nib

    try:
        img = nib.load(str(path))  # the header only: pixel data is read below, on demand
        shape = tuple(int(n) for n in img.shape)
    except Exception as exc:
        raise InputError(f"{path}: not a readable NIfTI volume ({exc})") from exc
    if len(shape) not in (2, 3):
        raise InputError(f"{path}: volume has {len(shape)} dimensions, expected 3 (rows, cols, slices)")
    _over_budget(path, math.prod(shape), max_pixels, f"the header declares a {'x'.join(map(str, shape))} volume,")
    try:
        affine = np.asarray(img.affine, dtype=float)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    except Exception as exc:
        raise InputError(f"{path}: unreadable NIfTI header ({exc})") from exc
    if not (np.isfinite(affine).all() and all(math.isfinite(z) for z in zooms)):
        raise InputError(f"{path}: the header's voxel sizes or affine hold NaN or infinity; fix the header")
    try:
        vol = np.asarray(img.dataobj)
    except Exception as exc:
        raise InputError(f"{path}: not a readable NIfTI volume ({exc})") from exc
    if vol.ndim == 2:
        vol = vol[:, :, None]
    if vol.shape[axis] == 0:
        raise InputError(f"{path}: no slices along axis {axis}")
    frames = np.ascontiguousarray(np.moveaxis(vol, axis, 0))
    if frames.dtype == np.float64:  # scaled integers come back as float64; float32 is plenty
        frames = frames.astype(np.float32)
    _check_finite(frames, path)
    in_plane = tuple(z for i, z in enumerate(zooms) if i != axis % 3)
    spacing = in_plane + (zooms[axis % 3],)
    return SequenceData(frames, "nifti", affine=affine, spacing=spacing, source=str(path))


def _check_finite(frames: np.ndarray, source) -> None:
    """Float frames must be finite: a NaN or an infinity in a voxel breaks every later step."""
    if frames.dtype.kind == "f" and not np.isfinite(frames).all():
        bad = int(np.size(frames) - np.count_nonzero(np.isfinite(frames)))
        raise InputError(
            f"{source}: {bad:,} voxel value(s) are NaN or infinite (after any scaling); "
            "replace them (e.g. by 0) before uploading"
        )


def _dicom_pixels(p: Path, ds) -> int:
    """Pixels a DICOM dataset declares: Rows x Columns x NumberOfFrames (header only)."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{p}: DICOM pixel data without valid Rows/Columns/NumberOfFrames ({exc})") from exc
    if rows < 1 or cols < 1 or n < 1:
        raise InputError(f"{p}: DICOM declares {n} frame(s) of {rows}x{cols} pixels")
    return rows * cols * n


def _dicom_headers(folder: Path, max_pixels: int | None) -> list:
    """(path, dataset) of every DICOM file with pixel data in ``folder``, headers only, the
    pixels they declare checked against the budget as they are read."""
    import pydicom

    datasets = []
    total = 0
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        try:
            # Large elements (the pixel data) stay on disk until used: only headers are read.
            ds = pydicom.dcmread(p, defer_size="64 KB")
        except Exception:
            continue  # not DICOM: the caller names the folder if nothing remains
        if "PixelData" not in ds:
            continue
        total += _dicom_pixels(p, ds)
        _over_budget(folder, total, max_pixels, "the DICOM headers (Rows x Columns x NumberOfFrames) declare")
        datasets.append((p, ds))
    return datasets


def _dicom_frame(p: Path, ds) -> np.ndarray:
    """A file's pixels in float32, rescaled by its RescaleSlope and RescaleIntercept."""
    try:
        arr = ds.pixel_array.astype(np.float32)
    except Exception as exc:
        raise InputError(f"{p}: cannot decode DICOM pixel data ({exc})") from exc
    try:
        slope = float(getattr(ds, "RescaleSlope", 1) or 1)
        intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{p}: RescaleSlope/RescaleIntercept are not numbers ({exc})") from exc
    if not (math.isfinite(slope) and math.isfinite(intercept)):
        raise InputError(f"{p}: RescaleSlope/RescaleIntercept hold NaN or infinity")
    with np.errstate(over="ignore", invalid="ignore"):
        return arr * np.float32(slope) + np.float32(intercept)


def _dicom_spacing(ds0) -> tuple | None:
    """(row, column, slice) spacing in mm from the first file, or None when absent or broken."""
    spacing = None
    try:
        if getattr(ds0, "PixelSpacing", None) is not None:
            spacing = (float(ds0.PixelSpacing[0]), float(ds0.PixelSpacing[1]),
                       float(getattr(ds0, "SliceThickness", 0) or 0) or None)
    except (TypeError, ValueError, IndexError):
        spacing = None
    if spacing is not None and not all(s is None or (math.isfinite(s) and s > 0) for s in spacing):
        spacing = None  # a broken spacing is dropped, never stored
    return spacing


#: Elements left out of a stored header: the pixels themselves and their large companions.
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData", "WaveformSequence",
                   "OverlayData", "IconImageSequence")
#: Binary elements longer than this are left out too (a header is kept, not a payload).
_MAX_BINARY_BYTES = 1024


def dicom_header_json(ds) -> dict:
    """A DICOM dataset's header as DICOM JSON, without pixel data, private or large binary
    elements (about 2-5 kB a slice instead of the slice itself).

    Parameters
    ----------
    ds : pydicom.Dataset
        Read with deferred large elements or fully; its pixels are never touched.

    Returns
    -------
    dict
        ``pydicom.Dataset.from_json`` reads it back. An element pydicom cannot write as JSON
        (a malformed value) is left out rather than failing the import: the header is kept
        for a DICOM SEG's references, which need only the well-formed standard modules.
    """
    import pydicom

    kept = pydicom.Dataset()
    for tag in ds.keys():
        if tag.is_private or tag.group in (0x7FE0, 0x6000, 0xFFFE):
            continue
        try:
            element = ds[tag]
        except Exception:  # a raw element that does not parse: leave it out
            continue
        if element.keyword in _PIXEL_KEYWORDS:
            continue
        if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            value = element.value
            if value is None or len(value) > _MAX_BINARY_BYTES:
                continue
        kept.add(element)
    try:
        return kept.to_json_dict()
    except Exception:
        out = {}
        for element in kept:
            try:
                out.update(_one_json(element))
            except Exception:
                continue
        return out


def _one_json(element) -> dict:
    import pydicom

    single = pydicom.Dataset()
    single.add(element)
    return single.to_json_dict()


def _read_dicom(folder: Path, max_pixels: int | None = None) -> SequenceData:
    datasets = _dicom_headers(folder, max_pixels)
    if not datasets:
        raise InputError(f"{folder}: no DICOM files with pixel data")

    def order(item):
        _, ds = item
        pos = getattr(ds, "ImagePositionPatient", None)
        if pos is not None:
            return (0, float(pos[2]))
        return (1, float(getattr(ds, "InstanceNumber", 0) or 0))

    datasets.sort(key=order)
    frames, names, headers = [], [], []
    for p, ds in datasets:
        frames.append(_dicom_frame(p, ds))
        names.append(p.name)
        headers.append(dicom_header_json(ds))
    vol = _stack(frames, names, str(folder))
    _check_finite(vol, folder)
    return SequenceData(vol, "dicom", spacing=_dicom_spacing(datasets[0][1]), source=str(folder),
                        dicom_headers=headers)


def _video_frames_declared(path: Path) -> tuple[int, int, int, float | None]:
    """(frames, rows, columns, fps) of the first video stream, from the container's metadata.

    Frames come from the stream's frame count when the container stores one, else from its
    duration times its frame rate (rounded up); 0 when neither is known.
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise InputError(f"{path}: no video stream")
        stream = container.streams.video[0]
        rows, cols = int(stream.codec_context.height), int(stream.codec_context.width)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else None
        n = int(stream.frames or 0)
        if not n and fps:
            seconds = None
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration:
                seconds = container.duration / 1_000_000  # av.time_base: microseconds
            if seconds is not None and math.isfinite(seconds) and seconds > 0:
                n = math.ceil(seconds * fps)
    return n, rows, cols, fps


def _read_video(path: Path, max_pixels: int | None = None) -> SequenceData:
    import imageio.v3 as iio

    try:
        declared, rows, cols, fps = _video_frames_declared(path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: not a readable video ({exc})") from exc
    if rows < 1 or cols < 1:
        raise InputError(f"{path}: the video stream declares {cols}x{rows} pixels")
    _over_budget(path, declared * rows * cols, max_pixels,
                 f"the video declares {declared:,} frames of {cols}x{rows},")
    frames = []
    try:
        for f in iio.imiter(path, plugin="pyav"):
            frames.append(_squeeze_channels(np.asarray(f)))
            # Metadata can lie (or be missing): the decoded frames are counted too.
            _over_budget(path, len(frames) * rows * cols, max_pixels, "decoding the video gave more than")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: not a readable video ({exc})") from exc
    arr = _stack(frames, [f"frame {k}" for k in range(len(frames))], str(path))
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        fps = None
    return SequenceData(arr, "video", fps=fps, source=str(path))


def read_sequence(path, *, axis: int = -1, max_pixels: int | None = None) -> SequenceData:
    """Read frames from a folder of images, a DICOM folder, a NIfTI volume or a video file.

    Parameters
    ----------
    path : str or Path
        A folder of images (PNG, JPEG, TIFF, BMP; sorted by file name), a folder of DICOM files
        (one slice each, ordered by slice position, else instance number), a ``.nii`` /
        ``.nii.gz`` volume, or a video file (any format PyAV reads).
    axis : int, default -1
        For volumes, the axis along which frames are taken: frame k is ``vol[:, :, k]`` for
        ``axis=-1``. One of -3..2.
    max_pixels : int, optional
        Budget of frames x rows x columns. The size the file's header declares is checked
        against it before any pixel is decoded. None: no budget (trusted local files).

    Returns
    -------
    SequenceData

    Raises
    ------
    InputError
        The path is missing or unreadable, holds no frame, or its frames differ in shape.
    InputTooLarge
        (an InputError) the file declares more pixels than ``max_pixels``.
    """
    path = Path(path)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -3 <= axis <= 2:
        raise InputError(f"axis must be one of -3..2 (the three axes of a volume), got {axis!r}")
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (expected images, a volume or a video)")
    if path.is_dir():
        has_images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
        return _read_images(path, max_pixels) if has_images else _read_dicom(path, max_pixels)
    if _is_nifti(path):
        return _read_nifti(path, int(axis), max_pixels)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        import imageio.v3 as iio

        if max_pixels is not None:
            _over_budget(path, _image_pixels(path, max_pixels), max_pixels, "the image's header declares")
        try:
            im = _squeeze_channels(np.asarray(iio.imread(path)))
        except Exception as exc:
            raise InputError(f"{path}: not a readable image ({exc})") from exc
        return SequenceData(im[None], "images", source=str(path))
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _read_video(path, max_pixels)
    raise InputError(
        f"{path}: unknown format (expected a folder of images or DICOM files, .nii/.nii.gz, "
        "or a video such as .mp4)"
    )


def read_masks(path, *, axis: int = -1, max_pixels: int | None = None) -> np.ndarray:
    """Read reference masks in any form :func:`read_sequence` reads; nonzero is foreground.

    ``axis`` and ``max_pixels`` as for :func:`read_sequence`.

    Returns
    -------
    (T, H, W) bool ndarray
    """
    seq = read_sequence(path, axis=axis, max_pixels=max_pixels)
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
