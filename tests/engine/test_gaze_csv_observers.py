"""A gaze CSV's ``observer`` column: read on the right lines, used, never dropped silently."""

from __future__ import annotations

import pytest

from segmentation.engine import InputError, gaze_csv_observers, read_gaze_csv
from segmentation.engine.trackers import (
    UnknownGazeFormat,
    detect_format,
    gaze_file_observer,
    read_gaze_file,
)


def _write(tmp_path, text, name="g.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_row_keeps_its_own_observer(tmp_path):
    # The names used to be shifted by two rows (a Series aligned on the line-number index):
    # a's rows read as b's, and the last two rows had no observer at all.
    path = _write(tmp_path, "observer,t_ms,frame,x,y\na,0,0,1,2\na,1,0,1,2\nb,2,0,1,2\nb,3,0,1,2\n")
    gaze = read_gaze_csv(path)
    assert gaze["observer"].tolist() == ["a", "a", "b", "b"]
    assert gaze.index.tolist() == [2, 3, 4, 5]
    assert gaze_csv_observers(gaze) == {"a": 2, "b": 4}


def test_without_the_column_the_file_names_no_one(tmp_path):
    gaze = read_gaze_csv(_write(tmp_path, "t_ms,frame,x,y\n0,0,1,2\n"))
    assert gaze_csv_observers(gaze) == {}
    assert gaze_file_observer(tmp_path / "g.csv") is None


def test_the_one_observer_of_a_file(tmp_path):
    path = _write(tmp_path, "observer,t_ms,frame,x,y\nann,0,0,1,2\n,1,0,1,2\nann,2,0,1,2\n")
    assert gaze_file_observer(path) == "ann"  # a blank cell is nobody's claim
    several = _write(tmp_path, "observer,t_ms,frame,x,y\nann,0,0,1,2\nben,1,0,1,2\n", "two.csv")
    with pytest.raises(InputError, match=r"two.csv: line 3: the observer column changes from 'ann' to 'ben'"):
        gaze_file_observer(several)


def test_a_file_naming_someone_else_is_refused_not_relabelled(tmp_path):
    path = _write(tmp_path, "observer,t_ms,frame,x,y\nann,0,0,1,2\nann,100,1,1,2\n")
    with pytest.raises(InputError, match=r"g.csv: line 2: the observer column says 'ann', but this recording "
                                         r"is 'ben''s"):
        read_gaze_file(path, observer="ben", image_hw=(10, 10), fps=10.0, n_frames=5)
    gaze, _ = read_gaze_file(path, observer="ann", image_hw=(10, 10), fps=10.0, n_frames=5)
    assert gaze["observer"].tolist() == ["ann", "ann"]


def test_a_frame_past_the_end_is_named_by_its_line(tmp_path):
    path = _write(tmp_path, "observer,t_ms,frame,x,y\n\nann,0,0,1,2\nann,100,9,1,2\n")
    with pytest.raises(InputError, match=r"g.csv: line 4 is on frame 9, but the sequence has 5 frames"):
        read_gaze_file(path, observer="ann", image_hw=(10, 10), fps=10.0, n_frames=5)


def test_an_unknown_format_names_no_command_line_flag(tmp_path):
    with pytest.raises(UnknownGazeFormat) as err:
        detect_format(_write(tmp_path, "1,2,3", "g.xyz"))
    assert err.value.name == "g.xyz" and "csv" in err.value.formats and "tobii" in err.value.formats
    assert "pass" not in str(err.value) and "--" not in str(err.value)
