"""Cross-study matrix: every API route and web page, asked for another study's objects by id.

Study A ("Polyps") is Alice's (coordinator), Bob's (observer) and Carol's (researcher).
Study B ("Livers") is Dave's (coordinator), Erin's (observer) and Frank's (researcher); Gina
observed it and Hank coordinated it until both were removed (Gina's recording stays). B holds
one of everything: an image collection with masks, Erin's finished recording with gaze, a
label, an image visit, an invitation, an assignment, a succeeded run with its ground truth and
report, gaze boxes.

For every route, each of Alice, Bob, Carol (one per role, all members of A only), Gina and Hank
(removed from B) asks for B's objects by id, with B's study id and with A's (a mixed URL,
A's study with B's sequence, run, member...). Every answer must be a refusal (403 or 404),
must not mention B's names, and must leave B's rows exactly as they were. A positive control
first shows that B's own members reach every one of these objects (the ids are real), and
an inventory makes the test fail when a route is added without a row here.
"""

from __future__ import annotations

import io
import zipfile

import nibabel as nib
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from annotation import services as annotation_services
from annotation.models import GazeBatch, ImageLabel, ImageVisit, Recording
from crowd import services, storage
from crowd.models import Assignment, DicomWebServer, Invitation, Sequence, Study, StudyMembership
from segmentation import parameters
from segmentation.models import GazeBoxesJob, GroundTruth, GroundTruthVersion, Report, Run

from .fixtures import frames_array, images_zip

SECRET = "liver-secret"  # B's sequence name: no refusal may show it
REFUSED = (403, 404)


def _upload():
    return {"file": SimpleUploadedFile("more.zip", images_zip(frames_array(n=2)))}


def _masks():
    return {"file": SimpleUploadedFile("masks.zip", images_zip((frames_array() > 128).astype(np.uint8) * 255))}


def _gaze_file():
    return {"file": SimpleUploadedFile("g.csv", b"observer,t_ms,frame,x,y\no,0,0,1,2\no,20,0,2,3\n")}


