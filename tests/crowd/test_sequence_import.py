"""Sequence upload: each form the engine reads, and each kind of bad file (400, nothing stored)."""

import io
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crowd.models import Sequence
from crowd.selectors import sequence_frames, sequence_masks

from .fixtures import frames_array, images_zip, png_bytes


def _nifti_bytes(volume: np.ndarray, affine=None) -> bytes:
    import nibabel as nib

    img = nib.Nifti1Image(volume, affine if affine is not None else np.diag([0.9, 0.8, 2.5, 1.0]))
    return img.to_bytes()


def _gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


def _video_bytes(frames: np.ndarray) -> bytes:
    import imageio.v3 as iio

    rgb = np.repeat(frames[..., None], 3, axis=-1)
    return iio.imwrite("<bytes>", rgb, extension=".mp4", plugin="pyav", codec="libx264", fps=5)


def _dicom_zip(volume: np.ndarray) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, plane in enumerate(volume):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = FileDataset(f"s{k}.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
            ds.Rows, ds.Columns = plane.shape
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelSpacing = [0.5, 0.5]
            ds.SliceThickness = 3.0
            ds.ImagePositionPatient = [0, 0, float(10 - k)]  # reversed: order must follow position
            ds.InstanceNumber = k
            ds.PixelData = plane.astype(np.uint16).tobytes()
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            zf.writestr(f"series/IM{k:04d}", out.getvalue())
    return buf.getvalue()


def _post(client, study, name, data, **extra):
    body = {"file": SimpleUploadedFile(name, data), **extra}
    return client.post(f"/api/studies/{study.pk}/sequences/", body, format="multipart")


def test_zip_of_images_is_stored_once_as_the_engines_array(study, alice, client_for):
    frames = frames_array()
    response = _post(client_for(alice), study, "clip.zip", images_zip(frames))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["modality"], body["shape"]) == ("clip", "images", [6, 24, 32])
    np.testing.assert_array_equal(sequence_frames(Sequence.objects.get(pk=body["id"])), frames)


def test_nifti_keeps_affine_and_spacing(study, alice, client_for):
    vol = np.random.default_rng(0).normal(size=(24, 32, 5)).astype(np.float32)
    affine = np.diag([0.9, 0.8, 2.5, 1.0])
    response = _post(client_for(alice), study, "brain.nii.gz", _gz(_nifti_bytes(vol, affine)))
    assert response.status_code == 201, response.content
    seq = Sequence.objects.get(pk=response.json()["id"])
    assert (seq.name, seq.modality, seq.n_frames) == ("brain", "nifti", 5)
    np.testing.assert_allclose(seq.affine, affine)
    assert seq.spacing == pytest.approx([0.9, 0.8, 2.5])
    np.testing.assert_allclose(sequence_frames(seq)[2], vol[:, :, 2])


def test_video(study, alice, client_for):
    frames = np.zeros((4, 32, 48), np.uint8)
    frames[:, 8:24, 8:24] = 200
    response = _post(client_for(alice), study, "scope.mp4", _video_bytes(frames))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["modality"] == "video" and body["n_frames"] == 4 and body["fps"] == pytest.approx(5)
    assert body["height"] == 32 and body["width"] == 48


def test_dicom_zip_orders_slices_by_position(study, alice, client_for):
    vol = np.stack([np.full((16, 16), 100 * k, np.uint16) for k in range(3)])
    response = _post(client_for(alice), study, "ct.zip", _dicom_zip(vol))
    assert response.status_code == 201, response.content
    seq = Sequence.objects.get(pk=response.json()["id"])
    assert seq.modality == "dicom"
    assert [float(f.mean()) for f in sequence_frames(seq)] == [200.0, 100.0, 0.0]


def test_masks_on_some_frames_take_their_frame_numbers_from_file_names(study, alice, client_for):
    masks = (frames_array(n=2) > 128).astype(np.uint8) * 255
    response = _post(
        client_for(alice), study, "clip.zip", images_zip(frames_array()),
        truth=SimpleUploadedFile("truth.zip", images_zip(masks, names=["00001.png", "00004.png"])),
    )
    assert response.status_code == 201, response.content
    seq = Sequence.objects.get(pk=response.json()["id"])
    frames, stored = sequence_masks(seq)
    assert frames.tolist() == [1, 4]
    np.testing.assert_array_equal(stored, masks > 0)


