"""Invitations are single-use and expire; accepting one creates the membership."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crowd import services
from crowd.models import StudyMembership


def _invite(client, study, role="observer"):
    response = client.post(f"/api/studies/{study.pk}/invitations/", {"role": role}, format="json")
    assert response.status_code == 201
    return response.json()["token"]


def test_accepting_creates_the_membership_once(study, alice, charlie, client_for, db):
    token = _invite(client_for(alice), study, "researcher")
    response = client_for(charlie).post(f"/api/invitations/{token}/accept/")
    assert response.status_code == 201 and response.json()["role"] == "researcher"
    assert StudyMembership.objects.get(study=study, user=charlie).role == "researcher"
    dave = services.user_get_or_create(username="dave")
    again = client_for(dave).post(f"/api/invitations/{token}/accept/")
    assert again.status_code == 400 and "already been used" in again.json()["detail"]
    assert not StudyMembership.objects.filter(user=dave).exists()


def test_expired_and_revoked_invitations_are_refused(study, alice, charlie, client_for):
    expired = services.invitation_create(study=study, role="observer", valid_for=timedelta(seconds=-1))
    response = client_for(charlie).post(f"/api/invitations/{expired.token}/accept/")
    assert response.status_code == 400 and "expired" in response.json()["detail"]
    revoked = services.invitation_create(study=study, role="observer")
    assert client_for(alice).delete(f"/api/studies/{study.pk}/invitations/{revoked.pk}/").status_code == 204
    response = client_for(charlie).post(f"/api/invitations/{revoked.token}/accept/")
    assert response.status_code == 400 and "revoked" in response.json()["detail"]
    assert client_for(charlie).post("/api/invitations/nonsense/accept/").status_code == 400
    assert not StudyMembership.objects.filter(user=charlie).exists()


def test_a_member_keeps_the_role_they_have(study, bob):
    invitation = services.invitation_create(study=study, role="coordinator")
    membership = services.invitation_accept(token=invitation.token, user=bob)
    assert membership.role == "observer"
    invitation.refresh_from_db()
    assert invitation.accepted_by == bob and invitation.accepted_at <= timezone.now()


def test_the_last_coordinator_cannot_leave(study, alice, client_for):
    mine = StudyMembership.objects.get(study=study, user=alice)
    response = client_for(alice).delete(f"/api/studies/{study.pk}/members/{mine.pk}/")
    assert response.status_code == 400 and "at least one coordinator" in response.json()["detail"]
    with pytest.raises(Exception, match="at least one coordinator"):
        services.membership_set(study=study, user=alice, role="observer")
