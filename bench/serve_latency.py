"""Web requests while a run computes, on the embedded default (``manage.py serve``).

A fresh data folder; a study whose 100-frame sequence (DAVIS parkour, 854x480, from
``../shared/data``) gets its seven observers' recordings, so the worker computes seven
estimates and then the quorum run (pooling + EEL); meanwhile a client logged in as the
coordinator requests the pages and API a user would have open, one after the other, and the
latency of each is recorded. Then the same for 20 s with the worker idle. Prints a Markdown
table (docs/benchmarks.md, "Embedded default: requests while a run computes").

    .venv/bin/python bench/serve_latency.py [--sequence davis-parkour] [--idle 20]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("GAZECROWD_SHARED_DATA", ROOT.parent / "shared" / "data"))
PASSWORD = "bench-Pass-5513"

SETUP = """
import os
from pathlib import Path
from crowd import services
from annotation import services as annotation_services
data, name, password = Path(os.environ["BENCH_DATA"]), os.environ["BENCH_SEQ"], os.environ["BENCH_PW"]
kind, seq = name.split("-", 1)
gaze = sorted((data / "gaze" / name).glob("observer-*.csv"))
alice = services.user_get_or_create(username="alice", password=password)
study = services.study_create(name="Latency bench", created_by=alice, target_structure="object",
                              quorum=len(gaze), status="active")
sequence = services.sequence_import(study=study, path=data / kind / seq / "frames", name=name)
print(study.pk, sequence.pk, sequence.n_frames, " ".join(str(p) for p in gaze))
"""
IMPORT = """
import os
from pathlib import Path
from crowd import services
from crowd.models import Sequence
from annotation import services as annotation_services
sequence = Sequence.objects.get(pk=int(os.environ["BENCH_SEQUENCE"]))
for path in os.environ["BENCH_GAZE"].split():
    user = services.user_get_or_create(username=Path(path).stem)
    annotation_services.recording_import_file(sequence=sequence, observer=user, path=Path(path),
                                              fmt="csv", ensure_member=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shell(env: dict, code: str, **extra) -> str:
    proc = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT,
                          env={**env, **extra}, capture_output=True, text=True, timeout=900)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


class Client:
    """A logged-in browser stand-in: session cookie, CSRF token, timed GETs."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def login(self, username: str) -> None:
        page = self.opener.open(self.base + "/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": username, "password": PASSWORD,
                                       "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + "/accounts/login/", data=body,
                                         headers={"Referer": self.base + "/accounts/login/"})
        final = self.opener.open(request).geturl()
        if "/accounts/login/" in final:
            raise SystemExit("bench login failed")

    def get(self, path: str) -> float:
        started = time.perf_counter()
        with self.opener.open(self.base + path, timeout=60) as answer:
            answer.read()
        return time.perf_counter() - started


def _pages(study: int, sequence: int) -> dict[str, str]:
    return {"dashboard": f"/studies/{study}/", "runs API": f"/api/studies/{study}/runs/",
            "studies": "/", "sequence API": f"/api/studies/{study}/sequences/{sequence}/",
            "health": "/healthz"}


def _hammer(client: Client, pages: dict, until) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in pages}
    while not until():
        for name, path in pages.items():
            times[name].append(client.get(path))
        time.sleep(0.2)
    return times


def _row(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (f"| {label} | {len(values)} | {1000 * statistics.median(values):.0f} | "
            f"{1000 * p95:.0f} | {1000 * ordered[-1]:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequence", default="davis-parkour")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds measured idle")
    args = parser.parse_args()
    if not (DATA / "gaze" / args.sequence).is_dir():
        raise SystemExit(f"{DATA / 'gaze' / args.sequence} is missing (set GAZECROWD_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                            "CELERY_TASK_ALWAYS_EAGER"}}
        env["GAZECROWD_DATA_DIR"] = tmp
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                       check=True)
        out = _shell(env, SETUP, BENCH_DATA=str(DATA), BENCH_SEQ=args.sequence, BENCH_PW=PASSWORD)
        study, sequence, n_frames, *gaze = out.split()
        port = _free_port()
        log = Path(tmp) / "serve.log"
        with log.open("w") as sink:
            server = subprocess.Popen([sys.executable, "manage.py", "serve", "--addrport",
                                       f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=sink,
                                      stderr=subprocess.STDOUT)
        try:
            while "is listening on" not in log.read_text():
                if server.poll() is not None:
                    raise SystemExit(log.read_text()[-3000:])
                time.sleep(0.3)
            client = Client(f"http://127.0.0.1:{port}")
            client.login("alice")
            pages = _pages(int(study), int(sequence))
            started = time.perf_counter()
            # The uploads themselves: seven recordings imported (as the upload view would).
            _shell(env, IMPORT, BENCH_SEQUENCE=sequence, BENCH_GAZE=" ".join(gaze))
            last = {"status": "none"}

            def run_done():
                with client.opener.open(client.base + pages["runs API"]) as answer:
                    runs = json.loads(answer.read())
                last["status"] = runs[0]["status"] if runs else "none"
                return last["status"] in ("succeeded", "failed")

            busy = _hammer(client, pages, run_done)
            computed = time.perf_counter() - started
            deadline = time.perf_counter() + args.idle
            idle = _hammer(client, pages, lambda: time.perf_counter() > deadline)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(120)
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}; {args.sequence}, {n_frames} frames, 7 recordings; "
          f"estimates + run {last['status']} in {computed:.0f} s with one worker process")
    print("| page (while the worker computes) | requests | median (ms) | p95 (ms) | max (ms) |")
    print("|---|---|---|---|---|")
    for name, values in busy.items():
        print(_row(name, values))
    print(_row("**all pages, computing**", [v for vs in busy.values() for v in vs]))
    print(_row("all pages, worker idle", [v for vs in idle.values() for v in vs]))


if __name__ == "__main__":
    main()
