"""Named users, a study with one member per role, small sequences, API clients.

Alice coordinates the study, Bob observes it, Carol researches it, Charlie has no access
(Healthchecks' story-telling names). Imported by tests/crowd and tests/annotation conftests.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rest_framework.test import APIClient

from annotation import hooks
from annotation import selectors as annotation_selectors
from crowd import services
from crowd.models import StudyMembership

Role = StudyMembership.Role
FRAMES, ROWS, COLS = 6, 24, 32


@pytest.fixture(autouse=True)
def media_and_no_hooks(settings, tmp_path, monkeypatch):
    """Media under the test's tmp folder; no recording-finished hook (the estimate is slow)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    # PBKDF2 costs ~0.5 s a password on this machine; the tests check roles, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr(hooks, "_recording_finished", [])
    # Ids are reused after a rolled-back test on SQLite: start each test with an empty cache.
    monkeypatch.setattr(annotation_selectors, "_N_FRAMES", {})


@pytest.fixture
def media_files(settings):
    """A callable listing every file in media storage (to prove nothing was left behind)."""
    return lambda: sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


@pytest.fixture
def alice(db):
    return services.user_get_or_create(username="alice", password="alice-pw-123")


@pytest.fixture
def bob(db):
    return services.user_get_or_create(username="bob", password="bob-pw-123")


@pytest.fixture
def carol(db):
    return services.user_get_or_create(username="carol", password="carol-pw-123")


@pytest.fixture
def charlie(db):
    return services.user_get_or_create(username="charlie", password="charlie-pw-123")


@pytest.fixture
def study(alice, bob, carol, charlie):
    study = services.study_create(name="Polyps", created_by=alice, target_structure="polyp", frame_rate=10.0)
    services.membership_set(study=study, user=bob, role=Role.OBSERVER)
    services.membership_set(study=study, user=carol, role=Role.RESEARCHER)
    return study


def frames_array(n=FRAMES, rows=ROWS, cols=COLS, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, rows, cols), dtype=np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", image, extension=".png")


def images_zip(frames: np.ndarray, *, folder="frames", names=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, frame in enumerate(frames):
            name = names[k] if names else f"{k:05d}.png"
            zf.writestr(f"{folder}/{name}", png_bytes(frame))
    return buf.getvalue()


def write_images_zip(path: Path, frames: np.ndarray, **kwargs) -> Path:
    path.write_bytes(images_zip(frames, **kwargs))
    return path


@pytest.fixture
def sequence(study, tmp_path):
    """Six 24x32 frames imported from a zip of PNGs; Bob is assigned to it."""
    path = write_images_zip(tmp_path / "clip.zip", frames_array())
    seq = services.sequence_import(study=study, path=path, name="clip")
    bob = study.memberships.get(role=Role.OBSERVER).user
    services.assignment_create(sequence=seq, observer=bob)
    return seq


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client authenticated as ``user`` (None: anonymous)."""

    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
