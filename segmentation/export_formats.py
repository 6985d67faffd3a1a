"""Ground-truth export formats: arrays in, bytes or files out.

Plain functions over numpy arrays (no database), so the API views, the ``export_ground_truth``
command and the demo share them. Masks and scores are (frames, rows, columns) like the engine's
output. COCO RLE encoding uses pycocotools, the reference implementation of the format.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from collections.abc import Sequence

import nibabel as nib
import numpy as np
from pycocotools import mask as coco_mask

from crowd.images import mask_png

FORMATS = {
    "nifti": ".nii.gz",
    "png": ".zip",
    "coco": ".json",
    "npz": ".npz",
    "csv": ".csv",
    # DICOM SEG on the source series (segmentation.dicom_seg; DICOM-sourced sequences only).
    "dicom-seg": ".seg.dcm",
    "dicom-seg-fractional": ".fractional.seg.dcm",
}


def _check(masks: np.ndarray) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (frames, rows, columns), got shape {masks.shape}")
    return (masks > 0).astype(np.uint8)


#: Name of the metadata file inside PNG zips (threshold, rule, run, code version).
METADATA_NAME = "ground_truth.json"


def nifti_description(metadata: dict | None) -> bytes:
    """The NIfTI ``descrip`` field (80 bytes): what the mask is and where it was cut."""
    if not metadata:
        return b"GazeCrowd ground truth"
    if metadata.get("version"):  # a hand-corrected version (segmentation.services.review)
        text = f"GazeCrowd ground truth v{metadata['version']} hand-corrected run={metadata.get('run', '')}"
        return text.encode("ascii", "replace")[:79]
    text = (f"GazeCrowd {metadata.get('method', '')} thr={metadata.get('threshold', 0):.4f} "
            f"{metadata.get('threshold_rule', '')} run={metadata.get('run', '')}")
    return text.encode("ascii", "replace")[:79]


def nifti_bytes(
    masks: np.ndarray, *, affine: np.ndarray | None = None, axis: int = -1,
    metadata: dict | None = None,
) -> bytes:
    """A gzipped NIfTI volume of ``masks`` with the source volume's affine.

    Parameters
    ----------
    masks : (T, H, W) ndarray
        Binary masks, frame first.
    affine : (4, 4) ndarray, optional
        The source volume's affine (voxel spacing and orientation); identity when the sequence
        was not a volume.
    axis : int
        The axis the frames were taken along when the volume was read (frame ``k`` was
        ``vol.take(k, axis)``), so that the mask volume lines up voxel for voxel with the source.
    metadata : dict, optional
        Written into the header's description (method, threshold, rule, run).
    """
    masks = _check(masks)
    volume = np.moveaxis(masks, 0, axis)
    img = nib.Nifti1Image(volume, np.eye(4) if affine is None else np.asarray(affine, float))
    img.header.set_data_dtype(np.uint8)
    img.header["descrip"] = nifti_description(metadata)
    # A .nii.gz file is the single-file NIfTI byte stream, gzipped (level 1: masks are mostly
    # zeros and compress about as well; level 6 took 3x longer on a 100-frame 854x480 mask).
    return gzip.compress(img.to_bytes(), compresslevel=1)


def png_zip_bytes(masks: np.ndarray, *, prefix: str = "frame", metadata: dict | None = None) -> bytes:
    """A zip of one 8-bit PNG per frame (0 background, 255 object), ``<prefix>_00000.png``...

    With ``metadata``, the zip also holds :data:`METADATA_NAME` (threshold, rule, run...).
    """
    masks = _check(masks)
    buffer = io.BytesIO()
    # The PNGs are compressed already: stored, not deflated again.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for k, frame in enumerate(masks):
            archive.writestr(f"{prefix}_{k:05d}.png", mask_png(frame))
        if metadata:
            archive.writestr(METADATA_NAME, json.dumps(metadata, indent=2))
    return buffer.getvalue()


def coco_rle(masks: np.ndarray, *, name: str, category: str = "object",
             metadata: dict | None = None) -> dict:
    """COCO-style dict: one image per frame, one RLE annotation per frame with any object.

    ``metadata`` (threshold, rule, run...) goes into ``info["gazecrowd"]``.
    """
    masks = _check(masks)
    _, height, width = masks.shape
    images, annotations = [], []
    for k, frame in enumerate(masks):
        images.append({"id": k + 1, "file_name": f"{name}/frame_{k:05d}.png", "frame": k,
                       "height": height, "width": width})
        if not frame.any():
            continue
        rle = coco_mask.encode(np.asfortranarray(frame))
        annotations.append({
            "id": len(annotations) + 1,
            "image_id": k + 1,
            "category_id": 1,
            "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "area": float(coco_mask.area(rle)),
            "bbox": [float(v) for v in coco_mask.toBbox(rle)],
            "iscrowd": 0,
        })
    info = {"description": f"GazeCrowd ground truth for {name}"}
    if metadata:
        info["gazecrowd"] = metadata
    return {
        "info": info,
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": category}],
    }


def coco_decode(document: dict, *, frames: int) -> np.ndarray:
    """Decode :func:`coco_rle` output back to (T, H, W) uint8 masks (for tests and users)."""
    height, width = document["images"][0]["height"], document["images"][0]["width"]
    masks = np.zeros((frames, height, width), np.uint8)
    frame_of = {image["id"]: image["frame"] for image in document["images"]}
    for ann in document["annotations"]:
        rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"].encode()}
        masks[frame_of[ann["image_id"]]] |= coco_mask.decode(rle)
    return masks


def coco_json_bytes(masks: np.ndarray, *, name: str, category: str = "object",
                    metadata: dict | None = None) -> bytes:
    return json.dumps(coco_rle(masks, name=name, category=category, metadata=metadata)).encode()


def npz_bytes(scores: np.ndarray, masks: np.ndarray, *, metadata: dict | None = None) -> bytes:
    """``scores`` float32 in [0, 1] and ``masks`` uint8, both (T, H, W); with ``metadata``, also
    ``threshold`` (a float) and ``metadata`` (its JSON text). Readable by ``numpy.load``."""
    arrays = {"scores": np.asarray(scores, np.float32), "masks": _check(masks)}
    if metadata:
        arrays["threshold"] = np.float64(metadata.get("threshold", np.nan))
        arrays["metadata"] = np.array(json.dumps(metadata))
    buffer = io.BytesIO()
    # What numpy.savez_compressed writes, at zlib level 1: level 6 took 11 s on a 100-frame
    # 854x480 float32 map (level 1: 0.8 s, 70% larger), and a re-export must stay under 2 s.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def superpixel_csv_bytes(
    labels: np.ndarray, sp_scores: np.ndarray, *, columns: Sequence[str] = ("superpixel", "frame", "row", "column", "area", "score")
) -> bytes:
    """One row per superpixel: id, frame, centroid row/column, area in pixels, score."""
    labels = np.asarray(labels)
    flat = labels.ravel()
    n = int(flat.max()) + 1
    area = np.bincount(flat, minlength=n)
    t, r, c = np.indices(labels.shape)
    safe = np.maximum(area, 1)
    frame = np.bincount(flat, weights=t.ravel(), minlength=n) / safe
    row = np.bincount(flat, weights=r.ravel(), minlength=n) / safe
    col = np.bincount(flat, weights=c.ravel(), minlength=n) / safe
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for i in np.flatnonzero(area):
        writer.writerow([int(i), int(round(frame[i])), f"{row[i]:.1f}", f"{col[i]:.1f}", int(area[i]),
                         f"{float(sp_scores[i]):.6f}"])
    return out.getvalue().encode()
