"""Result overlays of the viewer: a run's score heat map or mask, one RGBA PNG per frame.

The arrays of the last few runs stay decoded in the process (:class:`_ArrayCache`), so that
playing a sequence decodes its ground truth once, not once per frame.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from django.http import Http404

from crowd import storage
from crowd.images import png_bytes

from .export_service import stored_scores
from .models import Run

KINDS = ("scores", "mask")


class _ArrayCache:
    """The last few runs' (scores, masks), so that playing a sequence decodes its npz once."""

    def __init__(self, size: int = 3):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()
        self.loading: set[str] = set()

    def get(self, name: str) -> dict[str, np.ndarray]:
        with self.lock:
            if name in self.items:
                self.items.move_to_end(name)
                return self.items[name]
        arrays = storage.load_npz(name)
        with self.lock:
            self.items[name] = arrays
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return arrays

    def row(self, name: str, key: str, index: int) -> np.ndarray | None:
        """``arrays[key][index]`` of npz ``name``: from the cache when decoded, else read from
        the file up to that row while the whole file is decoded into the cache in a thread.

        Decoding a 100-frame 854x480 map takes seconds on a loaded machine; the first frames a
        page asks for need only the start of the stream (bench/review_page.py).
        """
        with self.lock:
            arrays = self.items.get(name)
            if arrays is None and name not in self.loading:
                self.loading.add(name)
                threading.Thread(target=self._load, args=(name,), daemon=True).start()
        if arrays is not None:
            values = arrays[key]
            return values[index] if 0 <= index < values.shape[0] else None
        return storage.load_npz_row(name, key, index)

    def _load(self, name: str) -> None:
        try:
            self.get(name)
        except Exception:  # noqa: BLE001 - a later request reads the file again and reports it
            pass
        finally:
            with self.lock:
                self.loading.discard(name)


_ground_truth = _ArrayCache()


def overlay_rgba(values: np.ndarray, kind: str) -> np.ndarray:
    """(H, W, 4) uint8 overlay of one frame.

    ``scores`` (H, W) in [0, 1] become a yellow-to-red heat map whose alpha is the score (empty
    where the score is 0, so the background of a confident map stays readable); ``mask`` (H, W) {0, 1} a cyan fill. The page's opacity slider scales
    the whole layer.
    """
    h, w = values.shape
    out = np.zeros((h, w, 4), np.uint8)
    if kind == "mask":
        on = values > 0
        out[on] = (0, 220, 255, 255)
        return out
    s = np.clip(np.nan_to_num(values.astype(np.float32)), 0.0, 1.0)
    out[..., 0] = 255
    out[..., 1] = np.round(230.0 * (1.0 - s) ** 1.5).astype(np.uint8)
    out[..., 3] = np.round(255.0 * s).astype(np.uint8)  # low scores barely tint the image
    return out


def run_overlay_png(*, run: Run, index: int, kind: str = "scores") -> bytes:
    """Frame ``index`` of the run's heat map (``kind="scores"``) or mask (``"mask"``) as RGBA PNG.

    Http404 for a run without ground truth, an unknown kind or a frame that does not exist.
    """
    ground_truth = getattr(run, "ground_truth", None)
    if run.status != Run.Status.SUCCEEDED or ground_truth is None:
        raise Http404(f"run {run.pk} has no ground truth ({run.status})")
    if kind not in KINDS:
        raise Http404(f"unknown overlay {kind!r}; use kind=scores or kind=mask")
    frame = _ground_truth.row(ground_truth.file.name, "scores" if kind == "scores" else "masks", index)
    if frame is None:
        raise Http404(f"frame {index} does not exist (0..{run.sequence.n_frames - 1})")
    if kind == "scores":
        frame = stored_scores({"scores": frame})  # 16-bit levels -> [0, 1]
    return png_bytes(overlay_rgba(frame, kind))


# --- the review tools' raw layers (threshold slider, brush, compare) -----------------------------
#
# The review tools need the scores themselves, not a picture of them: the page cuts the map at
# any threshold and draws the mask, so the browser gets each frame's 16-bit levels exactly as
# stored (uint16, little-endian, row-major), gzip-compressed on the wire. An 8-bit PNG would
# have been decoded natively but rounds the map to 256 levels, so the mask shown at a
# threshold could differ from the mask exported at it near the cut; PNG-16 is read back by
# canvases at 8 bits too. The raw levels make what is shown exactly what is exported.
# Masks (reference, versions) go the same way as uint8 {0, 1}.

def gzip_bytes(array: np.ndarray) -> bytes:
    """``array`` (little-endian, C order) gzip-compressed at level 1 (fast; maps compress well)."""
    import gzip

    return gzip.compress(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes(),
                         compresslevel=1, mtime=0)


def _frame(values: np.ndarray, index: int) -> np.ndarray:
    if not 0 <= index < values.shape[0]:
        raise Http404(f"frame {index} does not exist (0..{values.shape[0] - 1})")
    return values[index]


def run_score_levels(*, run: Run, index: int) -> np.ndarray:
    """Frame ``index`` of the run's score map as uint16 levels (score = level / 65535)."""
    ground_truth = getattr(run, "ground_truth", None)
    if run.status != Run.Status.SUCCEEDED or ground_truth is None:
        raise Http404(f"run {run.pk} has no ground truth ({run.status})")
    scores = _ground_truth.row(ground_truth.file.name, "scores", index)
    if scores is None:
        raise Http404(f"frame {index} does not exist in run {run.pk}'s score map")
    if scores.dtype != np.uint16:  # older runs stored float32 scores
        scores = np.round(np.clip(scores, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return scores


def version_mask(*, name: str, index: int) -> np.ndarray:
    """Frame ``index`` of a stored ground-truth version (media ``name``) as uint8 {0, 1}."""
    return (_frame(_ground_truth.get(name)["masks"], index) > 0).astype(np.uint8)


def reference_mask(*, masks_name: str, mask_frames: list[int], index: int) -> np.ndarray | None:
    """The reference mask of frame ``index`` as uint8 {0, 1}, or None when it has none."""
    if index not in mask_frames:
        return None
    masks = storage.load_npy(masks_name, mmap=True)  # a frame's pages only, not the whole file
    return (np.asarray(masks[mask_frames.index(index)]) > 0).astype(np.uint8)
