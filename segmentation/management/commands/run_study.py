"""``python manage.py run_study STUDY_ID [--sequence ID] [--wait]``."""

from __future__ import annotations

import time
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError

from crowd.batch import jobs_in_this_process, queued_note
from crowd.models import Sequence, Study
from segmentation import services
from segmentation.models import Run
from segmentation.parameters import DEFAULTS, ParameterError


class Command(BaseCommand):
    help = ("Start a segmentation run (pooling + EEL) for every sequence of a study, or one. "
            "Prints the run ids, one per line.")

    def add_arguments(self, parser):
        parser.add_argument("study_id", type=int)
        parser.add_argument("--sequence", type=int, help="only this sequence (its id)")
        parser.add_argument("--wait", action="store_true",
                            help="return when every run has finished; exit 1 if one failed")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")
        for name, default in DEFAULTS.items():
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                                help=f"run parameter (default {default!r})")

    def handle(self, *args, study_id, sequence=None, wait=False, timeout=3600, **options):
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study with id {study_id}")
        seq = None
        if sequence is not None:
            seq = Sequence.objects.filter(pk=sequence, study=study).first()
            if seq is None:
                raise CommandError(f"study {study_id} has no sequence with id {sequence}")
        overrides = {k: options[k] for k in DEFAULTS if options.get(k) is not None}
        try:
            # --wait on the embedded default: no worker may be running, so run them here.
            with jobs_in_this_process() if wait else nullcontext():
                runs = services.study_run_create(study=study, sequence=seq, parameters=overrides)
        except (ParameterError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if not wait:
            if queued_note():
                self.stderr.write(f"{len(runs)} run(s) {queued_note()}")
            for run in runs:
                self.stdout.write(str(run.pk))
            return
        failed = self._wait([r.pk for r in runs], timeout)
        self._summary(runs)
        if failed:
            raise CommandError(f"{failed} run(s) failed")

    def _summary(self, runs) -> None:
        for run in Run.objects.filter(pk__in=[r.pk for r in runs]).select_related("sequence"):
            line = f"run {run.pk} {run.sequence.name}: {run.status}"
            main = (run.metrics.get("methods") or {}).get(run.parameters.get("method", "eel"))
            if main:
                line += (f" (delivered Dice {main['dice']:.3f} at {main['threshold']:.3f}, "
                         f"AUC {main['auc']:.3f}, oracle F1 {main['f1']:.3f})")
            self.stdout.write(line)
            if run.status == Run.Status.FAILED:
                self.stderr.write(run.error.splitlines()[0] if run.error else "failed")
        for run in runs:
            self.stdout.write(str(run.pk))

    def _wait(self, ids: list[int], timeout: float) -> int:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            runs = list(Run.objects.filter(pk__in=ids))
            state = [(r.pk, r.status, r.stage, round(r.progress, 2)) for r in runs]
            if state != last:
                for r in runs:
                    self.stderr.write(f"  run {r.pk}: {r.status} {r.progress:5.0%} {r.stage}")
                last = state
            if all(r.is_finished for r in runs):
                return sum(r.status == Run.Status.FAILED for r in runs)
            if time.monotonic() > deadline:
                raise CommandError(f"runs {ids} still not finished after {timeout:.0f} s")
            time.sleep(1.0)