def _mask_png_b64(rows=24, cols=32) -> str:
    import base64

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((rows, cols), 255, np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# route name -> [(method, URL template, body, who in B may do it)]; bodies are what a member with
# the right role would send, so that a missing check would show as a write.
C, OBS = "dave", "erin"  # B's coordinator and observer
API = {
    "study-detail": [("get", "/api/studies/{s}/", None, C), ("patch", "/api/studies/{s}/", {"name": "Renamed"}, C),
                     ("delete", "/api/studies/{s}/", None, C)],
    "sequence-list": [("get", "/api/studies/{s}/sequences/", None, C),
                      ("post", "/api/studies/{s}/sequences/", _upload, C)],
    "sequence-detail": [("get", "/api/studies/{s}/sequences/{q}/", None, C),
                        ("delete", "/api/studies/{s}/sequences/{q}/", None, C)],
    "sequence-frames": [("get", "/api/studies/{s}/sequences/{q}/frames/", None, OBS)],
    "sequence-frame-image": [("get", "/api/studies/{s}/sequences/{q}/frames/0.png", None, OBS)],
    # Before sequence-masks: its PUT replaces the masks file (a rollback restores the row, not the file).
    "run-compare": [("get", "/api/studies/{s}/runs/{run}/compare/", None, C)],
    "sequence-masks": [("get", "/api/studies/{s}/sequences/{q}/masks/", None, C),
                       ("put", "/api/studies/{s}/sequences/{q}/masks/", _masks, C)],
    "member-list": [("get", "/api/studies/{s}/members/", None, C),
                    ("post", "/api/studies/{s}/members/", {"username": "charlie", "role": "researcher"}, C)],
    "member-detail": [("patch", "/api/studies/{s}/members/{member}/", {"role": "coordinator"}, C),
                      ("delete", "/api/studies/{s}/members/{member}/", None, C)],
    "invitation-list": [("get", "/api/studies/{s}/invitations/", None, C),
                        ("post", "/api/studies/{s}/invitations/", {"role": "observer"}, C)],
    "invitation-detail": [("delete", "/api/studies/{s}/invitations/{invitation}/", None, C)],
    "member-event-list": [("get", "/api/studies/{s}/audit/", None, C)],
    "assignment-list": [("get", "/api/studies/{s}/assignments/", None, C),
                        ("post", "/api/studies/{s}/assignments/", {"observer": "erin"}, C)],
    "assignment-detail": [("delete", "/api/studies/{s}/assignments/{assignment}/", None, C)],
    "study-status": [("get", "/api/studies/{s}/status/", None, C)],
    "study-bids": [("get", "/api/studies/{s}/recordings/bids.zip", None, C)],
    "recording-list": [("get", "/api/studies/{s}/sequences/{q}/recordings/", None, C),
                       ("post", "/api/studies/{s}/sequences/{q}/recordings/", {"source": "mouse"}, OBS)],
    "recording-import": [("post", "/api/studies/{s}/sequences/{q}/recordings/import/", _gaze_file, OBS)],
    "image-label-list": [("get", "/api/studies/{s}/sequences/{q}/labels/", None, C),
                         ("post", "/api/studies/{s}/sequences/{q}/labels/",
                          {"frame": 0, "mode": "box", "seconds": 2.0, "box": [1, 1, 5, 5]}, OBS)],
    "image-visit-list": [("get", "/api/studies/{s}/sequences/{q}/image-visits/", None, C),
                         ("post", "/api/studies/{s}/sequences/{q}/image-visits/",
                          {"frame": 0, "mode": "box", "seconds": 2.0}, OBS)],
    "recording-detail": [("get", "/api/recordings/{r}/", None, C)],
    "recording-batches": [("post", "/api/recordings/{r}/batches/", {"batch": 5, "samples": [[0.0, 0, 1.0, 2.0]]}, OBS)],
    "recording-progress": [("get", "/api/recordings/{r}/progress/", None, C)],
    "recording-finish": [("post", "/api/recordings/{r}/finish/", {}, OBS)],
    "recording-abort": [("post", "/api/recordings/{r}/abort/", {}, OBS)],
    "recording-gaze": [("get", "/api/recordings/{r}/gaze/", None, C)],
    "run-list": [("get", "/api/studies/{s}/runs/", None, C), ("post", "/api/studies/{s}/runs/", {}, C)],
    "run-detail": [("get", "/api/studies/{s}/runs/{run}/", None, C)],
    "run-retry": [("post", "/api/studies/{s}/runs/{run}/retry/", {}, C)],
    "run-export": [("get", "/api/studies/{s}/runs/{run}/export/npz/", None, C)],
    "run-report-file": [("get", "/api/studies/{s}/runs/{run}/report/observers.csv", None, C)],
    "sequence-ground-truth": [("get", "/api/studies/{s}/sequences/{q}/ground-truth/npz/", None, C)],
    "run-threshold": [("get", "/api/studies/{s}/runs/{run}/threshold/", None, C),
                      ("put", "/api/studies/{s}/runs/{run}/threshold/", {"threshold": 0.3}, C)],
    "ground-truth-versions": [("get", "/api/studies/{s}/sequences/{q}/ground-truth/versions/", None, C),
                              ("post", "/api/studies/{s}/sequences/{q}/ground-truth/versions/",
                               {"frames": [{"index": 0, "png": _mask_png_b64()}]}, C)],
    "gaze-boxes": [("get", "/api/studies/{s}/gaze-boxes/", None, C), ("post", "/api/studies/{s}/gaze-boxes/", {}, C)],
    "gaze-boxes-file": [("get", "/api/studies/{s}/gaze-boxes/coco/", None, C)],
    "labelling-times": [("get", "/api/studies/{s}/labelling-times/", None, C)],
    # B's DICOMweb server is a closed loopback port: B's coordinator gets 400 "cannot connect".
    "dicomweb-server": [("get", "/api/studies/{s}/dicomweb/", None, C),
                        ("put", "/api/studies/{s}/dicomweb/", {"url": "http://127.0.0.1:9/x"}, C),
                        ("delete", "/api/studies/{s}/dicomweb/", None, C)],
    "dicomweb-studies": [("get", "/api/studies/{s}/dicomweb/studies/", None, C)],
    "dicomweb-series": [("get", "/api/studies/{s}/dicomweb/studies/1.2.3/series/", None, C)],
    "dicomweb-import": [("post", "/api/studies/{s}/dicomweb/import/", {"series_uid": "1.2.3"}, C)],
    "dicomweb-push": [("post", "/api/studies/{s}/dicomweb/push/", {}, C)],
}
WEB = {
    "web:study-edit": [("get", "/studies/{s}/edit/", None, C),
                       ("post", "/studies/{s}/edit/", {"name": "Renamed", "quorum": 1, "repeats_per_observer": 1,
                                                       "status": "active"}, C)],
    "web:sequence-upload": [("get", "/studies/{s}/sequences/upload/", None, C),
                            ("post", "/studies/{s}/sequences/upload/", _upload, C)],
    "web:sequence-delete": [("post", "/studies/{s}/sequences/{q}/delete/", {}, C)],
    "web:members": [("get", "/studies/{s}/members/", None, C)],
    "web:invitation-create": [("post", "/studies/{s}/invitations/new/", {"role": "observer"}, C)],
    "web:invitations-bulk": [("post", "/studies/{s}/invitations/bulk/",
                              {"role": "observer", "emails": "new@example.org"}, C)],
    "web:member-add": [("post", "/studies/{s}/members/add/", {"identifier": "charlie", "role": "researcher"}, C)],
    "web:member-role": [("post", "/studies/{s}/members/{member}/role/", {"role": "coordinator"}, C)],
    "web:member-remove": [("post", "/studies/{s}/members/{member}/remove/", {}, C)],
    "web:invitation-revoke": [("post", "/studies/{s}/invitations/{invitation}/revoke/", {}, C)],
    "web:assignments-save": [("post", "/studies/{s}/assignments/", {"assign_all": "1"}, C)],
    "web:record": [("get", "/studies/{s}/sequences/{q}/record/", None, OBS)],
    "web:label": [("get", "/studies/{s}/sequences/{q}/label/", None, OBS)],
    "web:gaze-upload": [("get", "/studies/{s}/sequences/{q}/upload-gaze/", None, OBS),
                        ("post", "/studies/{s}/sequences/{q}/upload-gaze/", _gaze_file, OBS)],
    "web:gaze-paths": [("get", "/studies/{s}/sequences/{q}/gaze-paths.json", None, C)],
    "web:recording": [("get", "/recordings/{r}/", None, C)],
    "web:study": [("get", "/studies/{s}/", None, C)],
    "web:run-start": [("post", "/studies/{s}/runs/start/", {}, C)],
    "web:gaze-boxes": [("post", "/studies/{s}/gaze-boxes/", {}, C)],
    "web:run": [("get", "/studies/{s}/runs/{run}/", None, C)],
    "web:run-retry": [("post", "/studies/{s}/runs/{run}/retry/", {}, C)],
    "web:run-overlay": [("get", "/studies/{s}/runs/{run}/overlay/0.png", None, C)],
    "web:run-review-layer": [("get", "/studies/{s}/runs/{run}/review/scores/0.bin", None, C)],
    # the review pages (volume viewer on B's volume and its run, replay, preview)
    "web:sequence-volume": [("get", "/studies/{s}/sequences/{vq}/volume/", None, C)],
    "web:run-volume": [("get", "/studies/{s}/runs/{vrun}/volume/", None, C)],
    "web:sequence-volume-nifti": [("get", "/studies/{s}/sequences/{vq}/volume.nii.gz", None, C)],
    "web:sequence-reference-nifti": [("get", "/studies/{s}/sequences/{vq}/reference.nii.gz", None, C)],
    "web:run-mask-nifti": [("get", "/studies/{s}/runs/{vrun}/mask.nii.gz", None, C)],
    "web:sequence-replay": [("get", "/studies/{s}/sequences/{q}/replay/", None, C)],
    "web:run-replay": [("get", "/studies/{s}/runs/{run}/replay/", None, C)],
    "web:sequence-replay-json": [("get", "/studies/{s}/sequences/{q}/replay.json", None, C)],
    "web:sequence-preview": [("get", "/studies/{s}/sequences/{q}/preview/", None, C)],
}
# Routes that name no object of a study by its id (each has its own test).
NOT_BY_ID = {
    "schema": "the API's description", "api-docs": "the API's description",
    "api-redoc": "the API's description", "api-root": "links to the API's description",
    "auth-token": "a login (tests/crowd/test_login_throttling.py)",
    "study-list": "lists the caller's studies (checked below)", "login": "a login", "logout": "a logout",
    "web:home": "lists the caller's studies (checked below)",
    "web:study-create": "creates a new study",
    "web:assignments": "lists the caller's assignments (checked below)",
    "invitation-accept": "the token is the secret (tests/crowd/test_invitations.py)",
    "web:invitation": "the token is the secret (tests/crowd/test_invitations.py)",
    "web:webcam-privacy": "a public page: the webcam privacy note, no data (tests/e2e/test_webcam.py)",
}
OUTSIDERS = ("alice", "bob", "carol", "gina", "hank")


def _route_names(resolver=None, namespace=""):
    names = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            names |= _route_names(pattern, namespace + (f"{pattern.namespace}:" if pattern.namespace else ""))
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(namespace + pattern.name)
    return names


def test_the_matrix_covers_every_route():
    assert _route_names() == set(API) | set(WEB) | set(NOT_BY_ID)


def _run_with_ground_truth(study, sequence):
    """A succeeded run of ``sequence`` with a stored ground truth (scores 0.5, masks all ones)."""
    run = Run.objects.create(study=study, sequence=sequence, code_version="test", status=Run.Status.SUCCEEDED,
                             parameters=parameters.resolve(), progress=1.0)
    shape = (sequence.n_frames, sequence.height, sequence.width)
    storage.save_npz(f"ground_truth/run{run.pk}.npz", scores=np.full(shape, 0.5, np.float32),
                     masks=np.ones(shape, np.uint8))
    storage.save_npz(f"ground_truth/run{run.pk}-superpixels.npz", labels=np.zeros(shape, np.int32),
                     sp_scores=np.array([0.5]))
    GroundTruth.objects.create(run=run, file=f"ground_truth/run{run.pk}.npz",
                               superpixel_file=f"ground_truth/run{run.pk}-superpixels.npz", threshold=0.5)
    return run


@pytest.fixture
def world(study, sequence, tmp_path):
    """Study B with one of everything; returns the users and B's ids, and A's study id."""
    people = {name: services.user_get_or_create(username=name, password=f"{name}-pw-123")
              for name in ("dave", "erin", "frank", "gina", "hank")}
    b = services.study_create(name="Livers", created_by=people["dave"], kind=Study.Kind.IMAGES)
    for name, role in (("erin", "observer"), ("frank", "researcher"), ("gina", "observer"),
                       ("hank", "coordinator")):
        services.membership_set(study=b, user=people[name], role=role)
    seq_path = tmp_path / "b.zip"
    seq_path.write_bytes(images_zip(frames_array(seed=3)))
    q = services.sequence_import(study=b, path=seq_path, name=SECRET)
    masks = tmp_path / "m.zip"
    masks.write_bytes(images_zip((frames_array(seed=3) > 128).astype(np.uint8) * 255))
    services.sequence_masks_attach(sequence=q, path=masks)
    assignment = services.assignment_create(sequence=q, observer=people["erin"])
    services.assignment_create(sequence=q, observer=people["gina"])
    samples = np.array([[0.0, 0, 3.0, 4.0], [20.0, 1, 5.0, 6.0]])
    recording, _ = annotation_services.recording_start(observer=people["erin"], sequence=q)
    annotation_services.gaze_batch_store(recording_id=recording.pk, number=0, samples=samples)
    annotation_services.recording_finish(recording=recording, expected_batches=1)
    ginas, _ = annotation_services.recording_start(observer=people["gina"], sequence=q)
    annotation_services.gaze_batch_store(recording_id=ginas.pk, number=0, samples=samples)
    annotation_services.image_label_create(observer=people["erin"], sequence=q, frame=0, mode="box", seconds=2.0,
                                           box=[1.0, 1.0, 5.0, 5.0])
    annotation_services.image_visit_record(observer=people["erin"], sequence=q, frame=0, mode="box", seconds=3.0)
    invitation = services.invitation_create(study=b, role="observer", created_by=people["dave"])
    run = _run_with_ground_truth(b, q)
    storage.save_bytes(f"reports/run{run.pk}/observers.csv", b"observer,weight\nerin,1\n")
    Report.objects.create(run=run, folder=f"reports/run{run.pk}", files=["observers.csv"])
    storage.save_bytes(f"gaze_boxes/{b.pk}/boxes.json", b"{}")
    buf = io.BytesIO()
    zipfile.ZipFile(buf, "w").close()
    storage.save_bytes(f"gaze_boxes/{b.pk}/masks.zip", buf.getvalue())
    GazeBoxesJob.objects.create(study=b, status=GazeBoxesJob.Status.SUCCEEDED, progress=1.0)
    # A volume of B (NIfTI, with reference masks) and a run on it, for the volume viewer's routes.
    volume = (frames_array(seed=5).astype(np.float32)).transpose(1, 2, 0)  # (rows, cols, slices)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "vol.nii.gz")
    nib.save(nib.Nifti1Image((volume > 128).astype(np.uint8), np.eye(4)), tmp_path / "vol-masks.nii.gz")
    vq = services.sequence_import(study=b, path=tmp_path / "vol.nii.gz", name=f"{SECRET}-volume",
                                  truth=tmp_path / "vol-masks.nii.gz")
    vrun = _run_with_ground_truth(b, vq)
    services.dicomweb_server_set(study=b, url="http://127.0.0.1:9/dicom-web", username="dave", password="pw")
    for name in ("gina", "hank"):
        services.membership_remove(membership=StudyMembership.objects.get(study=b, user=people[name]))
    ids = {"s": b.pk, "q": q.pk, "r": recording.pk, "run": run.pk, "vq": vq.pk, "vrun": vrun.pk, "invitation": invitation.pk,
           "assignment": assignment.pk, "member": StudyMembership.objects.get(study=b, user=people["frank"]).pk}
    return {"people": people, "ids": ids, "a": study.pk, "gina_recording": ginas.pk, "b": b}


def _snapshot(b: Study):
    """Everything of B a write could change."""
    return (
        tuple(Study.objects.filter(pk=b.pk).values_list("name", "status", "quorum", "frame_rate")),
        tuple(Sequence.objects.filter(study=b).values_list("pk", "name", "masks_file", "mask_frames")),
        tuple(StudyMembership.objects.filter(study=b).values_list("user_id", "role").order_by("user_id")),
        tuple(Invitation.objects.filter(study=b).values_list("pk", "revoked", "accepted_at")),
        tuple(Assignment.objects.filter(sequence__study=b).values_list("pk", "observer_id").order_by("pk")),
        tuple(Recording.objects.filter(sequence__study=b).values_list("pk", "status").order_by("pk")),
        GazeBatch.objects.filter(recording__sequence__study=b).count(),
        ImageLabel.objects.filter(sequence__study=b).count(),
        ImageVisit.objects.filter(sequence__study=b).count(),
        tuple(Run.objects.filter(study=b).values_list("pk", "status").order_by("pk")),
        GazeBoxesJob.objects.filter(study=b).count(),
        tuple(GroundTruth.objects.filter(run__study=b).values_list("pk", "reviewed_threshold")),
        GroundTruthVersion.objects.filter(sequence__study=b).count(),
        tuple(DicomWebServer.objects.filter(study=b).values_list("url", "username", "password_encrypted")),
    )


def _client(user, web: bool):
    client = Client() if web else APIClient()
    if web:
        client.force_login(user)
    else:
        client.force_authenticate(user)
    return client


def _request(user, method, url, body, web):
    """One request, rolled back afterwards so that every request meets the same world."""
    client = _client(user, web)
    data = body() if callable(body) else body
    kwargs = {}
    if data is not None and not web:
        kwargs["format"] = "multipart" if callable(body) else "json"
    with transaction.atomic():
        response = getattr(client, method)(url, data, **kwargs) if data is not None else getattr(client, method)(url)
        transaction.set_rollback(True)
    return response


def _cases():
    for routes, web in ((API, False), (WEB, True)):
        for name, operations in routes.items():
            for method, template, body, owner in operations:
                yield name, method, template, body, owner, web


def test_b_members_reach_every_object_the_matrix_asks_for(world):
    """The positive control: with the right role in B, no route answers 403 or 404."""
    wrong = []
    for name, method, template, body, owner, web in _cases():
        response = _request(world["people"][owner], method, template.format(**world["ids"]), body, web)
        if response.status_code in REFUSED or response.status_code >= 500:
            wrong.append(f"{name} {method.upper()} as {owner}: {response.status_code} {response.content[:150]!r}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("who", OUTSIDERS)
def test_nobody_outside_b_reaches_its_objects(world, request, who):
    user = request.getfixturevalue(who) if who in ("alice", "bob", "carol") else world["people"][who]
    before = _snapshot(world["b"])
    wrong = []
    for name, method, template, body, _owner, web in _cases():
        variants = {"B's ids": world["ids"]}
        if "{s}" in template and template.count("{") > 1:
            variants["A's study, B's object"] = {**world["ids"], "s": world["a"]}
        for variant, ids in variants.items():
            url = template.format(**ids)
            response = _request(user, method, url, body, web)
            leaked = SECRET in response.content.decode(errors="replace")
            if response.status_code not in REFUSED or leaked:
                wrong.append(f"{name} {method.upper()} {url} ({variant}): {response.status_code}"
                             f"{' and shows ' + SECRET if leaked else ''}")
    assert wrong == [], f"{who}:\n" + "\n".join(wrong)
    assert _snapshot(world["b"]) == before


def test_bodies_naming_b_objects_are_refused_in_a(world, alice, bob, client_for):
    """Inside her own study, Alice cannot reach B's objects through a body either."""
    a, ids = world["a"], world["ids"]
    before = _snapshot(world["b"])
    alice_api = client_for(alice)
    assert alice_api.post(f"/api/studies/{a}/assignments/", {"observer": "erin", "sequence": ids["q"]},
                          format="json").status_code == 400
    assert alice_api.post(f"/api/studies/{a}/runs/", {"sequence": ids["q"]}, format="json").status_code == 400
    assert alice_api.post(f"/api/studies/{a}/members/", {"username": "erin", "role": "observer"},
                          format="json").status_code == 201  # any user may be added ...
    a_sequence = Sequence.objects.get(study_id=a)
    imported = alice_api.post(f"/api/studies/{a}/sequences/{a_sequence.pk}/recordings/import/",
                              {**_gaze_file(), "observer": "dave"}, format="multipart")
    assert imported.status_code == 400  # ... but Dave observes nothing of A
    visit = client_for(bob).post(f"/api/studies/{a}/sequences/{a_sequence.pk}/image-visits/",
                                 {"frame": 0, "mode": "gaze", "seconds": 1.0, "recording": ids["r"]}, format="json")
    assert visit.status_code in (400, 404)
    assert _snapshot(world["b"]) == before


def test_a_removed_observer_loses_her_own_recording(world):
    gina, r = world["people"]["gina"], world["gina_recording"]
    for method, url, body in (("get", f"/api/recordings/{r}/", None), ("get", f"/api/recordings/{r}/gaze/", None),
                              ("get", f"/api/recordings/{r}/progress/", None),
                              ("post", f"/api/recordings/{r}/batches/", {"batch": 1, "samples": [[1.0, 0, 1, 1]]}),
                              ("post", f"/api/recordings/{r}/finish/", {}), ("post", f"/api/recordings/{r}/abort/", {})):
        assert _request(gina, method, url, body, web=False).status_code == 404, (method, url)
    assert _request(gina, "get", f"/recordings/{r}/", None, web=True).status_code == 404


@pytest.mark.parametrize("who", OUTSIDERS)
def test_lists_show_nothing_of_b(world, request, who):
    user = request.getfixturevalue(who) if who in ("alice", "bob", "carol") else world["people"][who]
    studies = _client(user, web=False).get("/api/studies/").json()["results"]
    assert "Livers" not in [s["name"] for s in studies]
    for page in ("/", "/assignments/"):
        response = _client(user, web=True).get(page)
        assert response.status_code == 200 and "Livers" not in response.content.decode()
