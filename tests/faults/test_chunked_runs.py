"""One chunked run on two real Celery workers (Redis, PostgreSQL): its chunks run on both, and
a worker's pool child killed in the middle of a chunk is retried into one result.

The run is created by tests/faults/make_study.py (``--run-chunk-frames``) in the stack's
database; its tasks go through Redis to two ``celery -A crowd worker`` processes. Which worker
computed each chunk is recorded by the chunk task (``Run.timings["chunked"]["workers"]``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

LIMITS = {"CELERY_TASK_TIME_LIMIT": "120", "CELERY_TASK_SOFT_TIME_LIMIT": "110",
          "CELERY_VISIBILITY_TIMEOUT": "130",
          # the study's sequences are small: chunk them anyway (the default chunks past 48 Mpx)
          "GAZECROWD_CHUNKED_RUN_MIN_PIXELS": "0"}
#: Booster fits of make_study's run (eel, compare off: one per bag, parameters.DEFAULTS).
FITS = 3


def _two_workers(stack, prefix):
    workers = {f"{prefix}A": stack.worker(f"{prefix}A@%h", env=LIMITS),
               f"{prefix}B": stack.worker(f"{prefix}B@%h", env=LIMITS)}
    for worker in workers.values():
        worker.wait_for_log(" ready.", 90)
    return workers


def _run_row(stack, run_id):
    (row,) = stack.services.sql(
        "SELECT status, error, timings::text, stage FROM segmentation_run WHERE id = %s", (run_id,))
    return row[0], row[1], json.loads(row[2]), row[3]


def _wait_run(stack, run_id, timeout=400):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, error, timings, stage = _run_row(stack, run_id)
        if status in ("succeeded", "failed"):
            return status, error, timings
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} not finished after {timeout} s: {stage}; "
                         f"{stack.services.broker_state()}")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _lines(workers, *needles) -> int:
    return sum(1 for w in workers.values() for line in w.text().splitlines()
               if all(n in line for n in needles))


def _succeeded(workers, name, *, expect: int | None = None, timeout: float = 15.0) -> int:
    """Tasks ``name`` a worker's log says succeeded. With ``expect``, wait up to ``timeout`` s
    for that count: the run is marked done inside its last task, whose "succeeded" line the
    worker logs only after the task returns (after the chunk folder is removed)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        count = _lines(workers, f"Task {name}[", "succeeded")
        if expect is None or count >= expect or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def test_a_chunked_run_spreads_over_two_workers(stack):
    workers = _two_workers(stack, "chunkA")
    study = stack.services.make_study(name="chunks", observers=3, frames=32, size=96, gaze=True,
                                      run_chunk_frames=4)
    status, error, timings = _wait_run(stack, study["run"])
    assert status == "succeeded", error
    chunked = timings["chunked"]
    assert chunked["chunks"] == 8
    per_worker = chunked["workers"]
    assert len(per_worker) == 2, per_worker  # both workers computed chunks
    for step in ("prepare", "estimate", "paint"):
        assert sum(c.get(step, 0) for c in per_worker.values()) == 8, per_worker
    assert sum(c.get("fit", 0) for c in per_worker.values()) == FITS, per_worker
    assert stack.services.sql("SELECT count(*) FROM segmentation_groundtruth gt JOIN "
                              "segmentation_run r ON gt.run_id = r.id WHERE r.id = %s",
                              (study["run"],)) == [(1,)]
    assert _succeeded(workers, "segmentation.run_chunk") == 24 + FITS
    print(f"chunked run on two workers: {per_worker}")


def test_a_worker_killed_mid_chunk_is_retried_into_one_result(stack):
    workers = _two_workers(stack, "chunkK")
    # Chunks of 12 frames of 320x320: a prepare chunk takes seconds, time to kill it.
    study = stack.services.make_study(name="chunkkill", observers=3, frames=24, size=320,
                                      gaze=True, run_chunk_frames=12)
    deadline = time.monotonic() + 240
    victim = None
    while victim is None and time.monotonic() < deadline:
        for name, w in workers.items():
            if _lines({name: w}, "segmentation.run_chunk[", "received"):
                victim = name
                break
        time.sleep(0.05)
    assert victim is not None, "no chunk task reached a worker"
    time.sleep(0.5)  # inside the chunk
    children = _children(workers[victim].pid)
    assert children, "the worker has no pool child"
    for pid in children:
        os.kill(pid, signal.SIGKILL)  # the pool child (as the OOM killer would), not the master

    status, error, timings = _wait_run(stack, study["run"])
    assert status == "succeeded", error
    assert "WorkerLostError" in workers[victim].text()
    per_worker = timings["chunked"]["workers"]
    for step in ("prepare", "estimate", "paint"):
        assert sum(c.get(step, 0) for c in per_worker.values()) == 2, per_worker
    assert sum(c.get("fit", 0) for c in per_worker.values()) == FITS, per_worker
    # One result: one ground-truth row, every chunk task succeeded exactly once.
    assert stack.services.sql("SELECT count(*) FROM segmentation_groundtruth WHERE run_id = %s",
                              (study["run"],)) == [(1,)]
    assert _succeeded(workers, "segmentation.run_chunk") == 6 + FITS
    assert _succeeded(workers, "segmentation.run_gather", expect=3) == 3
    print(f"worker loss mid-chunk: killed on {victim}, finished: {per_worker}")
