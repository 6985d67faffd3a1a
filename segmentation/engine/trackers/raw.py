"""What every tracker reader returns, and its conversion to the canonical gaze table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError

# The canonical gaze table is io's (the shared CSV format): one definition of its columns.
from ..io.gaze_csv import GAZE_COLUMNS
from .geometry import DisplayGeometry
from .timing import align_to_playback

# What a tracker file may state. Every reader checks its numbers against these where it reads
# them and names the line of the first one outside (or not finite): nothing infinite, NaN
# (except a lost sample's coordinates) or absurd leaves a reader.
MAX_SCREEN_PX = 100_000  # screen width or height, pixels
MAX_SAMPLING_RATE_HZ = 10_000.0  # the fastest trackers sample at 2 kHz
MAX_ABS_TRACKER_MS = 1e15  # |tracker clock| in milliseconds (epoch milliseconds are ~1.7e12)
MAX_ABS_SCREEN = 1e7  # |x|, |y| of a sample in screen pixels (fractions of the screen: 1e7 too)


def check_time(value: float, where: str) -> float:
    """``value`` (tracker ms) if finite and within :data:`MAX_ABS_TRACKER_MS`, else InputError."""
    if not abs(value) <= MAX_ABS_TRACKER_MS:
        raise InputError(f"{where}: timestamp {value!r} is not a finite number of milliseconds "
                         f"within ±{MAX_ABS_TRACKER_MS:g}")
    return value


def check_position(x: float, y: float, where: str) -> tuple[float, float]:
    """``(x, y)`` if each is NaN (lost) or finite within :data:`MAX_ABS_SCREEN`, else InputError."""
    for name, v in (("x", x), ("y", y)):
        if not (np.isnan(v) or abs(v) <= MAX_ABS_SCREEN):
            raise InputError(f"{where}: gaze {name} {v!r} is not a finite screen position "
                             f"(within ±{MAX_ABS_SCREEN:g}; empty for a lost sample)")
    return x, y


def check_screen(width: float, height: float, where: str) -> tuple[float, float]:
    """A screen size the file states: 1..:data:`MAX_SCREEN_PX` pixels each way, else InputError."""
    if not (1 <= width <= MAX_SCREEN_PX and 1 <= height <= MAX_SCREEN_PX):
        raise InputError(f"{where}: screen size {width!r} x {height!r} pixels is not a screen "
                         f"(1 to {MAX_SCREEN_PX} pixels each way)")
    return width, height


def check_rate(rate: float, where: str) -> float:
    """A sampling rate the file states: in (0, :data:`MAX_SAMPLING_RATE_HZ`] Hz, else InputError."""
    if not 0 < rate <= MAX_SAMPLING_RATE_HZ:
        raise InputError(f"{where}: sampling rate {rate!r} Hz is not a rate (0 to {MAX_SAMPLING_RATE_HZ:g} Hz)")
    return rate


@dataclass
class TrackerSamples:
    """Samples as the tracker recorded them, before any mapping to the image.

    Attributes
    ----------
    t_ms : (S,) float ndarray, tracker clock in milliseconds (any origin), sorted.
    x, y : (S,) float ndarray, screen position; NaN = lost sample. Units per ``units``:
        ``"px"`` screen pixels (x = column, y = row, origin top-left) or ``"norm"`` fractions
        of the screen with the origin at the bottom-left and y up (Pupil Labs surfaces).
    sync_ms : tracker time of the playback-start marker found in the file, or None.
    screen_px : (width, height) the file states for the screen, or None.
    sampling_rate_hz : the rate the file states, or None.
    source : the file, for messages.
    """

    t_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    units: str = "px"
    sync_ms: float | None = None
    screen_px: tuple[float, float] | None = None
    sampling_rate_hz: float | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not (len(self.t_ms) == len(self.x) == len(self.y)):
            raise InputError(f"{self.source}: t, x and y columns differ in length")
        if len(self.t_ms) == 0:
            raise InputError(f"{self.source}: no gaze samples found")

    @classmethod
    def in_time_order(cls, t, x, y, **attributes) -> TrackerSamples:
        """Samples from lists of times and positions in file order, sorted by time (stable:
        samples of equal time keep their order)."""
        order = np.argsort(np.asarray(t), kind="stable")
        return cls(t_ms=np.asarray(t, dtype=float)[order], x=np.asarray(x, dtype=float)[order],
                   y=np.asarray(y, dtype=float)[order], **attributes)


def to_gaze_frame(
    raw: TrackerSamples,
    *,
    observer: str,
    geometry: DisplayGeometry,
    image_hw: tuple[int, int],
    fps: float,
    n_frames: int,
    playback_start_ms: float | None = None,
) -> pd.DataFrame:
    """The canonical gaze table (observer, t_ms, frame, x, y) of a tracker recording.

    Time zero is ``playback_start_ms`` when given, else the file's sync marker, else the first
    sample. Samples before playback or after the last frame are dropped (nobody was looking at
    the sequence then); lost samples during playback are kept with NaN x, y.

    Parameters
    ----------
    raw : what a reader returned.
    geometry : the display; ``units="norm"`` samples are scaled by its screen size.
    image_hw : (rows, columns) of the sequence's frames.
    fps : playback frames per second; n_frames : frames in the sequence.
    """
    start = playback_start_ms
    if start is None:
        start = raw.sync_ms if raw.sync_ms is not None else float(raw.t_ms[0])
    t_ms, frame, keep = align_to_playback(raw.t_ms, playback_start_ms=start, fps=fps, n_frames=n_frames)
    if not keep.any():
        raise InputError(
            f"{raw.source}: no sample falls within playback ({n_frames} frames at {fps:g} fps "
            f"from tracker time {start:g} ms); check the sync marker or playback start"
        )
    if raw.units == "norm":
        sx = raw.x * geometry.screen_px[0] - 0.5
        sy = (1.0 - raw.y) * geometry.screen_px[1] - 0.5
    elif raw.units == "px":
        sx, sy = raw.x, raw.y
    else:  # a programming error in a reader, not bad input
        raise ValueError(f"unknown units {raw.units!r}")
    x, y = geometry.screen_to_image(sx, sy, image_hw)
    lost = ~(np.isfinite(x) & np.isfinite(y))
    x = np.where(lost, np.nan, x)
    y = np.where(lost, np.nan, y)
    return pd.DataFrame(
        {
            "observer": pd.Series([observer] * int(keep.sum()), dtype=object),
            "t_ms": t_ms[keep],
            "frame": frame[keep].astype(np.int64),
            "x": x[keep],
            "y": y[keep],
        },
        columns=GAZE_COLUMNS,
    )


def parse_float(text: str) -> float:
    """A number from a tracker export; ``""``, ``"."`` and ``"nan"`` are NaN; ``1,5`` is 1.5.

    Raises ValueError on anything else (the caller adds the file and line).
    """
    text = text.strip()
    if text in {"", ".", "-", "nan", "NaN", "NA"}:
        return float("nan")
    if "," in text and "." not in text:  # a decimal comma (locale-dependent exports)
        text = text.replace(",", ".")
    return float(text)
