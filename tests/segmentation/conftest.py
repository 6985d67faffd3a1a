"""A small real study: six slices of the shipped BRATS sample, four observers' gaze.

Alice coordinates, Bob observes, Carol researches, Charlie has no access (as in tests/crowd).
Finished recordings fire the real hook: their estimates are computed (eagerly in these tests).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from annotation import services as annotation_services
from crowd import services
from crowd.models import StudyMembership
from segmentation.engine.datasets import load_sample
from tests.crowd.fixtures import alice, bob, carol, charlie, client_for  # noqa: F401

Role = StudyMembership.Role
N_FRAMES = 6
OBSERVERS = ("observer-1", "observer-2", "observer-3", "observer-7")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    """Six slices (and masks) of the BRATS sample as NIfTI files, and 4 observers' gaze CSVs."""
    sample = load_sample("brats-pat0001")
    folder = tmp_path_factory.mktemp("small-brats")
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    frames = np.moveaxis(sample.frames[:N_FRAMES], 0, -1).astype(np.float32)
    masks = np.moveaxis(sample.truth[:N_FRAMES], 0, -1).astype(np.uint8)
    nib.save(nib.Nifti1Image(frames, affine), folder / "flair.nii.gz")
    nib.save(nib.Nifti1Image(masks, affine), folder / "tumour.nii.gz")
    gaze = {}
    for table in sample.gaze:
        name = table["observer"].iloc[0]
        if name in OBSERVERS:
            path = folder / f"{name}.csv"
            table[table["frame"] < N_FRAMES].to_csv(path, index=False, na_rep="")
            gaze[name] = path
    return {"frames": folder / "flair.nii.gz", "truth": folder / "tumour.nii.gz", "gaze": gaze,
            "affine": affine, "truth_array": sample.truth[:N_FRAMES]}


@pytest.fixture
def study(alice, bob, carol, charlie):  # noqa: F811
    # The quorum is out of reach unless a test lowers it: most tests start their runs.
    study = services.study_create(name="Tumours", created_by=alice, target_structure="tumour",
                                  quorum=99)
    services.membership_set(study=study, user=bob, role=Role.OBSERVER)
    services.membership_set(study=study, user=carol, role=Role.RESEARCHER)
    return study


@pytest.fixture
def sequence(study, small_sample):
    return services.sequence_import(study=study, path=small_sample["frames"], name="pat0001",
                                    truth=small_sample["truth"])


@pytest.fixture
def import_recordings(sequence, small_sample):
    """``import_recordings(names)``: import those observers' gaze as finished recordings."""

    def run(names=OBSERVERS):
        recordings = []
        for name in names:
            user = services.user_get_or_create(username=name)
            recordings.append(annotation_services.recording_import_file(
                sequence=sequence, observer=user, path=small_sample["gaze"][name], fmt="csv",
                ensure_member=True))
        return recordings

    return run


@pytest.fixture
def finished_run(study, sequence, import_recordings):
    """A successful run over the four observers (baselines not compared, to save time)."""
    from segmentation import services as seg_services

    import_recordings()
    (run,) = seg_services.study_run_create(study=study, sequence=sequence,
                                           parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == run.Status.SUCCEEDED, run.error
    return run
