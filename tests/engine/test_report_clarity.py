"""What a new user could not read in report.html: an 18-column table wider than a laptop, a
"Roc" heading, maps without a colour scale, and no sight of the delivered masks."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from segmentation.engine.report import build_report, write_report
from segmentation.engine.report.figures import delivered_masks_figure, maps_figure

from .test_report import T, _gaze, _sequence


@pytest.fixture
def report():
    rng = np.random.default_rng(0)
    labels, truth, est, names, frames = _sequence(rng)
    gaze = [_gaze(n, rng) for n in names]
    single = {"eel": {o: est[[i for i, n in enumerate(names) if n == o]].mean(0) for o in dict.fromkeys(names)}}
    delivered = np.zeros_like(truth)
    delivered[:, 2:9, 3:10] = True  # not the reference: the figure must show both
    return build_report(estimates=est, observers=names, labels=labels, frames=frames, truth=truth, gaze=gaze,
                        method_scores=single, px_per_degree=4.0, delivered_masks=delivered)


def test_headings_are_words_not_file_names(report, tmp_path):
    write_report(report, tmp_path, svg=False)
    page = (tmp_path / "report.html").read_text()
    headings = re.findall(r"<h2>([^<]*)</h2>", page)
    assert "ROC curves" in headings and "Roc" not in headings
    assert "Delivered masks on frames" in headings
    assert not any("_" in h for h in headings), headings


def test_the_observers_table_is_split_and_each_part_scrolls_in_its_own_box(report, tmp_path):
    write_report(report, tmp_path, svg=False)
    page = (tmp_path / "report.html").read_text()
    assert len(report.observers.columns) > 15  # the table a user could not read at 1366 px
    boxes = re.findall(r'<div class="scroll"><table><thead><tr>(.*?)</tr>', page)
    assert len(boxes) == 2
    widths = [len(re.findall("<th>", head)) for head in boxes]
    assert max(widths) < len(report.observers.columns)
    assert all(head.startswith("<th>observer</th>") for head in boxes)  # each names the rows
    assert sum(widths) == len(report.observers.columns) + 1  # every column shown once (+ observer)
    assert ".scroll { max-width: 100%; overflow-x: auto;" in page


def test_every_map_has_a_colour_bar(report):
    fig = maps_figure(report)
    images = [ax for ax in fig.axes if ax.images and ax.get_title()]
    maps = [ax for ax in images if "image" not in ax.get_title()]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(maps) >= 2 and len(bars) == len(maps)
    assert {b.get_ylabel() for b in bars} == {"probability of the object (0-1)", "variance between observers"}


def test_the_delivered_masks_are_outlined_on_frames_with_the_reference(report):
    fig = delivered_masks_figure(report)
    assert fig is not None
    axes = [ax for ax in fig.axes if ax.images]
    assert 1 <= len(axes) <= T
    for ax in axes:
        colours = [tuple(np.round(c.get_edgecolor()[0], 3)) for c in ax.collections]
        assert tuple(np.round(to_rgba("yellow"), 3)) in colours  # the delivered mask
        assert tuple(np.round(to_rgba("cyan"), 3)) in colours  # the reference on that frame
        assert "% of pixels" in ax.get_title()
    assert "yellow: delivered mask" in " ".join(t.get_text() for t in fig.texts)


def test_without_delivered_masks_there_is_no_such_figure(report):
    report.masks = None
    assert delivered_masks_figure(report) is None
