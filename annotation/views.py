"""HTML pages of the annotation app: an observer's assignments, the recording page, tracker
file uploads, a recording's summary, and the gaze paths the results viewer draws.

The recording page talks to the platform's API from the browser (start a recording, send
~1 s batches of gaze samples, finish); this module only renders it. Frames come from the
platform's PNG-per-frame API (``/api/studies/<id>/sequences/<id>/frames/<k>.png``).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import PrefixNode, static
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from crowd import services as crowd_services
from crowd.models import Study, StudyMembership
from crowd.permissions import sequence_for
from crowd.views import error_text, form_errors_text, wants_json
from segmentation.engine.trackers import FORMATS

from . import selectors, services
from .models import MAX_ABS_T_MS, MAX_DISTANCE_CM, MAX_SCREEN_CM, MAX_SCREEN_PX

Role = StudyMembership.Role
READERS = (Role.COORDINATOR, Role.RESEARCHER)

# WebGazer (GPL-3.0) is never bundled: a deployer copies it here (docs/web.md). The webcam
# source is offered only when both the script and its face-mesh model files are served locally.
WEBGAZER_SCRIPT = "vendor/webgazer/webgazer.js"
WEBGAZER_FACE_MESH = "vendor/webgazer/mediapipe/face_mesh/face_mesh.js"


# The bundled webcam gaze (docs/web.md, "Webcam gaze"): MediaPipe Face Mesh, Apache-2.0, vendored
# at a pinned version by bench/update_mediapipe_face_mesh.sh. It loads its model and
# WebAssembly files by name from its folder, addressed unhashed like WebGazer's below.
FACE_MESH_VERSION = "0.4.1633559619"
FACE_MESH_DIR = f"vendor/mediapipe-face-mesh/{FACE_MESH_VERSION}/"


def _face_mesh_urls() -> dict:
    base = f"{PrefixNode.handle_simple('STATIC_URL')}{FACE_MESH_DIR}"
    return {"faceMesh": {"version": FACE_MESH_VERSION, "assetPath": base, "script": f"{base}face_mesh.js"}}


def webgazer_available() -> bool:
    return bool(finders.find(WEBGAZER_SCRIPT) and finders.find(WEBGAZER_FACE_MESH))


def _webgazer_urls() -> dict:
    """The script's URL (hashed by the manifest storage in production) and the model folder's.

    MediaPipe loads its model files by their own names from the folder, so the folder is
    addressed under STATIC_URL unhashed (collectstatic keeps the original names beside the
    hashed copies, and WhiteNoise serves both).
    """
    if not webgazer_available():
        return {"webgazer": False, "webgazerScript": None, "webgazerModelPath": None}
    base = PrefixNode.handle_simple("STATIC_URL")
    return {"webgazer": True, "webgazerScript": static(WEBGAZER_SCRIPT),
            "webgazerModelPath": f"{base}vendor/webgazer/mediapipe/face_mesh"}


# --- assignments ----------------------------------------------------------------------------------


@login_required
def assignments(request: HttpRequest) -> HttpResponse:
    """Every sequence the user is asked to record, over all their studies, with progress."""
    rows = selectors.assignments_with_progress(user=request.user)
    return render(request, "annotation/assignments.html", {"rows": rows})


# --- the recording page ---------------------------------------------------------------------------


@login_required
def record(request: HttpRequest, study_id: int, sequence_id: int) -> HttpResponse:
    """Instructions, optional 9-point calibration, then the sequence played while gaze streams."""
    sequence, _ = sequence_for(request, study_id, sequence_id, (Role.OBSERVER,))
    study = sequence.study
    done = selectors.finished_recordings(sequence=sequence, observer=request.user).count()
    frame_url = reverse("sequence-frame-image", args=[study.pk, sequence.pk, 0])
    config = {
        "study": study.pk,
        "sequence": sequence.pk,
        "nFrames": sequence.n_frames,
        "width": sequence.width,
        "height": sequence.height,
        "fps": sequence.playback_fps(),
        # "/api/.../frames/0.png" -> the client puts each frame number in place of the 0.
        "frameUrlPrefix": frame_url[: -len("0.png")],
        "startUrl": reverse("recording-list", args=[study.pk, sequence.pk]),
        "recordingUrlPrefix": reverse("recording-detail", args=[0])[: -len("0/")],
        "doneUrl": reverse("web:assignments"),
        **_webgazer_urls(),
        **_face_mesh_urls(),
    }
    # The screen and distance the observer stated last time are this page's defaults (degrees of
    # the validation are computed with them).
    last = selectors.last_stated_display(observer=request.user)
    return render(request, "annotation/record.html", {
        "study": study, "sequence": sequence, "config": config, "done": done,
        "wanted": study.repeats_per_observer, "duration_s": sequence.n_frames / sequence.playback_fps(),
        "screen_cm": last and last["screen_width_cm"], "distance_cm": last and last["viewing_distance_cm"],
        "screen_from_last": bool(last),
    })


def webcam_privacy(request: HttpRequest) -> HttpResponse:
    """What the webcam recorder does with the camera (open to everyone: invited observers read it first)."""
    return render(request, "annotation/webcam_privacy.html", {"face_mesh_version": FACE_MESH_VERSION})


# --- the labelling page of image collections ------------------------------------------------------

LABEL_MODES = ("box", "freehand", "gaze")


@login_required
def label(request: HttpRequest, study_id: int, sequence_id: int) -> HttpResponse:
    """Label an image collection by hand (boxes, freehand outlines) or by gaze, timing each label."""
    sequence, _ = sequence_for(request, study_id, sequence_id, (Role.OBSERVER,))
    study = sequence.study
    if study.kind != Study.Kind.IMAGES:
        raise Http404(f"{study.name!r} is not an image collection")
    mode = request.GET.get("mode", "box")
    if mode not in LABEL_MODES:
        mode = "box"
    frame_url = reverse("sequence-frame-image", args=[study.pk, sequence.pk, 0])
    config = {
        "study": study.pk,
        "sequence": sequence.pk,
        "mode": mode,
        "nImages": sequence.n_frames,
        "names": sequence.image_names(),
        "width": sequence.width,
        "height": sequence.height,
        "frameUrlPrefix": frame_url[: -len("0.png")],
        "labelsUrl": reverse("image-label-list", args=[study.pk, sequence.pk]),
        "visitsUrl": reverse("image-visit-list", args=[study.pk, sequence.pk]),
        "startUrl": reverse("recording-list", args=[study.pk, sequence.pk]),
        "recordingUrlPrefix": reverse("recording-detail", args=[0])[: -len("0/")],
    }
    return render(request, "annotation/label.html", {
        "study": study, "sequence": sequence, "config": config, "mode": mode, "modes": LABEL_MODES,
    })


# --- tracker-file uploads -------------------------------------------------------------------------


class GazeUploadForm(forms.Form):
    file = forms.FileField(label="Tracker export",
                           help_text="CSV (observer,t_ms,frame,x,y), Tobii Pro Lab TSV, EyeLink ASC, "
                                     "Pupil Labs surface CSV or The Eye Tribe JSON.")
    format = forms.ChoiceField(choices=[("", "Detect from the file")] + [(f, f) for f in FORMATS],
                               required=False)
    screen_width_px = forms.IntegerField(required=False, min_value=1, max_value=MAX_SCREEN_PX,
                                         label="Screen width (pixels)")
    screen_height_px = forms.IntegerField(required=False, min_value=1, max_value=MAX_SCREEN_PX,
                                          label="Screen height (pixels)")
    screen_width_cm = forms.FloatField(required=False, min_value=0.1, max_value=MAX_SCREEN_CM,
                                       label="Screen width (cm)")
    screen_height_cm = forms.FloatField(required=False, min_value=0.1, max_value=MAX_SCREEN_CM,
                                        label="Screen height (cm)")
    viewing_distance_cm = forms.FloatField(required=False, min_value=1, max_value=MAX_DISTANCE_CM,
                                           label="Viewing distance (cm)")
    playback_start_ms = forms.FloatField(
        required=False, min_value=-MAX_ABS_T_MS, max_value=MAX_ABS_T_MS, label="Playback start (tracker ms)",
        help_text="When the file has no sync marker: the tracker time at which playback began.")


@login_required
@require_http_methods(["GET", "POST"])
def gaze_upload(request: HttpRequest, study_id: int, sequence_id: int) -> HttpResponse:
    """An observer uploads the tracker export of a session recorded elsewhere."""
    sequence, _ = sequence_for(request, study_id, sequence_id, (Role.OBSERVER,))
    form = GazeUploadForm(request.POST or None, request.FILES or None)
    status, error = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
            upload = data.pop("file")
            try:
                with crowd_services.uploaded_path(upload) as local:
                    recording = services.recording_import_file(
                        sequence=sequence, observer=request.user, path=local,
                        fmt=data.pop("format", None), source_name=upload.name,
                        playback_start_ms=data.pop("playback_start_ms", None), **data,
                    )
            except crowd_services.UploadTooLarge as exc:
                error, status = error_text(exc), 413
            except ValidationError as exc:
                error = error_text(exc)
            else:
                counts = selectors.recording_counts(recording)
                text = f"Recording #{recording.pk} imported: {counts['samples']} samples."
                target = reverse("web:recording", args=[recording.pk])
                messages.success(request, text)
                if wants_json(request):
                    return JsonResponse({"ok": True, "message": text, "redirect": target}, status=201)
                return redirect(target)
        else:
            error = form_errors_text(form)
        if wants_json(request):
            return JsonResponse({"ok": False, "error": error}, status=status)
    return render(request, "annotation/gaze_upload.html",
                  {"study": sequence.study, "sequence": sequence, "form": form, "error": error,
                   "max_mb": crowd_services.max_upload_bytes() // 2**20}, status=status)


# --- a recording's summary ------------------------------------------------------------------------


@login_required
def recording_detail(request: HttpRequest, recording_id: int) -> HttpResponse:
    """One recording: observers see only their own (others get 404, as if it did not exist)."""
    recording, role = selectors.recording_get_for_user(user=request.user, recording_id=recording_id)
    return render(request, "annotation/recording.html", {
        "recording": recording, "role": role, "counts": selectors.recording_counts(recording),
        "study": recording.sequence.study, "sequence": recording.sequence,
        "gaze_url": reverse("recording-gaze", args=[recording.pk]),
    })


# --- for the study dashboard and the results viewer -----------------------------------------------


@login_required
def gaze_paths(request: HttpRequest, study_id: int, sequence_id: int) -> JsonResponse:
    """Per finished recording, the mean gaze point of every frame (null: none), image pixels.

    ``{"frames": T, "recordings": [{"id", "observer", "repeat", "points": [[x, y] | null]}]}``;
    for coordinators and researchers (observers must not see each other's gaze).
    """
    sequence, _ = sequence_for(request, study_id, sequence_id, READERS)
    return JsonResponse(selectors.sequence_gaze_paths(sequence=sequence))
