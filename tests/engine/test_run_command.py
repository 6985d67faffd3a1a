"""``python -m segmentation.engine run`` end to end on the shipped sample, and its errors."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from segmentation.engine.cli import main
from segmentation.engine.datasets import load_sample, sample_path


@pytest.fixture(scope="module")
def brats_run(tmp_path_factory):
    s = load_sample("brats-pat0001")
    out = tmp_path_factory.mktemp("run")
    argv = ["run", "--frames", str(s.frames_path), "--gaze", *map(str, s.gaze_paths),
            "--truth", str(s.truth_path), "--out", str(out), "--px-per-degree",
            str(s.px_per_degree), "--quiet"]
    assert main(argv) == 0
    return s, out


def test_outputs_and_metrics(brats_run):
    s, out = brats_run
    t, h, w = s.frames.shape
    for m in ("eel", "el", "probability", "vilarino"):
        scores = np.load(out / f"scores_{m}.npy")
        assert scores.dtype == np.float32 and scores.shape == (t, h, w)
        assert scores.min() >= 0 and scores.max() <= 1
    masks = sorted((out / "masks").glob("*.png"))
    assert len(masks) == t
    eel = np.load(out / "scores_eel.npy")
    metrics = json.loads((out / "metrics.json").read_text())
    # The masks written are the stored map cut at the threshold the run chose and recorded.
    assert metrics["threshold_rule"] == "gaze-contrast" and 0 < metrics["mask_threshold"] < 1
    np.testing.assert_array_equal(iio.imread(masks[3]) > 0, eel[3] >= metrics["mask_threshold"])
    assert set(metrics["methods"]) == {"eel", "el", "probability", "vilarino"}
    assert set(metrics["methods"]["eel"]) >= {"auc", "f1", "f1_fpr5", "dice", "iou", "threshold",
                                              "dice_at", "calibration_error"}
    assert metrics["observers"] == [f"observer-{k}" for k in range(1, 8)]
    assert set(metrics["timings_s"]) >= {"superpixels", "features", "estimate", "train",
                                         "predict", "total"}
    assert metrics["pool"]["method"] and set(metrics["pool"]["weights"]) == set(
        metrics["observers"])
    assert isinstance(metrics["pool"]["flagged"], list)
    # Seven observers on the real sample: a sound segmentation of the tumour, as delivered.
    assert metrics["methods"]["eel"]["auc"] > 0.95
    assert metrics["methods"]["eel"]["dice"] > 0.75


def test_same_seed_same_scores(brats_run, tmp_path):
    s, out = brats_run
    argv = ["run", "--frames", str(s.frames_path), "--gaze", *map(str, s.gaze_paths),
            "--out", str(tmp_path), "--methods", "eel", "--px-per-degree",
            str(s.px_per_degree), "--quiet"]
    assert main(argv) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "scores_eel.npy"),
                                  np.load(out / "scores_eel.npy"))
    assert json.loads((tmp_path / "metrics.json").read_text())["methods"] == {}


def test_colour_sample_paper_estimate(tmp_path):
    folder = sample_path("davis-blackswan")
    argv = ["run", "--frames", str(folder / "frames"), "--gaze",
            *map(str, sorted((folder / "gaze").glob("*.csv"))), "--truth", str(folder / "masks"),
            "--out", str(tmp_path), "--methods", "eel", "--estimate", "paper",
            "--px-per-degree", "13.3", "--quiet"]
    assert main(argv) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())["methods"]
    assert 0.5 < m["eel"]["auc"] <= 1


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    s = load_sample("brats-pat0001")
    bad = tmp_path / "late.csv"
    bad.write_text("observer,t_ms,frame,x,y\nann,0,0,10,10\nann,16,99,10,10\n")
    argv = ["run", "--frames", str(s.frames_path), "--gaze", str(bad), "--out",
            str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "late.csv: line 3: frame 99 is past the end" in err
    assert main(["run", "--frames", str(tmp_path / "none"), "--gaze", str(bad), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    assert main(["run", "--frames", str(s.frames_path), "--gaze", str(s.gaze_paths[0]),
                 "--out", str(tmp_path / "o"), "--methods", "eel,magic", "--quiet"]) == 2
    assert "magic" in capsys.readouterr().err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for opt in ("--frames", "--gaze", "--out", "--truth", "--methods", "--px-per-degree",
                "--seed", "--estimate", "--features", "--pool", "--temporal", "--axis"):
        assert opt in text


def test_export_cuts_the_stored_map_again_and_records_the_threshold(brats_run, tmp_path):
    s, out = brats_run
    eel = np.load(out / "scores_eel.npy")
    assert main(["export", str(out), "--threshold", "0.3", "--out", str(tmp_path / "m")]) == 0
    pngs = sorted((tmp_path / "m").glob("*.png"))
    assert len(pngs) == s.frames.shape[0]
    np.testing.assert_array_equal(iio.imread(pngs[2]) > 0, eel[2] >= np.float32(0.3))
    info = json.loads((tmp_path / "m" / "threshold.json").read_text())
    assert info["threshold"] == 0.3 and info["rule"] == "user" and info["method"] == "eel"
    # 'auto' gives back the run's own choice.
    assert main(["export", str(out), "--out", str(tmp_path / "a")]) == 0
    run_choice = json.loads((out / "metrics.json").read_text())["mask_threshold"]
    assert json.loads((tmp_path / "a" / "threshold.json").read_text())["threshold"] == run_choice


def test_a_threshold_given_to_run_is_used_and_bad_ones_are_named(tmp_path, capsys):
    s = load_sample("brats-pat0001")
    argv = ["run", "--frames", str(s.frames_path), "--gaze", *map(str, s.gaze_paths[:2]),
            "--methods", "probability", "--px-per-degree", str(s.px_per_degree), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--threshold", "0.25"]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["mask_threshold"] == 0.25 and metrics["threshold_rule"] == "user"
    for bad in ("1.5", "nan", "half"):
        assert main([*argv, "--out", str(tmp_path / "x"), "--threshold", bad]) == 2
        assert "--threshold" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert "metrics.json" in capsys.readouterr().err


def test_a_missing_scale_is_guessed_and_said(tmp_path, capsys):
    s = load_sample("brats-pat0001")
    argv = ["run", "--frames", str(s.frames_path), "--gaze", str(s.gaze_paths[0]),
            "--methods", "probability", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    assert "guessed" in capsys.readouterr().err
    params = json.loads((tmp_path / "metrics.json").read_text())["parameters"]
    assert params["px_per_degree_source"].startswith("guessed") and params["px_per_degree"] > 1
