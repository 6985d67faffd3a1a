"""``manage.py push_ground_truth STUDY_ID [--dicomweb URL] [--threshold T] [--fractional]``:
STOW-RS each DICOM-sourced sequence's newest ground truth to a DICOMweb server as DICOM SEG."""

from __future__ import annotations

import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crowd import services as crowd_services
from crowd.models import Study
from segmentation.dicomweb_push import ground_truth_push
from segmentation.export_service import parse_threshold


class Command(BaseCommand):
    help = ("Store each DICOM-sourced sequence's newest ground truth on a DICOMweb server as a "
            "DICOM SEG (STOW-RS). Default server: the study's; its stored credentials are used "
            "for it, else --username and the GAZECROWD_DICOMWEB_PASSWORD environment variable.")

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("--dicomweb", default=None, metavar="URL", help="default: the study's server")
        parser.add_argument("--username", default="")
        parser.add_argument("--threshold", default=None, metavar="T",
                            help="cut the stored score map at T in [0, 1] instead of the run's threshold")
        parser.add_argument("--fractional", action="store_true", help="a FRACTIONAL SEG of the score map")

    def handle(self, *args, study_id, dicomweb=None, username="", threshold=None, fractional=False, **options):
        try:
            threshold = parse_threshold(threshold)
        except ValueError as exc:
            raise CommandError(f"--threshold: {exc}") from exc
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study with id {study_id}")
        try:
            connection = crowd_services.dicomweb_connection(
                study=study, url=dicomweb, username=username,
                password=os.environ.get("GAZECROWD_DICOMWEB_PASSWORD", ""))
            result = ground_truth_push(study=study, connection=connection, threshold=threshold,
                                       fractional=fractional)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        for item in result.stored:
            self.stdout.write(f"{item['sequence']}: SEG {item['sop_instance_uid']} stored on {connection.url} "
                              f"(threshold {item['threshold']:.4g})")
        for item in result.skipped:
            self.stderr.write(f"skipped {item['sequence']}: {item['reason']}")
        if not result.stored:
            raise CommandError(f"study {study_id}: nothing pushed (no DICOM-sourced sequence with a finished run)")
