"""Gunicorn configuration for GazeCrowd: ``gunicorn -c deploy/gunicorn.conf.py crowd.wsgi``.

Every value comes from the environment (see deploy/.env.example). Threads, not more
processes: requests are short and I/O-bound (gaze batches, JSON), while each process holds
Django and numpy in memory. ``kill -HUP`` on the master reloads code gracefully: new workers
start before old ones finish their requests, and the listening socket never closes.
"""

import os
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise SystemExit(f"environment variable {name} must be an integer, got {value!r}") from exc


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = _int("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1) + 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
# A request that takes longer than this kills its worker: large sequence uploads are buffered
# by the reverse proxy first, so only the copy to disk counts here.
timeout = _int("GUNICORN_TIMEOUT", 120)
# On SIGTERM / SIGHUP, workers get this long to finish the requests they hold.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Recycle workers now and then (with jitter, so they do not all restart at once).
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# Code is loaded in each worker, so that a HUP reload picks up a new release.
preload_app = False
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
# Heartbeat files in memory, not on a possibly slow container filesystem.
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"
# forwarded_allow_ips is read by gunicorn itself from FORWARDED_ALLOW_IPS (default 127.0.0.1):
# set it to the reverse proxy's address so X-Forwarded-Proto is trusted from it only.
