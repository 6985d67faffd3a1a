"""``python manage.py gaze_boxes STUDY_ID --out DIR [--no-refine]``: an image collection's gaze
labels as ``DIR/boxes.json`` (COCO) and ``DIR/masks/<image>.png``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crowd.models import Study
from segmentation.services import gaze_boxes_write


class Command(BaseCommand):
    help = ("Turn the finished recordings of an image collection into fixations (I-DT), then "
            "boxes and masks per image (heat map, threshold, refinement): DIR/boxes.json (COCO) "
            "and DIR/masks/<image>.png.")

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--no-refine", action="store_true", help="the coarse (published) labels")

    def handle(self, *args, study_id, out, no_refine, **options):
        from segmentation.engine.detection import GazeBoxParams

        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study with id {study_id}")
        params = replace(GazeBoxParams(), refine=not no_refine)
        try:
            counts = gaze_boxes_write(study=study, out=out, params=params)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(json.dumps(counts))
        self.stdout.write(str(out / "boxes.json"))
