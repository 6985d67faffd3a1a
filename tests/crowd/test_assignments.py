"""The observer x sequence matrix saved in one go (the members page), and invitation states."""

from datetime import timedelta

from django.utils import timezone

from crowd import services
from crowd.models import Assignment, StudyMembership

from .fixtures import frames_array, write_images_zip

Role = StudyMembership.Role


def _pairs(study):
    return set(Assignment.objects.filter(sequence__study=study).values_list("observer_id", "sequence_id"))


def test_the_matrix_becomes_what_is_ticked(study, sequence, bob, charlie, tmp_path):
    services.membership_set(study=study, user=charlie, role=Role.OBSERVER)
    other = services.sequence_import(study=study, path=write_images_zip(tmp_path / "b.zip", frames_array()),
                                     name="other")
    # Bob was assigned `sequence`; the coordinator ticks Charlie x other only.
    added, removed = services.assignments_set(study=study, wanted={(charlie.pk, other.pk)})
    assert (added, removed) == (1, 1)
    assert _pairs(study) == {(charlie.pk, other.pk)}


def test_assign_all_only_adds(study, sequence, bob, charlie):
    services.membership_set(study=study, user=charlie, role=Role.OBSERVER)
    added, removed = services.assignments_set(study=study, every=True)
    assert (added, removed) == (1, 0)
    assert _pairs(study) == {(bob.pk, sequence.pk), (charlie.pk, sequence.pk)}


def test_a_former_observer_keeps_their_assignments(study, sequence, bob):
    services.membership_set(study=study, user=bob, role=Role.RESEARCHER)
    assert services.assignments_set(study=study, wanted=set()) == (0, 0)
    assert _pairs(study) == {(bob.pk, sequence.pk)}


def test_an_invitation_is_open_until_used_revoked_or_expired(study, charlie):
    invitation = services.invitation_create(study=study, role=Role.OBSERVER)
    assert invitation.state() == "open"
    assert invitation.state(now=invitation.expires_at) == "expired"
    services.invitation_accept(token=invitation.token, user=charlie)
    invitation.refresh_from_db()
    assert invitation.state() == "used"
    other = services.invitation_create(study=study, role=Role.OBSERVER, valid_for=timedelta(days=1))
    services.invitation_revoke(invitation=other)
    assert other.state(now=timezone.now()) == "revoked"


def test_an_unknown_user_is_a_400_naming_them(study, alice, client_for):
    for url, body in ((f"/api/studies/{study.pk}/members/", {"username": "nobody", "role": "observer"}),
                      (f"/api/studies/{study.pk}/assignments/", {"observer": "nobody"})):
        response = client_for(alice).post(url, body, format="json")
        assert response.status_code == 400
        assert response.json() == {"detail": "no user 'nobody'"}
