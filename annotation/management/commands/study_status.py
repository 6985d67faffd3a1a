"""``manage.py study_status STUDY_ID``: the study's sequences, recordings, samples and members (JSON)."""

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.selectors import study_status
from crowd.models import Study


class Command(BaseCommand):
    help = "Print a study's status as JSON: sequences (frames, recordings, samples) and members."

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)

    def handle(self, *args, study_id, **options):
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study {study_id}")
        self.stdout.write(json.dumps(study_status(study=study), indent=2))
