"""Tracker time to playback time, and playback time to the frame shown."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def align_to_playback(
    t_tracker_ms: np.ndarray, *, playback_start_ms: float, fps: float, n_frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shift tracker timestamps to playback time and find the frame on screen at each.

    Parameters
    ----------
    t_tracker_ms : (S,) float ndarray, tracker clock in milliseconds.
    playback_start_ms : tracker time at which frame 0 appeared (sync marker or first sample).
    fps : playback frames per second.
    n_frames : number of frames of the sequence.

    Returns
    -------
    t_ms : (S,) float ndarray, milliseconds since playback start.
    frame : (S,) int64 ndarray, the frame shown (``floor(t_ms * fps / 1000)``).
    keep : (S,) bool ndarray, True for samples during playback (before the start or after the
        last frame: False).
    """
    if not fps > 0:
        raise InputError(f"playback frame rate must be positive, got {fps}")
    if n_frames < 1:
        raise InputError(f"a sequence needs at least one frame, got {n_frames}")
    t_ms = np.asarray(t_tracker_ms, dtype=float) - float(playback_start_ms)
    # A tiny epsilon keeps a sample exactly on a frame boundary (t = k * 1000 / fps, which
    # floating point may land just below) on frame k.
    frame = np.floor(t_ms * fps / 1000.0 + 1e-9).astype(np.int64)
    keep = np.isfinite(t_ms) & (frame >= 0) & (frame < n_frames)
    return t_ms, frame, keep
