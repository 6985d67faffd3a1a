"""The members page: add an existing user, change a role, remove a member, bulk invitations,
and the audit trail the services write (docs/crowd.md, "Members")."""

from __future__ import annotations

import pytest
from django.test import Client

from crowd import services
from crowd.models import Invitation, MemberEvent, StudyMembership

Role = StudyMembership.Role
Action = MemberEvent.Action


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _actions(study) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor_name, e.subject_name)
            for e in MemberEvent.objects.filter(study=study).order_by("id")]


def test_add_by_username_and_by_email_then_refuse_an_existing_member(study, alice, charlie):
    web = _web(alice)
    response = web.post(f"/studies/{study.pk}/members/add/", {"identifier": "charlie", "role": "researcher"},
                        follow=True)
    assert "charlie added as researcher." in _messages(response)
    assert StudyMembership.objects.get(study=study, user=charlie).role == Role.RESEARCHER
    dora = services.user_get_or_create(username="dora", email="Dora@Example.org")
    web.post(f"/studies/{study.pk}/members/add/", {"identifier": "dora@example.org", "role": "observer"})
    assert StudyMembership.objects.get(study=study, user=dora).role == Role.OBSERVER
    # Adding a member again does not silently change their role.
    response = web.post(f"/studies/{study.pk}/members/add/", {"identifier": "dora", "role": "coordinator"},
                        follow=True)
    assert any("already a member of this study, as observer" in m for m in _messages(response))
    assert StudyMembership.objects.get(study=study, user=dora).role == Role.OBSERVER
    response = web.post(f"/studies/{study.pk}/members/add/", {"identifier": "nobody@x.org", "role": "observer"},
                        follow=True)
    assert any("no account with the username or e-mail address 'nobody@x.org'" in m for m in _messages(response))
    assert _actions(study)[-2:] == [("member_added", "alice", "charlie"), ("member_added", "alice", "dora")]


def test_an_email_shared_by_two_accounts_asks_for_the_username(study, alice):
    services.user_get_or_create(username="e1", email="same@example.org")
    services.user_get_or_create(username="e2", email="same@example.org")
    response = _web(alice).post(f"/studies/{study.pk}/members/add/",
                                {"identifier": "same@example.org", "role": "observer"}, follow=True)
    assert any("several accounts use same@example.org" in m for m in _messages(response))


def test_change_a_role_and_the_last_coordinator_keeps_hers(study, alice, bob):
    web = _web(alice)
    bob_m = StudyMembership.objects.get(study=study, user=bob)
    web.post(f"/studies/{study.pk}/members/{bob_m.pk}/role/", {"role": "researcher"})
    bob_m.refresh_from_db()
    assert bob_m.role == Role.RESEARCHER
    event = MemberEvent.objects.filter(study=study, action=Action.ROLE_CHANGED).get()
    assert (event.actor, event.subject, event.previous_role, event.role) == (alice, bob, "observer", "researcher")
    alice_m = StudyMembership.objects.get(study=study, user=alice)
    response = web.post(f"/studies/{study.pk}/members/{alice_m.pk}/role/", {"role": "observer"}, follow=True)
    assert any("keeps at least one coordinator" in m for m in _messages(response))
    response = web.post(f"/studies/{study.pk}/members/{alice_m.pk}/remove/", follow=True)
    assert any("keeps at least one coordinator" in m for m in _messages(response))
    alice_m.refresh_from_db()
    assert alice_m.role == Role.COORDINATOR
    # Refused changes leave no line in the trail.
    assert not MemberEvent.objects.filter(study=study, subject=alice).exclude(action=Action.MEMBER_ADDED).exists()


def test_a_removed_member_is_refused_on_their_next_request(study, alice, bob):
    bob_web = _web(bob)  # an observer: the study through the API (the dashboard is not his)
    assert bob_web.get(f"/api/studies/{study.pk}/").status_code == 200
    bob_m = StudyMembership.objects.get(study=study, user=bob)
    response = _web(alice).post(f"/studies/{study.pk}/members/{bob_m.pk}/remove/", follow=True)
    assert "bob removed from the study; their recordings stay." in _messages(response)
    assert bob_web.get(f"/api/studies/{study.pk}/").status_code == 404  # same session, next request
    assert bob_web.get("/assignments/").content.decode().count("Polyps") == 0
    event = MemberEvent.objects.get(study=study, action=Action.MEMBER_REMOVED)
    assert (event.actor_name, event.subject_name, event.previous_role) == ("alice", "bob", "observer")


def test_only_coordinators_manage_members(study, alice, bob, carol):
    alice_m = StudyMembership.objects.get(study=study, user=alice)
    for user in (bob, carol):
        web = _web(user)
        assert web.post(f"/studies/{study.pk}/members/{alice_m.pk}/remove/").status_code == 403
        assert web.post(f"/studies/{study.pk}/members/add/", {"identifier": "charlie", "role": "observer"}
                        ).status_code == 403
        assert web.post(f"/studies/{study.pk}/invitations/bulk/", {"role": "observer", "emails": "a@b.org"}
                        ).status_code == 403
    assert StudyMembership.objects.filter(study=study).count() == 3


