"""read_sequence(out=...): frames written to a .npy file as they are decoded, never whole in
memory; the same frames and metadata as the in-memory read, and nothing left on a failure."""

from __future__ import annotations

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pytest

from segmentation.engine.errors import InputError
from segmentation.engine.io import read_sequence
from tests.dicom_series import write_series


def _same(path, tmp_path, **kw):
    whole = read_sequence(path, **kw)
    out = tmp_path / "frames.npy"
    streamed = read_sequence(path, out=out, **kw)
    assert isinstance(streamed.frames, np.memmap) and out.is_file()
    assert not (tmp_path / "frames.npy.raw").exists()
    np.testing.assert_array_equal(np.load(out), whole.frames)
    assert streamed.frames.dtype == whole.frames.dtype
    for key in ("kind", "spacing", "fps"):
        assert getattr(streamed, key) == getattr(whole, key), key
    return whole, streamed


def test_image_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(5):
        iio.imwrite(folder / f"{k:03d}.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    whole, _ = _same(folder, tmp_path)
    assert whole.frames.shape == (5, 20, 30, 3)


@pytest.mark.parametrize("axis", [-1, 0])
def test_nifti_along_the_last_axis_in_slabs_and_along_another(tmp_path, axis):
    vol = np.random.default_rng(1).normal(size=(12, 10, 7)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([0.5, 0.6, 2.0, 1.0])), tmp_path / "v.nii.gz")
    whole, streamed = _same(tmp_path / "v.nii.gz", tmp_path, axis=axis)
    np.testing.assert_array_equal(streamed.affine, whole.affine)
    assert whole.frames.shape[0] == vol.shape[axis]


def test_nifti_with_a_nan_names_the_slice_and_leaves_nothing(tmp_path):
    vol = np.ones((8, 8, 6), np.float32)
    vol[2, 3, 4] = np.nan
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "v.nii")
    out = tmp_path / "frames.npy"
    with pytest.raises(InputError, match=r"v.nii: frame 4 \(slice 4\): 1 voxel value"):
        read_sequence(tmp_path / "v.nii", out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.nii"]


def test_dicom_series(tmp_path):
    vol = np.random.default_rng(2).integers(0, 1000, (4, 16, 12)).astype(np.float32)
    folder = tmp_path / "dicom"
    write_series(folder, vol)
    whole, streamed = _same(folder, tmp_path)
    assert streamed.dicom_headers == whole.dicom_headers and len(whole.dicom_headers) == 4


def test_a_video_that_opens_on_black_frames_is_a_colour_video(tmp_path):
    """Frames 0-1 black (grey as RGB), then colour: one colour sequence, not a shape error."""
    frames = np.zeros((6, 64, 96, 3), np.uint8)
    frames[2:, 10:40, 20:60] = (200, 30, 30)
    iio.imwrite(tmp_path / "v.mp4", frames, plugin="pyav", codec="libx264", fps=10)
    whole, _ = _same(tmp_path / "v.mp4", tmp_path)
    assert whole.frames.shape == (6, 64, 96, 3)
    assert whole.frames[3, 25, 40, 0] > 150 and whole.frames[3, 25, 40, 1] < 80


def test_a_grey_video_stays_grey(tmp_path):
    grey = np.zeros((4, 32, 48), np.uint8)
    grey[:, 5:20] = 200
    iio.imwrite(tmp_path / "g.mp4", np.repeat(grey[..., None], 3, -1), plugin="pyav",
                codec="libx264", fps=10)
    whole, _ = _same(tmp_path / "g.mp4", tmp_path)
    assert whole.frames.shape == (4, 32, 48)


def test_a_failed_image_folder_leaves_nothing(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    iio.imwrite(folder / "000.png", np.zeros((20, 30), np.uint8))
    iio.imwrite(folder / "001.png", np.zeros((21, 30), np.uint8))
    out = tmp_path / "frames.npy"
    with pytest.raises(InputError, match=r"frame 1 \(001.png\) has shape \(21, 30\)"):
        read_sequence(folder, out=out)
    assert not out.exists() and not (tmp_path / "frames.npy.raw").exists()
