"""A study's recordings as a BIDS eye-tracking dataset (BIDS 1.10), and BIDS datasets in.

Export: one ``sub-<label>`` per observer (the label sanitised from the username, the mapping in
``participants.tsv``), one task per sequence (``task-<label>`` from its name), one run per
repeat; each recording is ``beh/sub-<s>_task-<t>_run-<r>_recording-eye1_physio.tsv.gz`` with
its sidecar and ``_physioevents.tsv.gz`` (``PLAYBACK_START`` then ``FRAME <k>`` at each frame
change), beside the task's ``_events.tsv`` (the playback, with ``StimulusPresentation``).
Gaze is written in screen pixels (the recording's display; without one, the image filled the
screen), so re-importing the dataset gives back the same samples (docs/interop.md).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Sum

from crowd.models import Study
from segmentation.engine.trackers import (
    MAX_SAMPLING_RATE_HZ,
    DisplayGeometry,
    find_bids_physio,
    write_bids_physio,
)

from . import selectors, services
from .models import GazeBatch, Recording

BIDS_VERSION = "1.10.0"
# One export: a study's finished recordings, bounded (about 40 bytes of gzipped text a sample).
MAX_EXPORT_RECORDINGS = 10_000
MAX_EXPORT_SAMPLES = 50_000_000


@dataclass
class BidsExport:
    """What :func:`study_export_bids` wrote."""

    root: Path
    participants: dict[str, str] = field(default_factory=dict)  # username -> participant_id
    tasks: dict[str, str] = field(default_factory=dict)  # sequence name -> task label
    recordings: int = 0
    samples: int = 0
    files: list[Path] = field(default_factory=list)


def bids_label(text: str, taken: set[str]) -> str:
    """A BIDS label (letters and digits only) from ``text``, unique among ``taken``."""
    base = re.sub(r"[^A-Za-z0-9]", "", text) or "x"
    label, k = base, 2
    while label in taken:
        label, k = f"{base}{k}", k + 1
    taken.add(label)
    return label


def recording_geometry(recording: Recording) -> DisplayGeometry:
    """The recording's display; without a screen size, the image filling a screen of its size."""
    sequence = recording.sequence
    fields = {f: getattr(recording, f) for f in services.GEOMETRY_FIELDS}
    geometry = services.display_geometry(fields)
    if geometry is None:
        return DisplayGeometry(screen_px=(sequence.width, sequence.height))
    return geometry


def _sampling_rate(recording: Recording, t_ms: np.ndarray) -> float:
    if recording.sampling_rate_hz:
        return float(recording.sampling_rate_hz)
    steps = np.diff(t_ms)
    steps = steps[steps > 0]
    rate = float(1000.0 / np.median(steps)) if len(steps) else float(recording.playback_fps)
    return min(rate, MAX_SAMPLING_RATE_HZ)  # timestamps closer than any tracker samples


def recording_export_bids(recording: Recording, prefix: Path) -> tuple[list[Path], int]:
    """Write one recording as ``<prefix>_physio.tsv.gz`` and its companions; (paths, samples)."""
    sequence = recording.sequence
    samples = selectors.recording_samples(recording)
    geometry = recording_geometry(recording)
    xs, ys = geometry.image_to_screen(samples[:, 2], samples[:, 3], (sequence.height, sequence.width))
    written = write_bids_physio(
        prefix, samples[:, 0], xs, ys,
        sampling_rate_hz=_sampling_rate(recording, samples[:, 0]),
        frames=samples[:, 1].astype(np.int64), geometry=geometry,
        extra={"GazeCrowdRecording": {"sequence": sequence.name, "repeat": recording.repeat,
                                      "playback_fps": recording.playback_fps,
                                      "source": recording.source}},
    )
    return written, len(samples)


def _write_task_events(prefix: Path, recording: Recording) -> list[Path]:
    """The task's events: one playback of the sequence, with the display it was shown on."""
    sequence = recording.sequence
    duration = sequence.n_frames / recording.playback_fps
    events = Path(f"{prefix}_events.tsv")
    events.write_text("onset\tduration\ttrial_type\n" f"0.0\t{duration!r}\tplayback\n", encoding="utf-8")
    geometry = recording_geometry(recording)
    stimulus = {"ScreenResolution": [int(round(v)) for v in geometry.screen_px], "ScreenOrigin": ["top", "left"]}
    if geometry.screen_cm is not None:
        stimulus["ScreenSize"] = [v / 100.0 for v in geometry.screen_cm]
    if geometry.distance_cm is not None:
        stimulus["ScreenDistance"] = geometry.distance_cm / 100.0
    meta = {
        "onset": {"Description": "Playback start", "Units": "s"},
        "duration": {"Description": f"{sequence.n_frames} frames at {recording.playback_fps:g} fps", "Units": "s"},
        "trial_type": {"Description": f"playback: the sequence {sequence.name!r} shown frame by frame"},
        "StimulusPresentation": stimulus,
    }
    sidecar = Path(f"{prefix}_events.json")
    sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return [events, sidecar]


