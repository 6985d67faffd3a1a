"""Every export format round-trips to the masks it was made from."""

import gzip
import io
import json
import zipfile

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from segmentation import export_formats


@pytest.fixture
def masks():
    rng = np.random.default_rng(0)
    m = (rng.random((4, 12, 10)) > 0.7).astype(np.uint8)
    m[2] = 0  # a frame with nothing in it
    return m


def test_nifti_keeps_affine_and_lines_up_with_source_axis(masks):
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    affine[:3, 3] = [-10, 5, 2]
    data = export_formats.nifti_bytes(masks, affine=affine, axis=-1)
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    np.testing.assert_allclose(img.affine, affine)
    vol = np.asarray(img.dataobj)
    assert vol.shape == (12, 10, 4)
    for k in range(4):
        np.testing.assert_array_equal(vol[:, :, k], masks[k])
    assert img.header.get_zooms() == pytest.approx((0.9, 0.9, 3.0))


def test_nifti_along_first_axis(masks):
    vol = np.asarray(nib.Nifti1Image.from_bytes(gzip.decompress(export_formats.nifti_bytes(masks, axis=0))).dataobj)
    np.testing.assert_array_equal(vol, masks)


def test_png_zip_matches_masks(masks):
    with zipfile.ZipFile(io.BytesIO(export_formats.png_zip_bytes(masks))) as archive:
        names = sorted(archive.namelist())
        assert names == [f"frame_{k:05d}.png" for k in range(4)]
        for k, name in enumerate(names):
            png = np.asarray(Image.open(io.BytesIO(archive.read(name))))
            np.testing.assert_array_equal(png > 0, masks[k] > 0)
            assert set(np.unique(png)) <= {0, 255}


def test_coco_rle_decodes_to_the_same_masks(masks):
    doc = json.loads(export_formats.coco_json_bytes(masks, name="pat0001", category="tumour"))
    assert len(doc["images"]) == 4
    assert len(doc["annotations"]) == 3  # the empty frame has no annotation
    assert doc["categories"] == [{"id": 1, "name": "tumour"}]
    np.testing.assert_array_equal(export_formats.coco_decode(doc, frames=4), masks)
    ann = doc["annotations"][0]
    assert ann["area"] == masks[0].sum()


def test_npz_holds_scores_and_masks(masks):
    scores = np.linspace(0, 1, masks.size).reshape(masks.shape)
    with np.load(io.BytesIO(export_formats.npz_bytes(scores, masks))) as npz:
        assert npz["scores"].dtype == np.float32 and npz["masks"].dtype == np.uint8
        np.testing.assert_allclose(npz["scores"], scores, rtol=1e-6)
        np.testing.assert_array_equal(npz["masks"], masks)


def test_superpixel_csv_has_centroids_and_scores():
    labels = np.zeros((2, 4, 4), np.int32)
    labels[0, :, 2:] = 1
    labels[1] = 2
    table = pd.read_csv(io.BytesIO(export_formats.superpixel_csv_bytes(labels, np.array([0.1, 0.5, 0.9]))))
    assert list(table["superpixel"]) == [0, 1, 2]
    assert list(table["area"]) == [8, 8, 16]
    assert list(table["frame"]) == [0, 0, 1]
    assert table.loc[1, "column"] == pytest.approx(2.5)
    assert table.loc[2, "score"] == pytest.approx(0.9)


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="frames, rows, columns"):
        export_formats.npz_bytes(np.zeros((3, 3)), np.zeros((3, 3)))
