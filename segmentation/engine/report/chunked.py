"""The crowd report of a chunked run, its memory flat in the sequence's length.

:func:`write_run_report` takes a run held in memory (labels, maps and masks of every frame:
13.5 MB per 854x480 frame). A chunked run (:mod:`..chunks`) keeps those on disk, chunk by
chunk; :func:`write_chunked_report` builds the same report from the chunk folder. In memory
are only per-superpixel vectors (the R estimates, the pool, the areas), the reference masks
and the few frames the figures draw: :class:`ChunkStack` reads a frame of a chunk array when
asked for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..chunks import chunk_estimates, chunk_masks, read_layout
from ..io.chunkstore import read_chunk_array, read_chunk_json
from ..masks import masks_at
from ..metrics import dequantise
from .analysis import estimate_matrix, recording_names
from .data import build_report
from .render import write_report

__all__ = ["ChunkStack", "chunk_areas", "write_chunked_report"]


class ChunkStack:
    """A per-frame chunk array (``labels`` or ``scores``) read as one (T, H, W) stack.

    Supports ``len``, ``.shape``, ``.ndim``, ``.max()`` (labels: the largest global number,
    from the layout, without reading) and indexing by a frame, a slice or a list of frames;
    only the frames asked for are read.

    Parameters
    ----------
    folder : path-like
        The chunk folder.
    name : {"labels", "scores"}
        ``labels`` gives global superpixel numbers (the chunk's offset added); ``scores`` the
        stored 16-bit levels, or the delivered masks when ``threshold`` is given.
    threshold : float, optional
        For ``scores``: give the masks cut at it (bool) instead of the levels.
    """

    def __init__(self, folder, name: str, *, threshold: float | None = None):
        if name not in ("labels", "scores"):
            raise ValueError(f"name must be 'labels' or 'scores'; got {name!r}")
        self.folder = Path(folder)
        self.name = name
        self.threshold = threshold
        self.layout = read_layout(folder)
        self.shape = (self.layout.n_frames, *self.layout.shape)
        self.ndim = 3
        self.dtype = np.dtype(bool if threshold is not None else
                              np.int32 if name == "labels" else np.uint16)

    def __len__(self) -> int:
        return self.shape[0]

    def max(self) -> int:
        if self.name != "labels":
            raise TypeError("max() is defined for the labels stack only")
        return self.layout.n_superpixels - 1

    def _frame(self, t: int) -> np.ndarray:
        i = self.layout.chunk_of(t)
        row = np.asarray(read_chunk_array(self.folder, self.name, i)[t - self.layout.chunks[i][0]])
        if self.name == "labels":
            return row + self.layout.offsets[i]
        if self.threshold is not None:
            return masks_at(dequantise(row), self.threshold).astype(bool)
        return row

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            key = range(*key.indices(self.shape[0]))
        elif np.ndim(key) == 0:
            t = int(key)
            if not -self.shape[0] <= t < self.shape[0]:
                raise IndexError(f"frame {t} outside 0..{self.shape[0] - 1}")
            return self._frame(t % self.shape[0])
        idx = [int(t) % self.shape[0] for t in np.asarray(list(key)).ravel()]
        out = np.empty((len(idx), *self.shape[1:]), self.dtype)
        for n, t in enumerate(idx):
            out[n] = self._frame(t)
        return out


def chunk_areas(folder) -> np.ndarray:
    """(N,) pixel area of every superpixel, counted chunk by chunk from the labels."""
    layout = read_layout(folder)
    sizes = np.zeros(layout.n_superpixels, np.float64)
    for i in range(layout.n_chunks):
        a, b = layout.offsets[i], layout.offsets[i + 1]
        labels = np.asarray(read_chunk_array(folder, "labels", i))
        sizes[a:b] = np.bincount(labels.ravel(), minlength=b - a)[: b - a]
    return sizes


def _delivered(folder, layout, choice: dict, method: str, truth) -> dict:
    """:func:`.delivered_summary` from the chunks: the cut, the predicted fraction over the
    whole sequence and, with reference masks, the delivered masks' scores on their frames."""
    from ..pipeline import SegmentationResult, evaluate

    threshold = float(choice["threshold"])
    predicted = sum(int(np.count_nonzero(chunk_masks(folder, i, threshold)))
                    for i in range(layout.n_chunks))
    out = {"method": method, "threshold": threshold, "threshold_rule": choice["rule"],
           "predicted_fraction": predicted / float(np.prod((layout.n_frames, *layout.shape)))}
    if truth is not None:
        masks, frame_idx = truth
        scores = dequantise(ChunkStack(folder, "scores")[list(frame_idx)])
        seg = SegmentationResult(sp_scores=np.zeros(0, np.float32), scores=scores,
                                 masks=masks_at(scores, threshold), threshold=threshold,
                                 method=method, threshold_rule=choice["rule"])
        out.update(evaluate(seg, np.asarray(masks, bool)))
    return out


def write_chunked_report(out_dir, folder, *, frames=None, truth=None, gaze=None, pool=None,
                         name: str = "", svg: bool = True) -> dict[str, Path]:
    """:func:`write_run_report` for a finished chunked run, read from its chunk folder.

    Needs every step done (``finish_chunks`` wrote the threshold). Memory: the (R, N)
    estimates, per-superpixel vectors, the reference masks and the frames the figures draw
    (the maps figure looks at the labels of each frame once, one frame at a time).

    Parameters
    ----------
    out_dir : path-like
        Where the report's files go.
    folder : path-like
        The run's chunk folder.
    frames : (T, H, W[, 3]) array-like, optional
        The sequence (a memory map or a lazy reader: the figures read 3 to 7 frames).
    truth : ((K, H, W) masks, K frame indices), optional
        Reference masks of the listed frames.
    gaze : sequence of DataFrame, optional
        The recordings' gaze tables, in the order of the plan's recordings.
    pool : str or pool object, optional
        The pool the run trained with (refitted here on the same estimates, as
        :func:`..chunks.train_chunks` fitted it: the same weights).
    name : str
        Sequence name for the title.
    svg : bool, default True

    Returns
    -------
    dict
        File name -> path (see :func:`.write_report`).
    """
    from ..pipeline import _pool_estimates

    layout = read_layout(folder)
    choice = read_chunk_json(folder, "threshold")
    method = read_chunk_json(folder, "train")["method"]
    estimates = chunk_estimates(folder)
    pool_obj, _ = _pool_estimates(estimates, pool, True)
    sp_scores = np.concatenate([np.asarray(read_chunk_array(folder, "sp_scores", i))
                                for i in range(layout.n_chunks)])
    if truth is not None:
        truth = (np.asarray(truth[0], bool), [int(t) for t in truth[1]])
    report = build_report(
        estimates=estimate_matrix(estimates),
        observers=recording_names(estimates),
        labels=ChunkStack(folder, "labels"),
        sizes=chunk_areas(folder),
        frames=frames,
        truth=truth,
        gaze=gaze,
        pool=pool_obj,
        pooled_scores={method: sp_scores},
        px_per_degree=layout.px_per_degree,
        title=f"Crowd report: {name}" if name else "Crowd report",
        delivered=_delivered(folder, layout, choice, method, truth),
        delivered_masks=ChunkStack(folder, "scores", threshold=float(choice["threshold"])),
    )
    report.notes.append(f"Chunked run: {layout.n_frames} frames in {layout.n_chunks} chunks; "
                        f"the figures read their frames from the chunks.")
    return write_report(report, out_dir, svg=svg)
