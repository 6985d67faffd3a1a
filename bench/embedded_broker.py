"""Which broker for the embedded default? kombu's filesystem transport vs SQLAlchemy on SQLite.

For each transport: a fresh data folder (SQLite database, broker), one real worker process
(``celery -A crowd worker``, prefork, concurrency 1, as ``manage.py serve`` starts it), then

- latency: one heartbeat task at a time, from ``delay()`` to its row in the database
  (median and p95 over ``--n`` tasks);
- burst: ``--n`` tasks sent at once, seconds until all rows exist;
- restart: ``--n`` tasks queued while no worker runs, the worker started afterwards: how many
  arrive (a queue must survive a worker that is down).

Prints a Markdown table (docs/benchmarks.md, "Embedded broker"). Usage::

    .venv/bin/python bench/embedded_broker.py [--n 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import os, sys, time, json
os.environ["DJANGO_SETTINGS_MODULE"] = "crowd.settings"
import django; django.setup()
from crowd.models import WorkerHeartbeat
from crowd.tasks import worker_heartbeat
mode, n = sys.argv[1], int(sys.argv[2])
def wait(prefix, count, timeout=120):
    deadline = time.monotonic() + timeout
    while WorkerHeartbeat.objects.filter(token__startswith=prefix).count() < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
if mode == "latency":
    out = []
    for i in range(n):
        t = time.perf_counter(); worker_heartbeat.delay(f"lat{i}")
        wait(f"lat{i}", 1); out.append(time.perf_counter() - t)
    print(json.dumps(out))
elif mode == "burst":
    t = time.perf_counter()
    for i in range(n):
        worker_heartbeat.delay(f"burst{i}")
    ok = wait("burst", n)
    print(json.dumps(time.perf_counter() - t if ok else None))
elif mode == "send":
    for i in range(n):
        worker_heartbeat.delay(f"restart{i}")
    print("[]")
elif mode == "count":
    wait("restart", n, timeout=60)
    print(WorkerHeartbeat.objects.filter(token__startswith="restart").count())
"""


def _env(data: Path, broker: str) -> dict:
    env = dict(os.environ, GAZECROWD_DATA_DIR=str(data), CELERY_TASK_ALWAYS_EAGER="false")
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    if broker:
        env["CELERY_BROKER_URL"] = broker
    else:
        env.pop("CELERY_BROKER_URL", None)
    return env


def _child(env: dict, *args) -> str:
    proc = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crowd", "worker", "-c", "1", "-P", "prefork",
         "-Q", "celery,quick,long", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(name: str, broker_for, n: int) -> dict:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = _env(data, broker_for(data))
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                       check=True)
        _child(env, "send", n)  # queued while no worker runs
        worker = _worker(env)
        try:
            arrived = int(_child(env, "count", n))
            lat = json.loads(_child(env, "latency", n))
            burst = json.loads(_child(env, "burst", n))
        finally:
            worker.terminate()
            worker.wait(30)
    lat_sorted = sorted(lat)
    return {"transport": name, "median_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat_sorted[int(0.95 * (len(lat) - 1))],
            "burst_s": burst, "restart": f"{arrived} / {n}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    rows = [measure("filesystem (default)", lambda data: "", args.n)]
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        print("sqlalchemy is not installed: only the filesystem transport was measured")
    else:
        rows.append(measure("sqlalchemy on SQLite",
                            lambda data: f"sqla+sqlite:///{data / 'broker.sqlite3'}", args.n))
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}; {args.n} heartbeat tasks; one prefork worker process")
    print("| transport | latency median (ms) | latency p95 (ms) | burst of n (s) | queued while "
          "the worker was down, then delivered |")
    print("|---|---|---|---|---|")
    for r in rows:
        burst = "timeout" if r["burst_s"] is None else f"{r['burst_s']:.2f}"
        print(f"| {r['transport']} | {r['median_ms']:.0f} | {r['p95_ms']:.0f} | {burst} | "
              f"{r['restart']} |")


if __name__ == "__main__":
    main()
