"""Box IoU, Dice, AP and the labelling-time report against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from segmentation.engine.detection.metrics import (
    average_precision,
    best_match_iou,
    box_iou,
    dice,
)
from segmentation.engine.detection.timing import timing_report
from segmentation.engine.errors import InputError


def test_box_iou_hand_values():
    a = [[0, 0, 2, 2]]
    b = [[1, 1, 2, 2], [0, 0, 2, 2], [5, 5, 1, 1]]
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 1.0, 0.0]])
    np.testing.assert_allclose(best_match_iou(b, a), [1.0])
    np.testing.assert_allclose(best_match_iou(np.zeros((0, 4)), a), [0.0])


def test_dice():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True
    b[1:3] = True
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(b * False, a * False) == 1.0


def test_average_precision_hand_computed():
    truth = {"a": [[0, 0, 10, 10]], "b": [[0, 0, 10, 10]]}
    # ranked: a hit (0.9), a duplicate (0.8, false positive), b hit (0.7)
    preds = {"a": [[0, 0, 10, 10], [1, 0, 10, 10]], "b": [[0, 1, 10, 10]]}
    scores = {"a": [0.9, 0.8], "b": [0.7]}
    # precision/recall: (1, .5), (.5, .5), (2/3, 1) -> AP = .5 * 1 + .5 * 2/3
    assert average_precision(preds, scores, truth) == pytest.approx(0.5 + 1 / 3)
    # IoU of the b detection is 9*10/(110) = 0.818: a miss at 0.9
    assert average_precision(preds, scores, truth, iou_threshold=0.9) == pytest.approx(0.5)
    assert average_precision({}, {}, truth) == 0.0
    assert np.isnan(average_precision({}, {}, {"a": np.zeros((0, 4))}))


def test_timing_report_hand_computed():
    table = pd.DataFrame({
        "image": list("abcdefg"),
        "mode": ["gaze", "gaze", "gaze", "box", "box", "freehand", "freehand"],
        "seconds": [1.0, 2.0, 3.0, 4.0, 6.0, 10.0, 30.0],
    })
    rep = timing_report(table)
    g = rep.per_mode.loc["gaze"]
    assert (g["n"], g["mean"], g["median"], g["std"]) == (3, 2.0, 2.0, 1.0)
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, 2) * s / sqrt(n)
    assert g["ci_low"] == pytest.approx(2 - half) and g["ci_high"] == pytest.approx(2 + half)
    assert rep.savings["box"] == pytest.approx(60.0)  # 1 - 2/5
    assert rep.savings["freehand"] == pytest.approx(90.0)  # 1 - 2/20
    assert list(rep.per_mode.index) == ["gaze", "box", "freehand"]
    assert rep.to_dict()["savings_percent"]["box"] == pytest.approx(60.0)


def test_timing_report_rejects_bad_tables():
    with pytest.raises(InputError, match="no column 'seconds'"):
        timing_report(pd.DataFrame({"mode": ["gaze"]}))
    with pytest.raises(InputError, match="unknown labelling mode"):
        timing_report(pd.DataFrame({"mode": ["voice"], "seconds": [1.0]}))
    with pytest.raises(InputError, match="row 1"):
        timing_report(pd.DataFrame({"mode": ["gaze", "box"], "seconds": [1.0, -2.0]}))
