"""Role checks for pages and the API, on top of the permission-scoped selectors.

Who may do what (a non-member gets 404 for everything of a study, so it cannot learn the study
exists; a member whose role does not allow an action gets 403):

=====================================  ===========  ==========  ==========================
action                                 coordinator  researcher  observer
=====================================  ===========  ==========  ==========================
read study, its status                 yes          yes         yes (status: no)
change / delete study                  yes          no          no
list / read sequences, frames          all          all         assigned sequences only
upload sequences, attach masks         yes          no          no
read reference masks                   yes          yes         no
members, assignments: read             all          all         own membership/assignments
members, invitations, assignments: ws  yes          no          no
recordings: read, gaze download        all          all         own only
recordings: start, send gaze, finish   no           no          own, on assigned sequences
import a tracker file                  any observer no          own
=====================================  ===========  ==========  ==========================
"""

from __future__ import annotations

from . import selectors
from .models import StudyMembership

Role = StudyMembership.Role
ANY = tuple(Role.values)
COORDINATOR = (Role.COORDINATOR,)
READERS = (Role.COORDINATOR, Role.RESEARCHER)
OBSERVER = (Role.OBSERVER,)


# The selectors raise NotFound (an Http404) and Forbidden (a PermissionDenied): pages and API
# views alike answer 404 / 403 with their message, so nothing here translates them.


def study_for(request, study_id: int, roles=ANY):
    """(study, role) for the request's user, or 404 / 403. For pages and API views alike."""
    return selectors.study_get_for_user(user=request.user, study_id=study_id, roles=roles)


def sequence_for(request, study_id: int, sequence_id: int, roles=ANY):
    """(sequence, role) for the request's user (observers: assigned sequences), or 404 / 403."""
    return selectors.sequence_get_for_user(
        user=request.user, study_id=study_id, sequence_id=sequence_id, roles=roles
    )
