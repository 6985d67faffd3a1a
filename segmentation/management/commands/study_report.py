"""``python manage.py study_report STUDY_ID --out DIR``: each sequence's report files."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crowd import storage
from crowd.models import Study
from segmentation import selectors
from segmentation.export_service import safe_name


class Command(BaseCommand):
    help = ("Write per sequence <DIR>/<name>/report.html and observers.csv, and with reference "
            "masks roc.png and curves.csv, from the newest successful run.")

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args, study_id, out, **options):
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study with id {study_id}")
        done = 0
        for sequence, run in selectors.study_latest_runs(study=study):
            if run is None or not hasattr(run, "report"):
                self.stderr.write(f"{sequence.name}: no finished run yet")
                continue
            folder = out / safe_name(sequence.name)
            folder.mkdir(parents=True, exist_ok=True)
            for name in run.report.files:
                (folder / name).write_bytes(storage.read_bytes(f"{run.report.folder}/{name}"))
            self.stdout.write(str(folder / "report.html"))
            done += 1
        if not done:
            raise CommandError(f"study {study_id} has no report yet: run run_study first")
