"""GazeCrowd gaze to and from pymovements ``Gaze`` (its degree conversion, I-DT / I-VT, metrics).

pymovements is optional (``pip install "gazecrowd[interop]"``): it is imported when a function
here is called, never when the engine loads. Samples travel in **screen pixels** with the
display as pymovements' ``Experiment`` (``Screen``: resolution, size in cm, distance, origin
upper left; the sampling rate), so ``Gaze.pix2deg``, ``pos2vel`` and ``detect("idt" / "ivt")``
run on them; the frame on screen rides along as a ``frame`` column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from .geometry import DisplayGeometry
from .raw import GAZE_COLUMNS
from .timing import align_to_playback

INSTALL_HINT = 'pymovements is not installed; install it with: pip install "gazecrowd[interop]"'


def _pymovements():
    try:
        import pymovements
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return pymovements


def gaze_to_pymovements(
    gaze: pd.DataFrame,
    *,
    geometry: DisplayGeometry,
    image_hw: tuple[int, int],
    sampling_rate_hz: float,
):
    """One recording's canonical gaze table as a pymovements ``Gaze``.

    Parameters
    ----------
    gaze : DataFrame with columns observer, t_ms, frame, x, y (image pixels, x = column,
        y = row; NaN = lost), one observer.
    geometry : the display the recording was watched on (``screen_cm`` and ``distance_cm``
        give pymovements its degrees; without them only pixel measures work).
    image_hw : (rows, columns) of the sequence.
    sampling_rate_hz : the tracker's rate.

    Returns
    -------
    pymovements.Gaze
        Samples ``time`` (ms, playback time), ``pixel`` (screen x, y), ``frame``;
        ``experiment`` the screen and the sampling rate.
    """
    pm = _pymovements()
    import polars

    if gaze["observer"].nunique() > 1:
        raise InputError("one recording at a time: the gaze table holds several observers; "
                         "select one observer's rows")
    xs, ys = geometry.image_to_screen(gaze["x"].to_numpy(float), gaze["y"].to_numpy(float), image_hw)
    samples = polars.DataFrame({
        "time": gaze["t_ms"].to_numpy(float),
        "frame": gaze["frame"].to_numpy(np.int64),
        "x_px": xs,
        "y_px": ys,
    })
    cm = geometry.screen_cm or (None, None)
    experiment = pm.Experiment(
        screen_width_px=int(round(geometry.screen_px[0])), screen_height_px=int(round(geometry.screen_px[1])),
        screen_width_cm=cm[0], screen_height_cm=cm[1], distance_cm=geometry.distance_cm,
        origin="upper left", sampling_rate=float(sampling_rate_hz),
    )
    return pm.Gaze(samples, experiment=experiment, time_column="time", time_unit="ms",
                   pixel_columns=["x_px", "y_px"])


def _pixel_xy(samples) -> tuple[np.ndarray, np.ndarray]:
    """Screen x, y of pymovements samples: the nested ``pixel`` column, or x/y pixel columns."""
    import polars

    if "pixel" in samples.columns:
        xy = samples.select(
            polars.col("pixel").list.get(0).alias("x"), polars.col("pixel").list.get(1).alias("y")
        )
        return (xy["x"].cast(polars.Float64).fill_null(np.nan).to_numpy(),
                xy["y"].cast(polars.Float64).fill_null(np.nan).to_numpy())
    for x_name, y_name in (("x_px", "y_px"), ("pixel_x", "pixel_y")):
        if x_name in samples.columns and y_name in samples.columns:
            return (samples[x_name].cast(polars.Float64).fill_null(np.nan).to_numpy(),
                    samples[y_name].cast(polars.Float64).fill_null(np.nan).to_numpy())
    raise InputError(f"the pymovements Gaze has no pixel positions (columns: {', '.join(samples.columns)}); "
                     "give it pixel_columns")


def gaze_from_pymovements(
    pm_gaze,
    *,
    observer: str,
    image_hw: tuple[int, int],
    fps: float,
    n_frames: int,
    geometry: DisplayGeometry | None = None,
) -> pd.DataFrame:
    """A pymovements ``Gaze`` (monocular, pixel positions, ``time`` in ms) as the canonical table.

    Parameters
    ----------
    pm_gaze : pymovements.Gaze; its ``time`` is playback time in ms (0 = frame 0 on screen).
    observer : written in the ``observer`` column.
    image_hw : (rows, columns); fps : playback rate; n_frames : frames of the sequence.
    geometry : the display; default the ``Gaze``'s experiment screen resolution.

    Returns
    -------
    DataFrame with columns observer, t_ms, frame, x, y (image pixels); the ``frame`` column of
    the samples when present, else the frame shown at each time. Samples outside playback are
    dropped, as for tracker files.
    """
    _pymovements()
    samples = pm_gaze.samples
    if "time" not in samples.columns:
        raise InputError("the pymovements Gaze has no time column")
    if geometry is None:
        screen = getattr(getattr(pm_gaze, "experiment", None), "screen", None)
        if screen is None or not screen.width_px or not screen.height_px:
            raise InputError("the pymovements Gaze has no screen resolution; pass geometry")
        geometry = DisplayGeometry(screen_px=(screen.width_px, screen.height_px))
    t = samples["time"].cast(float).to_numpy()
    sx, sy = _pixel_xy(samples)
    x, y = geometry.screen_to_image(sx, sy, image_hw)
    t_ms, frame, keep = align_to_playback(t, playback_start_ms=0.0, fps=fps, n_frames=n_frames)
    if "frame" in samples.columns:
        frame = samples["frame"].cast(int).to_numpy()
        keep = np.isfinite(t_ms) & (frame >= 0) & (frame < n_frames)
    out = pd.DataFrame({
        "observer": pd.Series([observer] * int(keep.sum()), dtype=object),
        "t_ms": t_ms[keep], "frame": frame[keep].astype(np.int64), "x": x[keep], "y": y[keep],
    }, columns=GAZE_COLUMNS)
    return out.sort_values("t_ms", kind="stable").reset_index(drop=True)
