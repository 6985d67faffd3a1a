"""The DICOM headers a series keeps for its DICOM SEG: what stays, what goes, read back."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from segmentation.engine import read_sequence
from segmentation.engine.io.sequences import dicom_header_json
from tests.dicom_series import write_series

pydicom = pytest.importorskip("pydicom")


def test_header_keeps_the_references_and_drops_pixels_and_private_elements():
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.Dataset()
    ds.SOPInstanceUID, ds.PatientID, ds.Rows = "1.2.3", "P-1", 4
    ds.add_new(0x00291010, "LO", "vendor secret")
    ds.PixelData = b"\0" * 2000
    ds.add_new(0x00091001, "OB", b"\1" * 10)
    # A malformed number (SliceThickness "abc"): left out, not a failed import.
    ds[0x00180050] = RawDataElement(Tag(0x00180050), "DS", 3, b"abc", 0, False, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = dicom_header_json(ds)
    assert set(header) == {"00080018", "00100020", "00280010"}
    back = pydicom.Dataset.from_json(header)
    assert (back.SOPInstanceUID, back.PatientID, back.Rows) == ("1.2.3", "P-1", 4)


def test_a_series_keeps_one_header_per_frame_in_frame_order(tmp_path):
    volume = np.random.default_rng(1).random((4, 6, 5))
    uids = write_series(tmp_path / "s", volume)  # instance numbers run against the positions
    data = read_sequence(tmp_path / "s")
    assert data.kind == "dicom" and len(data.dicom_headers) == data.n_frames == 4
    headers = [pydicom.Dataset.from_json(h) for h in data.dicom_headers]
    assert [str(h.SOPInstanceUID) for h in headers] == uids
    assert [float(h.ImagePositionPatient[2]) for h in headers] == sorted(
        float(h.ImagePositionPatient[2]) for h in headers)
    assert all("PixelData" not in h for h in headers)


def test_other_kinds_keep_no_dicom_headers(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((4, 5, 3), np.float32), np.eye(4)), tmp_path / "v.nii.gz")
    assert read_sequence(tmp_path / "v.nii.gz").dicom_headers is None
