"""Fixation tables, image folders and COCO files: reading, writing, clear errors."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.engine.detection.coco import ImageInfo, coco_from_boxes, read_coco, write_coco
from segmentation.engine.detection.io import (
    list_images,
    read_fixations_csv,
    read_image,
    read_mask,
    write_mask,
)
from segmentation.engine.errors import InputError

HEADER = "image,observer,t_ms,x,y,duration_ms\n"


def test_reads_the_kvasir_format(tmp_path):
    p = tmp_path / "fix.csv"
    p.write_text(HEADER + "img1,expert,7,123.05,115.81,455\n\nimg2,expert,512,60.4,121.5,181\n")
    df = read_fixations_csv(p)
    assert list(df.columns) == ["image", "observer", "t_ms", "x", "y", "duration_ms"]
    assert df["image"].tolist() == ["img1", "img2"]
    assert df.loc[0, "x"] == pytest.approx(123.05) and df.loc[1, "duration_ms"] == 181


@pytest.mark.parametrize(("body", "message"), [
    ("image,observer,t_ms,x,y\n", "line 1: missing column\\(s\\) duration_ms"),
    (HEADER + "a,e,1,2,3\n", "line 2: 5 fields, expected 6"),
    (HEADER + "a,e,1,2,3,4\na,e,1,,3,4\n", "line 3: x='' is not a finite number"),
    (HEADER + "a,e,1,2,3,-4\n", "line 2: duration_ms=-4 is negative"),
    (HEADER + ",e,1,2,3,4\n", "line 2: empty image name"),
    ("", "empty file"),
])
def test_fixation_errors_name_file_line_and_expectation(tmp_path, body, message):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(InputError, match=message) as err:
        read_fixations_csv(p)
    assert str(p) in str(err.value)


def test_missing_fixation_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_fixations_csv(tmp_path / "nope.csv")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(0, 1e4)),
                min_size=1, max_size=20))
def test_fixation_values_round_trip(tmp_path_factory, rows):
    p = tmp_path_factory.mktemp("h") / "f.csv"
    p.write_text(HEADER + "".join(f"im,o,{k},{x!r},{y!r},{d!r}\n"
                                  for k, (x, y, d) in enumerate(rows)))
    df = read_fixations_csv(p)
    np.testing.assert_array_equal(df[["x", "y", "duration_ms"]].to_numpy(), np.array(rows))


def test_image_folder_and_masks(tmp_path):
    write_mask(tmp_path / "b.png", np.eye(4, dtype=bool))
    (tmp_path / "notes.txt").write_text("x")
    found = list_images(tmp_path)
    assert list(found) == ["b"]
    img = read_image(found["b"])
    assert img.shape == (4, 4, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(read_mask(found["b"]), np.eye(4, dtype=bool))
    write_mask(tmp_path / "b.jpg", np.eye(4, dtype=bool))
    with pytest.raises(InputError, match="two images named 'b'"):
        list_images(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image found"):
        list_images(tmp_path / "empty")


def test_coco_is_valid_and_round_trips(tmp_path):
    infos = [ImageInfo("a", "a.jpg", 64, 48), ImageInfo("b", "b.png", 32, 32)]
    boxes = {"a": np.array([[1.0, 2.0, 10.0, 5.0], [20, 20, 4, 4]])}
    coco = coco_from_boxes(infos, boxes, info={"sigma": 16})
    write_coco(tmp_path / "c.json", coco)
    raw = json.loads((tmp_path / "c.json").read_text())
    assert {c["id"] for c in raw["categories"]} == {1}
    ids = {im["id"] for im in raw["images"]}
    assert len(ids) == 2 and all(a["image_id"] in ids for a in raw["annotations"])
    assert len({a["id"] for a in raw["annotations"]}) == 2
    assert raw["annotations"][0]["bbox"] == [1.0, 2.0, 10.0, 5.0]
    assert raw["annotations"][0]["area"] == 50.0 and raw["annotations"][0]["iscrowd"] == 0
    images, got, scores = read_coco(tmp_path / "c.json")
    assert images == infos
    np.testing.assert_array_equal(got["a"], boxes["a"])
    assert got["b"].shape == (0, 4) and scores["a"].tolist() == [1.0, 1.0]


def test_coco_errors(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{\n  'images': []}")
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        read_coco(p)
    p.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 4,
                                         "height": 4}],
                             "annotations": [{"id": 7, "image_id": 1, "bbox": [0, 0, 0, 2]}]}))
    with pytest.raises(InputError, match=r"annotations\[0\] \(id 7\).*positive width"):
        read_coco(p)
    p.write_text(json.dumps({"images": [], "annotations": [{"id": 1, "image_id": 3,
                                                            "bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(InputError, match="image_id does not name an image"):
        read_coco(p)
