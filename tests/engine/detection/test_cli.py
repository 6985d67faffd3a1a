"""``boxes`` and ``detector`` commands: help, bad input, end to end on a few kvasir images."""

import json
import shutil

import numpy as np
import pytest

from segmentation.engine.cli import main
from segmentation.engine.detection.coco import read_coco
from segmentation.engine.detection.io import read_mask

KVASIR_DEV = ["cju0qkwl35piu0993l0dewei2", "cju0qoxqj9q6s0835b43399p4"]


@pytest.mark.parametrize("command", ["boxes", "detector"])
def test_help_documents_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ["--images", "--out", "--seed", "--quiet"]:
        assert option in text
    assert ("--fixations" in text) if command == "boxes" else ("--eval-boxes" in text)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"")  # an image name, so the CSV is read next
    (tmp_path / "f.csv").write_text("image,observer,t_ms,x,y\n")
    code = main(["boxes", "--images", str(tmp_path / "img"), "--fixations",
                 str(tmp_path / "f.csv"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "f.csv, line 1: missing column(s) duration_ms" in err
    code = main(["detector", "--images", str(tmp_path / "img"), "--boxes",
                 str(tmp_path / "none.json"), "--eval-boxes", str(tmp_path / "none.json"),
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "none.json: COCO file not found" in capsys.readouterr().err


@pytest.mark.realdata
def test_boxes_then_detector_on_kvasir_images(shared_data, tmp_path, capsys):
    kvasir = shared_data / "kvasir"
    images = tmp_path / "images"
    images.mkdir()
    for name in KVASIR_DEV:
        shutil.copy(kvasir / "images" / f"{name}.jpg", images)
    out = tmp_path / "gaze"
    code = main(["boxes", "--images", str(images), "--fixations",
                 str(kvasir / "fixations.csv"), "--out", str(out), "--quiet"])
    assert code == 0
    infos, boxes, _ = read_coco(out / "boxes.json")
    assert [i.name for i in infos] == KVASIR_DEV
    for name in KVASIR_DEV:
        mask = read_mask(out / "masks" / f"{name}.png")
        truth = read_mask(kvasir / "masks" / f"{name}.png")
        assert mask.shape == truth.shape == (256, 256)
        # the expert looked at the polyp: the gaze mask overlaps the reference
        assert (mask & truth).sum() > 0.3 * truth.sum()
        assert len(boxes[name]) >= 1
    params = json.loads((out / "boxes.json").read_text())["info"]["parameters"]
    assert params["factor"] == 4.0 and params["refine"] is True

    det_out = tmp_path / "det"
    code = main(["detector", "--images", str(images), "--boxes", str(out / "boxes.json"),
                 "--eval-boxes", str(out / "boxes.json"), "--out", str(det_out),
                 "--epochs", "1", "--batch-size", "2", "--image-size", "64", "--device",
                 "cpu", "--quiet"])
    assert code == 0
    metrics = json.loads((det_out / "metrics.json").read_text())
    assert 0.0 <= metrics["map50"] <= 1.0 and metrics["train_images"] == 2
    assert metrics["overlapping_images"] == 2 and np.isfinite(metrics["loss_per_epoch"][0])
    assert (det_out / "detector.pt").is_file()
    read_coco(det_out / "detections.json")


def test_boxes_on_synthetic_images(tmp_path, capsys):
    """No real data needed: two drawn images, fixations on the target of the first only."""
    from segmentation.engine.detection.io import write_mask

    folder = tmp_path / "img"
    for name in ("one", "two"):
        image = np.zeros((64, 64), bool)
        image[20:40, 16:44] = True
        write_mask(folder / f"{name}.png", image)  # white rectangle on black, as an image
    (tmp_path / "f.csv").write_text(
        "image,observer,t_ms,x,y,duration_ms\n"
        "one,a,0,25,25,300\none,a,300,35,32,400\none,b,0,30,30,250\n"
        "other,a,0,10,10,100\n")
    code = main(["boxes", "--images", str(folder), "--fixations", str(tmp_path / "f.csv"),
                 "--out", str(tmp_path / "out"), "--sigma", "6", "--no-refine", "--quiet"])
    assert code == 0
    assert "1 image name(s)" in capsys.readouterr().err  # 'other' is not in the folder
    infos, boxes, _ = read_coco(tmp_path / "out" / "boxes.json")
    assert [i.name for i in infos] == ["one", "two"]
    assert len(boxes["one"]) == 1 and len(boxes["two"]) == 0
    x, y, w, h = boxes["one"][0]
    assert 20 <= x + w / 2 <= 40 and 20 <= y + h / 2 <= 40  # around the fixations
    assert read_mask(tmp_path / "out" / "masks" / "one.png").any()
    assert not read_mask(tmp_path / "out" / "masks" / "two.png").any()
