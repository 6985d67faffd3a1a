"""Study numbers out of range are a 400 naming the field, never a database error."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("field", ["quorum", "repeats_per_observer"])
def test_huge_study_numbers_are_refused(client_for, alice, field):
    response = client_for(alice).post("/api/studies/", {"name": "big", field: 2**65}, format="json")
    assert response.status_code == 400
    assert field in response.json()
