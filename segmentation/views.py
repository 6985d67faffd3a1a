"""HTML pages of the segmentation app: the study dashboard, runs and the results viewer.

The dashboard sits here because it shows all three layers at once (sequences, recordings
per observer, runs); the apps below it must not import this one. Progress of unfinished runs
is followed in the browser by polling the runs API (``/api/studies/<id>/runs/<run_id>/``);
downloads and report figures are the API's (``.../export/<fmt>/``, ``.../report/<name>``).
The viewer draws frames from the platform's PNG-per-frame API and the run's score heat map or
mask from :func:`run_overlay` (an RGBA PNG per frame, :mod:`segmentation.overlays`) over them.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation import selectors as annotation_selectors
from crowd import selectors as crowd_selectors
from crowd.models import Study, StudyMembership
from crowd.permissions import study_for

from . import export_formats, export_service, overlays, selectors, services
from .models import Run
from .parameters import DEFAULTS, METHOD_LABELS, METHODS, ParameterError

Role = StudyMembership.Role
READERS = (Role.COORDINATOR, Role.RESEARCHER)
FORMAT_LABELS = {
    "nifti": "NIfTI (.nii.gz)", "png": "PNG masks (.zip)", "coco": "COCO RLE (.json)",
    "npz": "NumPy scores + masks (.npz)", "csv": "Superpixel scores (.csv)",
    "dicom-seg": "DICOM SEG, binary (.seg.dcm)", "dicom-seg-fractional": "DICOM SEG, scores (.seg.dcm)",
}


# --- the study dashboard --------------------------------------------------------------------------


class RunForm(forms.Form):
    sequence = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    pool = forms.ChoiceField(required=False, choices=[("", "default")])
    method = forms.ChoiceField(required=False, choices=[("", "default (EEL)")] + [
        (m, METHOD_LABELS[m]) for m in METHODS])
    compare = forms.BooleanField(required=False, initial=True,
                                 label="Also score the baselines (with reference masks)")

    def __init__(self, *args, sequences=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sequence"].choices = [("", "every sequence")] + [(s.pk, s.name) for s in sequences]
        try:
            from segmentation.engine import POOLS
            pools = sorted(POOLS)
        except ImportError:  # the pooling module is optional for the page
            pools = ["mean"]
        self.fields["pool"].choices = [("", "default")] + [(p, p) for p in pools]


@login_required
def study_dashboard(request: HttpRequest, study_id: int) -> HttpResponse:
    """A study at a glance: settings, sequences, recordings per observer, runs and results."""
    study, role = study_for(request, study_id)
    if role == Role.OBSERVER:
        return redirect("web:assignments")
    matrix = annotation_selectors.recordings_matrix(study=study)
    sequences = [row["sequence"] for row in matrix["rows"]]
    latest = dict((s.pk, run) for s, run in selectors.study_latest_runs(study=study))
    runs = list(selectors.runs_for_study(study=study)[:30])
    return render(request, "segmentation/dashboard.html", {
        "study": study, "role": role, "matrix": matrix,
        "sequence_rows": [(row, latest.get(row["sequence"].pk)) for row in matrix["rows"]],
        "runs": runs, "has_sequences": bool(sequences),
        "run_form": RunForm(sequences=sequences) if role == Role.COORDINATOR else None,
        "unfinished": [r.pk for r in runs if not r.is_finished],
        "labelling": selectors.labelling_section(study=study) if study.kind == Study.Kind.IMAGES else None,
    })


@login_required
@require_POST
def gaze_boxes_start(request: HttpRequest, study_id: int) -> HttpResponse:
    """Start the gaze boxes of an image collection (coordinators), then back to the dashboard."""
    study, _ = study_for(request, study_id, (Role.COORDINATOR,))
    try:
        job, created = services.gaze_boxes_request(study=study, requested_by=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        if job.status == job.Status.SUCCEEDED:  # eager Celery: done already
            counts = job.result
            messages.success(request, f"Gaze boxes: {counts['boxes']} boxes on {counts['images']} images "
                                      f"from {counts['fixations']} fixations.")
        elif job.status == job.Status.FAILED:
            messages.error(request, f"Gaze boxes failed: {job.error}")
        else:
            messages.info(request, "Gaze boxes are being computed (about 1.5 s per image); "
                                   "this page shows their progress." if created else
                                   "Gaze boxes are already being computed.")
    return redirect(reverse("web:study", args=[study.pk]) + "#labelling")


@login_required
@require_POST
def run_start(request: HttpRequest, study_id: int) -> HttpResponse:
    """Start a run on every sequence (or one); the dashboard then polls its progress."""
    study, _ = study_for(request, study_id, (Role.COORDINATOR,))
    form = RunForm(request.POST, sequences=study.sequences.all())
    if not form.is_valid():
        messages.error(request, "; ".join(" ".join(e) for e in form.errors.values()))
        return redirect("web:study", study_id=study.pk)
    sequence = crowd_selectors.sequence_of_study(study=study, sequence_id=form.cleaned_data["sequence"]) \
        if form.cleaned_data["sequence"] else None
    parameters = {k: form.cleaned_data[k] for k in ("pool", "method") if form.cleaned_data[k]}
    parameters["compare"] = form.cleaned_data["compare"]
    try:
        runs = services.study_run_create(study=study, sequence=sequence, requested_by=request.user,
                                         parameters=parameters)
    except (ParameterError, ValueError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{len(runs)} run(s) started: " + ", ".join(
            f"#{r.pk} ({r.sequence.name})" for r in runs))
    return redirect(reverse("web:study", args=[study.pk]) + "#runs")


@login_required
@require_POST
def run_retry(request: HttpRequest, study_id: int, run_id: int) -> HttpResponse:
    run = _run_or_404(request, study_id, run_id, (Role.COORDINATOR,))
    try:
        services.run_retry(run=run)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run #{run.pk} queued again.")
    return redirect(reverse("web:study", args=[study_id]) + "#runs")


# --- results --------------------------------------------------------------------------------------


def _run_or_404(request: HttpRequest, study_id: int, run_id: int, roles=READERS) -> Run:
    return selectors.run_get_for_user(user=request.user, study_id=study_id, run_id=run_id, roles=roles)


@login_required
def run_results(request: HttpRequest, study_id: int, run_id: int) -> HttpResponse:
    """The viewer (frames + heat map or mask, gaze paths), figures, metrics, downloads."""
    run = _run_or_404(request, study_id, run_id)
    study, sequence = run.sequence.study, run.sequence
    summary = selectors.run_summary(run=run)
    available = export_service.formats_for(sequence)
    report_url = reverse("run-report-file", args=[study.pk, run.pk, "x"])[:-1]
    frame_url = reverse("sequence-frame-image", args=[study.pk, sequence.pk, 0])
    overlay_url = reverse("web:run-overlay", args=[study.pk, run.pk, 0])
    config = {
        "nFrames": sequence.n_frames, "width": sequence.width, "height": sequence.height,
        "fps": sequence.playback_fps(),
        "frameUrlPrefix": frame_url[: -len("0.png")],
        "overlayUrlPrefix": overlay_url[: -len("0.png")] if run.status == Run.Status.SUCCEEDED else None,
        "gazeUrl": reverse("web:gaze-paths", args=[study.pk, sequence.pk]),
        "runUrl": reverse("run-detail", args=[study.pk, run.pk]),
        "finished": run.is_finished,
        **_review_config(run, role=crowd_selectors.role_of(user=request.user, study=study)),
    }
    return render(request, "segmentation/run.html", {
        "study": study, "sequence": sequence, "run": run, "config": config,
        "figures": [(f, report_url + f) for f in summary["figures"]],
        "report_files": [(f, report_url + f) for f in summary["report_files"]],
        "downloads": [(fmt, FORMAT_LABELS.get(fmt, fmt),
                       reverse("run-export", args=[study.pk, run.pk, fmt]))
                      for fmt in export_formats.FORMATS if fmt in available]
                     if run.status == Run.Status.SUCCEEDED else [],
        **{k: v for k, v in summary.items() if k not in ("figures", "report_files")},
        "ground_truth": getattr(run, "ground_truth", None),
        "defaults": DEFAULTS,
    })


def _review_config(run: Run, *, role: str | None) -> dict:
    """What the review tools (threshold, brush, compare) of the results page need."""
    ground_truth = getattr(run, "ground_truth", None)
    if run.status != Run.Status.SUCCEEDED or ground_truth is None:
        return {"review": None}
    study, sequence = run.study, run.sequence
    layer = reverse("web:run-review-layer", args=[study.pk, run.pk, "scores", 0])
    return {"review": {
        "layerUrlPrefix": layer[: -len("scores/0.bin")],
        "ruleThreshold": ground_truth.threshold, "rule": ground_truth.threshold_rule,
        "threshold": ground_truth.export_threshold,
        "reviewedBy": getattr(ground_truth.reviewed_by, "username", None),
        "reviewedAt": ground_truth.reviewed_at.isoformat() if ground_truth.reviewed_at else None,
        "thresholdUrl": reverse("run-threshold", args=[study.pk, run.pk]),
        "compareUrl": reverse("run-compare", args=[study.pk, run.pk]),
        "versionsUrl": reverse("ground-truth-versions", args=[study.pk, sequence.pk]),
        "runId": run.pk,
        "referenceFrames": list(sequence.mask_frames) if sequence.masks_file else [],
        "canEdit": role == Role.COORDINATOR,
    }}


@login_required
def run_review_layer(request: HttpRequest, study_id: int, run_id: int, layer: str, index: int) -> HttpResponse:
    """Frame ``index`` of a review layer as raw little-endian values, gzip on the wire:
    ``scores`` (uint16 levels), ``reference`` (uint8 reference mask), ``v<N>`` (uint8 mask of
    corrected version N). See :mod:`segmentation.overlays` for why raw values."""
    run = _run_or_404(request, study_id, run_id)
    sequence = run.sequence
    if not 0 <= index < sequence.n_frames:
        raise Http404(f"frame {index} does not exist (0..{sequence.n_frames - 1})")
    if layer == "scores":
        values = overlays.run_score_levels(run=run, index=index)
    elif layer == "reference":
        values = overlays.reference_mask(masks_name=sequence.masks_file.name, mask_frames=list(sequence.mask_frames),
                                         index=index) if sequence.masks_file else None
        if values is None:
            raise Http404(f"frame {index + 1} has no reference mask")
    elif layer.startswith("v") and layer[1:].isdigit() and len(layer) < 12:
        version = selectors.ground_truth_version(sequence=sequence, number=int(layer[1:]))
        values = overlays.version_mask(name=version.file.name, index=index)
    else:
        raise Http404(f"unknown layer {layer[:20]!r}; use scores, reference or v<version>")
    response = HttpResponse(overlays.gzip_bytes(values), content_type="application/octet-stream")
    response["Content-Encoding"] = "gzip"
    # A run's scores and a saved version never change; reference masks may be attached again.
    response["Cache-Control"] = "private, no-cache" if layer == "reference" else "private, max-age=3600"
    return response


@login_required
def run_overlay(request: HttpRequest, study_id: int, run_id: int, index: int) -> HttpResponse:
    """One frame's heat map (``?kind=scores``, default) or mask (``?kind=mask``) as RGBA PNG."""
    run = _run_or_404(request, study_id, run_id)
    png = overlays.run_overlay_png(run=run, index=index, kind=request.GET.get("kind", "scores"))
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"  # a run's result never changes
    return response
