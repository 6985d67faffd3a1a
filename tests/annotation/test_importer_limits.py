"""Tracker files with numbers no screen, clock or tracker has are refused by file and line.

Bob uploads exports that were damaged or forged: a sampling rate of 400 nines (once stored
as infinity, every page listing the recording failed for good), Infinity and 1e400 in JSON,
JSON nested ten thousand deep, a Tobii field longer than the csv module's limit, a frame
numbered 1e20, screens of 1e300 or 2**63 pixels. Each answer is a 400 that names the file
and the line (or the field), nothing is stored, and the study's pages keep working.
"""

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation.models import GazeBatch, Recording
from tests.engine.trackers.writers import WRITERS, screen_samples, write_csv

SYNC = 5100.0
SCREEN = {"screen_width_px": 1920, "screen_height_px": 1080}


def _valid(fmt, tmp_path) -> tuple[str, str]:
    t, x, y = screen_samples(n=30)
    if fmt == "csv":
        return "g.csv", write_csv(tmp_path / "g.csv", t - t[0], x / 80, y / 80).read_text()
    write, name = WRITERS[fmt]
    return name, write(tmp_path / name, t, x, y, sync_ms=SYNC).read_text()


def _replace_line(text: str, number: int, line: str) -> str:
    lines = text.split("\n")
    lines[number - 1] = line
    return "\n".join(lines)


