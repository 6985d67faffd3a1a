"""Per-frame agreement of two mask stacks: true/false positives, false negatives, Dice.

Used by the results page's compare view (a run's masks at a threshold, or a hand-corrected
version, against the reference masks or another version). Plain numpy counts: the pixel
metrics of the engine score whole runs, this reports each frame so that a reviewer can jump
to the worst.
"""

from __future__ import annotations

import numpy as np


def frame_agreement(predicted: np.ndarray, truth: np.ndarray, frames: list[int]) -> list[dict]:
    """``{"frame", "tp", "fp", "fn", "dice"}`` of each of ``frames``.

    ``predicted`` is (T, H, W) indexed by frame; ``truth`` holds one mask per entry of
    ``frames`` (same order). Dice of two empty masks is 1 (they agree), never NaN.
    """
    rows = []
    for i, k in enumerate(frames):
        p, t = np.asarray(predicted[k]) > 0, np.asarray(truth[i]) > 0
        tp = int(np.count_nonzero(p & t))
        fp = int(np.count_nonzero(p & ~t))
        fn = int(np.count_nonzero(~p & t))
        dice = 1.0 if tp + fp + fn == 0 else 2.0 * tp / (2.0 * tp + fp + fn)
        rows.append({"frame": int(k), "tp": tp, "fp": fp, "fn": fn, "dice": round(dice, 6)})
    return rows


def worst_frames(rows: list[dict], n: int = 5) -> list[int]:
    """The ``n`` frames with the lowest Dice, worst first (ties: the earlier frame)."""
    return [r["frame"] for r in sorted(rows, key=lambda r: (r["dice"], r["frame"]))[:n]]
