"""Names and defaults shared by the engine and the platform, in a module that imports nothing.

The web server reads these when it starts (run parameters, forms): keeping them here lets
``from segmentation.engine import METHODS`` cost no numpy, scikit-learn or torch import.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PX_PER_DEGREE", "LEVELS", "METHODS", "N_BAGS", "N_ROUNDS", "PAPER_BOOSTER"]

#: Segmentation methods of :func:`segmentation.engine.segment`, the default first (its table
#: of methods, ``pipeline.SEGMENTERS``, has exactly these keys; a test checks it).
METHODS = ("eel", "el", "probability", "vilarino")

#: Image pixels per degree of visual angle when nothing better is known: the BRATS
#: development panel (240x240 slices) was watched at 12 px per degree. Superpixels are one
#: degree wide, so this sizes them to 12 px. Where the frame size is known,
#: :func:`segmentation.engine.guess_px_per_degree` is the better guess.
DEFAULT_PX_PER_DEGREE = 12.0

#: Boosting rounds and bags of the default EEL (the paper: 50 rounds, one sample). Soft targets
#: give EEL smaller Newton steps than hard labels, so it needs more rounds to fit; averaging
#: boosters trained on different 10% samples removes much of the sample's luck. Measured on
#: the development sequences in docs/method.md ("The booster").
N_ROUNDS = 200
N_BAGS = 3
#: The paper's booster: ``segment(..., **PAPER_BOOSTER)``.
PAPER_BOOSTER = {"n_rounds": 50, "n_bags": 1}

#: Levels of a stored score map: scores are kept as ``round(score * LEVELS)`` in uint16
#: (:func:`segmentation.engine.quantise`); a download reads them back without the engine.
LEVELS = 65535
