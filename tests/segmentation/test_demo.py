"""The README's first command: the demo runs a whole study on the embedded default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_end_to_end_on_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}}
    env["GAZECROWD_DATA_DIR"] = str(tmp_path / "var")
    out = tmp_path / "demo-output"
    proc = subprocess.run([sys.executable, "manage.py", "demo", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "var" / "gazecrowd.sqlite3").exists()  # the embedded database

    gt = out / "ground-truth"
    for name in ("brats-pat0001", "davis-blackswan"):
        for suffix in (".nii.gz", ".json", ".npz", ".csv"):
            assert (gt / f"{name}{suffix}").stat().st_size > 0
        with np.load(gt / f"{name}.npz") as npz:
            masks, scores = npz["masks"], npz["scores"]
        assert len(list((gt / name).glob("frame_*.png"))) == masks.shape[0]
        assert scores.dtype == np.float32 and 0 <= scores.min() and scores.max() <= 1
        assert json.loads((gt / f"{name}.json").read_text())["images"]
        report = out / "reports" / name
        assert "<img" in (report / "report.html").read_text()
        observers = pd.read_csv(report / "observers.csv")
        assert len(observers) == 7
        assert (report / "roc.png").exists() and (report / "curves.csv").exists()

    summary = proc.stdout
    assert "eel" in summary and "vilarino" in summary and "observer-7" in summary


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_demo(env, out, port, *extra) -> str:
    """``demo --serve``: wait until it says where it listens, fetch that page, press Ctrl-C."""
    import signal
    import time
    import urllib.request

    proc = subprocess.Popen([sys.executable, "manage.py", "demo", "--samples", "brats-pat0001",
                             "--out", str(out), "--serve", "--addrport", f"127.0.0.1:{port}",
                             *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "demo --serve ended early:\n" + "".join(lines[-60:])
            lines.append(line)
            if "is listening on" in line:
                break
        url = line.split("is listening on ")[1].split()[0]
        assert url == f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url + "healthz", timeout=10) as answer:
            assert json.loads(answer.read()) == {"status": "ok", "database": "ok",
                                                 "broker": "embedded"}
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines[-40:]) + rest[-3000:]
    return "".join(lines) + rest


@pytest.mark.slow
def test_demo_serve_twice_reuses_one_demo_study_and_prints_its_real_address(tmp_path):
    import sqlite3

    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                        "CELERY_TASK_ALWAYS_EAGER"}}
    env["GAZECROWD_DATA_DIR"] = str(tmp_path / "var")
    first = _serve_demo(env, tmp_path / "out", _free_port())
    assert "Reusing" not in first and "Stopped." in first
    second = _serve_demo(env, tmp_path / "out", _free_port())
    assert "Reusing demo study" in second
    with sqlite3.connect(tmp_path / "var" / "gazecrowd.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM crowd_study").fetchone()[0] == 1
    fresh = subprocess.run([sys.executable, "manage.py", "demo", "--samples", "brats-pat0001",
                            "--out", str(tmp_path / "out"), "--fresh"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert fresh.returncode == 0, fresh.stdout[-3000:] + fresh.stderr[-3000:]
    assert "Deleting the earlier demo study" in fresh.stdout
    with sqlite3.connect(tmp_path / "var" / "gazecrowd.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM crowd_study").fetchone()[0] == 1
