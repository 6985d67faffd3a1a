"""HTML pages of the crowd app: studies, sequence uploads, members, invitations, assignments.

Views are thin: they check the user's role through :mod:`crowd.selectors`, call one service of
:mod:`crowd.services` and render or redirect. Pages that also need recordings or runs live in
the apps above (``annotation.views``, ``segmentation.views``); the study dashboard is
``segmentation.views.study_dashboard``. URL names are in the ``web`` namespace
(:mod:`crowd.web_urls`).
"""

from __future__ import annotations

import re
from contextlib import nullcontext

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .models import (
    MAX_FRAME_RATE,
    MAX_QUORUM,
    MAX_REPEATS,
    Study,
    StudyMembership,
    validate_name,
)
from .permissions import COORDINATOR, READERS, sequence_for, study_for

Role = StudyMembership.Role


# --- helpers shared with annotation.views and segmentation.views ------------------------------


def wants_json(request: HttpRequest) -> bool:
    """True for the pages' own XHR/fetch calls (they send ``X-Requested-With``)."""
    return request.headers.get("x-requested-with") == "XMLHttpRequest"


def error_text(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


def form_errors_text(form: forms.Form) -> str:
    parts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        parts.append(f"{label or field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors))
    return "; ".join(parts)


# --- home -------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The studies the user is a member of, with their role in each."""
    studies = list(selectors.studies_for_user(user=request.user))
    return render(request, "crowd/home.html", {"studies": studies})


# --- studies ------------------------------------------------------------------------------------


class StudyForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[validate_name])
    target_structure = forms.CharField(
        max_length=200, required=False, help_text="What observers look at, e.g. 'whole tumour'.",
        validators=[validate_name],
    )
    instructions = forms.CharField(
        widget=forms.Textarea, required=False,
        help_text="Shown to observers before each recording.",
    )
    frame_rate = forms.FloatField(
        required=False, min_value=0.1, max_value=MAX_FRAME_RATE, label="Playback frame rate (frames/s)",
        help_text="Empty: each video's own rate (10 frames/s for image series and volumes).",
    )
    quorum = forms.IntegerField(
        min_value=1, max_value=MAX_QUORUM, initial=5, label="Quorum",
        help_text="Finished recordings per sequence after which a run starts by itself.",
    )
    repeats_per_observer = forms.IntegerField(
        min_value=1, max_value=MAX_REPEATS, initial=1, label="Repeats per observer",
        help_text="How many times each observer records each sequence.",
    )
    status = forms.ChoiceField(choices=Study.Status.choices, initial=Study.Status.ACTIVE)
    kind = forms.ChoiceField(
        choices=Study.Kind.choices, initial=Study.Kind.SEQUENCE, label="Kind",
        help_text="Sequences are played to observers; an image collection is labelled image by "
                  "image (boxes, outlines or gaze). Fixed once the study exists.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def study_create(request: HttpRequest) -> HttpResponse:
    """Anyone logged in may create a study; they become its coordinator."""
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study = services.study_create(created_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, f"Study “{study.name}” created. Upload its sequences next.")
            return redirect("web:sequence-upload", study_id=study.pk)
    return render(request, "crowd/study_form.html", {"form": form, "study": None})


@login_required
@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, study_id: int) -> HttpResponse:
    study, _ = study_for(request, study_id, COORDINATOR)
    initial = {name: getattr(study, name) for name in services.STUDY_EDITABLE}
    form = StudyForm(request.POST or None, initial=initial)
    del form.fields["kind"]  # a study's kind never changes
    if request.method == "POST" and form.is_valid():
        try:
            services.study_update(study=study, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, "Study saved.")
            return redirect("web:study", study_id=study.pk)
    return render(request, "crowd/study_form.html", {"form": form, "study": study})


# --- sequences ----------------------------------------------------------------------------------


class SequenceUploadForm(forms.Form):
    file = forms.FileField(
        label="Sequence file",
        help_text="A zip of images or of a DICOM series, a video (mp4, avi...), or a NIfTI volume (.nii, .nii.gz).",
    )
    name = forms.CharField(max_length=200, required=False, help_text="Default: the file name.",
                           validators=[validate_name])
    truth = forms.FileField(
        required=False, label="Reference masks (optional)",
        help_text="Same forms as the sequence; a zip of mask images is matched to frames by the number in each name.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def sequence_upload(request: HttpRequest, study_id: int) -> HttpResponse:
    """Upload a sequence (the page sends it by XHR to show progress; plain POST works too)."""
    study, _ = study_for(request, study_id, COORDINATOR)
    form = SequenceUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        error, status = None, 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                truth_upload = services.uploaded_path(data["truth"]) if data["truth"] else nullcontext(None)
                with services.uploaded_path(data["file"]) as path, truth_upload as truth:
                    sequence = services.sequence_import(
                        study=study, path=path, name=data["name"] or None,
                        source_name=data["file"].name, truth=truth,
                    )
            except services.UploadTooLarge as exc:
                error, status = error_text(exc), 413
            except ValidationError as exc:
                error = error_text(exc)
        else:
            error = form_errors_text(form)
        if error is None:
            text = (f"Sequence “{sequence.name}” imported: {sequence.n_frames} frames of "
                    f"{sequence.width}x{sequence.height} pixels.")
            messages.success(request, text)  # shown on the page the client goes to next
            if wants_json(request):
                return JsonResponse({"ok": True, "message": text, "sequence": sequence.pk,
                                     "redirect": reverse("web:study", args=[study.pk])}, status=201)
            return redirect("web:study", study_id=study.pk)
        if wants_json(request):
            return JsonResponse({"ok": False, "error": error}, status=status)
        return render(request, "crowd/sequence_upload.html",
                      {"study": study, "form": form, "error": error,
                       "max_mb": services.max_upload_bytes() // 2**20}, status=status)
    return render(request, "crowd/sequence_upload.html", {
        "study": study, "form": form, "max_mb": services.max_upload_bytes() // 2**20,
        "sequences": selectors.sequences_for_user(user=request.user, study=study, role=Role.COORDINATOR),
    })


@login_required
@require_POST
def sequence_delete(request: HttpRequest, study_id: int, sequence_id: int) -> HttpResponse:
    sequence, _ = sequence_for(request, study_id, sequence_id, COORDINATOR)
    name = sequence.name
    services.sequence_delete(sequence=sequence)
    messages.success(request, f"Sequence “{name}” deleted with its recordings.")
    return redirect("web:study", study_id=study_id)


# --- members, invitations, assignments ---------------------------------------------------------


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.OBSERVER)
    email = forms.EmailField(required=False, help_text="Optional: whom the link is for (not sent).")


class MemberAddForm(forms.Form):
    identifier = forms.CharField(max_length=254, label="Username or e-mail address",
                                 help_text="Someone who already has an account here.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.OBSERVER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class BulkInvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.OBSERVER)
    emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), label="E-mail addresses",
        max_length=services.invitations.MAX_BULK_TEXT,
        help_text=f"One per line, at most {services.MAX_BULK_INVITATIONS}. Each gets its own link "
                  "(not sent: copy them from the table below).",
    )


@login_required
def study_members(request: HttpRequest, study_id: int) -> HttpResponse:
    """Members, open invitation links, and which observer records which sequence."""
    study, role = study_for(request, study_id, READERS)
    matrix = selectors.assignment_matrix_for_user(user=request.user, study=study, role=role)
    invitations = [
        {
            "invitation": inv,
            "url": request.build_absolute_uri(reverse("web:invitation", args=[inv.token])),
            "state": inv.state(),
        }
        for inv in selectors.invitations_for_study(study=study)[:50]
    ] if role == Role.COORDINATOR else []
    can_edit = role == Role.COORDINATOR
    members = selectors.members_for_user(user=request.user, study=study, role=role)
    return render(request, "crowd/members.html", {
        "study": study, "role": role, **matrix, "invitations": invitations, "invitation_form": InvitationForm(),
        "can_edit": can_edit,
        "member_rows": [{"membership": m, "role_form": MemberRoleForm(initial={"role": m.role},
                                                                      auto_id=f"id_m{m.pk}_%s")}
                        for m in members],
        "add_form": MemberAddForm(), "bulk_form": BulkInvitationForm(auto_id="id_bulk_%s"),
        "events": selectors.member_events_for_study(study=study)[:100] if can_edit else [],
    })


@login_required
@require_POST
def member_add(request: HttpRequest, study_id: int) -> HttpResponse:
    """Add someone who has an account, by username or e-mail address."""
    study, _ = study_for(request, study_id, COORDINATOR)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return redirect("web:members", study_id=study.pk)
    try:
        user = selectors.user_get_by_username_or_email(identifier=form.cleaned_data["identifier"])
        membership = services.membership_add(study=study, user=user, role=form.cleaned_data["role"],
                                             actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{user.username} added as {membership.role}.")
    return redirect("web:members", study_id=study.pk)


@login_required
@require_POST
def member_role(request: HttpRequest, study_id: int, member_id: int) -> HttpResponse:
    study, _ = study_for(request, study_id, COORDINATOR)
    membership = selectors.membership_of_study(study=study, member_id=member_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return redirect("web:members", study_id=study.pk)
    try:
        membership = services.membership_set(study=study, user=membership.user,
                                             role=form.cleaned_data["role"], actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("web:members", study_id=study.pk)
    messages.success(request, f"{membership.user.username} is now {membership.role}.")
    if membership.user == request.user and membership.role != Role.COORDINATOR:
        return redirect("web:study", study_id=study.pk)  # the members page is no longer theirs
    return redirect("web:members", study_id=study.pk)


@login_required
@require_POST
def member_remove(request: HttpRequest, study_id: int, member_id: int) -> HttpResponse:
    """Remove a member (the page asks for confirmation first); their recordings stay."""
    study, _ = study_for(request, study_id, COORDINATOR)
    membership = selectors.membership_of_study(study=study, member_id=member_id)
    username, self_removed = membership.user.username, membership.user == request.user
    try:
        services.membership_remove(membership=membership, actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("web:members", study_id=study.pk)
    messages.success(request, f"{username} removed from the study; their recordings stay.")
    return redirect("web:home" if self_removed else "web:members",
                    **({} if self_removed else {"study_id": study.pk}))


def _bulk_report(result: services.BulkInvitations) -> list[str]:
    """What the members page says of each line that made no invitation, in line order."""
    rows = [(n, f"“{text}” is not an e-mail address") for n, text, _ in result.invalid]
    rows += [(n, f"{email} is already on line {first}") for n, email, first in result.duplicates]
    rows += [(n, f"{email} is already a member ({username})") for n, email, username in result.members]
    rows += [(n, f"{email} already has an open invitation") for n, email in result.already_invited]
    return [f"line {n}: {text}" for n, text in sorted(rows)]


@login_required
@require_POST
def invitations_bulk(request: HttpRequest, study_id: int) -> HttpResponse:
    """One invitation link per pasted e-mail address; every line not invited is reported."""
    study, _ = study_for(request, study_id, COORDINATOR)
    form = BulkInvitationForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return redirect("web:members", study_id=study.pk)
    try:
        result = services.invitations_create_bulk(
            study=study, role=form.cleaned_data["role"], text=form.cleaned_data["emails"],
            created_by=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("web:members", study_id=study.pk)
    created = len(result.created)
    messages.success(request, f"{created} invitation link{'s' if created != 1 else ''} created.")
    skipped = _bulk_report(result)
    if skipped:
        messages.warning(request, f"{len(skipped)} line{'s' if len(skipped) != 1 else ''} not invited: "
                         + "; ".join(skipped) + ".")
    return redirect("web:members", study_id=study.pk)


@login_required
@require_POST
def invitation_create(request: HttpRequest, study_id: int) -> HttpResponse:
    study, _ = study_for(request, study_id, COORDINATOR)
    form = InvitationForm(request.POST)
    if form.is_valid():
        invitation = services.invitation_create(study=study, created_by=request.user, **form.cleaned_data)
        url = request.build_absolute_uri(reverse("web:invitation", args=[invitation.token]))
        messages.success(request, f"Invitation link for a new {invitation.role} created: {url}")
    else:
        messages.error(request, form_errors_text(form))
    return redirect("web:members", study_id=study.pk)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, study_id: int, invitation_id: int) -> HttpResponse:
    study, _ = study_for(request, study_id, COORDINATOR)
    invitation = selectors.invitation_of_study(study=study, invitation_id=invitation_id)
    services.invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, "Invitation revoked.")
    return redirect("web:members", study_id=study.pk)


@login_required
@require_POST
def assignments_save(request: HttpRequest, study_id: int) -> HttpResponse:
    """Save the observer x sequence matrix (checkboxes named ``a-<observer>-<sequence>``)."""
    study, _ = study_for(request, study_id, COORDINATOR)
    wanted = {(int(m[1]), int(m[2])) for key in request.POST
              if (m := re.fullmatch(r"a-(\d+)-(\d+)", key))}
    added, removed = services.assignments_set(study=study, wanted=wanted,
                                              every="assign_all" in request.POST)
    messages.success(request, f"Assignments saved: {added} added, {removed} removed.")
    return redirect("web:members", study_id=study.pk)


#: What the invitation page says of a link that can no longer be used.
_PROBLEMS = {"revoked": "It was revoked.", "used": "It has already been used.",
             "expired": "It has expired."}


@require_http_methods(["GET", "POST"])
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation link: log in or create an account, then join the study."""
    invitation = selectors.invitation_get_by_token(token=token)
    problem = _PROBLEMS.get(invitation.state())
    if problem:  # say so before anyone creates an account for nothing
        return render(request, "crowd/invitation.html",
                      {"invitation": invitation, "problem": problem}, status=410)
    signup = UserCreationForm(request.POST or None) if not request.user.is_authenticated else None
    if request.method == "POST":
        if signup is not None:
            if not signup.is_valid():
                return render(request, "crowd/invitation.html",
                              {"invitation": invitation, "signup": signup}, status=400)
            user = signup.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except ValidationError as exc:
            messages.error(request, error_text(exc))
            return redirect("web:home")
        messages.success(request, f"You joined “{membership.study.name}” as {membership.role}.")
        if membership.role == Role.OBSERVER:
            return redirect("web:assignments")
        return redirect("web:study", study_id=membership.study_id)
    return render(request, "crowd/invitation.html", {"invitation": invitation, "signup": signup})
