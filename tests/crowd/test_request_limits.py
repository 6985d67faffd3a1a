"""Requests a careless client sends get a JSON 4xx from the API, never a 500 or an HTML page.

Alice pages her studies with ``?limit=10**30``; a script posts JSON nested a hundred thousand
deep (to the token endpoint, which anyone may call, and to any other); another posts a body
larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``; ids beyond any primary key appear in URLs and
bodies. Each answer is a 4xx in JSON that says what was wrong.
"""

import json

import pytest

from crowd.models import Study

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("query", ["limit=1000000000000000000000000000000", "limit=9223372036854775808",
                                   "offset=1000000000000000000000000000000", "limit=-5", "limit=abc"])
def test_page_parameters_are_capped(study, alice, client_for, query):
    response = client_for(alice).get(f"/api/studies/?{query}")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["count"] == 1


def test_a_huge_limit_gives_at_most_a_thousand_rows(alice, client_for):
    from crowd import services

    for k in range(1005):
        services.study_create(name=f"S{k}", created_by=alice)
    body = client_for(alice).get("/api/studies/?limit=999999999").json()
    assert body["count"] == 1005 and len(body["results"]) == 1000


@pytest.mark.parametrize("url", ["/api/auth/token/", "/api/studies/"])
def test_deeply_nested_json_is_a_400(alice, client_for, url):
    response = client_for(alice).post(url, DEEP, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "nested too deeply" in response.json()["detail"]


def test_the_anonymous_token_endpoint_refuses_nested_json(client_for, db):
    response = client_for(None).post("/api/auth/token/", DEEP, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_memory_limit_is_a_json_413(study, alice, client_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"name": "x" * 20_000})
    response = client_for(alice).post("/api/studies/", body, content_type="application/json")
    assert response.status_code == 413, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
    assert Study.objects.count() == 1


def test_a_batch_over_the_memory_limit_is_a_json_413(sequence, bob, client_for, settings):
    from annotation import services

    recording, _ = services.recording_start(observer=bob, sequence=sequence)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    rows = [[float(k), 0, 1.0, 2.0] for k in range(100)]
    response = client_for(bob).post(f"/api/recordings/{recording.pk}/batches/", {"batch": 0, "samples": rows},
                                    format="json")
    assert response.status_code == 413 and "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]


@pytest.mark.parametrize("url", ["/api/studies/{big}/", "/api/studies/{s}/sequences/{big}/",
                                 "/api/recordings/{big}/", "/api/studies/{s}/runs/{big}/"])
def test_ids_beyond_any_key_are_a_404(study, alice, client_for, url):
    for big in (2**63, 10**30):
        response = client_for(alice).get(url.format(s=study.pk, big=big))
        assert response.status_code == 404, (big, response.content[:300])


@pytest.mark.parametrize("body", [{"observer": "bob", "sequence": 2**63}, {"observer": "bob", "sequence": 10**30}])
def test_ids_beyond_any_key_in_a_body_are_a_400(study, sequence, alice, client_for, body):
    response = client_for(alice).post(f"/api/studies/{study.pk}/assignments/", body, format="json")
    assert response.status_code == 400 and "sequence" in response.json()


def test_run_parameters_are_bounded(study, sequence, alice, client_for):
    url = f"/api/studies/{study.pk}/runs/"
    for body in ({"sequence": 2**63}, {"parameters": {"seed": 2**64}}, {"parameters": {"seed": -1}},
                 {"parameters": {"px_per_degree": 1e308}}):
        response = client_for(alice).post(url, body, format="json")
        assert response.status_code == 400, (body, response.content[:300])


@pytest.mark.parametrize("field, value", [("quorum", 2**63), ("repeats_per_observer", 10**6),
                                          ("frame_rate", 1e308), ("frame_rate", 1001)])
def test_study_numbers_are_bounded_in_the_web_form(alice, field, value):
    from django.test import Client

    web = Client()
    web.force_login(alice)
    form = {"name": "S", "quorum": 5, "repeats_per_observer": 1, "status": "active", "kind": "sequence",
            field: value}
    response = web.post("/studies/new/", form)
    assert response.status_code == 200 and not Study.objects.exists()
    assert field.replace("_", " ").split()[0].lower() in response.content.decode().lower()


def test_playing_a_volume_reads_its_value_range_once(study, alice, client_for, monkeypatch):
    """Each frame PNG of a volume is scaled by the volume's range: computed once, not per frame
    (a one-gigabyte volume of 1,000 slices would otherwise be read 1,000 times to play it)."""
    import gzip

    import nibabel as nib
    import numpy as np
    from django.core.files.uploadedfile import SimpleUploadedFile

    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    data = gzip.compress(nib.Nifti1Image(volume, np.eye(4)).to_bytes())
    created = client_for(alice).post(f"/api/studies/{study.pk}/sequences/",
                                     {"file": SimpleUploadedFile("v.nii.gz", data)}, format="multipart")
    assert created.status_code == 201
    full = []
    real_nanmin = np.nanmin
    monkeypatch.setattr(np, "nanmin", lambda a, *args, **kwargs: (full.append(np.size(a)) if np.size(a) == volume.size
                                                                  else None) or real_nanmin(a, *args, **kwargs))
    base = f"/api/studies/{study.pk}/sequences/{created.json()['id']}/frames"
    for k in range(6):
        assert client_for(alice).get(f"{base}/{k}.png").status_code == 200
    assert len(full) <= 1, f"the whole volume was scanned {len(full)} times for 6 frames"
