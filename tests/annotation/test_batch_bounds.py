"""Gaze batches from outside are bounded where they enter, and progress never counts in Python.

Bob streams his recording. A careless or hostile client sends batch numbers in the billions,
integers of 2**63, strings and booleans for coordinates, 1e308 for a time, a finish that
claims ten million batches: each is a 400 naming the field, nothing is stored, and the
recording's progress is computed by the database (a far batch number costs nothing).
"""

import tracemalloc

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import selectors, services
from annotation.models import GazeBatch, Recording

LAST = 99_999  # the last batch number a recording takes (MAX_BATCHES - 1)
ONE = [[0.0, 0, 1.0, 2.0]]


@pytest.fixture
def recording(sequence, bob):
    recording, _ = services.recording_start(observer=bob, sequence=sequence)
    return recording


def _post(client, recording, body):
    return client.post(f"/api/recordings/{recording.pk}/batches/", body, format="json")


@pytest.mark.parametrize("number", [2**31, 2**63, 10**30, LAST + 1, -1, 1.5, "3", True, None])
def test_a_batch_number_outside_the_protocol_is_refused(recording, bob, client_for, number):
    response = _post(client_for(bob), recording, {"batch": number, "samples": ONE})
    assert response.status_code == 400, response.content
    assert "batch" in response.json()
    assert not GazeBatch.objects.filter(recording=recording).exists()


def test_the_last_batch_number_is_accepted(recording, bob, client_for):
    assert _post(client_for(bob), recording, {"batch": LAST, "samples": ONE}).status_code == 201


@pytest.mark.parametrize(
    "row, message",
    [
        (["0", 0, 1.0, 2.0], "t_ms must be a finite number"),
        ([0.0, 0, "1.0", 2.0], "x must be a number or null"),
        ([0.0, 0, True, 2.0], "x must be a number or null"),
        ([True, 0, 1.0, 2.0], "t_ms must be a finite number"),
        ([0.0, False, 1.0, 2.0], "frame must be a whole number"),
        ([0.0, "0", 1.0, 2.0], "frame must be a whole number"),
        ([1e308, 0, 1.0, 2.0], "t_ms"),
        ([0.0, 0, 1e308, 2.0], "x, y"),
        ([0.0, 0, 1.0, -1e308], "x, y"),
        ([0.0, 2**63, 1.0, 2.0], "not a frame of this sequence"),
        ([0.0, 0, 10**400, 2.0], "too large"),
        ([0.0, 0, {"x": 1}, 2.0], "x must be a number or null"),
        ({"t": 0}, "rows of 4 values"),
    ],
)
def test_samples_take_bounded_json_numbers_only(recording, bob, client_for, row, message):
    response = _post(client_for(bob), recording, {"batch": 0, "samples": [row]})
    assert response.status_code == 400, response.content
    assert message in response.json()["samples"]
    assert not GazeBatch.objects.filter(recording=recording).exists()


def test_a_batch_holds_at_most_ten_thousand_samples(recording, bob, client_for):
    rows = [[float(k), 0, 1.0, 2.0] for k in range(10_001)]
    response = _post(client_for(bob), recording, {"batch": 0, "samples": rows})
    assert response.status_code == 400 and "at most 10000 samples" in response.json()["samples"]
    assert _post(client_for(bob), recording, {"batch": 0, "samples": rows[:10_000]}).status_code == 201


@pytest.mark.parametrize("expected", [10**7, 10**9, 2**63, LAST + 2, 0, -1, "many", True])
def test_finishing_with_an_impossible_batch_count_is_a_400(recording, bob, client_for, expected):
    _post(client_for(bob), recording, {"batch": 0, "samples": ONE})
    response = client_for(bob).post(f"/api/recordings/{recording.pk}/finish/", {"expected_batches": expected},
                                    format="json")
    assert response.status_code == 400, response.content[:500]
    assert "expected_batches" in response.json()
    recording.refresh_from_db()
    assert recording.status == Recording.Status.RECORDING


