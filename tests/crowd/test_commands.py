"""create_study, import_sequence, import_gaze, study_status: the id last, clear errors on bad input."""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Recording
from crowd.models import Sequence, Study, StudyMembership
from tests.engine.trackers.writers import WRITERS, screen_samples, write_csv

from .fixtures import frames_array, write_images_zip


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def last_id(output: str) -> int:
    return int(output.strip().splitlines()[-1])


@pytest.mark.django_db
def test_whole_study_through_commands(tmp_path):
    study_id = last_id(run("create_study", "Polyps", "--coordinator", "alice", "--frame-rate", "10"))
    study = Study.objects.get(pk=study_id)
    assert study.memberships.get().user.username == "alice" and study.frame_rate == 10.0

    frames = write_images_zip(tmp_path / "clip.zip", frames_array())
    masks = tmp_path / "masks"
    masks.mkdir()
    import imageio.v3 as iio

    for k in (0, 3):
        iio.imwrite(masks / f"{k:05d}.png", np.full((24, 32), 255, np.uint8))
    seq_id = last_id(run("import_sequence", str(study_id), str(frames), "--name", "clip", "--truth", str(masks)))
    seq = Sequence.objects.get(pk=seq_id)
    assert (seq.name, seq.n_frames, seq.mask_frames) == ("clip", 6, [0, 3])

    csv = write_csv(tmp_path / "bob.csv", np.arange(0, 550, 1000 / 60), np.full(33, 3.0), np.full(33, 4.0),
                    observer="bob")
    rec_id = last_id(run("import_gaze", str(study_id), str(seq_id), "bob", str(csv)))
    t, x, y = screen_samples(n=30)
    asc = WRITERS["eyelink"][0](tmp_path / "carl.asc", t, x, y, sync_ms=5100)
    rec2 = last_id(run("import_gaze", str(study_id), str(seq_id), "carl", str(asc), "--format", "eyelink"))
    assert Recording.objects.get(pk=rec_id).status == "finished"
    assert Recording.objects.get(pk=rec2).tracker_format == "eyelink"
    assert StudyMembership.objects.get(study=study, user__username="bob").role == "observer"

    status = json.loads(run("study_status", str(study_id)))
    n_asc = int(((t >= 5100 - 0.5) & (t < 5100 + 600 - 0.5)).sum())
    assert status == {
        "id": study_id,
        "name": "Polyps",
        "sequences": [{"id": seq_id, "name": "clip", "frames": 6, "recordings": 2, "samples": 33 + n_asc}],
        "members": {"coordinator": ["alice"], "observer": ["bob", "carl"], "researcher": []},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (("create_study", "  ", "--coordinator", "alice"), "a study needs a name"),
        (("create_study", "X", "--coordinator", "alice", "--quorum", "0"), "quorum must be at least 1"),
        (("import_sequence", "999", "/nonexistent"), "no study 999"),
        (("import_sequence", "{study}", "/nonexistent/frames"), "no such file or folder"),
        (("import_sequence", "{study}", "{notes}"), "unknown format"),
        (("import_gaze", "{study}", "999", "bob", "{notes}"), "no sequence 999 in study"),
        (("import_gaze", "{study}", "{seq}", "bob", "/nonexistent.csv"), "no such file"),
        (("import_gaze", "{study}", "{seq}", "bob", "{badcsv}"), "missing column(s) frame"),
        # The web and the API say "choose the format"; the command line names its flag.
        (("import_gaze", "{study}", "{seq}", "bob", "{xyz}"),
         "gaze.xyz: the gaze format cannot be told from the file name; pass --format (one of csv, "),
        (("study_status", "999"), "no study 999"),
    ],
)
def test_bad_input_exits_with_a_clear_message(tmp_path, args, message):
    study_id = last_id(run("create_study", "S", "--coordinator", "alice"))
    seq_id = last_id(run("import_sequence", str(study_id), str(write_images_zip(tmp_path / "c.zip", frames_array()))))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    badcsv = tmp_path / "bad.csv"
    badcsv.write_text("observer,t_ms,x,y\nb,0,1,2\n")
    xyz = tmp_path / "gaze.xyz"
    xyz.write_text("1,2,3")
    filled = [a.format(study=study_id, seq=seq_id, notes=notes, badcsv=badcsv, xyz=xyz) for a in args]
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(*filled)
    assert not Recording.objects.exists()


def test_commands_exit_non_zero_from_the_shell(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "GAZECROWD_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, check=True)
    bad = subprocess.run([sys.executable, "manage.py", "study_status", "42"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "no study 42" in bad.stderr
    ok = subprocess.run([sys.executable, "manage.py", "create_study", "S", "--coordinator", "a"], env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip().splitlines()[-1].isdigit()


def test_the_gazecrowd_console_script_runs_commands_from_any_folder(tmp_path):
    """``gazecrowd`` (pyproject's console script) is manage.py without the project folder."""
    import os
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["gazecrowd"] == "crowd.cli:main"
    env = {**os.environ, "PYTHONPATH": str(root), "GAZECROWD_DATA_DIR": str(tmp_path / "var")}
    proc = subprocess.run([sys.executable, "-c", "import sys; from crowd.cli import main; "
                           "sys.argv = ['gazecrowd', 'serve', '--help']; main()"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--workers" in proc.stdout and "gazecrowd serve" in proc.stdout
