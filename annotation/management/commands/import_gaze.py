"""``manage.py import_gaze STUDY_ID SEQUENCE_ID OBSERVER FILE [--format ...]``: prints the id last.

FILE may be a BIDS dataset folder (``--format bids``): the observer's recordings of the sequence
are found there (``--subject``, ``--task``, else participants.tsv and the sequence name) and each
becomes a recording.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation import bids, services
from crowd import services as crowd_services
from crowd.batch import queued_note
from crowd.models import Sequence
from segmentation.engine.trackers import FORMATS, UnknownGazeFormat, detect_format


def _pair(text: str, what: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise CommandError(f"{what} must look like WIDTHxHEIGHT, got {text!r}") from exc
    return a, b


class Command(BaseCommand):
    help = (
        "Import one gaze file as one finished recording of OBSERVER (the user, their observer "
        "membership and assignment are created when missing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("sequence_id", type=int)
        parser.add_argument("observer", help="username")
        parser.add_argument("file")
        parser.add_argument("--format", choices=FORMATS, default=None, help="default: from the file")
        parser.add_argument("--screen-px", default=None, help="screen size WIDTHxHEIGHT in pixels")
        parser.add_argument("--screen-cm", default=None, help="screen size WIDTHxHEIGHT in cm")
        parser.add_argument("--distance-cm", type=float, default=None, help="viewing distance")
        parser.add_argument(
            "--image-rect", default=None,
            help="LEFT,TOP,WIDTH,HEIGHT of the image on screen in pixels (default: fitted, centred)",
        )
        parser.add_argument(
            "--playback-start-ms", type=float, default=None,
            help="tracker time of frame 0 (default: the file's sync marker, else its first sample)",
        )
        parser.add_argument("--playback-fps", type=float, default=None)
        parser.add_argument("--sampling-rate", type=float, default=None, help="Hz")
        parser.add_argument("--calibration-error", type=float, default=None, help="degrees")
        parser.add_argument("--subject", default=None, help="BIDS folder: the participant label")
        parser.add_argument("--task", default=None, help="BIDS folder: the task label")

    def handle(self, *args, study_id, sequence_id, observer, file, **options):
        sequence = Sequence.objects.select_related("study").filter(pk=sequence_id, study_id=study_id).first()
        if sequence is None:
            raise CommandError(f"no sequence {sequence_id} in study {study_id}")
        if Path(file).is_dir() and options["format"] in (None, "bids"):
            return self._import_bids_folder(sequence, observer, Path(file), options)
        if not Path(file).is_file():
            raise CommandError(f"{file}: no such file")
        if options["format"] is None:
            try:
                detect_format(Path(file))
            except UnknownGazeFormat as exc:  # the command line names its flag
                raise CommandError(f"{exc.name}: the gaze format cannot be told from the file name; "
                                   f"pass --format (one of {', '.join(exc.formats)})") from exc
        self._import_one(sequence, observer, file, options)

    def _import_bids_folder(self, sequence, observer, root: Path, options):
        try:
            files = bids.bids_recordings_for(root, username=observer, sequence_name=sequence.name,
                                             subject=options["subject"], task=options["task"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        for path in files:
            self._import_one(sequence, observer, str(path), {**options, "format": "bids"})

    def _import_one(self, sequence, observer, file, options):
        fields = {}
        if options["screen_px"]:
            fields["screen_width_px"], fields["screen_height_px"] = (
                int(v) for v in _pair(options["screen_px"], "--screen-px")
            )
        if options["screen_cm"]:
            fields["screen_width_cm"], fields["screen_height_cm"] = _pair(options["screen_cm"], "--screen-cm")
        if options["image_rect"]:
            try:
                rect = [float(v) for v in options["image_rect"].split(",")]
            except ValueError as exc:
                raise CommandError("--image-rect must be LEFT,TOP,WIDTH,HEIGHT numbers") from exc
            fields["image_rect"] = rect
        for key, opt in (
            ("viewing_distance_cm", "distance_cm"),
            ("sampling_rate_hz", "sampling_rate"),
            ("calibration_error_deg", "calibration_error"),
        ):
            if options[opt] is not None:
                fields[key] = options[opt]
        try:
            user = crowd_services.user_get_or_create(username=observer)
            recording = services.recording_import_file(
                sequence=sequence,
                observer=user,
                path=file,
                fmt=options["format"],
                playback_start_ms=options["playback_start_ms"],
                playback_fps=options["playback_fps"],
                ensure_member=True,
                **fields,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        n = recording.batches.count()
        self.stdout.write(
            f"Imported {Path(file).name} ({recording.tracker_format}) as recording "
            f"#{recording.repeat} of {user.username} on {sequence.name!r} ({n} batch(es))"
        )
        if recording.status == recording.Status.FINISHED and queued_note():
            self.stderr.write(f"Its per-observer estimate (and a run, at the quorum) is {queued_note()}")
        self.stdout.write(str(recording.pk))
