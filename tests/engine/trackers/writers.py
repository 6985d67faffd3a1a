"""Write small tracker files in each supported format from known screen samples (test helper).

Each writer takes tracker times (ms), screen x, y (pixels; NaN = lost) and a playback-start time
written as the format's sync marker where it has one, and returns the path written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SCREEN = (1920, 1080)


def write_tobii(path: Path, t, x, y, *, sync_ms: float) -> Path:
    header = [
        "Recording timestamp [μs]", "Sensor", "Event", "Gaze point X [DACS px]", "Gaze point Y [DACS px]",
        "Recording resolution width", "Recording resolution height",
    ]
    lines = ["\t".join(header)]
    lines.append("\t".join([f"{int(sync_ms * 1000)}", "", "VideoStimulusStart", "", "", "1920", "1080"]))
    for ti, xi, yi in zip(t, x, y):
        xs = "" if np.isnan(xi) else f"{xi:.1f}".replace(".", ",")  # Pro Lab's decimal comma
        ys = "" if np.isnan(yi) else f"{yi:.1f}".replace(".", ",")
        lines.append("\t".join([f"{int(round(ti * 1000))}", "Eye Tracker", "", xs, ys, "1920", "1080"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_eyelink(path: Path, t, x, y, *, sync_ms: float) -> Path:
    lines = [
        "** CONVERTED FROM test.edf using edfapi 4.2",
        "** DATE: Mon Nov 23 2026",
        f"MSG\t{int(t[0] - 50)} DISPLAY_COORDS 0 0 1919 1079",
        f"START\t{int(t[0] - 10)} \tLEFT\tSAMPLES\tEVENTS",
        "PRESCALER\t1",
        "SAMPLES\tGAZE\tLEFT\tRATE\t  60.00\tTRACKING\tCR\tFILTER\t2",
        f"MSG\t{int(sync_ms)} PLAYBACK_START",
    ]
    for ti, xi, yi in zip(t, x, y):
        if np.isnan(xi):
            lines.append(f"{int(ti)}\t   .\t   .\t    0.0\t...")
        else:
            lines.append(f"{int(ti)}\t{xi:7.1f}\t{yi:7.1f}\t 1000.0\t...")
    lines.append(f"END\t{int(t[-1] + 1)} \tSAMPLES\tEVENTS\tRES\t 38.00\t 36.00")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def write_pupil(path: Path, t, x, y, *, sync_ms: float = 0.0) -> Path:
    rows = ["world_timestamp,world_index,gaze_timestamp,x_norm,y_norm,x_scaled,y_scaled,on_surf,confidence"]
    for k, (ti, xi, yi) in enumerate(zip(t, x, y)):
        lost = np.isnan(xi)
        xn = 0.5 if lost else (xi + 0.5) / SCREEN[0]
        yn = 0.5 if lost else 1.0 - (yi + 0.5) / SCREEN[1]
        conf = 0.1 if lost else 0.95
        line = f"{ti / 1000:.4f},{k // 2},{ti / 1000:.6f},{xn:.6f},{yn:.6f},{xn * 100:.3f},{yn * 100:.3f},True,{conf}"
        rows.append(line)
        if k % 3 == 0:  # Pupil repeats a gaze sample for each world frame it overlaps
            rows.append(line)
    path.write_text("\n".join(rows) + "\n")
    return path


def write_eyetribe(path: Path, t, x, y, *, sync_ms: float = 0.0) -> Path:
    lines = [json.dumps({"category": "heartbeat", "statuscode": 200})]
    for ti, xi, yi in zip(t, x, y):
        lost = np.isnan(xi)
        frame = {
            "timestamp": "2026-11-23 10:00:00.000",
            "time": int(round(ti)),
            "fix": False,
            "state": 8 if lost else 7,
            "raw": {"x": 0 if lost else xi, "y": 0 if lost else yi},
            "avg": {"x": 0.0 if lost else float(xi), "y": 0.0 if lost else float(yi)},
        }
        lines.append(json.dumps({"category": "tracker", "request": "get", "statuscode": 200,
                                 "values": {"frame": frame}}))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv(path: Path, t, x, y, *, sync_ms: float = 0.0, fps: float = 10.0, observer="obs") -> Path:
    """The shared CSV format: playback time and image pixels (x, y given in image pixels here)."""
    rows = ["observer,t_ms,frame,x,y"]
    for ti, xi, yi in zip(t, x, y):
        tp = ti - sync_ms
        fr = int(np.floor(tp * fps / 1000 + 1e-9))
        xs = "" if np.isnan(xi) else f"{xi:.2f}"
        ys = "" if np.isnan(yi) else f"{yi:.2f}"
        rows.append(f"{observer},{tp:.1f},{fr},{xs},{ys}")
    path.write_text("\n".join(rows) + "\n")
    return path


WRITERS = {
    "tobii": (write_tobii, "gaze.tsv"),
    "eyelink": (write_eyelink, "gaze.asc"),
    "pupil": (write_pupil, "gaze_positions_on_surface_Screen.csv"),
    "eyetribe": (write_eyetribe, "gaze.json"),
}

# Compressed formats: the text-editing and memory tests (file size vs memory) use WRITERS only.
def write_bids(path: Path, t, x, y, *, sync_ms: float) -> Path:
    from segmentation.engine.trackers import DisplayGeometry, write_bids_physio

    prefix = str(path)[: -len("_physio.tsv.gz")]
    written = write_bids_physio(prefix, t, x, y, sampling_rate_hz=60.0, geometry=DisplayGeometry(screen_px=SCREEN))
    import gzip

    with gzip.open(prefix + "_physioevents.tsv.gz", "wt") as fh:
        fh.write(f"{sync_ms!r}\tn/a\tn/a\tPLAYBACK_START\n")
    return written[0]


BINARY_WRITERS = {"bids": (write_bids, "sub-01_task-clip_recording-eye1_physio.tsv.gz")}


def screen_samples(*, n=120, t0=5000.0, hz=60.0, rng=0):
    """Tracker times and screen points (pixel centres of integer screen pixels) with a few lost."""
    g = np.random.default_rng(rng)
    t = t0 + np.arange(n) * (1000.0 / hz)
    x = np.round(g.uniform(200, 1700, n))
    y = np.round(g.uniform(100, 1000, n))
    lost = np.zeros(n, bool)
    lost[[k for k in (3, 4, 50) if k < n]] = True
    x[lost] = np.nan
    y[lost] = np.nan
    return t, x, y