def test_masks_attached_later_to_all_frames(sequence, alice, client_for):
    masks = (frames_array() > 100).astype(np.uint8) * 255
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/masks/"
    response = client_for(alice).put(url, {"file": SimpleUploadedFile("m.zip", images_zip(masks))}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["mask_frames"] == list(range(6))
    npz = np.load(io.BytesIO(client_for(alice).get(url).content))
    np.testing.assert_array_equal(npz["masks"], masks > 0)


def _zip(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


BAD = {
    "not a zip": ("frames.zip", b"PK\x03\x04 this is not really a zip", "not a valid zip archive"),
    "empty zip": ("frames.zip", _zip({}), "the archive is empty"),
    "no images": ("frames.zip", _zip({"a/readme.txt": b"hello"}), "no DICOM files"),
    "mixed sizes": (
        "frames.zip",
        _zip({"a/0.png": png_bytes(np.zeros((4, 4), np.uint8)), "a/1.png": png_bytes(np.zeros((5, 4), np.uint8))}),
        "1.png",
    ),
    "corrupt image": ("frames.zip", _zip({"a/0.png": b"\x89PNG broken"}), "0.png: not a readable image"),
    "unsafe path": ("frames.zip", _zip({"../evil.png": png_bytes(np.zeros((4, 4), np.uint8))}), "unsafe path"),
    "two folders": (
        "frames.zip",
        _zip({"a/0.png": png_bytes(np.zeros((4, 4), np.uint8)), "b/0.png": png_bytes(np.zeros((4, 4), np.uint8))}),
        "2 folders",
    ),
    "corrupt nifti": ("brain.nii.gz", b"\x1f\x8b not gzip at all", "brain.nii.gz: not a readable NIfTI"),
    "corrupt video": ("scope.mp4", b"\x00\x00\x00\x18ftypmp42 garbage", "scope.mp4"),
    "unknown kind": ("notes.docx", b"whatever", "unknown format"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_get_400_naming_the_problem_and_store_nothing(study, alice, client_for, media_files, case):
    name, data, message = BAD[case]
    response = _post(client_for(alice), study, name, data)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert "/tmp/" not in response.json()["detail"]  # no server paths in messages
    assert not response.json()["detail"].startswith(f"{name}: {name}")  # the file named once
    assert not Sequence.objects.exists()
    assert media_files() == []


def test_masks_of_the_wrong_size_store_nothing(study, alice, client_for, media_files):
    response = _post(
        client_for(alice), study, "clip.zip", images_zip(frames_array()),
        truth=SimpleUploadedFile("t.zip", images_zip(np.zeros((6, 10, 10), np.uint8))),
    )
    assert response.status_code == 400
    assert "masks are 10x10 pixels but the frames of 'clip' are 24x32" in response.json()["detail"]
    assert not Sequence.objects.exists() and media_files() == []


def test_too_large_files_get_413(study, alice, client_for, settings):
    settings.GAZECROWD_MAX_UPLOAD_MB = 1
    response = _post(client_for(alice), study, "big.nii", b"\0" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert "exceeds the limit of 1 MB" in response.json()["detail"]


def test_zip_bombs_are_refused_before_extraction(study, alice, client_for, settings):
    settings.GAZECROWD_MAX_UPLOAD_MB = 1
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/0.png", b"\0" * (3 * 1024 * 1024))  # compresses to a few kB
    response = _post(client_for(alice), study, "bomb.zip", buf.getvalue())
    assert response.status_code == 413 and "uncompressed" in response.json()["detail"]


def test_duplicate_name_is_refused(sequence, alice, client_for):
    response = _post(client_for(alice), sequence.study, "clip.zip", images_zip(frames_array()))
    assert response.status_code == 400 and "already has a sequence named 'clip'" in response.json()["detail"]


def test_uploads_spooled_to_temporary_files_are_read_under_their_own_name(study, alice, client_for, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10  # every upload goes to a temporary file
    vol = np.ones((8, 8, 3), np.float32)
    response = _post(client_for(alice), study, "v.nii.gz", _gz(_nifti_bytes(vol)))
    assert response.status_code == 201, response.content
    assert response.json()["modality"] == "nifti"
