"""Synthetic DICOM series for the DICOM SEG and DICOMweb tests (and bench/dicomweb.py).

A plain MR Image Storage series, one single-frame instance per slice, with the modules a
DICOM SEG references (patient, study, series, frame of reference, image plane).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def series_datasets(volume: np.ndarray, *, patient_id: str = "GC-TEST-001", spacing=(0.9, 0.9, 3.0),
                    reverse_files: bool = True) -> list:
    """One pydicom FileDataset per slice of ``volume`` (T, H, W), uint16 pixels.

    Slice k lies at z = k * spacing[2]; with ``reverse_files`` the instance numbers run the
    other way, so a reader that ordered by instance number instead of position would be caught.
    Returns the datasets in slice (position) order.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    volume = np.asarray(volume)
    lo, hi = float(volume.min()), float(volume.max())
    pixels = ((volume - lo) / (hi - lo or 1.0) * 4000).astype(np.uint16)
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for k, plane in enumerate(pixels):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(f"IM{k:04d}", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientName, ds.PatientID = "Test^Gaze", patient_id
        ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20260101", "120000", "1"
        ds.AccessionNumber, ds.ReferringPhysicianName = "A1", ""
        ds.Modality, ds.SeriesNumber = "MR", 1
        ds.InstanceNumber = (len(pixels) - k) if reverse_files else k + 1
        ds.Manufacturer = "GazeCrowd tests"
        ds.PositionReferenceIndicator = ""
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "SE", "NONE", "", "2D"
        ds.EchoTrainLength = 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [spacing[0], spacing[1]]
        ds.SliceThickness = spacing[2]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, k * spacing[2]]
        ds.SliceLocation = k * spacing[2]
        ds.PixelData = plane.tobytes()
        datasets.append(ds)
    return datasets


def dataset_bytes(ds) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def write_series(folder: Path, volume: np.ndarray, **options) -> list[str]:
    """Write :func:`series_datasets` as files in ``folder``; the SOP Instance UIDs, slice order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    datasets = series_datasets(volume, **options)
    for ds in datasets:
        (folder / f"IM{int(ds.InstanceNumber):04d}.dcm").write_bytes(dataset_bytes(ds))
    return [str(ds.SOPInstanceUID) for ds in datasets]
