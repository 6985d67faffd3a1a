"""Tracker files uploaded through the API: each format lands on the image; bad files store nothing."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation import selectors
from annotation.models import GazeBatch, Recording
from tests.engine.trackers.writers import WRITERS, screen_samples, write_csv

SYNC = 5100.0
GEOMETRY = {"screen_width_px": 1920, "screen_height_px": 1080, "screen_width_cm": 53.1,
            "screen_height_cm": 29.9, "viewing_distance_cm": 60}


def _upload(client, sequence, name, data, **extra):
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/import/"
    return client.post(url, {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_each_tracker_format_becomes_one_finished_recording(sequence, bob, client_for, tmp_path, fmt):
    write, name = WRITERS[fmt]
    t, x, y = screen_samples(n=90)
    path = write(tmp_path / name, t, x, y, sync_ms=SYNC)
    extra = {} if fmt in {"tobii", "eyelink"} else {"playback_start_ms": SYNC}
    response = _upload(client_for(bob), sequence, name, path.read_bytes(), **GEOMETRY, **extra)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "finished" and body["tracker_format"] == fmt and body["observer"] == "bob"
    recording = Recording.objects.get(pk=body["id"])
    gaze = selectors.recording_gaze(recording)
    keep = (t >= SYNC - 0.5) & (t < SYNC + 600 - 0.5)  # 6 frames at 10 fps: 600 ms of playback
    assert len(gaze) == keep.sum() == body["n_samples"]
    # The 24x32 image fills the 1080-px height: 1440 x 1080 from x = 240, scale 32/1440.
    np.testing.assert_allclose(gaze["x"], (x[keep] - 240 + 0.5) * 32 / 1440 - 0.5, atol=0.01)
    np.testing.assert_allclose(gaze["y"], (y[keep] + 0.5) * 24 / 1080 - 0.5, atol=0.01)
    assert gaze["frame"].max() < sequence.n_frames


def test_shared_csv_format(sequence, bob, client_for, tmp_path):
    t = np.arange(0, 500, 1000 / 60)
    path = write_csv(tmp_path / "g.csv", t, np.full(len(t), 5.0), np.full(len(t), 6.0), fps=10.0, observer="bob")
    response = _upload(client_for(bob), sequence, "g.csv", path.read_bytes())
    assert response.status_code == 201, response.content
    assert response.json()["n_samples"] == len(t)


def test_coordinator_imports_for_an_observer(sequence, alice, client_for, tmp_path):
    path = write_csv(tmp_path / "g.csv", [0.0, 20.0], [1.0, 2.0], [3.0, 4.0], observer="bob")
    response = _upload(client_for(alice), sequence, "g.csv", path.read_bytes(), observer="bob")
    assert response.status_code == 201 and response.json()["observer"] == "bob"
    no_one = _upload(client_for(alice), sequence, "g.csv", b"t_ms,frame,x,y\n0,0,1,2\n")
    assert no_one.status_code == 400 and "name the observer" in str(no_one.json())


def test_observers_cannot_import_for_someone_else(sequence, bob, client_for, tmp_path):
    path = write_csv(tmp_path / "g.csv", [0.0], [1.0], [3.0])
    response = _upload(client_for(bob), sequence, "g.csv", path.read_bytes(), observer="alice")
    assert response.status_code == 403


BROKEN = {
    "csv missing column": ("g.csv", b"observer,t_ms,x,y\nb,0,1,2\n", "missing column(s) frame"),
    "csv frame past the end": ("g.csv", b"observer,t_ms,frame,x,y\nbob,0,0,1,2\nbob,10,99,1,2\n",
                               "g.csv: line 3 is on frame 99, but the sequence has 6 frames"),
    "csv bad number": ("g.csv", b"observer,t_ms,frame,x,y\nb,zero,0,1,2\n", "line 2: t_ms 'zero' is not a number"),
    "tobii missing column": ("g.tsv", b"Recording timestamp\tFoo\n1\t2\n", "missing column(s) Gaze point X"),
    "eyelink garbage": ("g.asc", b"MSG 1 hello\n1000\tabc\t2\t3\n", "line 2"),
    "eyelink binary": ("g.asc", b"\xff\xfe\x00\x01binary", "not a text .asc file"),
    "pupil bad number": ("gaze_positions_on_surface_S.csv", b"gaze_timestamp,x_norm,y_norm\n1.0,abc,0.5\n", "line 2: column x_norm"),
    "eyetribe bad json": ("g.json", b'{"values": {"frame": \n', "line 1: invalid JSON"),
    "eyetribe no frames": ("g.json", b'{"category": "heartbeat"}\n', "no Eye Tribe gaze frames"),
    "unknown extension": ("g.xyz", b"1,2,3", "g.xyz: the gaze format cannot be told from the file name; "
                                             "choose the format of the file (csv: GazeCrowd CSV"),
    "no sample during playback": ("g.json", None, "no sample falls within playback"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_gaze_files_get_400_naming_the_problem_and_store_nothing(sequence, bob, client_for, tmp_path, case):
    name, data, message = BROKEN[case]
    extra = dict(GEOMETRY)
    if data is None:  # a valid file whose samples all precede the given playback start
        t, x, y = screen_samples(n=10)
        data = WRITERS["eyetribe"][0](tmp_path / name, t, x, y).read_bytes()
        extra["playback_start_ms"] = 1e9
    response = _upload(client_for(bob), sequence, name, data, **extra)
    assert response.status_code == 400, response.content
    assert message in str(response.json()), response.json()
    assert not Recording.objects.exists() and not GazeBatch.objects.exists()


def test_tracker_file_without_screen_size_needs_it(sequence, bob, client_for, tmp_path):
    t, x, y = screen_samples(n=10)
    data = WRITERS["eyetribe"][0](tmp_path / "g.json", t, x, y).read_bytes()
    response = _upload(client_for(bob), sequence, "g.json", data)
    assert response.status_code == 400 and "does not state the screen size" in str(response.json())
