"""``python manage.py demo``: a whole study end to end on the project's own real samples.

Creates a demo study (coordinator, researcher, seven observers), imports the shipped sample
sequences with their reference masks, imports each observer's gaze recording, and lets the
platform do the rest exactly as in production: each finished recording gets its estimate, the
seventh recording of a sequence reaches the study's quorum and starts a run (pooling + EEL)
through Celery. The demo is a batch command: it runs those jobs in its own process (on a
worker when a broker server is configured), where the web server never does (``serve``).
Then it writes ``./demo-output/`` and prints a summary.

Run again, it reuses the demo study it made (``--fresh`` deletes it and builds a new one), so
``demo --serve`` can be the everyday way to start the demo: it then runs ``serve`` (the web
server and a worker) and prints the address it listens on.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotation import services as annotation_services
from crowd import services
from crowd.batch import jobs_in_this_process
from crowd.models import Study
from segmentation.models import Run

DEMO_PASSWORD = "gazecrowd-demo"
COORDINATOR, RESEARCHER = "demo-coordinator", "demo-researcher"


class Command(BaseCommand):
    help = ("Run a demo study end to end on the shipped samples and write ./demo-output/; "
            "--serve then starts the web server with the demo study loaded.")

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=Path("demo-output"))
        parser.add_argument("--samples", default="brats-pat0001,davis-blackswan",
                            help="comma-separated shipped samples (default: all)")
        parser.add_argument("--serve", action="store_true",
                            help="then start the web server and a worker (manage.py serve)")
        parser.add_argument("--fresh", action="store_true",
                            help="delete the demo study of an earlier run and build a new one")
        parser.add_argument("--addrport", default="127.0.0.1:8000",
                            help="with --serve: address and port (default 127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, default=1, help="with --serve: worker processes")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for runs")

    def handle(self, *args, out, samples, serve, fresh, addrport, workers, timeout, **options):
        started = time.perf_counter()
        # Eager Celery logs a line per task: useful in a worker, noise in the demo's summary.
        logging.getLogger("celery").setLevel(logging.WARNING)
        call_command("migrate", interactive=False, verbosity=0)
        names = [s.strip() for s in samples.split(",") if s.strip()]
        study = self._earlier_demo(names, fresh)
        if study is None:
            study = self._build(names, timeout)
        else:
            self.stdout.write(f"Reusing demo study #{study.pk} {study.name!r} (--fresh builds a "
                              "new one)")
        runs = list(Run.objects.filter(study=study).select_related("sequence").order_by("id"))
        out.mkdir(parents=True, exist_ok=True)
        for fmt in ("nifti", "png", "coco", "npz", "csv"):
            call_command("export_ground_truth", study.pk, format=fmt, out=out / "ground-truth",
                         stdout=io.StringIO())
        call_command("study_report", study.pk, out=out / "reports", stdout=io.StringIO())
        self._summary(runs, out)
        self.stdout.write(f"Done in {time.perf_counter() - started:.0f} s.")
        observers = sorted(study.memberships.filter(role="observer")
                           .values_list("user__username", flat=True))
        self._accounts(observers, serve)
        if serve:
            call_command("serve", addrport=addrport, workers=workers)

    def _earlier_demo(self, names: list[str], fresh: bool) -> Study | None:
        """The demo study of an earlier run with these samples and every run succeeded, or None.

        With ``fresh`` (or when the earlier one is incomplete) earlier demo studies are deleted.
        """
        earlier = list(Study.objects.filter(created_by__username=COORDINATOR,
                                            name__startswith="Demo ").order_by("-id"))
        for study in earlier:
            runs = Run.objects.filter(study=study)
            complete = (sorted(study.sequences.values_list("name", flat=True)) == sorted(names)
                        and runs.count() == len(names)
                        and not runs.exclude(status=Run.Status.SUCCEEDED).exists())
            if complete and not fresh:
                return study
        for study in earlier:
            self.stdout.write(f"Deleting the earlier demo study #{study.pk}")
            services.study_delete(study=study)
        return None

    def _build(self, names: list[str], timeout: float) -> Study:
        from segmentation.engine import load_sample

        loaded = [load_sample(name) for name in names]
        observers = sorted({g["observer"].iloc[0] for s in loaded for g in s.gaze})

        coordinator = services.user_get_or_create(username=COORDINATOR, password=DEMO_PASSWORD)
        researcher = services.user_get_or_create(username=RESEARCHER, password=DEMO_PASSWORD)
        observer_users = {o: services.user_get_or_create(username=o, password=DEMO_PASSWORD)
                          for o in observers}
        study = services.study_create(
            name=f"Demo {time.strftime('%Y-%m-%d %H:%M:%S')}", created_by=coordinator,
            target_structure="object of interest (tumour, swan)",
            instructions="Keep your eyes on the object of interest in every frame.",
            quorum=len(observers), status="active")
        services.membership_set(study=study, user=researcher, role="researcher")
        for user in observer_users.values():
            services.membership_set(study=study, user=user, role="observer")
        self.stdout.write(f"Study #{study.pk} {study.name!r}: {len(names)} sequences, "
                          f"{len(observers)} observers")

        # No worker runs yet on the embedded default: the demo runs its jobs itself.
        with jobs_in_this_process():
            self._import(study, loaded, observer_users)
        self._wait_for_runs(study, len(loaded), timeout)
        return study

    def _import(self, study, loaded, observer_users) -> None:
        for sample in loaded:
            sequence = services.sequence_import(study=study, path=sample.frames_path,
                                                name=sample.name, truth=sample.truth_path)
            self.stdout.write(f"  sequence #{sequence.pk} {sequence.name}: "
                              f"{sequence.n_frames} frames {sequence.height}x{sequence.width}")
            for path in sample.gaze_paths:
                observer = observer_users[path.stem]
                services.assignment_create(sequence=sequence, observer=observer)
                # The seventh finished recording reaches the quorum and starts the run.
                annotation_services.recording_import_file(sequence=sequence, observer=observer, path=path, fmt="csv")
            self.stdout.write(f"    {len(sample.gaze_paths)} recordings imported")

    def _wait_for_runs(self, study, expected: int, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            runs = list(Run.objects.filter(study=study).select_related("sequence").order_by("id"))
            if len(runs) >= expected and all(r.is_finished for r in runs):
                break
            if time.monotonic() > deadline:
                raise CommandError(f"runs of study {study.pk} did not finish in {timeout:.0f} s: "
                                   "is a Celery worker running?")
            time.sleep(1.0)
        failed = [r for r in runs if r.status == Run.Status.FAILED]
        if failed:
            raise CommandError("; ".join(f"run {r.pk} ({r.sequence.name}) failed: "
                                         f"{r.error.splitlines()[0]}" for r in failed))
        return runs

    def _summary(self, runs, out: Path) -> None:
        w = self.stdout.write
        w("")
        w("Delivered masks (as exported, cut without the reference) beside the ranking and "
          "oracle scores:")
        w(f"{'sequence':18s} {'method':12s} {'Dice':>6s} {'IoU':>6s} {'cut':>6s} {'AUC':>6s} "
          f"{'oracle F1':>9s}")
        for run in runs:
            for method, m in run.metrics.get("methods", {}).items():
                w(f"{run.sequence.name:18s} {method:12s} {m['dice']:6.3f} {m['iou']:6.3f} "
                  f"{m['threshold']:6.3f} {m['auc']:6.3f} {m['f1']:9.3f}")
        w("")
        for run in runs:
            weights = run.observers.get("weights", {})
            flagged = set(run.observers.get("flagged", []))
            w(f"{run.sequence.name}: pool {run.observers.get('pool', '?')}, observer weights")
            for name, weight in weights.items():
                flag = f"  FLAGGED: {run.observers['flag_reasons'].get(name, '')}" if name in flagged else ""
                w(f"  {name:12s} {weight:6.3f}{flag}")
            w(f"  run #{run.pk} took {run.timings.get('total', 0):.1f} s")
        w("")
        w(f"Ground truth (NIfTI, PNG, COCO RLE, npz, superpixel CSV): {out / 'ground-truth'}")
        w(f"Reports (report.html, observers.csv, roc.png, curves.csv):  {out / 'reports'}")

    def _accounts(self, observers, serving: bool) -> None:
        self.stdout.write(f"Accounts (password for all: {DEMO_PASSWORD}): coordinator {COORDINATOR}, "
                          f"researcher {RESEARCHER}, observers {', '.join(observers)}")
        if not serving:
            self.stdout.write("Browse the study: .venv/bin/python manage.py demo --serve (reuses "
                              "this study, starts the web server and a worker)")

