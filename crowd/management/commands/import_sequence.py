"""``manage.py import_sequence STUDY_ID PATH [--name NAME] [--truth PATH]`` or
``manage.py import_sequence STUDY_ID --dicomweb URL --series SERIES_UID``: prints the id last."""

import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crowd import services
from crowd.models import Study


def _frames(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise CommandError(f"--truth-frames must be comma-separated frame numbers, got {text!r}") from exc


class Command(BaseCommand):
    help = (
        "Import a sequence into a study: a folder (or .zip) of images or DICOM slices, a NIfTI "
        "volume or a video. --truth attaches reference masks in any of these forms. With "
        "--dicomweb URL --series UID, the series is fetched from a DICOMweb server (WADO-RS); the "
        "study's stored credentials are used for its own server, else --username and the "
        "GAZECROWD_DICOMWEB_PASSWORD environment variable."
    )

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("path", nargs="?", default=None)
        parser.add_argument("--dicomweb", default=None, metavar="URL", help="a DICOMweb server's base URL")
        parser.add_argument("--series", default=None, metavar="SERIES_UID", help="the series to import (with --dicomweb)")
        parser.add_argument("--username", default="", help="DICOMweb user (password: GAZECROWD_DICOMWEB_PASSWORD)")
        parser.add_argument("--name", default=None, help="default: the file or folder name")
        parser.add_argument("--truth", default=None, help="reference masks (all frames or some)")
        parser.add_argument(
            "--truth-frames", default=None,
            help="frame numbers of the masks when fewer than the frames (default: from file names)",
        )
        parser.add_argument("--axis", type=int, default=-1, help="volume axis frames are taken along")

    def handle(self, *args, study_id, path, **options):
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study {study_id}")
        if options["dicomweb"] or options["series"]:
            return self._dicomweb(study, path, options)
        if path is None:
            raise CommandError("give the PATH of a sequence, or --dicomweb URL --series SERIES_UID")
        for label, p in (("PATH", path), ("--truth", options["truth"])):
            if p is not None and not Path(p).exists():
                raise CommandError(f"{label} {p}: no such file or folder")
        frames = _frames(options["truth_frames"]) if options["truth_frames"] else None
        try:
            sequence = services.sequence_import(
                study=study,
                path=path,
                name=options["name"],
                truth=options["truth"],
                truth_frames=frames,
                axis=options["axis"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self._report(study, sequence)

    def _dicomweb(self, study, path, options):
        if path is not None or options["truth"]:
            raise CommandError("--dicomweb imports a series from a server: give no PATH or --truth with it")
        if not (options["dicomweb"] and options["series"]):
            raise CommandError("--dicomweb URL and --series SERIES_UID go together")
        try:
            connection = services.dicomweb_connection(
                study=study, url=options["dicomweb"], username=options["username"],
                password=os.environ.get("GAZECROWD_DICOMWEB_PASSWORD", ""))
            sequence = services.sequence_import_dicomweb(
                study=study, connection=connection, series_uid=options["series"], name=options["name"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self._report(study, sequence)

    def _report(self, study, sequence):
        masks = f", masks on {len(sequence.mask_frames)} frames" if sequence.has_masks else ""
        self.stdout.write(
            f"Imported {sequence.name!r} ({sequence.modality}, {sequence.n_frames} frames of "
            f"{sequence.height}x{sequence.width}{masks}) into study {study.pk}"
        )
        self.stdout.write(str(sequence.pk))
