"""``python manage.py serve``: the web server and a Celery worker together, stopped together.

The embedded default's way to run GazeCrowd on one machine with no servers: uploads, finishes
and run requests only queue work (kombu's filesystem broker under ``DATA_DIR/broker``), and
the worker started here does it, so no job runs inside a web request. With a broker configured
(``CELERY_BROKER_URL``) it still starts one worker beside the web server unless
``--no-worker`` says the workers run elsewhere.

Before the worker starts, on the embedded default only, jobs that a previous worker left
unfinished (killed, machine rebooted) are queued again: the embedded broker forgets a message
once a worker has taken it, and every task is idempotent, so queueing again is safe.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from segmentation import recovery

ROOT = Path(settings.BASE_DIR)
#: A worker that dies is started again, but not more often than this (seconds apart).
RESTART_AFTER_S = 5.0


def parse_addrport(addrport: str) -> tuple[str, int]:
    """``"8000"``, ``"0.0.0.0:8000"`` or ``"[::1]:8000"`` -> (host, port); host defaults to 127.0.0.1."""
    host, sep, port = addrport.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", addrport
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise CommandError(f"--addrport {addrport!r}: the port must be a number") from None
    if not 0 < number < 65536:
        raise CommandError(f"--addrport {addrport!r}: the port must be in 1-65535")
    return host, number


def browse_url(host: str, port: int) -> str:
    """The address to open in a browser (a wildcard bind is reached on the loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "0": "127.0.0.1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


class Command(BaseCommand):
    help = ("Start the web server and a Celery worker together (Ctrl-C stops both); on the "
            "embedded default no other server is needed.")

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000",
                            help="address and port of the web server (default 127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, default=1,
                            help="worker processes (tasks run at the same time; default 1)")
        parser.add_argument("--no-worker", action="store_true",
                            help="web server only (workers run elsewhere)")

    def handle(self, *args, addrport, workers, no_worker, **options):
        if not 1 <= workers <= 64:
            raise CommandError(f"--workers {workers}: give 1 to 64")
        host, port = parse_addrport(addrport)
        url = browse_url(host, port)
        if settings.GAZECROWD_EMBEDDED_BROKER:
            call_command("migrate", interactive=False, verbosity=0)
            counts = recovery.jobs_requeue_unfinished()
            if any(counts.values()):
                self.stdout.write("Queued again what the last worker left unfinished: "
                                  + ", ".join(f"{n} {what}" for what, n in counts.items() if n))
        web = self._start_web(host, port)
        worker = None if no_worker else self._start_worker(workers)
        stop = _Stop()
        try:
            self._wait_until_listening(web, url)
            broker = "embedded broker" if settings.GAZECROWD_EMBEDDED_BROKER else "broker"
            who = "no worker (--no-worker)" if worker is None else \
                f"{workers} worker process{'es' if workers > 1 else ''} ({broker})"
            self.stdout.write(self.style.SUCCESS(f"GazeCrowd is listening on {url}") +
                              f" with {who}. Ctrl-C stops everything.", ending="\n")
            self.stdout.flush()
            last_restart = 0.0
            while not stop.requested:
                if web.poll() is not None:
                    raise CommandError(f"the web server stopped (exit status {web.returncode})")
                if worker is not None and worker.poll() is not None:
                    self.stderr.write(f"the worker stopped (exit status {worker.returncode}); "
                                      "starting it again")
                    time.sleep(max(0.0, RESTART_AFTER_S - (time.monotonic() - last_restart)))
                    last_restart = time.monotonic()
                    worker = self._start_worker(workers)
                time.sleep(0.5)
        finally:
            stop.restore()
            _terminate([p for p in (worker, web) if p is not None])
            self.stdout.write("Stopped.")

    # --- children ------------------------------------------------------------------------
    def _start_web(self, host: str, port: int) -> subprocess.Popen:
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # runserver is threaded and serves static files through WhiteNoise; no autoreloader,
        # so the process we started is the one serving (and stopping it stops the server).
        return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runserver", bind,
                                 "--noreload"], cwd=ROOT)

    def _start_worker(self, workers: int) -> subprocess.Popen:
        # prefork even for one process: it enforces the tasks' time limits (solo does not).
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crowd", "worker", "--loglevel", "INFO",
             "--queues", "celery,quick,long", "--concurrency", str(workers), "--pool", "prefork",
             "--hostname", "serve@%h", "--without-gossip", "--without-mingle"],
            cwd=ROOT)

    def _wait_until_listening(self, web: subprocess.Popen, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise CommandError(f"the web server did not start (exit status {web.returncode}); "
                                   "is the port already in use?")
            try:
                with urllib.request.urlopen(url + "healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise CommandError(f"the web server did not answer on {url} within {timeout:.0f} s")


class _Stop:
    """SIGINT/SIGTERM set a flag, so the loop stops the children in order (no traceback)."""

    def __init__(self):
        self.requested = False
        self._old = {s: signal.signal(s, self._request) for s in (signal.SIGINT, signal.SIGTERM)}

    def _request(self, signum, frame):
        self.requested = True

    def restore(self):
        for s, handler in self._old.items():
            signal.signal(s, handler)


def _terminate(processes: list[subprocess.Popen], grace: float = 20.0) -> None:
    """SIGTERM (the worker finishes or hands back its task: a warm shutdown), then SIGKILL."""
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in processes:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
