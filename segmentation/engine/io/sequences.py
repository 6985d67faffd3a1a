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


class _FrameSink:
    """Frames gathered one at a time: kept in memory and stacked, or, with ``out``, appended
    to a ``.npy`` file so that a long sequence is never whole in memory.

    Parameters
    ----------
    source : str
        Named in errors.
    out : Path, optional
        The ``.npy`` file to write (a raw file beside it holds the frames until
        :meth:`finish` writes the header).
    grey_if_all_grey : bool
        Frames come as RGB (a video): the sequence is grey only if every frame is. A video
        that opens on black frames is a colour video, not a grey one with colour frames.
    """

    def __init__(self, source, out=None, *, grey_if_all_grey: bool = False):
        self.source = str(source)
        self.out = None if out is None else Path(out)
        self.grey_if_all_grey = grey_if_all_grey
        self.all_grey = True
        self.frames: list[np.ndarray] = []
        self.n = 0
        self.shape = self.dtype = None
        self._raw = None

    @property
    def raw_path(self) -> Path:
        return self.out.with_name(self.out.name + ".raw")

    def append(self, frame: np.ndarray, name: str) -> None:
        frame = np.asarray(frame)
        if self.shape is None:
            self.shape, self.dtype = frame.shape, frame.dtype
        elif frame.shape != self.shape:
            raise InputError(f"{self.source}: frame {self.n} ({name}) has shape {frame.shape}, "
                             f"expected {self.shape} like frame 0")
        if self.grey_if_all_grey and self.all_grey and frame.ndim == 3:
            self.all_grey = bool(np.array_equal(frame[..., 0], frame[..., 1])
                                 and np.array_equal(frame[..., 0], frame[..., 2]))
        _check_finite(frame, f"{self.source}: frame {self.n} ({name})")
        if self.out is None:
            self.frames.append(frame)
        else:
            if frame.dtype != self.dtype:
                if not np.can_cast(frame.dtype, self.dtype, "same_kind"):
                    raise InputError(f"{self.source}: frame {self.n} ({name}) holds {frame.dtype} "
                                     f"values where frame 0 holds {self.dtype}; give every frame "
                                     f"one pixel type")
                frame = frame.astype(self.dtype)
            if self._raw is None:
                self._raw = open(self.raw_path, "wb")  # noqa: SIM115 (closed in finish/discard)
            self._raw.write(np.ascontiguousarray(frame).tobytes())
        self.n += 1

    def finish(self) -> np.ndarray:
        """The (T, H, W[, 3]) frames: an array, or the written file memory-mapped."""
        if self.n == 0:
            raise InputError(f"{self.source}: no frames found (expected images, a volume or a video)")
        grey = self.grey_if_all_grey and self.all_grey and len(self.shape) == 3
        if self.out is None:
            arr = np.stack(self.frames)
            self.frames = []
            return np.ascontiguousarray(arr[..., 0]) if grey else arr
        self._raw.close()
        shape = (self.n, *self.shape[:2]) if grey else (self.n, *self.shape)
        # Plain reads and writes, not memory maps: the pages of a mapped file count in the
        # process's resident memory, which is what the import keeps flat.
        frame_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        step = max(1, (32 << 20) // max(1, frame_bytes))  # 32 MB at a time
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": shape}
        with open(self.raw_path, "rb") as src, open(self.out, "wb") as dst:
            np.lib.format.write_array_header_2_0(dst, header)
            while block := src.read(step * frame_bytes):
                if grey:
                    frames = np.frombuffer(block, self.dtype).reshape(-1, *self.shape)
                    block = np.ascontiguousarray(frames[..., 0]).tobytes()
                dst.write(block)
        self.raw_path.unlink()
        return np.load(self.out, mmap_mode="r", allow_pickle=False)

    def discard(self) -> None:
        """Remove what was written (a read that failed half way)."""
        if self._raw is not None:
            self._raw.close()
        if self.out is not None:
            self.raw_path.unlink(missing_ok=True)
            self.out.unlink(missing_ok=True)


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


def _read_images(folder: Path, max_pixels: int | None = None, out=None) -> SequenceData:
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
    sink = _FrameSink(folder, out)
    for p in files:
        try:
            im = np.asarray(iio.imread(p))
        except Exception as exc:  # imageio raises many types; name the file
            raise InputError(f"{p}: not a readable image ({exc})") from exc
        try:
            frame = _squeeze_channels(im)
        except InputError as exc:
            raise InputError(f"{p}: {exc}") from exc
        sink.append(frame, p.name)
    return SequenceData(sink.finish(), "images", source=str(folder))


def _nifti_frames(img, path: Path, axis: int, full: tuple, out) -> np.ndarray:
    """The volume's frames along ``axis``: with ``out``, along the last axis in slabs."""
    if out is not None and axis % 3 == 2 and len(img.shape) == 3:
        # Slabs of slices through nibabel's array proxy: the last axis is the file's slowest,
        # so each slab is one contiguous read and the volume is never whole in memory.
        sink = _FrameSink(path, out)
        step = max(1, (64 << 20) // max(1, 8 * full[0] * full[1]))
        try:
            for a in range(0, full[2], step):
                slab = np.asarray(img.dataobj[:, :, a:a + step])
                if slab.dtype == np.float64:
                    slab = slab.astype(np.float32)
                for k in range(slab.shape[2]):
                    sink.append(slab[:, :, k], f"slice {a + k}")
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: not a readable NIfTI volume ({exc})") from exc
        frames = sink.finish()
    else:
        try:
            vol = np.asarray(img.dataobj)
        except Exception as exc:
            raise InputError(f"{path}: not a readable NIfTI volume ({exc})") from exc
        if vol.ndim == 2:
            vol = vol[:, :, None]
        frames = np.ascontiguousarray(np.moveaxis(vol, axis, 0))
        del vol
        if frames.dtype == np.float64:  # scaled integers come back as float64; float32 is plenty
            frames = frames.astype(np.float32)
        _check_finite(frames, path)
        if out is not None:
            sink = _FrameSink(path, out)
            for k in range(frames.shape[0]):
                sink.append(frames[k], f"slice {k}")
            del frames
            frames = sink.finish()
    return frames


def _read_nifti(path: Path, axis: int, max_pixels: int | None = None, out=None) -> SequenceData:
    import nibabel as nib

    try:
        # The header only: pixel data is read below, on demand; read, not memory-mapped (the
        # pages of a mapped file count in the resident memory an import keeps flat).
        img = nib.load(str(path), mmap=False)
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
    full = shape if len(shape) == 3 else (*shape, 1)
    if full[axis] == 0:
        raise InputError(f"{path}: no slices along axis {axis}")
    frames = _nifti_frames(img, path, axis, full, out)
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


def _read_dicom(folder: Path, max_pixels: int | None = None, out=None) -> SequenceData:
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
    spacing = _dicom_spacing(datasets[0][1])
    sink = _FrameSink(folder, out)
    headers = []
    for k, (p, ds) in enumerate(datasets):
        sink.append(_dicom_frame(p, ds), p.name)
        headers.append(dicom_header_json(ds))
        datasets[k] = None  # the dataset now holds its decoded pixels: let them go
    return SequenceData(sink.finish(), "dicom", spacing=spacing, source=str(folder), dicom_headers=headers)


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


def _read_video(path: Path, max_pixels: int | None = None, out=None) -> SequenceData:
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
    sink = _FrameSink(path, out, grey_if_all_grey=True)
    try:
        for f in iio.imiter(path, plugin="pyav"):
            frame = np.asarray(f)
            if frame.ndim == 2:
                frame = np.repeat(frame[:, :, None], 3, axis=2)
            sink.append(frame[:, :, :3], f"frame {sink.n}")
            # Metadata can lie (or be missing): the decoded frames are counted too.
            _over_budget(path, sink.n * rows * cols, max_pixels, "decoding the video gave more than")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: not a readable video ({exc})") from exc
    arr = sink.finish()
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        fps = None
    return SequenceData(arr, "video", fps=fps, source=str(path))


def read_sequence(path, *, axis: int = -1, max_pixels: int | None = None,
                  out=None) -> SequenceData:
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
    out : str or Path, optional
        Write the frames to this ``.npy`` file as they are decoded and give them
        memory-mapped: a long sequence is never whole in memory (images, videos, DICOM
        slices one by one; NIfTI volumes in slabs along the last axis, whole along another).
        Nothing is left there when the read fails.

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
    if out is None:
        return _read_sequence(Path(path), axis, max_pixels, None)
    out = Path(out)
    try:
        return _read_sequence(Path(path), axis, max_pixels, out)
    except BaseException:
        _FrameSink(path, out).discard()
        raise


def _read_sequence(path: Path, axis, max_pixels, out) -> SequenceData:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -3 <= axis <= 2:
        raise InputError(f"axis must be one of -3..2 (the three axes of a volume), got {axis!r}")
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (expected images, a volume or a video)")
    if path.is_dir():
        has_images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
        return (_read_images(path, max_pixels, out) if has_images
                else _read_dicom(path, max_pixels, out))
    if _is_nifti(path):
        return _read_nifti(path, int(axis), max_pixels, out)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        import imageio.v3 as iio

        if max_pixels is not None:
            _over_budget(path, _image_pixels(path, max_pixels), max_pixels, "the image's header declares")
        try:
            im = _squeeze_channels(np.asarray(iio.imread(path)))
        except Exception as exc:
            raise InputError(f"{path}: not a readable image ({exc})") from exc
        if out is not None:
            sink = _FrameSink(path, out)
            sink.append(im, path.name)
            return SequenceData(sink.finish(), "images", source=str(path))
        return SequenceData(im[None], "images", source=str(path))
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _read_video(path, max_pixels, out)
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


class LazySequence:
    """Frames decoded on demand: ``seq[a:b]`` decodes frames a..b-1 only.

    Made by :func:`open_sequence`. Quacks like a read-only (T, H, W[, 3]) array for what the
    chunked path (:mod:`segmentation.engine.chunks`) needs: ``shape``, ``dtype``, ``len`` and
    slicing along the first axis (an int gives one frame).

    Attributes
    ----------
    kind : str
        ``"images"``, ``"nifti"``, ``"dicom"``, ``"video"`` or ``"npy"``.
    shape : tuple
    dtype : numpy.dtype
    source : str
    """

    def __init__(self, kind: str, n_frames: int, read, source: str, first: np.ndarray):
        self.kind = kind
        self._read = read
        self.source = source
        self.shape = (int(n_frames), *first.shape)
        self.dtype = first.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            k = int(key) + (self.shape[0] if key < 0 else 0)
            if not 0 <= k < self.shape[0]:
                raise IndexError(f"frame {key} outside 0..{self.shape[0] - 1}")
            return self[k:k + 1][0]
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a lazy sequence is sliced along frames only: seq[k] or seq[a:b]")
        a, b, _ = key.indices(self.shape[0])
        if b <= a:
            return np.zeros((0, *self.shape[1:]), self.dtype)
        out = np.asarray(self._read(a, b))
        if out.shape != (b - a, *self.shape[1:]):
            raise InputError(f"{self.source}: frames {a}-{b - 1} decode to {out.shape}, the first "
                             f"frame said {self.shape[1:]}")
        _check_finite(out, self.source)
        return out.astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def _lazy_images(folder: Path) -> LazySequence:
    import imageio.v3 as iio

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    def read(a, b):
        frames = []
        for p in files[a:b]:
            try:
                frames.append(_squeeze_channels(np.asarray(iio.imread(p))))
            except Exception as exc:
                raise InputError(f"{p}: not a readable image ({exc})") from exc
        return _stack(frames, [p.name for p in files[a:b]], str(folder))

    return LazySequence("images", len(files), read, str(folder), read(0, 1)[0])


def _lazy_nifti(path: Path, axis: int) -> LazySequence:
    import nibabel as nib

    try:
        img = nib.load(str(path))  # header only; dataobj is an array proxy read per slice range
        shape = tuple(int(n) for n in img.shape)
    except Exception as exc:
        raise InputError(f"{path}: not a readable NIfTI volume ({exc})") from exc
    if len(shape) != 3:
        raise InputError(f"{path}: volume has {len(shape)} dimensions, expected 3 (rows, cols, slices)")
    ax = axis % 3
    proxy = img.dataobj

    def read(a, b):
        index = [slice(None)] * 3
        index[ax] = slice(a, b)
        vol = np.asarray(proxy[tuple(index)])
        frames = np.ascontiguousarray(np.moveaxis(vol, ax, 0))
        return frames.astype(np.float32) if frames.dtype == np.float64 else frames

    return LazySequence("nifti", shape[ax], read, str(path), read(0, 1)[0])


def _lazy_dicom(folder: Path) -> LazySequence:
    datasets = _dicom_headers(folder, None)
    if not datasets:
        raise InputError(f"{folder}: no DICOM files with pixel data")

    def order(item):
        pos = getattr(item[1], "ImagePositionPatient", None)
        return (0, float(pos[2])) if pos is not None else (1, float(getattr(item[1], "InstanceNumber", 0) or 0))

    datasets.sort(key=order)
    paths = [p for p, _ in datasets]
    del datasets  # the headers keep deferred pixel data; re-read a file per frame instead

    def read(a, b):
        import pydicom

        frames = [_dicom_frame(p, pydicom.dcmread(p)) for p in paths[a:b]]
        return _stack(frames, [p.name for p in paths[a:b]], str(folder))

    return LazySequence("dicom", len(paths), read, str(folder), read(0, 1)[0])


class _VideoCursor:
    """Sequential PyAV decoding that resumes where the last read stopped (chunks come in
    order); a read before that point decodes again from the start."""

    def __init__(self, path: Path):
        self.path = path
        self.container = None
        self.position = 0

    def _frames(self):
        import av

        if self.container is not None:
            self.container.close()
        self.container = av.open(str(self.path))
        self.iterator = (f.to_ndarray(format="rgb24") for f in self.container.decode(video=0))
        self.position = 0

    def read(self, a, b):
        if self.container is None or a < self.position:
            self._frames()
        out = []
        try:
            while self.position < b:
                frame = next(self.iterator)
                if self.position >= a:
                    out.append(_squeeze_channels(frame))
                self.position += 1
        except StopIteration:
            raise InputError(f"{self.path}: the video ends before frame {b - 1}") from None
        return np.stack(out)


def _lazy_video(path: Path) -> LazySequence:
    import av

    with av.open(str(path)) as container:
        n = sum(1 for _ in container.demux(video=0) if _.size)  # packets: no pixel decoded
    cursor = _VideoCursor(path)
    return LazySequence("video", n, cursor.read, str(path), cursor.read(0, 1)[0])


def open_sequence(path, *, axis: int = -1) -> LazySequence:
    """Open a sequence for decoding frames on demand (what :func:`read_sequence` reads at once).

    Folders of images decode one file per frame; NIfTI volumes are sliced through nibabel's
    array proxy (an uncompressed ``.nii`` reads only the slices asked for); DICOM folders
    decode one file per slice; videos decode sequentially with PyAV (a chunked run asks for
    chunks in order); ``.npy`` files are memory-mapped.

    Parameters
    ----------
    path : str or Path
    axis : int, default -1
        For volumes, the axis along which frames are taken (as :func:`read_sequence`).

    Returns
    -------
    LazySequence
    """
    path = Path(path)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -3 <= axis <= 2:
        raise InputError(f"axis must be one of -3..2 (the three axes of a volume), got {axis!r}")
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (expected images, a volume or a video)")
    if path.is_dir():
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            return _lazy_images(path)
        return _lazy_dicom(path)
    if _is_nifti(path):
        return _lazy_nifti(path, int(axis))
    if path.suffix.lower() == ".npy":
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if arr.ndim not in (3, 4):
            raise InputError(f"{path}: a .npy sequence must be (T, H, W[, 3]); got {arr.shape}")
        return LazySequence("npy", arr.shape[0], lambda a, b: np.asarray(arr[a:b]), str(path), np.asarray(arr[0]))
    if path.suffix.lower() in VIDEO_SUFFIXES:
        try:
            return _lazy_video(path)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: not a readable video ({exc})") from exc
    raise InputError(f"{path}: unknown format (expected a folder of images or DICOM files, "
                     ".nii/.nii.gz, .npy or a video such as .mp4)")
