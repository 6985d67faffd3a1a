"""What a sequence needs before any gaze arrives: superpixels, features, colour models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .defaults import DEFAULT_PX_PER_DEGREE


@dataclass
class PreparedFrames:
    """A sequence prepared once and reused by every observer and every run.

    Superpixel ``n`` is the set of pixels where ``labels == n``; labels are numbered 0..N-1
    over the whole sequence, frame by frame (a temporal supervoxel may span several frames).

    Attributes
    ----------
    labels : (T, H, W) int32 ndarray
    features : (N, F) float32 ndarray
        Per-superpixel features used by the classifiers (see :mod:`.features`).
    feature_names : list of str, length F
    frame_of : (N,) int32 ndarray
        The frame holding the superpixel (for supervoxels, the frame nearest its centroid).
    centroids : (N, 2) float32 ndarray
        (row, column) centroid in pixels, within ``frame_of``.
    sizes : (N,) int64 ndarray
        Number of pixels.
    colour_mean : (N, C) float32 ndarray
        Mean colour (CIE Lab for colour sequences, C = 3; lightness 0-100 for grey, C = 1).
    colour_cov : (N, C, C) float32 ndarray
        Colour covariance of the superpixel's pixels.
    theta_gradient : (N,) float32 ndarray
        Mean gradient orientation, ``arctan(mean g_row / mean g_col) / pi`` in [-0.5, 0.5].
    theta_flow : (N,) float32 ndarray or None
        Mean optical-flow orientation ``arctan(f_y / f_x) / pi`` (flow to the next frame); None
        unless prepared with ``flow=True``.
    px_per_degree : float
        Image pixels per degree of visual angle used to size superpixels.
    params : dict
        The options used (superpixel size, compactness, feature kind...).
    timings : dict
        Seconds spent per stage (``superpixels``, ``features``).
    cache : dict
        Derived objects computed on first use and shared by every observer (not saved).
    """

    labels: np.ndarray
    features: np.ndarray
    feature_names: list
    frame_of: np.ndarray
    centroids: np.ndarray
    sizes: np.ndarray
    colour_mean: np.ndarray
    colour_cov: np.ndarray
    theta_gradient: np.ndarray
    theta_flow: np.ndarray | None = None
    px_per_degree: float = DEFAULT_PX_PER_DEGREE
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    #: Derived objects shared by every observer (the propagation graph); never saved.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_superpixels(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.labels.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.labels.shape[1]), int(self.labels.shape[2])

    def to_pixels(self, sp_values: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Paint per-superpixel values (N,) onto the pixels: returns (T, H, W)."""
        return np.asarray(sp_values, dtype=dtype)[self.labels]
