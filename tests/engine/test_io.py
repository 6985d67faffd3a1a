"""Readers of sequences, masks, gaze CSV files and prepared sequences, on tiny files."""

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pytest

from segmentation.engine.errors import InputError
from segmentation.engine.io import (
    check_gaze_frames,
    load_prepared,
    read_gaze_csv,
    read_masks,
    read_sequence,
    save_prepared,
)


def test_image_folder_sorted_by_name(tmp_path):
    for k in (2, 0, 1):
        iio.imwrite(tmp_path / f"f{k}.png", np.full((4, 5), 10 * k, np.uint8))
    seq = read_sequence(tmp_path)
    assert seq.kind == "images" and seq.frames.shape == (3, 4, 5)
    assert list(seq.frames[:, 0, 0]) == [0, 10, 20]


def test_colour_images_stay_colour(tmp_path):
    im = np.zeros((4, 5, 3), np.uint8)
    im[..., 0] = 200
    iio.imwrite(tmp_path / "a.png", im)
    assert read_sequence(tmp_path).frames.shape == (1, 4, 5, 3)


def test_image_folder_with_mismatched_shapes_names_the_frame(tmp_path):
    iio.imwrite(tmp_path / "a.png", np.zeros((4, 5), np.uint8))
    iio.imwrite(tmp_path / "b.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(InputError, match=r"frame 1 \(b.png\).*expected \(4, 5\)"):
        read_sequence(tmp_path)


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(InputError, match="no DICOM"):
        read_sequence(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_sequence(tmp_path / "nothing.nii.gz")


def test_nifti_frames_along_axis(tmp_path):
    vol = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "v.nii.gz"))
    seq = read_sequence(tmp_path / "v.nii.gz")
    assert seq.kind == "nifti" and seq.frames.shape == (5, 3, 4)
    np.testing.assert_array_equal(seq.frames[2], vol[:, :, 2])
    assert read_sequence(tmp_path / "v.nii.gz", axis=0).frames.shape == (3, 4, 5)
    masks = read_masks(tmp_path / "v.nii.gz")
    assert masks.dtype == bool and masks.shape == (5, 3, 4) and not masks[0, 0, 0]


def test_corrupt_nifti(tmp_path):
    (tmp_path / "bad.nii.gz").write_bytes(b"not a volume")
    with pytest.raises(InputError, match="bad.nii.gz: not a readable NIfTI"):
        read_sequence(tmp_path / "bad.nii.gz")


def test_dicom_series(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    for k in (1, 0):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(tmp_path / f"s{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Rows, ds.Columns = 4, 5
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
        ds.InstanceNumber = k
        ds.ImagePositionPatient = [0, 0, float(k)]
        ds.PixelData = np.full((4, 5), 100 + k, np.uint16).tobytes()
        ds.save_as(str(tmp_path / f"s{k}.dcm"), enforce_file_format=True)
    seq = read_sequence(tmp_path)
    assert seq.kind == "dicom" and seq.frames.shape == (2, 4, 5)
    assert list(seq.frames[:, 0, 0]) == [100, 101]


def test_video(tmp_path):
    frames = np.zeros((3, 32, 48, 3), np.uint8)
    frames[1] = 128
    iio.imwrite(tmp_path / "v.mp4", frames, plugin="pyav", codec="libx264", fps=5)
    seq = read_sequence(tmp_path / "v.mp4")
    assert seq.kind == "video" and seq.frames.shape[0] == 3 and seq.frames.shape[1:3] == (32, 48)
    assert seq.fps == pytest.approx(5)


GOOD = "observer,t_ms,frame,x,y\nann,0.0,0,10.5,3\nann,16.7,0,,\nann,33.3,1,11,4\n"


def test_gaze_csv_valid(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text(GOOD)
    g = read_gaze_csv(p)
    assert list(g.columns) == ["observer", "t_ms", "frame", "x", "y"]
    assert list(g.index) == [2, 3, 4] and g["x"].isna().tolist() == [False, True, False]
    assert g["frame"].dtype == np.int64 and g["observer"].iloc[0] == "ann"


@pytest.mark.parametrize(
    "text, message",
    [
        ("observer,t_ms,frame,x\na,0,0,1\n", r"line 1: missing column\(s\) y"),
        ("observer,t_ms,frame,x,y\na,0,zero,1,2\n", r"line 2: frame 'zero' is not an integer"),
        ("observer,t_ms,frame,x,y\na,0,0,1,2\na,5,0,1\n", r"line 3: 4 fields, expected 5"),
        ("observer,t_ms,frame,x,y\na,0,0,1,\n", r"line 2: only one of x,y is empty"),
        ("observer,t_ms,frame,x,y\na,abc,0,1,2\n", r"line 2: t_ms 'abc' is not a number"),
        ("observer,t_ms,frame,x,y\na,0,-1,1,2\n", r"line 2: frame -1 is negative"),
        ("", r"empty file"),
    ],
)
def test_gaze_csv_invalid(tmp_path, text, message):
    p = tmp_path / "g.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_gaze_csv(p)
    assert "g.csv" in str(err.value)


def test_gaze_frame_past_the_end_names_the_line(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text(GOOD)
    g = read_gaze_csv(p)
    check_gaze_frames(g, 2)
    with pytest.raises(InputError, match=r"g.csv: line 4: frame 1 is past the end .* 1 frames"):
        check_gaze_frames(g, 1)


def test_prepared_round_trip(tmp_path):
    from segmentation.engine.pipeline import prepare_sequence

    rng = np.random.default_rng(0)
    frames = (rng.uniform(size=(2, 24, 30)) * 255).astype(np.uint8)
    prep = prepare_sequence(frames, px_per_degree=6)
    path = save_prepared(prep, tmp_path / "p")
    back = load_prepared(path)
    np.testing.assert_array_equal(back.labels, prep.labels)
    np.testing.assert_array_equal(back.features, prep.features)
    assert back.feature_names == prep.feature_names and back.params == prep.params
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="junk.npz"):
        load_prepared(tmp_path / "junk.npz")
