"""``manage.py create_study NAME --coordinator USERNAME``: prints the new study's id last."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crowd import services


class Command(BaseCommand):
    help = "Create a study with a coordinator (the user is created when missing)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--coordinator", required=True, help="username (created when missing)")
        parser.add_argument("--target", default="", help="the target structure observers look for")
        parser.add_argument("--instructions", default="")
        parser.add_argument("--frame-rate", type=float, default=None, help="playback frames per second")
        parser.add_argument("--quorum", type=int, default=5, help="recordings per sequence")
        parser.add_argument("--repeats", type=int, default=1, help="repeats asked of each observer")
        parser.add_argument("--kind", default="sequence", choices=["sequence", "images"],
                            help="sequence (videos, volumes) or images (an image collection)")

    def handle(self, *args, name, coordinator, **options):
        try:
            with transaction.atomic():
                user = services.user_get_or_create(username=coordinator)
                study = services.study_create(
                    name=name,
                    created_by=user,
                    target_structure=options["target"],
                    instructions=options["instructions"],
                    frame_rate=options["frame_rate"],
                    quorum=options["quorum"],
                    repeats_per_observer=options["repeats"],
                    kind=options["kind"],
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Created study {study.name!r} coordinated by {user.username}")
        self.stdout.write(str(study.pk))