def _upload(client, sequence, name, data, **extra):
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/import/"
    return client.post(url, {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def _eyelink(tmp_path, old, new):
    name, text = _valid("eyelink", tmp_path)
    assert old in text
    return name, text.replace(old, new, 1), {}


def _broken(case, tmp_path):
    """(file name, content, extra form fields, expected words in the message)."""
    return _BROKEN[case.split("-")[0]](case, tmp_path)


def _broken_eyelink(case, tmp_path):
    if case == "eyelink-rate-400-nines":
        name, text, extra = _eyelink(tmp_path, "RATE\t  60.00", "RATE\t" + "9" * 400)
        return name, text, extra, ["line 6", "sampling rate"]
    if case == "eyelink-display-1e300":
        name, text, extra = _eyelink(tmp_path, "DISPLAY_COORDS 0 0 1919 1079", "DISPLAY_COORDS 0 0 1" + "0" * 300 + " 1079")
        return name, text, {}, ["line 3", "screen size"]
    if case == "eyelink-time-1e400":
        name, text = _valid("eyelink", tmp_path)
        return name, _replace_line(text, 9, "1e400\t 500.0\t 500.0\t 1000.0\t..."), {}, ["line 9"]
    if case == "eyelink-x-infinite":
        name, text = _valid("eyelink", tmp_path)
        return name, _replace_line(text, 9, "5100\t inf\t 500.0\t 1000.0\t..."), {}, ["line 9", "gaze x"]
    raise AssertionError(case)


def _broken_eyetribe(case, tmp_path):
    if case == "eyetribe-values-5":
        name, text = _valid("eyetribe", tmp_path)
        return name, _replace_line(text, 2, '{"values": 5}'), {"playback_start_ms": SYNC}, ["line 2", "values"]
    if case == "eyetribe-infinity":
        name, text = _valid("eyetribe", tmp_path)
        return name, text.replace('"x": ', '"x": Infinity, "_": ', 1), {"playback_start_ms": SYNC}, ["line 2", "Infinity"]
    if case == "eyetribe-1e400":
        name, text = _valid("eyetribe", tmp_path)
        return name, text.replace('"time": ', '"time": 1e400, "_": ', 1), {"playback_start_ms": SYNC}, ["line 2"]
    if case == "eyetribe-nested":
        name, text = _valid("eyetribe", tmp_path)
        return name, _replace_line(text, 3, "[" * 100_000 + "]" * 100_000), {"playback_start_ms": SYNC}, ["line 3", "nested"]
    if case == "eyetribe-array-nested":
        return "gaze.json", "[" * 100_000 + "]" * 100_000, {"playback_start_ms": SYNC}, ["gaze.json", "nested"]
    raise AssertionError(case)


def _broken_tobii(case, tmp_path):
    if case == "tobii-huge-field":
        name, text = _valid("tobii", tmp_path)
        lines = text.split("\n")
        fields = lines[4].split("\t")
        fields[2] = "x" * 200_000
        return name, _replace_line(text, 5, "\t".join(fields)), {}, ["line 5", "field larger than field limit"]
    if case == "tobii-resolution-1e300":
        name, text = _valid("tobii", tmp_path)
        lines = text.split("\n")
        return name, _replace_line(text, 3, lines[2].replace("\t1920\t1080", "\t1e300\t1080")), {}, \
            ["line 3", "screen size"]
    if case == "tobii-timestamp-1e400":
        name, text = _valid("tobii", tmp_path)
        lines = text.split("\n")
        fields = lines[3].split("\t")
        fields[0] = "1e400"
        return name, _replace_line(text, 4, "\t".join(fields)), {}, ["line 4", "timestamp"]
    raise AssertionError(case)


def _broken_pupil(case, tmp_path):
    if case == "pupil-x-1e400":
        name, text = _valid("pupil", tmp_path)
        lines = text.split("\n")
        fields = lines[1].split(",")
        fields[3] = "1e400"
        return name, _replace_line(text, 2, ",".join(fields)), {"playback_start_ms": SYNC}, ["line 2", "x_norm"]
    raise AssertionError(case)


def _broken_csv(case, tmp_path):
    if case == "csv-frame-1e20":
        name, text = _valid("csv", tmp_path)
        return name, _replace_line(text, 3, "obs,16.7,100000000000000000000,1.0,2.0"), {}, ["line 3", "frame"]
    if case == "csv-t-1e300":
        name, text = _valid("csv", tmp_path)
        return name, _replace_line(text, 3, "obs,1e300,0,1.0,2.0"), {}, ["line 3", "t_ms"]
    if case == "csv-x-1e300":
        name, text = _valid("csv", tmp_path)
        return name, _replace_line(text, 3, "obs,16.7,0,1e300,2.0"), {}, ["line 3", "x,y"]
    if case == "csv-huge-field":
        name, text = _valid("csv", tmp_path)
        return name, _replace_line(text, 3, "obs," + "1" * 200_000 + ",0,1.0,2.0"), {}, ["line 3"]
    raise AssertionError(case)


_BROKEN = {"eyelink": _broken_eyelink, "eyetribe": _broken_eyetribe, "tobii": _broken_tobii, "pupil": _broken_pupil, "csv": _broken_csv}


CASES = [
    "eyelink-rate-400-nines", "eyelink-display-1e300", "eyelink-time-1e400", "eyelink-x-infinite",
    "eyetribe-values-5", "eyetribe-infinity", "eyetribe-1e400", "eyetribe-nested", "eyetribe-array-nested",
    "tobii-huge-field", "tobii-resolution-1e300", "tobii-timestamp-1e400", "pupil-x-1e400",
    "csv-frame-1e20", "csv-t-1e300", "csv-x-1e300", "csv-huge-field",
]


@pytest.mark.parametrize("case", CASES)
def test_a_forged_number_is_a_400_naming_file_and_line(sequence, bob, client_for, tmp_path, case):
    name, text, extra, words = _broken(case, tmp_path)
    response = _upload(client_for(bob), sequence, name, text.encode(), **SCREEN, **extra)
    assert response.status_code == 400, response.content[:500]
    detail = response.json()["detail"]
    assert detail.startswith(name), detail
    for word in words:
        assert word in detail, detail
    assert not Recording.objects.exists() and not GazeBatch.objects.exists()
    # Nothing poisoned: the lists and pages that show recordings still answer.
    base = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}"
    assert client_for(bob).get(f"{base}/recordings/").status_code == 200


def test_a_file_stating_an_infinite_rate_leaves_the_pages_working(sequence, study, alice, bob, client_for, tmp_path):
    """The first finding, end to end: once stored, inf made the list and the API answer 500."""
    name, text, _, _ = _broken("eyelink-rate-400-nines", tmp_path)
    _upload(client_for(bob), sequence, name, text.encode(), **SCREEN)
    name, text = _valid("eyelink", tmp_path)
    good = _upload(client_for(bob), sequence, name, text.encode(), **SCREEN)
    assert good.status_code == 201 and good.json()["sampling_rate_hz"] == 60.0
    assert client_for(alice).get(f"/api/studies/{study.pk}/sequences/{sequence.pk}/recordings/").status_code == 200
    assert client_for(alice).get(f"/api/recordings/{good.json()['id']}/").status_code == 200


@pytest.mark.parametrize("field, value", [("screen_width_px", 2**63), ("screen_height_px", 10**300),
                                          ("screen_width_cm", "1e300"), ("viewing_distance_cm", "inf"),
                                          ("sampling_rate_hz", "1e400"), ("playback_start_ms", "1e300")])
def test_display_numbers_are_bounded_in_the_api(sequence, bob, client_for, tmp_path, field, value):
    name, text = _valid("tobii", tmp_path)
    response = _upload(client_for(bob), sequence, name, text.encode(), **{**SCREEN, field: value})
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()
    assert not Recording.objects.exists()


@pytest.mark.parametrize("field, value", [("screen_width_px", str(2**63)), ("screen_height_px", "1" + "0" * 300),
                                          ("screen_width_cm", "1e300"), ("viewing_distance_cm", "1e308"),
                                          ("playback_start_ms", "1e300")])
def test_display_numbers_are_bounded_in_the_web_form(sequence, bob, tmp_path, field, value):
    web = Client()
    web.force_login(bob)
    name, text = _valid("tobii", tmp_path)
    path = tmp_path / name
    path.write_text(text)
    with path.open("rb") as fh:
        response = web.post(f"/studies/{sequence.study_id}/sequences/{sequence.pk}/upload-gaze/",
                            {"file": fh, **SCREEN, field: value}, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["ok"] is False and response.json()["error"]
    assert not Recording.objects.exists()


def test_the_json_importer_never_holds_nan(tmp_path):
    """The Eye Tribe reader itself, without Django: every number it returns is finite or a lost NaN."""
    from segmentation.engine.errors import InputError
    from segmentation.engine.trackers import read_eyetribe_json

    path = tmp_path / "g.json"
    path.write_text(json.dumps({"values": {"frame": {"time": 1, "avg": {"x": 1, "y": 2}}}}) + "\n"
                    + '{"values": {"frame": {"time": NaN, "avg": {"x": 1, "y": 2}}}}\n')
    with pytest.raises(InputError, match="line 2"):
        read_eyetribe_json(path)
    path.write_text(json.dumps({"values": {"frame": {"time": 1, "avg": {"x": 1, "y": 2}}}}) + "\n")
    raw = read_eyetribe_json(path)
    assert np.isfinite(raw.t_ms).all() and np.isfinite(raw.x).all()


def test_a_tracker_file_over_its_own_limit_is_a_413(sequence, bob, client_for, tmp_path, settings):
    """Tracker files have a limit of their own (their readers hold ~5x the file in memory)."""
    settings.GAZECROWD_MAX_GAZE_UPLOAD_MB = 1
    t = np.arange(60_000) * 2.0
    path = write_csv(tmp_path / "g.csv", t, np.full(len(t), 5.0), np.full(len(t), 6.0))
    assert path.stat().st_size > 2**20
    response = _upload(client_for(bob), sequence, "g.csv", path.read_bytes())
    assert response.status_code == 413
    assert "GAZECROWD_MAX_GAZE_UPLOAD_MB" in response.json()["detail"]
    assert not Recording.objects.exists()
