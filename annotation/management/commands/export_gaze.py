"""``manage.py export_gaze STUDY_ID --format bids --out DIR``: a study's recordings as BIDS."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation import bids
from crowd.models import Study


class Command(BaseCommand):
    help = (
        "Write every finished recording of a study as a BIDS eye-tracking dataset (BIDS 1.10): "
        "one subject per observer, one task per sequence, frame changes as events."
    )

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("--format", choices=("bids",), default="bids")
        parser.add_argument("--out", required=True, help="a new (or empty) folder")

    def handle(self, *args, study_id, out, **options):
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study {study_id}")
        try:
            result = bids.study_export_bids(study=study, out=out)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"Wrote {result.recordings} recording(s), {result.samples} samples, of "
            f"{len(result.participants)} observer(s) on {len(result.tasks)} sequence(s) to {out}"
        )
        self.stdout.write(str(out))
