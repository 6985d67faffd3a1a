"""Crowd reports: built from arrays, written as HTML/CSV/PNG/SVG files that parse."""

from __future__ import annotations

import base64
import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from segmentation.engine.metrics import ROC_GRID
from segmentation.engine.pooling import DEFAULT_POOL, WeightedPool
from segmentation.engine.report import (
    build_report,
    crowd_analysis,
    write_report,
    write_run_report,
)

T, H, W, B = 3, 16, 16, 4  # frames, rows, columns, superpixel block size


def _sequence(rng):
    """Block superpixels numbered over the sequence, a square object, a crowd of 4 observers
    (one with a repeat) and a random one."""
    per_frame = (H // B) * (W // B)
    blocks = np.arange(per_frame).reshape(H // B, W // B).repeat(B, 0).repeat(B, 1)
    labels = np.stack([blocks + t * per_frame for t in range(T)])
    truth = np.zeros((T, H, W), bool)
    truth[:, 4:12, 4:8] = True
    n = T * per_frame
    sp_truth = np.bincount(labels.ravel(), truth.ravel(), minlength=n) / B**2
    names = ["ann", "bob", "bob", "cat", "dan", "random"]
    est = [np.clip(sp_truth + rng.normal(0, 0.15, n), 0, 1) for _ in names[:-1]]
    est.append(rng.random(n))
    frames = rng.random((T, H, W)).astype(np.float32)
    return labels, truth, np.array(est), names, frames


def _gaze(name, rng, *, lost=0.0):
    rows = []
    for f in range(T):
        for k in range(5):
            x, y = (6 + rng.normal(), 8 + rng.normal()) if rng.random() > lost else (np.nan,) * 2
            rows.append((name, (5 * f + k) * 16.7, f, x, y))
    return pd.DataFrame(rows, columns=["observer", "t_ms", "frame", "x", "y"])


def test_report_files_are_written_and_parse(tmp_path):
    rng = np.random.default_rng(0)
    labels, truth, est, names, frames = _sequence(rng)
    single = {"eel": {o: est[[i for i, n in enumerate(names) if n == o]].mean(0) ** 0.5
                      for o in dict.fromkeys(names)}}
    subsets = pd.DataFrame({"n_observers": [1, 2, 3], "mean": [0.8, 0.85, 0.9],
                            "se": [0.02, 0.01, np.nan], "n_subsets": [5, 5, 1],
                            "values": [[], [], []]})
    gaze = [_gaze(n, rng, lost=0.9 if n == "random" else 0.0) for n in names]
    report = build_report(estimates=est, observers=names, labels=labels, frames=frames,
                          truth=truth, gaze=gaze, pool="weighted", method_scores=single,
                          pooled_scores={"eel": est[:-1].mean(0)}, subsets=subsets,
                          px_per_degree=4.0, title="Toy <sequence>")
    files = write_report(report, tmp_path)
    for name in ("report.html", "roc.png", "roc.svg", "observers.csv", "curves.csv",
                 "auc_vs_observers.png", "maps.png", "observers.png", "variance.png"):
        assert (tmp_path / name).is_file(), name
        assert files[name] == tmp_path / name

    table = pd.read_csv(tmp_path / "observers.csv")
    assert table["observer"].tolist() == ["ann", "bob", "cat", "dan", "random"]
    assert table.loc[table.observer == "bob", "recordings"].item() == 2
    for col in ("weight", "flagged", "agreement", "auc_probability", "f1_probability",
                "auc_eel", "f1_eel", "within_variance", "valid_fraction"):
        assert col in table.columns, col
    assert table["weight"].sum() == pytest.approx(1.0)
    assert table.set_index("observer")["flagged"].to_dict() == {
        "ann": False, "bob": False, "cat": False, "dan": False, "random": True}
    auc = table.set_index("observer")["auc_probability"]
    assert auc["random"] < 0.7 < auc.drop("random").min()
    # Only bob has repeats: the within-observer variance is his alone.
    assert np.isfinite(table.set_index("observer").loc["bob", "within_variance"])
    assert table["within_variance"].isna().sum() == 4

    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["curve"]) == {"roc", "roc_mean", "roc_pooled", "auc_vs_observers"}
    mean_eel = curves[(curves.curve == "roc_mean") & (curves.method == "eel")]
    assert len(mean_eel) == len(ROC_GRID) and mean_eel["y"].is_monotonic_increasing
    assert (curves[curves.curve == "roc"].groupby(["method", "observer"]).size() > 1).all()

    page = (tmp_path / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 5
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "Toy &lt;sequence&gt;" in page and "<sequence>" not in page
    assert "http" not in page.replace("http://www.w3.org", "")  # nothing fetched when read
    assert (tmp_path / "roc.svg").read_text().lstrip().startswith("<?xml")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pool"]["method"] == "weighted"
    assert summary["flagged"] == ["random"]
    assert summary["single"]["eel"]["n"] == 5
    assert summary["variance"]["n_repeated"] == 1


def test_report_without_truth_still_judges_observers(tmp_path):
    rng = np.random.default_rng(1)
    labels, _, est, names, _ = _sequence(rng)
    report = build_report(estimates=est, observers=names, labels=labels)
    assert report.summary["pool"]["method"] == DEFAULT_POOL
    assert "No reference masks" in " ".join(report.notes)
    write_report(report, tmp_path, svg=False)
    table = pd.read_csv(tmp_path / "observers.csv")
    assert "auc_eel" not in table.columns
    assert table.set_index("observer")["agreement"].idxmin() == "random"
    assert (tmp_path / "roc.png").is_file()  # a placeholder saying why
    assert not (tmp_path / "roc.svg").exists()


def test_truth_on_some_frames_only_is_scored_there():
    rng = np.random.default_rng(2)
    labels, truth, est, names, _ = _sequence(rng)
    full = build_report(estimates=est, observers=names, labels=labels, truth=truth)
    part = build_report(estimates=est, observers=names, labels=labels,
                        truth=(truth[[0, 2]], [0, 2]))
    assert part.summary["frames_scored"] == 2
    a, b = full.observers["auc_probability"], part.observers["auc_probability"]
    assert not np.allclose(a, b) and np.all(np.abs(a - b) < 0.2)
    with pytest.raises(ValueError, match="frame 5 is past the 3 frames"):
        build_report(estimates=est, observers=names, labels=labels, truth=(truth[:1], [5]))


def test_inputs_are_checked():
    rng = np.random.default_rng(3)
    labels, _, est, names, _ = _sequence(rng)
    with pytest.raises(ValueError, match="5 observer names for 6 recordings"):
        build_report(estimates=est, observers=names[:5])
    with pytest.raises(ValueError, match="labels number"):
        build_report(estimates=est[:, :10], observers=names, labels=labels)


def test_crowd_analysis_runs_single_observers_and_subsets_once_each(tmp_path):
    rng = np.random.default_rng(4)
    labels, truth, est, names, frames = _sequence(rng)
    prepared = SimpleNamespace(labels=labels, sizes=np.bincount(labels.ravel()),
                               px_per_degree=4.0)
    estimates = [SimpleNamespace(scores=e, observer=n) for e, n in zip(est, names)]
    calls = []

    def fake_segment(prepared, frames, chosen, *, method, pool, rng):
        calls.append((method, tuple(sorted({e.observer for e in chosen})), pool))
        p = WeightedPool() if pool == "weighted" else None
        sp = np.mean([e.scores for e in chosen], axis=0)
        if p is not None:
            sp = p.fit_predict(np.array([e.scores for e in chosen]), [e.observer for e in chosen])
        return SimpleNamespace(sp_scores=sp, pool=p)

    out = crowd_analysis(prepared, frames, estimates, truth=truth, pool="weighted",
                         max_subsets=3, segment=fake_segment)
    assert len(calls) == len(set(calls))  # cached: single-observer EEL doubles as size-1 subsets
    assert set(out["method_scores"]) == {"eel", "el"}
    assert set(out["pooled_scores"]) == {"eel (weighted)", "eel (mean)"}
    assert out["subsets"]["n_observers"].tolist() == [1, 2, 3, 4, 5]
    assert "random" in out["pool"].notes_  # disagreement is noted; the floor keeps its weight
    assert ("eel", ("bob",), "mean") in calls  # an observer alone: their repeats averaged
    result = out.pop("result")
    assert result is not None
    report = build_report(**out, frames=frames, truth=truth)
    write_report(report, tmp_path, svg=False)
    assert (tmp_path / "auc_vs_observers.png").is_file()


def test_write_run_report_from_a_finished_run(tmp_path):
    rng = np.random.default_rng(5)
    labels, truth, est, names, frames = _sequence(rng)
    prepared = SimpleNamespace(labels=labels, sizes=np.bincount(labels.ravel()),
                               px_per_degree=4.0)
    estimates = [SimpleNamespace(scores=e, observer=n) for e, n in zip(est, names)]
    pool = WeightedPool().fit(est, names)
    result = SimpleNamespace(sp_scores=pool.pooled_, pool=pool)
    files = write_run_report(tmp_path, prepared=prepared, estimates=estimates, result=result,
                             frames=frames, truth=(truth, list(range(T))), name="toy",
                             svg=False)
    assert "report.html" in files and "observers.csv" in files
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pool"]["flagged"] == [] and "eel" in summary["pooled"]
    table = pd.read_csv(tmp_path / "observers.csv").set_index("observer")
    assert "disagrees with the others" in table.loc["random", "note"]


def test_report_command_end_to_end(tmp_path):
    """``python -m segmentation.engine report`` on a tiny synthetic sequence of PNG frames."""
    import imageio.v3 as iio

    from segmentation.engine.cli import main

    rng = np.random.default_rng(6)
    frames_dir, masks_dir = tmp_path / "frames", tmp_path / "masks"
    frames_dir.mkdir()
    masks_dir.mkdir()
    mask = np.zeros((40, 48), bool)
    mask[12:28, 16:32] = True
    for t in range(3):
        img = (60 + 20 * rng.random((40, 48))).astype(np.uint8)
        img[mask] = 200
        iio.imwrite(frames_dir / f"{t:03d}.png", img)
        iio.imwrite(masks_dir / f"{t:03d}.png", mask.astype(np.uint8) * 255)
    gaze_files = []
    for k, (cx, cy, spread) in enumerate([(24, 20, 2), (23, 19, 2), (25, 21, 2), (5, 5, 20)]):
        rows = ["observer,t_ms,frame,x,y"]
        for t in range(3):
            for j in range(6):
                x, y = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
                rows.append(f"obs-{k + 1},{(6 * t + j) * 16.7:.1f},{t},{x:.2f},{y:.2f}")
        path = tmp_path / f"obs{k + 1}.csv"
        path.write_text("\n".join(rows) + "\n")
        gaze_files.append(str(path))
    out = tmp_path / "out"
    code = main(["report", "--frames", str(frames_dir), "--gaze", *gaze_files, "--truth",
                 str(masks_dir), "--out", str(out), "--px-per-degree", "4", "--subsets", "2",
                 "--methods", "eel", "--pool", "weighted", "--quiet"])
    assert code == 0
    for name in ("report.html", "roc.png", "observers.csv", "curves.csv"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "observers.csv")
    assert table["observer"].tolist() == ["obs-1", "obs-2", "obs-3", "obs-4"]
    assert {"weight", "flagged", "agreement", "auc_eel", "f1_eel"} <= set(table.columns)
    assert table["weight"].sum() == pytest.approx(1.0)


def test_report_command_names_bad_input(tmp_path, capsys):
    from segmentation.engine.cli import main

    code = main(["report", "--frames", str(tmp_path / "missing"), "--gaze",
                 str(tmp_path / "g.csv"), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "missing" in capsys.readouterr().err


def test_one_observer_with_repeats_gets_a_report(tmp_path):
    """Within-observer variance without a between-observer one (the share is undefined)."""
    rng = np.random.default_rng(3)
    labels, _, est, _, _ = _sequence(rng)
    report = build_report(estimates=est[1:3], observers=["bob", "bob"], labels=labels)
    write_report(report, tmp_path, svg=False)
    assert "within observers" in (tmp_path / "report.html").read_text()