def test_bulk_invitations_report_every_line_not_invited(study, alice, carol):
    carol.email = "carol@example.org"
    carol.save()
    services.invitation_create(study=study, role="observer", email="open@example.org", created_by=alice)
    text = "\n".join([
        "ann@example.org",        # 1 new
        "",                       # 2 blank, skipped
        "not an address",         # 3 invalid
        "ANN@example.org",        # 4 duplicate of line 1 (any case)
        "carol@example.org",      # 5 already a member
        "open@example.org",       # 6 already invited
        "ben@example.org,",       # 7 new (a trailing comma from a spreadsheet)
    ])
    response = _web(alice).post(f"/studies/{study.pk}/invitations/bulk/", {"role": "observer", "emails": text},
                                follow=True)
    messages = _messages(response)
    assert "2 invitation links created." in messages
    assert ("4 lines not invited: line 3: “not an address” is not an e-mail address; "
            "line 4: ANN@example.org is already on line 1; line 5: carol@example.org is already a member "
            "(carol); line 6: open@example.org already has an open invitation.") in messages
    emails = sorted(Invitation.objects.filter(study=study).values_list("email", flat=True))
    assert emails == ["ann@example.org", "ben@example.org", "open@example.org"]
    created = [e.subject_name for e in MemberEvent.objects.filter(study=study, action=Action.INVITATION_CREATED)]
    assert sorted(created) == emails
    # The links are listed on the page for the coordinator to copy.
    page = _web(alice).get(f"/studies/{study.pk}/members/").content.decode()
    assert page.count("data-invite-link") == 3


def test_bulk_invitations_are_capped_and_create_nothing_over_the_cap(study, alice):
    cap = services.MAX_BULK_INVITATIONS
    text = "\n".join(f"p{i}@example.org" for i in range(cap + 1))
    response = _web(alice).post(f"/studies/{study.pk}/invitations/bulk/", {"role": "observer", "emails": text},
                                follow=True)
    assert any(f"the list has {cap + 1} addresses; invite at most {cap} at a time" in m
               for m in _messages(response))
    assert not Invitation.objects.filter(study=study).exists()
    result = services.invitations_create_bulk(study=study, role="observer",
                                              text="\n".join(f"p{i}@example.org" for i in range(cap)))
    assert len(result.created) == cap


def test_the_audit_trail_records_invitations_created_accepted_revoked(study, alice, charlie, client_for):
    link = services.invitation_create(study=study, role="researcher", created_by=alice)
    services.invitation_accept(token=link.token, user=charlie)
    other = services.invitation_create(study=study, role="observer", email="x@example.org", created_by=alice)
    services.invitation_revoke(invitation=other, actor=alice)
    services.invitation_revoke(invitation=other, actor=alice)  # twice: one line
    trail = _actions(study)[-4:]
    assert trail == [("invitation_created", "alice", ""), ("invitation_accepted", "charlie", "charlie"),
                     ("invitation_created", "alice", "x@example.org"),
                     ("invitation_revoked", "alice", "x@example.org")]
    # Accepting creates the membership once: no second "member_added" line for it.
    assert not MemberEvent.objects.filter(study=study, subject=charlie, action=Action.MEMBER_ADDED).exists()


def test_the_api_lists_the_trail_to_coordinators_only(study, alice, bob, carol, charlie, client_for):
    api = client_for(alice)
    bob_m = StudyMembership.objects.get(study=study, user=bob)
    assert api.patch(f"/api/studies/{study.pk}/members/{bob_m.pk}/", {"role": "researcher"},
                     format="json").status_code == 200
    assert api.delete(f"/api/studies/{study.pk}/members/{bob_m.pk}/").status_code == 204
    rows = api.get(f"/api/studies/{study.pk}/audit/").json()["results"]
    assert [(r["action"], r["actor_name"], r["subject_name"], r["previous_role"], r["role"]) for r in rows[:2]] == [
        ("member_removed", "alice", "bob", "researcher", ""),
        ("role_changed", "alice", "bob", "observer", "researcher"),
    ]
    assert rows[-1]["action"] == "member_added" and rows[-1]["subject_name"] == "alice"  # the creator
    assert client_for(carol).get(f"/api/studies/{study.pk}/audit/").status_code == 403
    assert client_for(charlie).get(f"/api/studies/{study.pk}/audit/").status_code == 404


def test_the_members_page_shows_the_trail_to_coordinators_only(study, alice, carol):
    services.invitation_create(study=study, role="observer", email="z@example.org", created_by=alice)
    page = _web(alice).get(f"/studies/{study.pk}/members/").content.decode()
    assert 'id="audit-trail"' in page and "invitation created" in page and "z@example.org" in page
    page = _web(carol).get(f"/studies/{study.pk}/members/").content.decode()
    assert 'id="audit-trail"' not in page and "z@example.org" not in page


@pytest.mark.parametrize("line", ["a" * 250 + "@x.org", "two@at@x.org"])
def test_bulk_invitations_refuse_what_an_invitation_cannot_hold(study, alice, line):
    result = services.invitations_create_bulk(study=study, role="observer", text=line, created_by=alice)
    assert result.created == [] and [n for n, _, _ in result.invalid] == [1]
