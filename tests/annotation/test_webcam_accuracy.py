"""The recording page's measured accuracy is stored, shown and bounded.

``Recording.validation_error_deg`` (mean error over the validation targets) and
``drift_error_deg`` (the drift check before a sequence recorded with a reused calibration) come
with the recording's start, through the same API as every other display field: a number in
[0, 90] degrees, never NaN or an infinity (serializer, service and database constraint each
refuse it).
"""

import json

import pytest
from django.db import IntegrityError, transaction

from annotation import services
from annotation.models import MAX_VALIDATION_ERROR_DEG, Recording


def _start_url(sequence):
    return f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/"


def test_webcam_accuracy_is_stored_and_shown(sequence, bob, client_for):
    client = client_for(bob)
    body = {"source": "webcam", "playback_fps": 8.0, "validation_error_deg": 2.75, "drift_error_deg": 1.25,
            "calibration_error_deg": 2.75}
    response = client.post(_start_url(sequence), body, format="json")
    assert response.status_code == 201, response.content
    recording = Recording.objects.get()
    assert (recording.source, recording.validation_error_deg, recording.drift_error_deg) == ("webcam", 2.75, 1.25)
    detail = client.get(f"/api/recordings/{recording.pk}/").json()
    assert detail["validation_error_deg"] == 2.75 and detail["drift_error_deg"] == 1.25
    from django.test import Client

    browser = Client()
    browser.force_login(bob)
    page = browser.get(f"/recordings/{recording.pk}/").content.decode()
    assert "2.75°" in page and "1.25°" in page


def test_accuracy_is_optional(sequence, bob, client_for):
    response = client_for(bob).post(_start_url(sequence), {"source": "mouse", "playback_fps": 8.0}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["validation_error_deg"] is None and response.json()["drift_error_deg"] is None


@pytest.mark.parametrize("field", ["validation_error_deg", "drift_error_deg"])
@pytest.mark.parametrize("value", [-0.1, 90.01, 1e9, "NaN", "Infinity", "-Infinity", "abc", [1.0]])
def test_accuracy_out_of_bounds_is_refused(sequence, bob, client_for, field, value):
    # Raw JSON so that NaN and Infinity arrive as the literals a careless client would send.
    raw = json.dumps({"source": "webcam", "playback_fps": 8.0, field: value})
    if value in ("NaN", "Infinity", "-Infinity"):
        raw = raw.replace(f'"{value}"', value)
    response = client_for(bob).post(_start_url(sequence), raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Recording.objects.exists()


@pytest.mark.parametrize("field", ["validation_error_deg", "drift_error_deg"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, MAX_VALIDATION_ERROR_DEG + 1])
def test_the_service_refuses_what_the_api_would(sequence, bob, field, value):
    with pytest.raises(Exception, match=field):
        services.recording_start(observer=bob, sequence=sequence, **{field: value})
    assert not Recording.objects.exists()


@pytest.mark.parametrize("field", ["validation_error_deg", "drift_error_deg"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 90.5, -0.5])
def test_the_database_keeps_accuracy_bounded(sequence, bob, field, value):
    """Past every check, the constraint still refuses it (SQLite stores a NaN as NULL)."""
    try:
        with transaction.atomic():
            recording = Recording.objects.create(observer=bob, sequence=sequence, playback_fps=10.0, **{field: value})
    except IntegrityError:
        return
    recording.refresh_from_db()
    assert getattr(recording, field) is None, getattr(recording, field)


def test_the_bounds_are_inclusive(sequence, bob):
    recording, _ = services.recording_start(observer=bob, sequence=sequence, playback_fps=8.0,
                                            validation_error_deg=0.0, drift_error_deg=MAX_VALIDATION_ERROR_DEG)
    recording.refresh_from_db()
    assert (recording.validation_error_deg, recording.drift_error_deg) == (0.0, 90.0)


def test_the_accuracy_the_pooling_reads(sequence, bob):
    from annotation import selectors

    def rec(**fields):
        return Recording(observer=bob, sequence=sequence, playback_fps=8.0, **fields)

    assert selectors.recording_accuracy_deg(rec()) is None
    assert selectors.recording_accuracy_deg(rec(calibration_error_deg=1.5)) == 1.5  # tracker files, older pages
    assert selectors.recording_accuracy_deg(rec(calibration_error_deg=1.5, validation_error_deg=2.0)) == 2.0
    assert selectors.recording_accuracy_deg(rec(validation_error_deg=2.0, drift_error_deg=4.0)) == 4.0
    assert selectors.recording_accuracy_deg(rec(validation_error_deg=2.0, drift_error_deg=0.5)) == 2.0
