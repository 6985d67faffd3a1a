"""No NaN or infinity is ever stored; a concurrent delete is a 404, not a broken commit.

Alice uploads volumes whose headers or voxels hold NaN and infinity: each is a 400 naming the
file (a NaN in the header's voxel sizes once reached the JSON column and failed the insert).
A membership, invitation or assignment written for a study that was deleted meanwhile is a
NotFound (404), never a foreign-key violation at commit (500).
"""

import gzip

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crowd import selectors, services
from crowd.models import Sequence, Study


def _nifti(volume, affine=None, zooms=None) -> bytes:
    import nibabel as nib

    image = nib.Nifti1Image(volume, np.eye(4) if affine is None else affine)
    if zooms is not None:
        image.header.set_zooms(zooms)
    return gzip.compress(image.to_bytes())


def _upload(client, study, name, data):
    return client.post(f"/api/studies/{study.pk}/sequences/", {"file": SimpleUploadedFile(name, data)},
                       format="multipart")


@pytest.mark.parametrize("case", ["nan-voxel", "inf-voxel", "nan-zoom", "inf-affine"])
def test_non_finite_volumes_are_refused(study, alice, client_for, case):
    volume = np.ones((4, 5, 3), np.float32)
    kwargs = {}
    if case == "nan-voxel":
        volume[1, 1, 1] = np.nan
    elif case == "inf-voxel":
        volume[0, 0, 0] = np.inf
    elif case == "nan-zoom":
        kwargs["zooms"] = (1.0, float("nan"), 1.0)
    else:
        affine = np.eye(4)
        affine[0, 3] = np.inf
        kwargs["affine"] = affine
    response = _upload(client_for(alice), study, "v.nii.gz", _nifti(volume, **kwargs))
    assert response.status_code == 400, response.content[:300]
    assert response.json()["detail"].startswith("v.nii.gz: ")
    assert "NaN" in response.json()["detail"] or "infinite" in response.json()["detail"]
    assert not Sequence.objects.exists()


@pytest.mark.parametrize("write", ["membership", "invitation", "assignment"])
def test_a_write_for_a_study_deleted_meanwhile_is_not_found(study, sequence, bob, charlie, write):
    stale = Study.objects.get(pk=study.pk)
    stale_sequence = Sequence.objects.get(pk=sequence.pk)
    Study.objects.filter(pk=study.pk).delete()  # a concurrent request deleted it
    with pytest.raises(selectors.NotFound):
        if write == "membership":
            services.membership_set(study=stale, user=charlie, role="researcher")
        elif write == "invitation":
            services.invitation_create(study=stale, role="observer")
        else:
            services.assignment_create(sequence=stale_sequence, observer=bob)


def test_pillow_refuses_images_beyond_the_budget_before_decoding(settings):
    from PIL import Image

    assert Image.MAX_IMAGE_PIXELS == settings.GAZECROWD_MAX_SEQUENCE_PIXELS
