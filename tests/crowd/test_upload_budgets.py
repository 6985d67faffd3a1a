"""Decompression and memory bombs are refused from their headers, fast and without the memory.

Alice coordinates a study and uploads files that promise far more pixels than they carry:
a 70-byte ``.nii.gz`` whose header says 1200x1200x1000, a few hundred kilobytes of gzipped
zeros that unpack to 768^3 voxels, a zip of PNGs 13000 pixels square, a 30 KB video of
900 VGA frames, DICOM headers announcing gigapixels, a zip that lists more files than any
series has. Each file is built here, in the test. Each upload must be refused with a 413
that names the budget, in under a second, while the server's memory stays within a small
margin of where it was (the issue's target: under 200 MB extra; asserted here: 100 MB),
and nothing may be stored: no sequence row, no media file.

The budget is the default one (``GAZECROWD_MAX_SEQUENCE_PIXELS``: 512 x 512 x 1000).
"""

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crowd.models import Sequence
from tests.cost import cost_of

from .fixtures import frames_array, images_zip

BUDGET = 512 * 512 * 1000
MB = 2**20


def nifti_header_only(shape, dtype=np.int16) -> bytes:
    """A gzipped NIfTI-1 header (and its 4 extension bytes) declaring ``shape``, no voxel data."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header["vox_offset"] = 352
    return gzip.compress(header.binaryblock + b"\0" * 4, compresslevel=9)


def nifti_of_zeros(side: int) -> bytes:
    """A valid ``.nii.gz`` of side^3 uint8 zeros, compressed chunk by chunk (never held whole)."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape((side, side, side))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    out = io.BytesIO()
    zeros = bytes(side * side * 16)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) as gz:
        gz.write(header.binaryblock + b"\0" * 4)
        for _ in range(side // 16):
            gz.write(zeros)
    return out.getvalue()


def png_of_zeros(width: int, height: int) -> bytes:
    """A valid RGB PNG of ``width`` x ``height`` black pixels: half a megabyte for 13000^2."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    deflate = zlib.compressobj(9)
    row = bytes(width * 3 + 1)  # filter byte 0, then the row's zeros
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def long_black_video(frames=900, width=640, height=480) -> bytes:
    """``frames`` black frames (36 s at 25 fps) in about 30 KB of H.264."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        black = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        for _ in range(frames):
            for packet in stream.encode(black):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def dicom_header_bomb(rows=8192, cols=8192, frames=200) -> bytes:
    """A zip with one DICOM file whose header declares ``frames`` frames of rows x cols (13 Gpx)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("bomb.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = b"\0" * 64
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("series/IM0001", out.getvalue())
    return buf.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


BOMBS = {
    # name: (file name, builder); each declares more than BUDGET pixels
    "header-only-nifti": ("brain.nii.gz", lambda: nifti_header_only((1200, 1200, 1000))),
    "zeros-nifti-768": ("zeros.nii.gz", lambda: nifti_of_zeros(768)),
    "zip-of-13000px-pngs": ("frames.zip", lambda: zip_of({f"f/{k}.png": png_of_zeros(13000, 13000) for k in range(2)})),
    "long-video": ("clip.mp4", long_black_video),
    "dicom-header": ("series.zip", dicom_header_bomb),
}


@pytest.fixture(scope="module")
def bomb_files():
    return {name: (file_name, build()) for name, (file_name, build) in BOMBS.items()}


def _upload(client, study, name, data, **extra):
    return client.post(f"/api/studies/{study.pk}/sequences/",
                       {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_is_refused_fast_without_its_memory_and_stores_nothing(study, alice, client_for, media_files,
                                                                      bomb_files, bomb):
    file_name, data = bomb_files[bomb]
    assert len(data) < 600_000, f"{bomb}: {len(data)} bytes (a bomb is small)"
    client = client_for(alice)
    cost = cost_of(lambda: _upload(client, study, file_name, data))
    assert cost.error is None, repr(cost.error)
    response = cost.result
    assert response.status_code == 413, (bomb, response.status_code, response.content[:300])
    detail = response.json()["detail"]
    assert file_name in detail and "GAZECROWD_MAX_SEQUENCE_PIXELS" in detail, detail
    assert cost.seconds < 1.0, f"{bomb}: refused in {cost.seconds:.2f} s"
    assert cost.rss_rise < 100 * MB, f"{bomb}: memory rose {cost.rss_rise_mb:.0f} MB"
    assert not Sequence.objects.exists()
    assert media_files() == []
    print(f"\n{bomb}: {len(data):,} bytes refused in {cost.seconds * 1000:.0f} ms, "
          f"memory +{cost.rss_rise_mb:.1f} MB")


def test_reference_masks_are_budgeted_too(study, sequence, alice, client_for, bomb_files, media_files):
    before = media_files()
    file_name, data = bomb_files["header-only-nifti"]
    url = f"/api/studies/{study.pk}/sequences/{sequence.pk}/masks/"
    cost = cost_of(lambda: client_for(alice).put(url, {"file": SimpleUploadedFile(file_name, data)},
                                                 format="multipart"))
    assert cost.result.status_code == 413 and cost.seconds < 1.0 and cost.rss_rise < 100 * MB
    sequence.refresh_from_db()
    assert not sequence.has_masks and media_files() == before


def test_the_upload_page_refuses_a_bomb_with_413(study, alice, bomb_files):
    web = Client()
    web.force_login(alice)
    file_name, data = bomb_files["zip-of-13000px-pngs"]
    cost = cost_of(lambda: web.post(f"/studies/{study.pk}/sequences/upload/",
                                    {"file": SimpleUploadedFile(file_name, data)},
                                    HTTP_X_REQUESTED_WITH="XMLHttpRequest"))
    assert cost.result.status_code == 413, cost.result.content[:300]
    assert "GAZECROWD_MAX_SEQUENCE_PIXELS" in cost.result.json()["error"]
    assert cost.seconds < 1.0 and cost.rss_rise < 100 * MB
    assert not Sequence.objects.exists()


def test_a_zip_listing_more_files_than_allowed_is_refused_before_its_directory_is_read(
        study, alice, client_for, settings, media_files):
    settings.GAZECROWD_MAX_ARCHIVE_FILES = 50
    data = zip_of({f"f/{k:03d}.png": b"" for k in range(51)})
    response = _upload(client_for(alice), study, "many.zip", data)
    assert response.status_code == 413
    assert "51 files" in response.json()["detail"] and "GAZECROWD_MAX_ARCHIVE_FILES" in response.json()["detail"]
    assert not Sequence.objects.exists() and media_files() == []


def test_a_sequence_within_the_budget_is_accepted_and_one_pixel_over_is_not(study, alice, client_for, settings):
    frames = frames_array()  # 6 frames of 24x32: 4,608 pixels
    settings.GAZECROWD_MAX_SEQUENCE_PIXELS = frames.size
    assert _upload(client_for(alice), study, "ok.zip", images_zip(frames)).status_code == 201
    settings.GAZECROWD_MAX_SEQUENCE_PIXELS = frames.size - 1
    response = _upload(client_for(alice), study, "over.zip", images_zip(frames))
    assert response.status_code == 413 and "4,608 pixels" in response.json()["detail"]
    assert Sequence.objects.count() == 1


@pytest.mark.parametrize("axis", [5, -4, 3, 2**63])
def test_an_impossible_volume_axis_is_a_400(study, alice, client_for, axis):
    volume = np.zeros((4, 5, 6), np.float32)
    import nibabel as nib

    data = gzip.compress(nib.Nifti1Image(volume, np.eye(4)).to_bytes())
    response = _upload(client_for(alice), study, "v.nii.gz", data, axis=axis)
    assert response.status_code == 400, response.content[:300]
    assert "axis" in response.json()
    assert not Sequence.objects.exists()
