"""The batch endpoint under hypothesis-built JSON: never a 5xx, and an oracle decides the rest.

Bob's client goes haywire and posts anything JSON can say (and some things it cannot:
``NaN``, ``Infinity``, ``1e400``, integers of hundreds of digits), from random values to
almost-valid batches with one field wrong. A small, obviously correct reference validator
(:func:`acceptable`) says whether each body is a valid batch. The endpoint must agree: a
valid body is stored (201), acknowledged as a retry (200) or refused as a conflict with a
stored batch of the same number (409); any other body is a 400 with a message and stores
nothing. Nothing is ever a 5xx.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from annotation import samples as packed
from annotation import services
from annotation.models import GazeBatch

N_FRAMES = 6  # the sequence fixture's
LAST = 99_999

numbers = st.one_of(
    st.integers(-10, 10), st.integers(-(2**70), 2**70), st.integers(LAST - 2, LAST + 2),
    st.floats(allow_nan=False, allow_infinity=False), st.floats(-50, 50),
    st.sampled_from([1e308, -1e308, 1e12, 1e12 + 1, 1e7, 1e7 + 1, 0.5, 5.0, 6.0, -0.0]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12)
rows = st.one_of(
    st.lists(st.one_of(numbers, st.none()), min_size=4, max_size=4),
    st.tuples(st.floats(0, 1000), st.integers(0, N_FRAMES - 1), st.floats(-5, 40), st.floats(-5, 30)).map(list),
    st.lists(scalars, min_size=0, max_size=6),
    json_values,
)
lost_or_point = st.one_of(st.just((None, None)), st.tuples(st.floats(-40, 60), st.floats(-40, 60)))
valid_rows = st.lists(
    st.tuples(st.floats(-1e6, 1e6), st.integers(0, N_FRAMES - 1), lost_or_point).map(lambda r: [r[0], r[1], *r[2]]),
    min_size=1, max_size=8)
valid_batches = st.fixed_dictionaries({"batch": st.one_of(st.integers(0, 30), st.integers(0, LAST)), "samples": valid_rows})


@st.composite
def near_valid(draw):
    """A valid batch with one thing changed: the number, a row, or one value."""
    body = draw(valid_batches)
    where = draw(st.sampled_from(["batch", "row", "value", "value"]))
    rows_ = body["samples"]
    if where == "batch":
        body["batch"] = draw(st.one_of(numbers, scalars))
    elif where == "row":
        rows_[draw(st.integers(0, len(rows_) - 1))] = draw(rows)
    else:
        row = rows_[draw(st.integers(0, len(rows_) - 1))]
        row[draw(st.integers(0, 3))] = draw(st.one_of(numbers, scalars))
    return body


batches = st.fixed_dictionaries(
    {"batch": st.one_of(st.integers(0, 20), numbers, scalars), "samples": st.one_of(st.lists(rows, max_size=6),
                                                                                   json_values)},
    optional={"extra": json_values},
)
# Text no JSON encoder writes: non-finite constants and numbers beyond a float.
raw = st.sampled_from([
    '{"batch": 0, "samples": [[NaN, 0, 1, 2]]}', '{"batch": 0, "samples": [[0, 0, Infinity, 2]]}',
    '{"batch": 1e400, "samples": [[0, 0, 1, 2]]}', '{"batch": 0, "samples": [[0, 0, 1e400, 2]]}',
    '{"batch": ' + "9" * 400 + ', "samples": [[0, 0, 1, 2]]}', '{"batch": 0, "samples": [[0, 0, 1, -Infinity]]}',
    '{"batch": 0, "samples": [[0, 0, 1, 2]]', "[" * 50_000, "", "null", '"batch"', "{}",
])


def _number(v) -> bool:
    return type(v) in (int, float)


def acceptable(body) -> bool:
    """The reference: is ``body`` a valid batch for a sequence of N_FRAMES frames?"""
    if not isinstance(body, dict) or type(body.get("batch")) is not int or not 0 <= body["batch"] <= LAST:
        return False
    rows = body.get("samples")
    if not isinstance(rows, list) or not 1 <= len(rows) <= 10_000:
        return False
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            return False
        t, frame, x, y = row
        if not (_number(t) and math.isfinite(float(t)) and abs(t) <= 1e12):
            return False
        if not (_number(frame) and float(frame).is_integer() and 0 <= frame < N_FRAMES):
            return False
        if (x is None) != (y is None):
            return False
        for v in (x, y):
            if v is not None and not (_number(v) and abs(v) <= 1e7):
                return False
    return True


@pytest.fixture
def recording(sequence, bob):
    recording, _ = services.recording_start(observer=bob, sequence=sequence)
    return recording


def _check(response, body, recording, before):
    assert response.status_code < 500, (body, response.content[:300])
    if body is not None and acceptable(body):
        assert response.status_code in (200, 201, 409), (body, response.status_code, response.content[:300])
        if response.status_code == 201:
            stored = GazeBatch.objects.get(recording=recording, number=body["batch"])
            expected = np.array([[np.nan if v is None else float(v) for v in row] for row in body["samples"]])
            np.testing.assert_array_equal(packed.unpack(stored.samples), expected)
    else:
        assert response.status_code == 400, (body, response.status_code, response.content[:300])
        assert response.json(), "a 400 says what was wrong"
        assert GazeBatch.objects.filter(recording=recording).count() == before


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(valid_batches, near_valid(), batches, json_values))
def test_any_json_body_is_stored_exactly_when_valid(recording, bob, client_for, body):
    before = GazeBatch.objects.filter(recording=recording).count()
    text = json.dumps(body)
    response = client_for(bob).post(f"/api/recordings/{recording.pk}/batches/", text,
                                    content_type="application/json")
    _check(response, body, recording, before)
    event(f"status {response.status_code}")


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=raw)
def test_text_no_encoder_writes_is_a_400(recording, bob, client_for, text):
    before = GazeBatch.objects.filter(recording=recording).count()
    response = client_for(bob).post(f"/api/recordings/{recording.pk}/batches/", text,
                                    content_type="application/json")
    _check(response, None, recording, before)
