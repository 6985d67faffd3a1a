"""Tracker importers fuzzed in-process: any broken file is a ValidationError, never a crash.

(The live-server version with more examples is tests/faults/test_import_fuzz.py.)
"""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation import services
from annotation.models import GazeBatch, Recording
from tests.engine.trackers.writers import WRITERS, screen_samples, write_csv

GEOMETRY = {"screen_width_px": 1920, "screen_height_px": 1080}
JUNK = [b"", b"nan", b"1e400", b"-", b"abc", b"1,5", b"\x00", b'"', b"\t", b"{}", b"\xff\xfe", b"\n\n"]
FORMATS = ["csv", *sorted(WRITERS)]


def _valid(fmt, tmp_path):
    t, x, y = screen_samples(n=40, t0=5000)
    if fmt == "csv":
        return "g.csv", write_csv(tmp_path / "g.csv", t - t[0], x / 80, y / 80).read_bytes()
    write, name = WRITERS[fmt]
    return name, write(tmp_path / name, t, x, y, sync_ms=5100).read_bytes()


@st.composite
def broken(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "splice", "junk", "lines"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "splice":
        start = draw(st.integers(0, len(data)))
        return data[:start] + draw(st.binary(max_size=40)) + data[start + draw(st.integers(0, 40)):]
    if kind == "junk":
        start = draw(st.integers(0, len(data) - 1))
        return data[:start] + draw(st.sampled_from(JUNK)) + data[start + draw(st.integers(1, 8)):]
    lines = data.split(b"\n")
    k = draw(st.integers(0, len(lines) - 1))
    return b"\n".join(lines[:k] + [draw(st.sampled_from(JUNK))] * draw(st.integers(0, 3)) + lines[k + 1:])


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_broken_tracker_files_raise_validation_errors_only(sequence, bob, tmp_path, fmt, data):
    name, valid = _valid(fmt, tmp_path)
    path = tmp_path / name
    path.write_bytes(data.draw(broken(valid)))
    extra = {"playback_start_ms": 5100.0} if fmt in {"pupil", "eyetribe"} else {}
    before = Recording.objects.count(), GazeBatch.objects.count()
    try:
        services.recording_import_file(sequence=sequence, observer=bob, path=path, fmt=fmt, **GEOMETRY, **extra)
    except ValidationError as exc:
        assert exc.messages and exc.messages[0].strip()
        assert (Recording.objects.count(), GazeBatch.objects.count()) == before
