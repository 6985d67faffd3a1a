"""The architecture holds: the engine stays pure, apps are layered, the code is lint-clean."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def test_import_contracts_hold():
    proc = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean():
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_engine_imports_without_django():
    code = (
        "import sys, segmentation.engine, pkgutil, importlib\n"
        "import segmentation.engine as e\n"
        "for m in pkgutil.walk_packages(e.__path__, 'segmentation.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'django', 'rest_framework', 'celery'}]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_tasks_queued_by_name_are_registered_in_a_fresh_process():
    # Services queue jobs by task name (crowd.celery.enqueue_on_commit) so that they need not
    # import their tasks module (a cycle); the web server must know those names without a worker.
    code = (
        "import django\n"
        "django.setup()\n"
        "from crowd.celery import app\n"
        "missing = {'segmentation.run_execute', 'segmentation.gaze_boxes_execute'} - set(app.tasks)\n"
        "assert not missing, missing\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crowd.settings"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
