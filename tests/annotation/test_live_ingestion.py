"""Live gaze: duplicated, reordered and retried batches leave exactly the samples sent."""

import numpy as np
import pytest
from django.db import transaction

from annotation import hooks, selectors, services
from annotation.models import GazeBatch, Recording


def _batches(n_batches=8, per_batch=60, n_frames=6, seed=1):
    """Client batches as a browser would send them: 60 Hz, ~1 s each, some lost samples."""
    g = np.random.default_rng(seed)
    out = []
    for b in range(n_batches):
        t = (b * per_batch + np.arange(per_batch)) * 1000 / 60
        frame = np.minimum((t * 10 / 1000).astype(int), n_frames - 1)
        x, y = g.uniform(0, 32, per_batch), g.uniform(0, 24, per_batch)
        rows = [[float(ti), int(fi), float(xi), float(yi)] for ti, fi, xi, yi in zip(t, frame, x, y)]
        rows[5][2] = rows[5][3] = None  # a blink
        out.append({"batch": b, "samples": rows})
    return out


@pytest.fixture
def recording(sequence, bob, client_for):
    response = client_for(bob).post(
        f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/",
        {"source": "webcam", "screen_width_px": 1920, "screen_height_px": 1080,
         "screen_width_cm": 53.1, "screen_height_cm": 29.9, "viewing_distance_cm": 60},
        format="json",
    )
    assert response.status_code == 201, response.content
    return Recording.objects.get(pk=response.json()["id"])


def _post(client, recording, body):
    return client.post(f"/api/recordings/{recording.pk}/batches/", body, format="json")


def test_duplicated_reordered_and_retried_batches_are_stored_exactly_once(recording, bob, client_for):
    client = client_for(bob)
    batches = _batches()
    order = [3, 0, 7, 1, 1, 5, 2, 6, 3, 4, 0]  # out of order, batches 0, 1, 3 sent twice
    codes = [_post(client, recording, batches[k]).status_code for k in order]
    assert codes == [201, 201, 201, 201, 200, 201, 201, 201, 200, 201, 200]
    finish = client.post(f"/api/recordings/{recording.pk}/finish/", {"expected_batches": 8}, format="json")
    assert finish.status_code == 200, finish.content
    assert finish.json()["n_samples"] == 8 * 60
    assert GazeBatch.objects.filter(recording=recording).count() == 8
    gaze = selectors.recording_gaze(recording)
    assert len(gaze) == 480 and gaze["x"].isna().sum() == 8
    sent = np.array([r[0] for b in batches for r in b["samples"]])
    np.testing.assert_allclose(gaze["t_ms"], np.sort(sent))  # sorted by time, whatever the order
    assert (gaze["observer"] == "bob").all()
    # A retry that arrives after the finish is still acknowledged, not stored again.
    assert _post(client, recording, batches[2]).status_code == 200
    assert GazeBatch.objects.filter(recording=recording).count() == 8


def test_finish_with_missing_batches_names_them_and_keeps_the_recording_open(recording, bob, client_for):
    client = client_for(bob)
    batches = _batches(n_batches=5)
    for k in (0, 2, 4):
        _post(client, recording, batches[k])
    response = client.post(f"/api/recordings/{recording.pk}/finish/", {"expected_batches": 5}, format="json")
    assert response.status_code == 409
    assert response.json()["missing"] == [1, 3]
    recording.refresh_from_db()
    assert recording.status == "recording"
    for k in (3, 1):
        assert _post(client, recording, batches[k]).status_code == 201
    assert client.post(f"/api/recordings/{recording.pk}/finish/", {"expected_batches": 5}, format="json").status_code == 200
    assert selectors.recording_counts(recording) == {"batches": 5, "samples": 300, "lost": 5, "batches_missing": 0,
                                                     "batch_numbers_missing": []}


def test_same_batch_number_with_other_samples_is_a_conflict(recording, bob, client_for):
    client = client_for(bob)
    first, second = _batches(n_batches=2)
    assert _post(client, recording, first).status_code == 201
    clash = {"batch": 0, "samples": second["samples"]}
    response = _post(client, recording, clash)
    assert response.status_code == 409
    assert "different samples" in response.json()["detail"]
    assert selectors.recording_counts(recording)["samples"] == 60


def test_new_batches_after_finish_are_refused(recording, bob, client_for):
    client = client_for(bob)
    first, second = _batches(n_batches=2)
    _post(client, recording, first)
    client.post(f"/api/recordings/{recording.pk}/finish/", {}, format="json")
    response = _post(client, recording, second)
    assert response.status_code == 409 and "accepts no new batches" in response.json()["detail"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"samples": [[0, 0, 1, 1]]}, "batch"),
        ({"batch": -1, "samples": [[0, 0, 1, 1]]}, "batch"),
        ({"batch": 0, "samples": []}, "at least one sample"),
        ({"batch": 0, "samples": [[0, 0, 1]]}, "rows of 4 values"),
        ({"batch": 0, "samples": [[0, 6, 1, 1]]}, "frame 6.0 is not a frame"),
        ({"batch": 0, "samples": [[0, 0.5, 1, 1]]}, "not a frame"),
        ({"batch": 0, "samples": [[None, 0, 1, 1]]}, "t_ms must be a finite number"),
        ({"batch": 0, "samples": [[0, 0, None, 1]]}, "both be given or both null"),
        ({"batch": 0, "samples": [["a", 0, 1, 1]]}, "numbers"),
    ],
)
def test_bad_batches_get_400_naming_the_problem(recording, bob, client_for, body, message):
    response = _post(client_for(bob), recording, body)
    assert response.status_code == 400
    assert message in str(response.json())
    assert not GazeBatch.objects.filter(recording=recording).exists()


def test_retried_start_with_a_repeat_number_is_idempotent(sequence, bob, client_for):
    sequence.study.repeats_per_observer = 2
    sequence.study.save(update_fields=["repeats_per_observer"])
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/"
    first = client_for(bob).post(url, {"repeat": 1}, format="json")
    again = client_for(bob).post(url, {"repeat": 1}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    second = client_for(bob).post(url, {}, format="json")
    assert second.json()["repeat"] == 2


def test_finish_runs_registered_hooks_once_after_commit(
    recording, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(hooks, "_recording_finished", [])
    hooks.on_recording_finished(calls.append)
    hooks.on_recording_finished(calls.append)  # registered twice: kept once
    services.gaze_batch_store(recording_id=recording.pk, number=0, samples=np.array([[0.0, 0, 1, 1]]))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.recording_finish(recording=recording)
        assert calls == []  # nothing before the commit
    assert calls == [recording.pk] and len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.recording_finish(recording=recording)  # already finished: nothing again
    assert calls == [recording.pk] and callbacks == []


def test_a_rolled_back_finish_calls_no_hook(recording, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr(hooks, "_recording_finished", [calls.append])
    services.gaze_batch_store(recording_id=recording.pk, number=0, samples=np.array([[0.0, 0, 1, 1]]))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.recording_finish(recording=recording)
            raise RuntimeError("something after the finish failed")
    assert calls == [] and callbacks == []
    recording.refresh_from_db()
    assert recording.status == "recording"


def test_px_per_degree_follows_from_the_recorded_display(recording):
    # 1920 px over 53.1 cm at 60 cm: 37.86 screen px/deg; the 24x32 image is drawn 1080 px high
    # (scale 45), so one degree is 37.86 / 45 = 0.84 image px.
    assert selectors.recording_image_px_per_degree(recording) == pytest.approx(37.86 / 45, rel=1e-3)
