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
def test_demo_runs_end_to_end_on_sqlite_with_eager_celery(tmp_path):
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