def test_a_refused_finish_counts_every_missing_batch_but_lists_a_thousand(recording, bob, client_for):
    """Bob claims the most batches a recording may have and sent one: 99,999 are missing."""
    _post(client_for(bob), recording, {"batch": 7, "samples": ONE})
    response = client_for(bob).post(f"/api/recordings/{recording.pk}/finish/",
                                    {"expected_batches": LAST + 1}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["n_missing"] == LAST
    assert body["missing"][:8] == [0, 1, 2, 3, 4, 5, 6, 8] and len(body["missing"]) == 1000
    assert len(response.content) < 20_000  # the 409 carries 1,000 numbers, not 99,999


def test_progress_is_counted_by_the_database(recording, bob, client_for):
    """Batches 0..4, 9 and the last one stored: the gaps are found without building a range."""
    for number in (0, 1, 2, 3, 4, 9, LAST):
        services.gaze_batch_store(recording_id=recording.pk, number=number, samples=np.array(ONE))
    tracemalloc.start()
    with CaptureQueriesContext(connection) as queries:
        counts = selectors.recording_counts(recording)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert counts["batches"] == 7 and counts["samples"] == 7 and counts["lost"] == 0
    assert counts["batches_missing"] == LAST + 1 - 7
    assert counts["batch_numbers_missing"][:6] == [5, 6, 7, 8, 10, 11]
    assert len(counts["batch_numbers_missing"]) == 1000
    # Building set(range(100_000)) alone would take several megabytes.
    assert peak < 1_000_000, f"{peak} bytes traced"
    assert len(queries) <= 4
    page = client_for(bob).get(f"/api/recordings/{recording.pk}/progress/")
    assert page.status_code == 200 and page.json()["batches_missing"] == LAST + 1 - 7


def test_gaps_are_listed_in_order_up_to_the_limit(recording):
    for number in (3, 4, 8):
        services.gaze_batch_store(recording_id=recording.pk, number=number, samples=np.array(ONE))
    assert services.recording_batch_gaps(recording, 12) == (9, [0, 1, 2, 5, 6, 7, 9, 10, 11])
    assert services.recording_batch_gaps(recording, 12, listed=4) == (9, [0, 1, 2, 5])
    assert services.recording_batch_gaps(recording, 5) == (3, [0, 1, 2])
    assert services.recording_batch_gaps(recording, 0) == (0, [])
    assert services.recording_batch_gaps(recording.pk + 1000, 3) == (3, [0, 1, 2])


@pytest.mark.parametrize(
    "field, value",
    [("repeat", 2**63), ("repeat", 1001), ("screen_width_px", 2**63), ("screen_height_px", 100_001),
     ("screen_width_cm", 1e300), ("viewing_distance_cm", 1e6), ("sampling_rate_hz", 1e5),
     ("calibration_error_deg", 1e9), ("playback_fps", 1e308), ("image_rect", [0, 0, 1e300, 10])],
)
def test_recording_numbers_are_bounded(sequence, bob, client_for, field, value):
    url = f"/api/studies/{sequence.study_id}/sequences/{sequence.pk}/recordings/"
    response = client_for(bob).post(url, {field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Recording.objects.exists()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e308])
def test_the_database_never_stores_a_non_finite_or_huge_rate(sequence, bob, value):
    """A bug that skipped every check above would still not store it (SQLite keeps a NaN as NULL)."""
    from django.db import IntegrityError, transaction

    try:
        with transaction.atomic():
            recording = Recording.objects.create(observer=bob, sequence=sequence, playback_fps=10.0,
                                                 sampling_rate_hz=value)
    except IntegrityError:
        pass
    else:
        recording.refresh_from_db()
        assert recording.sampling_rate_hz is None, recording.sampling_rate_hz
    with pytest.raises(IntegrityError), transaction.atomic():
        Recording.objects.create(observer=bob, sequence=sequence, playback_fps=value)
