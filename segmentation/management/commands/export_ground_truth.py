"""``python manage.py export_ground_truth STUDY_ID --format nifti|png|coco|npz|csv|dicom-seg|
dicom-seg-fractional --out DIR [--threshold T]``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crowd.models import Study
from segmentation import dicom_seg, export_formats, selectors
from segmentation.export_service import parse_threshold, run_export, safe_name


class Command(BaseCommand):
    help = ("Write each sequence's newest ground truth: <name>.nii.gz, <name>/ PNGs, "
            "<name>.json (COCO RLE), <name>.npz (scores, masks), <name>.csv (superpixels) or "
            "<name>.seg.dcm (DICOM SEG on the source series; DICOM-sourced sequences only).")

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("--format", required=True, choices=sorted(export_formats.FORMATS))
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--threshold", default=None, metavar="T",
                            help="cut each run's stored score map at T in [0, 1] instead of "
                                 "the threshold the run chose (recorded in every export)")

    def handle(self, *args, study_id, format, out, threshold=None, **options):
        try:
            threshold = parse_threshold(threshold)
        except ValueError as exc:
            raise CommandError(f"--threshold: {exc}") from exc
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study with id {study_id}")
        out.mkdir(parents=True, exist_ok=True)
        written, missing, skipped = [], [], []
        for sequence, run in selectors.study_latest_runs(study=study):
            if run is None:
                missing.append(sequence.name)
                continue
            try:
                data, file_name, _ = run_export(run=run, fmt=format, threshold=threshold)
            except dicom_seg.NotDicomSourced as exc:
                skipped.append(str(exc))
                continue
            if format == "png":  # one folder of PNGs per sequence
                folder = out / safe_name(sequence.name)
                folder.mkdir(exist_ok=True)
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(folder)
                written.append(folder)
            else:
                path = out / file_name
                path.write_bytes(data)
                written.append(path)
        for path in written:
            self.stdout.write(str(path))
        if missing:
            self.stderr.write(f"no finished run yet for: {', '.join(missing)}")
        for reason in skipped:
            self.stderr.write(f"skipped {reason}")
        if not written and skipped:
            raise CommandError(f"study {study_id}: no DICOM SEG written (no sequence read from a DICOM "
                               "series with a finished run)")
        if not written:
            raise CommandError(f"study {study_id} has no ground truth yet: run run_study first")
