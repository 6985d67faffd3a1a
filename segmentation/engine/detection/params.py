"""Parameters of the detection package and their defaults, in a module light to import.

The command line builds its ``--help`` from these without importing torch or scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Default standard deviation of the Gaussian placed on each fixation, in image pixels. Tuned
#: on the kvasir development split (256x256 images; the data do not say how many pixels a
#: degree of visual angle spanned). Pass ``sigma_deg`` and ``px_per_degree`` to
#: :func:`.heatmap.sigma_pixels` to give it in degrees instead.
DEFAULT_SIGMA_PX = 16.0
#: The published threshold: ``factor`` times the mean of the non-zero heat (Mariam et al.).
PUBLISHED_FACTOR = 4.0
#: The Gaussian kernel is cut at this many standard deviations; beyond it the heat is exactly
#: zero, which is what makes "the mean of the non-zero heat" well defined.
TRUNCATE = 3.0


@dataclass(frozen=True)
class RefineParams:
    """Parameters of the refinement (defaults tuned on the kvasir development split).

    Attributes
    ----------
    prior_factor : float
        Heat level of even odds, as a multiple of the mean non-zero heat (1.5).
    gamma : float
        Weight of the log heat ratio in the prior (1).
    beta : float
        Weight of the colour log-likelihood ratio (0.25).
    fg_level, bg_level : float
        Pixels with heat above ``fg_level`` (below ``bg_level``) times the even-odds level
        train the target (background) colour model (1.5, 0.2).
    n_components : int
        Gaussians per colour mixture (3).
    max_samples : int
        At most this many pixels train each mixture (3000, drawn with ``rng``).
    n_segments, compactness : int, float
        SLIC parameters (400 superpixels, compactness 10).
    crf_weight : float
        Strength of the CRF's pairwise term (4).
    crf_position, crf_colour : float
        Kernel widths in pixels and in Lab units (15, 10).
    crf_iterations : int
        Mean-field steps (5).
    fill_holes : bool
        Fill holes of the final mask (True).
    """

    prior_factor: float = 1.5
    gamma: float = 1.0
    beta: float = 0.25
    fg_level: float = 1.5
    bg_level: float = 0.2
    n_components: int = 3
    max_samples: int = 3000
    n_segments: int = 400
    compactness: float = 10.0
    crf_weight: float = 4.0
    crf_position: float = 15.0
    crf_colour: float = 10.0
    crf_iterations: int = 5
    fill_holes: bool = True


#: Detector backbones (see :mod:`.detector`).
ARCHITECTURES = ("tiny", "mobilenet_v3", "resnet18")
#: Defaults of :class:`.detector.BoxDetector` (and of the ``detector`` command).
DETECTOR_DEFAULTS = dict(architecture="tiny", epochs=12, batch_size=8, learning_rate=2e-3,
                         weight_decay=1e-4, image_size=256)
