"""A real development sequence and a real gaze file go in and come back out unchanged."""

import numpy as np
import pandas as pd
import pytest

from annotation import selectors, services
from crowd import services as crowd_services
from crowd.selectors import sequence_frames, sequence_masks


@pytest.mark.realdata
def test_brats_volume_masks_and_gaze_round_trip(shared_data, alice, study):
    import nibabel as nib

    folder = shared_data / "brats" / "pat0001"
    sequence = crowd_services.sequence_import(
        study=study, path=folder / "flair.nii.gz", name="pat0001", truth=folder / "tumour.nii.gz"
    )
    volume = np.asarray(nib.load(folder / "flair.nii.gz").dataobj)
    assert sequence.n_frames == volume.shape[2]
    np.testing.assert_array_equal(sequence_frames(sequence)[10], volume[:, :, 10])
    frames, masks = sequence_masks(sequence)
    assert frames.tolist() == list(range(sequence.n_frames)) and masks.any()

    csv = shared_data / "gaze" / "brats-pat0001" / "observer-1.csv"
    observer = crowd_services.user_get_or_create(username="observer-1")
    recording = services.recording_import_file(sequence=sequence, observer=observer, path=csv, ensure_member=True)
    stored = selectors.recording_gaze(recording)
    original = pd.read_csv(csv)
    assert len(stored) == len(original)
    np.testing.assert_allclose(stored["t_ms"], original["t_ms"])
    np.testing.assert_array_equal(stored["frame"], original["frame"])
    np.testing.assert_allclose(stored["x"], original["x"])  # NaN where the sample was lost
