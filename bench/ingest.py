"""Live gaze ingestion under load: N observers stream 60 Hz gaze to gunicorn on PostgreSQL.

Each simulated observer owns a recording and POSTs batches of 60 samples (one second of 60 Hz
gaze) to ``/api/recordings/<id>/batches/`` with token authentication, over a keep-alive
connection. Two modes per N:

* ``paced``: one batch per second per observer, as a browser sends them (latency under a
  realistic load; throughput is N x 60 samples/s by construction);
* ``flood``: each observer sends its next batch as soon as the previous one is acknowledged
  (a recording replayed faster than real time): the sustained capacity.

A fraction of batches is sent twice (a lost acknowledgement) and a request that fails is
retried with the same batch number. Afterwards every recording is counted in the database:
``lost`` = acknowledged samples missing, ``duplicated`` = samples stored beyond those sent once.

Everything runs on 127.0.0.1: a scratch PostgreSQL database (dropped and re-created), gunicorn
started by this script and stopped at the end, bounded durations.

    nice .venv/bin/python bench/ingest.py                 # N = 10, 50, 100; 15 s per mode
    nice .venv/bin/python bench/ingest.py --n 10 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "gazecrowd_bench_ingest"
SAMPLES_PER_BATCH = 60
N_FRAMES = 4000  # 400 s of playback at 10 fps: longer than any stream below


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: str) -> dict:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return {
        **os.environ,
        "DATABASE_URL": f"{base}/{DB_NAME}",
        "GAZECROWD_DATA_DIR": data_dir,
        "DEBUG": "false",  # no query log, production code paths
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }


def reset_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def setup_world(n_observers: int, env: dict) -> list[tuple[int, str]]:
    """Migrate, then create a study, one sequence and N observers with a recording each."""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "GAZECROWD_DATA_DIR", "SECRET_KEY", "DEBUG",
                                           "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "crowd.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from rest_framework.authtoken.models import Token

    from annotation import hooks
    from annotation import services as annotation_services
    from crowd import services

    hooks._recording_finished.clear()  # ingestion only: no estimates
    coordinator = services.user_get_or_create(username="bench-coordinator")
    study = services.study_create(name="ingest bench", created_by=coordinator, frame_rate=10.0)
    frames = Path(env["GAZECROWD_DATA_DIR"]) / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    import nibabel as nib

    vol = np.zeros((8, 8, N_FRAMES), np.float32)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), frames / "seq.nii.gz")
    sequence = services.sequence_import(study=study, path=frames / "seq.nii.gz", name="seq")
    out = []
    for i in range(n_observers):
        user = services.user_get_or_create(username=f"observer-{i:03d}")
        services.membership_set(study=study, user=user, role="observer")
        services.assignment_create(sequence=sequence, observer=user)
        recording, _ = annotation_services.recording_start(observer=user, sequence=sequence, source="webcam")
        out.append((recording.pk, Token.objects.get_or_create(user=user)[0].key))
    return out


def batch_body(number: int, rng: random.Random) -> bytes:
    t0 = (number % 350) * 1000.0  # frames stay below N_FRAMES whatever the batch number
    rows = []
    for k in range(SAMPLES_PER_BATCH):
        t = t0 + k * 1000.0 / 60.0
        if rng.random() < 0.03:
            rows.append([round(t, 2), int(t // 100), None, None])  # a blink
        else:
            rows.append([round(t, 2), int(t // 100), round(rng.uniform(0, 8), 2), round(rng.uniform(0, 8), 2)])
    return json.dumps({"batch": number, "samples": rows}).encode()


class Observer:
    def __init__(self, recording_id: int, token: str, port: int, rng: random.Random):
        self.rid, self.token, self.port, self.rng = recording_id, token, port, rng
        self.acked: set[int] = set()
        self.latencies: list[float] = []
        self.errors = 0
        self.reader = self.writer = None

    async def _connect(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def _post(self, body: bytes) -> int:
        if self.writer is None:
            await self._connect()
        head = (
            f"POST /api/recordings/{self.rid}/batches/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Token {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        code = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return code

    async def send(self, number: int) -> None:
        body = batch_body(number, self.rng)
        for _attempt in range(10):  # retry with the same batch number until acknowledged
            started = time.perf_counter()
            try:
                code = await asyncio.wait_for(self._post(body), timeout=10)
            except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                self.errors += 1
                if self.writer is not None:
                    self.writer.close()
                self.writer = None
                await asyncio.sleep(0.2)
                continue
            self.latencies.append(time.perf_counter() - started)
            if code in (200, 201):
                self.acked.add(number)
                if self.rng.random() < 0.02:  # the ack got lost: the client sends it again
                    try:
                        await asyncio.wait_for(self._post(body), timeout=10)
                    except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                        self.writer = None
                return
            self.errors += 1
            await asyncio.sleep(0.2)

    async def run(self, *, first: int, seconds: float, paced: bool) -> None:
        deadline = time.perf_counter() + seconds
        number = first
        # Spread paced observers over the second, as real sessions start at random times.
        if paced:
            await asyncio.sleep(self.rng.random())
        while time.perf_counter() < deadline:
            tick = time.perf_counter()
            await self.send(number)
            number += 1
            if paced:
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
        self.next_number = number
        if self.writer is not None:
            self.writer.close()


def _cpu_by_pid(match) -> dict[int, float]:
    """CPU seconds (user + system) of every process for which ``match(pid, stat, cmdline)``."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if match(int(entry.name), fields, cmdline):
            out[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def server_cpu(server_pid: int) -> dict[int, float]:
    """gunicorn (its process group) and the PostgreSQL backends serving the bench database."""
    return _cpu_by_pid(lambda pid, f, cmd: int(f[2]) == server_pid or DB_NAME in cmd)


def count_stored(recording_ids) -> dict[int, tuple[int, int]]:
    from django.db.models import Count, Sum

    from annotation.models import GazeBatch

    rows = (
        GazeBatch.objects.filter(recording_id__in=recording_ids)
        .values("recording_id")
        .annotate(b=Count("id"), s=Sum("n_samples"))
    )
    return {r["recording_id"]: (r["b"], r["s"]) for r in rows}


async def _warm_up(observers) -> None:
    """Batch numbers 1_000_000+ so that they never collide with the measured ones."""
    async def three(o):
        for k in range(3):
            await o.send(1_000_000 + k)

    await asyncio.gather(*(three(o) for o in observers))
    for o in observers:
        if o.writer is not None:
            o.writer.close()


async def run_mode(world, port, *, n, seconds, paced, first_numbers, seed):
    observers = [Observer(rid, tok, port, random.Random(seed + i)) for i, (rid, tok) in enumerate(world[:n])]
    started = time.perf_counter()
    await asyncio.gather(*(o.run(first=first_numbers[o.rid], seconds=seconds, paced=paced) for o in observers))
    elapsed = time.perf_counter() - started
    for o in observers:
        first_numbers[o.rid] = o.next_number
    return observers, elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each mode")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=16, help="threads per worker (gthread)")
    args = parser.parse_args(argv)

    data_dir = tempfile.mkdtemp(prefix="gazecrowd-bench-")
    env = server_env(data_dir)
    reset_database()
    # Enough recordings to warm up every server thread (each opens its own DB connection).
    n_warm = 2 * args.workers * args.threads
    world = setup_world(max(max(args.n), n_warm), env)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crowd.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
         "--keep-alive", "30", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not start")
        # Warm-up (not counted): every worker imports its views, every thread opens its DB
        # connection, as on a server that has been running for a while.
        warm = [Observer(rid, tok, port, random.Random(-1)) for rid, tok in world[:n_warm]]
        asyncio.run(_warm_up(warm))
        print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread), PostgreSQL, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
              f"{args.seconds:g} s per mode; batches of {SAMPLES_PER_BATCH} samples")
        header = f"{'N':>4} {'mode':>6} {'batches':>8} {'samples/s':>10} {'p50 ms':>7} {'p95 ms':>7} " \
                 f"{'errors':>6} {'lost':>5} {'dup':>4} {'srv cpu ms/batch':>16} {'client':>6}"
        print(header)
        print("-" * len(header))
        first_numbers = {rid: 0 for rid, _ in world}
        warmed = {rid: 3 * SAMPLES_PER_BATCH for rid, _ in world[:n_warm]}
        results = []
        for n in args.n:
            for paced in (True, False):
                cpu0, client0 = server_cpu(server.pid), time.process_time()
                observers, elapsed = asyncio.run(run_mode(
                    world, port, n=n, seconds=args.seconds, paced=paced, first_numbers=first_numbers, seed=n))
                cpu1, client1 = server_cpu(server.pid), time.process_time()
                server_s = sum(v - cpu0.get(pid, 0.0) for pid, v in cpu1.items())
                acked = sum(len(o.acked) for o in observers)
                lat = np.array([x for o in observers for x in o.latencies]) * 1000
                rate = acked * SAMPLES_PER_BATCH / elapsed
                results.append((n, paced, acked, rate, np.percentile(lat, 50), np.percentile(lat, 95),
                                sum(o.errors for o in observers)))
                print(f"{n:>4} {'paced' if paced else 'flood':>6} {acked:>8} {rate:>10.0f} "
                      f"{results[-1][4]:>7.1f} {results[-1][5]:>7.1f} {results[-1][6]:>6}", end="", flush=True)
                # Counting after each mode: every acknowledged batch once, nothing else.
                stored = count_stored([rid for rid, _ in world])
                expected = {rid: first_numbers[rid] for rid, _ in world}  # batches 0..next-1 acked
                lost = dup = 0
                for rid, want in expected.items():
                    b, s = stored.get(rid, (0, 0))
                    s -= warmed.get(rid, 0)
                    lost += max(0, want * SAMPLES_PER_BATCH - s)
                    dup += max(0, s - want * SAMPLES_PER_BATCH)
                print(f" {lost:>5} {dup:>4} {server_s / acked * 1000:>16.2f} {(client1 - client0) / acked * 1000:>6.2f}")
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
