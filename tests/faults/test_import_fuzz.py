"""Every file importer, fuzzed with hypothesis through the live server: bad input gets a 4xx
with a message, never a 500, and leaves nothing behind.

Each importer starts from a valid file (the tracker formats from the engine's test writers,
a zip of PNG frames, a NIfTI volume) and hypothesis breaks it: truncation, random bytes over
a span, lines dropped, repeated or replaced, numbers swapped for junk (``nan``, ``1e400``,
``-``, text), an empty file, random bytes, zip members corrupted or renamed. After every
refused upload the database holds the same rows and the media folder the same files.
``GAZECROWD_FUZZ_EXAMPLES`` (default 20) sets the examples per importer.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zipfile
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.trackers.writers import WRITERS, screen_samples, write_csv

from .harness import Stack, multipart

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("GAZECROWD_FUZZ_EXAMPLES", "20"))
TRACKER_FORMATS = ["csv", "tobii", "eyelink", "pupil", "eyetribe"]
SYNC = 5100.0
GEOMETRY = {"screen_width_px": "1920", "screen_height_px": "1080", "screen_width_cm": "53.1",
            "screen_height_cm": "29.9", "viewing_distance_cm": "60"}
JUNK = ["", "nan", "NaN", "1e400", "-1e400", "-", "abc", "1,5", "99999999999999999999", "\x00",
        "\"", "\t", "None", "[]", "{}", "-0", "0x1F", "\u00e9"]

FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def _tracker_file(fmt: str, tmp_path, observer: str) -> tuple[str, bytes, dict]:
    t, x, y = screen_samples(n=90, t0=SYNC - 100)
    if fmt == "csv":
        # 1.5 s of gaze at 5 frames per second: frames 0..7, the study sequence's 8. The file
        # names the uploading observer (a CSV's observer column must name its uploader).
        path = write_csv(tmp_path / "gaze.csv", t - t[0], x / 60, y / 60, fps=5.0, observer=observer)
        return "gaze.csv", path.read_bytes(), {}
    write, name = WRITERS[fmt]
    path = write(tmp_path / name, t, x, y, sync_ms=SYNC)
    extra = {} if fmt in {"tobii", "eyelink"} else {"playback_start_ms": str(SYNC)}
    return name, path.read_bytes(), {**GEOMETRY, **extra}


@st.composite
def broken_text(draw, base: bytes) -> bytes:
    """A text file broken the way real exports break."""
    lines = base.split(b"\n")
    how = draw(st.sampled_from(["truncate", "bytes", "drop", "repeat", "replace", "token",
                                "empty", "random"]))
    if how == "truncate":
        return base[: draw(st.integers(0, len(base) - 1))]
    if how == "bytes":
        start = draw(st.integers(0, len(base) - 1))
        return base[:start] + draw(st.binary(min_size=1, max_size=64)) + base[start + 64:]
    if how == "drop":
        k = draw(st.integers(0, len(lines) - 1))
        return b"\n".join(lines[:k] + lines[k + 1:])
    if how == "repeat":
        k = draw(st.integers(0, len(lines) - 1))
        return b"\n".join(lines[:k] + [lines[k]] * draw(st.integers(2, 50)) + lines[k + 1:])
    if how == "replace":
        k = draw(st.integers(0, len(lines) - 1))
        junk = draw(st.text(max_size=80)).encode("utf-8", "surrogatepass")
        return b"\n".join(lines[:k] + [junk] + lines[k + 1:])
    if how == "token":
        text = base.decode("utf-8", "replace")
        numbers = list(re.finditer(r"-?\d+(?:[.,]\d+)?", text))
        spans = draw(st.lists(st.sampled_from(numbers), min_size=1, max_size=5, unique_by=id))
        for match in sorted(spans, key=lambda m: -m.start()):
            text = text[:match.start()] + draw(st.sampled_from(JUNK)) + text[match.end():]
        return text.encode("utf-8")
    if how == "empty":
        return b""
    return draw(st.binary(max_size=2048))


def _png(image: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", image, extension=".png")


def _frames_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _frame_members() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    return {f"frame{t:03d}.png": _png(rng.integers(0, 255, (32, 40, 3), dtype=np.uint8))
            for t in range(4)}


@st.composite
def broken_zip(draw) -> bytes:
    members = _frame_members()
    names = sorted(members)
    how = draw(st.sampled_from(["member-bytes", "member-truncate", "mixed-sizes", "not-image",
                                "rename", "empty-zip", "zip-bytes", "grey-and-colour"]))
    if how == "member-bytes":
        name = draw(st.sampled_from(names))
        data = members[name]
        start = draw(st.integers(0, len(data) - 1))
        members[name] = data[:start] + draw(st.binary(min_size=1, max_size=32)) + data[start + 32:]
    elif how == "member-truncate":
        name = draw(st.sampled_from(names))
        members[name] = members[name][: draw(st.integers(0, len(members[name]) - 1))]
    elif how == "mixed-sizes":
        rows, cols = draw(st.integers(1, 64)), draw(st.integers(1, 64))
        members[draw(st.sampled_from(names))] = _png(np.zeros((rows, cols, 3), np.uint8))
    elif how == "not-image":
        members[draw(st.sampled_from(["notes.txt", "frame999.png", "x.nii"]))] = draw(
            st.binary(max_size=256))
    elif how == "rename":
        name = draw(st.sampled_from(names))
        members[draw(st.sampled_from(["../evil.png", "/abs.png", "dir/" + name, name + ".bak"]))] = (
            members.pop(name))
    elif how == "empty-zip":
        members = {}
    elif how == "grey-and-colour":
        members[names[0]] = _png(np.zeros((32, 40), np.uint8))
    data = _frames_zip(members)
    if how == "zip-bytes":
        start = draw(st.integers(0, len(data) - 1))
        data = data[:start] + draw(st.binary(min_size=1, max_size=64)) + data[start + 64:]
    return data


def _nifti() -> bytes:
    import nibabel as nib

    volume = np.random.default_rng(2).integers(0, 255, (24, 20, 5)).astype(np.int16)
    return gzip.compress(nib.Nifti1Image(volume, np.diag([0.8, 0.8, 2.0, 1.0])).to_bytes())


class Ledger:
    """What the server stored, before and after each upload: rows and media files."""

    TABLES = ("crowd_sequence", "annotation_recording", "annotation_gazebatch")

    def __init__(self, services):
        self.services = services
        self.media = services.tmp / "data" / "media"

    def snapshot(self) -> tuple:
        rows = tuple(self.services.sql(f"SELECT count(*) FROM {t}")[0][0] for t in self.TABLES)
        files = sum(1 for p in self.media.rglob("*") if p.is_file()) if self.media.exists() else 0
        return rows + (files,)


def _message(reply) -> str:
    """The error message of a 4xx JSON answer (any non-empty string in it)."""
    try:
        body = reply.json()
    except ValueError:
        return ""
    strings = re.findall(r'"((?:[^"\\]|\\.)+)"', json.dumps(body))
    return " ".join(s for s in strings if len(s) > 3)


def _check(reply, before, ledger, outcomes: Counter, what: str) -> None:
    assert reply.status < 500, f"{what}: HTTP {reply.status}: {reply.body[:2000]!r}"
    if reply.status >= 400:
        assert _message(reply), f"{what}: HTTP {reply.status} without a message: {reply.body!r}"
        after = ledger.snapshot()
        assert after == before, f"{what}: refused, but stored something: {before} -> {after}"
        outcomes[reply.status] += 1
    else:
        outcomes["accepted"] += 1


@pytest.fixture(scope="module")
def fuzz_stack(faults_services, tmp_path_factory):
    """One web server and one study for every importer (uploads do not interfere)."""
    stack = Stack(faults_services, tmp_path_factory.mktemp("fuzz-logs"))
    # One observer per tracker format, each allowed the most recordings a study allows (every
    # accepted fuzzed file is a recording; at most EXAMPLES + 1 per format).
    study = faults_services.make_study(name="fuzz", observers=len(TRACKER_FORMATS), repeats=100)
    stack.web()
    yield stack, study
    stack.stop()


@pytest.mark.parametrize("fmt", TRACKER_FORMATS)
def test_tracker_file_import_refuses_broken_files_cleanly(fuzz_stack, fmt, tmp_path):
    stack, study = fuzz_stack
    assert EXAMPLES + 1 <= 100, "more fuzzed files than a study's repeats per observer allow"
    who = study["observers"][TRACKER_FORMATS.index(fmt)]
    observer = stack.client(who["token"])
    url = f"/api/studies/{study['study']}/sequences/{study['sequence']}/recordings/import/"
    name, base, fields = _tracker_file(fmt, tmp_path, who["username"])
    ledger = Ledger(stack.services)

    # The unbroken file is accepted: the fuzzing starts from something that works.
    body, content_type = multipart({**fields, "format": fmt}, {"file": (name, base)})
    reply = observer.request("POST", url, body=body, headers={"Content-Type": content_type})
    assert reply.status == 201, reply.body[:2000]

    outcomes: Counter = Counter()

    @FUZZ
    @given(data=broken_text(base), declare=st.booleans())
    def upload(data, declare):
        before = ledger.snapshot()
        form = {**fields, **({"format": fmt} if declare else {})}
        body, content_type = multipart(form, {"file": (name, data)})
        reply = observer.request("POST", url, body=body, headers={"Content-Type": content_type})
        _check(reply, before, ledger, outcomes, f"{fmt} upload of {len(data)} bytes")

    upload()
    assert sum(outcomes.values()) >= 1
    assert any(k != "accepted" for k in outcomes), f"no broken {fmt} file was refused: {outcomes}"
    print(f"\n{fmt}: {sum(outcomes.values())} broken files -> {dict(outcomes)}")


@pytest.mark.parametrize("kind", ["images-zip", "nifti"])
def test_sequence_import_refuses_broken_files_cleanly(fuzz_stack, kind):
    stack, study = fuzz_stack
    coordinator = stack.client(study["coordinator"]["token"])
    url = f"/api/studies/{study['study']}/sequences/"
    ledger = Ledger(stack.services)
    if kind == "images-zip":
        name, base, strategy = "frames.zip", _frames_zip(_frame_members()), broken_zip()
    else:
        base = _nifti()
        name, strategy = "volume.nii.gz", st.one_of(
            broken_text(base), broken_text(gzip.decompress(base)).map(gzip.compress))

    body, content_type = multipart({"name": f"valid-{kind}"}, {"file": (name, base)})
    reply = coordinator.request("POST", url, body=body, headers={"Content-Type": content_type})
    assert reply.status == 201, reply.body[:2000]

    outcomes: Counter = Counter()

    names = iter(range(10**6))

    @FUZZ
    @given(data=strategy)
    def upload(data):
        before = ledger.snapshot()
        # A fresh name each time: a refusal must be about the file, not a taken name.
        form = {"name": f"fuzz-{kind}-{next(names)}"}
        body, content_type = multipart(form, {"file": (name, data)})
        reply = coordinator.request("POST", url, body=body,
                                    headers={"Content-Type": content_type})
        _check(reply, before, ledger, outcomes, f"{kind} upload of {len(data)} bytes")

    upload()
    assert sum(outcomes.values()) >= 1
    assert any(k != "accepted" for k in outcomes), f"no broken {kind} was refused: {outcomes}"
    print(f"\n{kind}: {sum(outcomes.values())} broken files -> {dict(outcomes)}")
