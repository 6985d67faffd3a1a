"""Real processes for the fault tests: gunicorn, celery workers, an HTTP client that retries.

Every process runs in its own session (process group), so that ``kill -9`` reaches the
master and its children at once, the way a crashed machine loses them, and logs to a file
that a failing test prints.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proc:
    """A child process in its own process group, its output in ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self._out = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: no {needle!r} in its log after {timeout} s:\n{self.tail()}")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill9(self) -> None:
        """SIGKILL to the whole group: the master and every pool child die at once."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
            except ProcessLookupError:
                pass
        # Pool children left behind by a killed master belong to the same group.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-n:])


def start_gunicorn(env: dict[str, str], port: int, log: Path, *, workers: int = 2) -> Proc:
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers),
           "GUNICORN_THREADS": "4"}
    proc = Proc("gunicorn", [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py",
                             "crowd.wsgi:application"], env, log)
    wait_http(port, timeout=60, proc=proc)
    return proc


def start_worker(env: dict[str, str], node: str, log: Path, *, queues: str = "celery,quick,long",
                 concurrency: int = 1) -> Proc:
    proc = Proc(node, [str(BIN / "celery"), "-A", "crowd", "worker", "--hostname", node,
                       "--queues", queues, "--concurrency", str(concurrency), "--pool", "prefork",
                       "--loglevel", "INFO", "--without-gossip", "--without-mingle"], env, log)
    return proc


def wait_http(port: int, *, timeout: float, proc: Proc | None = None) -> None:
    """Until the server answers a request (any status below 500)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/studies/", headers={"Host": "127.0.0.1"})
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        time.sleep(0.2)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self):
        return json.loads(self.body)


class Client:
    """A keep-alive HTTP client that retries on connection errors and 502/503/504.

    What a browser's gaze uploader does: the same request (same batch number) again after a
    short pause, until ``deadline`` seconds have passed. ``retries`` counts every repeat.
    """

    def __init__(self, port: int, token: str | None = None, *, deadline: float = 60):
        self.port, self.token, self.deadline = port, token, deadline
        self.conn: http.client.HTTPConnection | None = None
        self.retries = 0

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Host": "127.0.0.1", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        headers.update(extra or {})
        return headers

    def once(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            self.conn.request(method, path, body=body, headers=self._headers(headers))
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return Reply(response.status, data, dict(response.getheaders()))

    def request(self, method: str, path: str, *, json_body=None, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        give_up = time.monotonic() + self.deadline
        pause = 0.05
        while True:
            try:
                reply = self.once(method, path, body, headers)
                if reply.status not in (502, 503, 504):
                    return reply
            except (OSError, http.client.HTTPException):
                if time.monotonic() > give_up:
                    raise
            else:
                if time.monotonic() > give_up:
                    return reply
            self.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, for file uploads with http.client."""
    boundary = f"----gazecrowd-faults-{os.getpid()}-{time.monotonic_ns()}"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, (file_name, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{file_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Services:
    """The dedicated database and Redis databases, and the environment of every process."""

    env: dict[str, str]
    db_url: str
    broker_url: str
    backend_url: str
    tmp: Path

    def manage(self, *args: str, timeout: float = 300) -> str:
        """``python manage.py ARGS`` in the stack's environment; its stdout."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def make_study(self, **options) -> dict:
        """A study through tests/faults/make_study.py: ids, tokens (see that script)."""
        argv = [sys.executable, str(Path(__file__).with_name("make_study.py")),
                "--workdir", str(self.tmp)]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"make_study failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.db_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def flush_queues(self) -> None:
        """Empty the stack's Redis databases: no task left over from an earlier test runs now."""
        import redis

        for url in (self.broker_url, self.backend_url):
            redis.Redis.from_url(url).flushdb()

    def broker_state(self) -> dict:
        """What Redis holds for tasks in flight: for the error message of a test that timed out.

        ``unacked``: delivered, not yet acknowledged (a dead worker's task waits here for the
        visibility timeout); ``queued``: length of each queue; ``restore_lock_ttl_ms``: the
        lock of kombu's restore scan (-2: free).
        """
        import redis

        r = redis.Redis.from_url(self.broker_url)
        now = time.time()
        return {
            "unacked_age_s": [round(now - score, 1)
                              for _, score in r.zrange("unacked_index", 0, -1, withscores=True)],
            "queued": {q: r.llen(q) for q in ("celery", "quick", "long")},
            "restore_lock_ttl_ms": r.pttl("unacked_mutex"),
        }

    def celery_client(self):
        """A Celery app in this process that only sends tasks and reads results.

        Celery reads CELERY_BROKER_URL / CELERY_RESULT_BACKEND from the environment before
        any argument or setting, at every access: the ``stack`` fixture points them at the
        stack's Redis databases for the duration of a test.
        """
        from celery import Celery

        app = Celery("faults-client", broker=self.broker_url, backend=self.backend_url)
        app.conf.task_serializer = "json"
        app.conf.accept_content = ["json"]
        app.conf.result_accept_content = ["json"]
        return app


@dataclass
class Stack:
    """Processes started by one test; all stopped when it ends, their logs shown if it failed."""

    services: Services
    logs: Path
    procs: list[Proc] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.services.flush_queues()

    def web(self, *, workers: int = 2, port: int | None = None) -> Proc:
        self.port = port or self.port or free_port()
        log = self.logs / f"gunicorn-{len(self.procs)}.log"
        proc = start_gunicorn(self.services.env, self.port, log, workers=workers)
        self.procs.append(proc)
        return proc

    def worker(self, node: str, *, env: dict[str, str] | None = None, **kwargs) -> Proc:
        proc = start_worker({**self.services.env, **(env or {})}, node,
                            self.logs / f"{node.split('@')[0]}-{len(self.procs)}.log", **kwargs)
        self.procs.append(proc)
        return proc

    def client(self, token: str | None = None, **kwargs) -> Client:
        return Client(self.port, token, **kwargs)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