def _dataset_files(root: Path, study: Study, result: BidsExport) -> None:
    description = {
        "Name": f"GazeCrowd study {study.name}",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "GeneratedBy": [{"Name": "GazeCrowd", "Description": "export_gaze --format bids"}],
    }
    (root / "dataset_description.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    with (root / "participants.tsv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["participant_id", "gazecrowd_username"])
        for username, label in sorted(result.participants.items(), key=lambda kv: kv[1]):
            writer.writerow([label, username])
    (root / "participants.json").write_text(json.dumps({
        "gazecrowd_username": {"Description": "The observer's GazeCrowd username"},
    }, indent=2) + "\n", encoding="utf-8")
    tasks = "\n".join(f"- task-{label}: sequence {name!r}" for name, label in result.tasks.items())
    (root / "README").write_text(
        f"Gaze recordings of GazeCrowd study {study.name!r}, exported as BIDS eye-tracking "
        f"physiology ({BIDS_VERSION}).\nOne subject per observer (participants.tsv maps labels to "
        f"usernames); one task per sequence:\n{tasks}\n", encoding="utf-8")


def study_export_bids(*, study: Study, out: Path, max_samples: int = MAX_EXPORT_SAMPLES) -> BidsExport:
    """Write every finished recording of ``study`` as a BIDS dataset under ``out``.

    ``out`` must be empty or missing. Raises ValidationError when the study has no finished
    recording, more than :data:`MAX_EXPORT_RECORDINGS` or more than ``max_samples`` samples.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValidationError(f"{out}: not empty; export into a new folder")
    recordings = list(
        Recording.objects.filter(sequence__study=study, status=Recording.Status.FINISHED)
        .select_related("observer", "sequence", "sequence__study").order_by("sequence_id", "observer_id", "repeat")
        [: MAX_EXPORT_RECORDINGS + 1]
    )
    if not recordings:
        raise ValidationError(f"study {study.name!r} has no finished recording to export")
    if len(recordings) > MAX_EXPORT_RECORDINGS:
        raise ValidationError(f"more than {MAX_EXPORT_RECORDINGS} recordings; export fewer sequences")
    total = GazeBatch.objects.filter(recording__in=recordings).aggregate(n=Sum("n_samples"))["n"] or 0
    if total > max_samples:
        raise ValidationError(f"{total:,} samples; one export holds at most {max_samples:,}")
    out.mkdir(parents=True, exist_ok=True)
    result = BidsExport(root=out)
    subjects: set[str] = set()
    tasks: set[str] = set()
    for rec in recordings:
        username = rec.observer.username
        if username not in result.participants:
            result.participants[username] = "sub-" + bids_label(username, subjects)
        if rec.sequence.name not in result.tasks:
            result.tasks[rec.sequence.name] = bids_label(rec.sequence.name, tasks)
        sub = result.participants[username]
        folder = out / sub / "beh"
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / f"{sub}_task-{result.tasks[rec.sequence.name]}_run-{rec.repeat}"
        result.files += _write_task_events(base, rec)
        written, n = recording_export_bids(rec, Path(f"{base}_recording-eye1"))
        result.files += written
        result.recordings += 1
        result.samples += n
    _dataset_files(out, study, result)
    return result


def study_bids_zip(*, study: Study, max_samples: int = MAX_EXPORT_SAMPLES):
    """The BIDS export of ``study`` as a zip in an anonymous temporary file (deleted when
    closed), positioned at its start, and its file name."""
    folder = Path(tempfile.mkdtemp(prefix="gazecrowd-bids-"))
    try:
        root = folder / "bids"
        result = study_export_bids(study=study, out=root, max_samples=max_samples)
        archive = tempfile.TemporaryFile()
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:  # .gz inside
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                zf.write(path, path.relative_to(folder).as_posix())
        archive.seek(0)
        return archive, f"{bids_label(study.name, set())}-bids-{result.recordings}-recordings.zip"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bids_participant(root: Path, username: str) -> str | None:
    """The participant label (without ``sub-``) ``participants.tsv`` gives ``username``, if any."""
    table = Path(root) / "participants.tsv"
    if not table.is_file() or table.stat().st_size > 10 * 2**20:
        return None
    with table.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row.get("gazecrowd_username") == username and row.get("participant_id", "").startswith("sub-"):
                return row["participant_id"][4:]
    return None


def bids_recordings_for(root: Path, *, username: str, sequence_name: str | None = None,
                        subject: str | None = None, task: str | None = None) -> list[Path]:
    """The ``_physio.tsv.gz`` files of one observer in a BIDS dataset folder.

    The subject is ``subject``, else the one ``participants.tsv`` maps ``username`` to, else
    the username made a label; the task is ``task``, else the sequence name made a label when
    the dataset has it, else any. Of a binocular viewing (``recording-eye1``, ``-eye2``) only
    the first eye's file is returned.
    """
    root = Path(root)
    subject = subject or bids_participant(root, username) or bids_label(username, set())
    found = find_bids_physio(root, subject=subject)
    if task is None and sequence_name is not None:
        named = bids_label(sequence_name, set())
        of_task = [p for p in found if f"_task-{named}_" in p.name]
        found = of_task or found
    elif task is not None:
        found = [p for p in found if f"_task-{task}_" in p.name]
    if not found:
        raise ValidationError(f"{root.name}: no *_physio.tsv.gz of subject sub-{subject}"
                              + (f", task {task}" if task else ""))
    # One recording per viewing: of a binocular recording (eye2bids writes recording-eye1 and
    # recording-eye2), the first eye.
    viewings: dict[str, Path] = {}
    for path in found:
        viewings.setdefault(re.sub(r"_recording-[A-Za-z0-9]+", "", path.name), path)
    return list(viewings.values())
