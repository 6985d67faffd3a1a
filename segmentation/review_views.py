"""Review pages: the volume viewer, gaze replay with the observers' data quality, sequence preview.

Thin: permissions through the crowd selectors (coordinators and researchers; an observer of
the study gets 403, anyone else 404), data from :mod:`segmentation.volumes` (NIfTI bytes) and
:mod:`segmentation.replay` (replay JSON, observer panel). The volume viewer draws with Niivue,
vendored under ``static/vendor/niivue/<version>/`` (see its VENDORED.md).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from crowd.models import Sequence, StudyMembership
from crowd.permissions import sequence_for

from . import replay, selectors, volumes
from .models import Run

Role = StudyMembership.Role
READERS = (Role.COORDINATOR, Role.RESEARCHER)
#: The vendored Niivue (static/vendor/niivue/<version>/, made by bench/update_niivue.sh).
NIIVUE_VERSION = "0.69.0"


def _run(request: HttpRequest, study_id: int, run_id: int) -> Run:
    return selectors.run_get_for_user(user=request.user, study_id=study_id, run_id=run_id, roles=READERS)


def _nifti_response(data: bytes, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/gzip")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Cache-Control"] = "private, max-age=3600"  # stored frames and masks never change
    return response


def _axis_text(sequence: Sequence) -> str:
    if sequence.modality == Sequence.Modality.DICOM:
        return "frames are the series' images, in the order of their position along the slice axis"
    axis, inferred = volumes.slice_axis(sequence)
    how = "from the voxel sizes" if inferred else "the import's default: the voxel sizes cannot tell"
    return f"frames are slices along the volume's {volumes.AXIS_NAMES[axis]} axis ({how})"


# --- the volume viewer ----------------------------------------------------------------------------


@login_required
def volume_viewer(request: HttpRequest, study_id: int, sequence_id: int, run_id: int | None = None
                  ) -> HttpResponse:
    """A volume in three orthogonal planes with a crosshair; the run's computed mask and the
    reference (when there is one) overlaid."""
    if run_id is not None:
        run = _run(request, study_id, run_id)
        sequence = run.sequence
    else:
        sequence, _ = sequence_for(request, study_id, sequence_id, READERS)
        run = selectors.run_latest_succeeded(sequence=sequence)
    study = sequence.study
    if not volumes.is_volume(sequence):
        raise Http404(f"{sequence.name} is not a volume: the volume viewer shows NIfTI volumes and "
                      "DICOM series (use the results page or the preview for frames)")
    has_mask = run is not None and run.status == Run.Status.SUCCEEDED and hasattr(run, "ground_truth")
    config = {
        "volumeUrl": reverse("web:sequence-volume-nifti", args=[study.pk, sequence.pk]),
        "maskUrl": reverse("web:run-mask-nifti", args=[study.pk, run.pk]) if has_mask else None,
        "referenceUrl": reverse("web:sequence-reference-nifti", args=[study.pk, sequence.pk])
        if sequence.has_masks else None,
    }
    return render(request, "segmentation/volume.html", {
        "study": study, "sequence": sequence, "run": run if has_mask else None, "config": config,
        "axis_text": _axis_text(sequence), "niivue_version": NIIVUE_VERSION,
    })


@login_required
def sequence_volume_nifti(request: HttpRequest, study_id: int, sequence_id: int) -> HttpResponse:
    sequence, _ = sequence_for(request, study_id, sequence_id, READERS)
    try:
        data = volumes.volume_nifti_bytes(sequence)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    return _nifti_response(data, "volume.nii.gz")


@login_required
def sequence_reference_nifti(request: HttpRequest, study_id: int, sequence_id: int) -> HttpResponse:
    sequence, _ = sequence_for(request, study_id, sequence_id, READERS)
    if not volumes.is_volume(sequence):
        raise Http404(f"{sequence.name} is not a volume")
    data = volumes.reference_nifti_bytes(sequence)
    if data is None:
        raise Http404(f"{sequence.name} has no reference masks")
    return _nifti_response(data, "reference.nii.gz")


@login_required
def run_mask_nifti(request: HttpRequest, study_id: int, run_id: int) -> HttpResponse:
    run = _run(request, study_id, run_id)
    if not volumes.is_volume(run.sequence):
        raise Http404(f"{run.sequence.name} is not a volume")
    try:
        data = volumes.run_mask_nifti_bytes(run)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    return _nifti_response(data, "computed-mask.nii.gz")


# --- gaze replay and the observer panel -----------------------------------------------------------


@login_required
def gaze_replay(request: HttpRequest, study_id: int, sequence_id: int | None = None,
                run_id: int | None = None) -> HttpResponse:
    """Recordings played over their sequence; for a run, its recordings and the observer panel."""
    run = _run(request, study_id, run_id) if run_id is not None else None
    if run is not None:
        sequence = run.sequence
    else:
        sequence, _ = sequence_for(request, study_id, sequence_id, READERS)
    study = sequence.study
    data_url = reverse("web:sequence-replay-json", args=[study.pk, sequence.pk])
    if run is not None:
        data_url += f"?run={run.pk}"
    frame_url = reverse("sequence-frame-image", args=[study.pk, sequence.pk, 0])
    config = {"dataUrl": data_url, "frameUrlPrefix": frame_url[: -len("0.png")],
              "nFrames": sequence.n_frames, "width": sequence.width, "height": sequence.height,
              "fps": sequence.playback_fps()}
    return render(request, "segmentation/replay.html", {
        "study": study, "sequence": sequence, "run": run, "config": config,
        "panel": replay.observer_panel(run=run) if run is not None else None,
    })


@login_required
def sequence_replay_json(request: HttpRequest, study_id: int, sequence_id: int) -> JsonResponse:
    """Samples and fixations of the sequence's finished recordings (at most
    :data:`replay.MAX_RECORDINGS`); ``?run=<id>``: only the recordings that run pooled."""
    sequence, _ = sequence_for(request, study_id, sequence_id, READERS)
    ids = None
    if request.GET.get("run"):
        try:
            run_id = int(request.GET["run"])
        except ValueError:
            return JsonResponse({"detail": "run must be a run number"}, status=400)
        run = _run(request, study_id, run_id)
        if run.sequence_id != sequence.pk:
            raise Http404(f"run {run_id} is not a run of {sequence.name}")
        ids = [r["id"] for r in (run.observers or {}).get("recordings") or []
               if isinstance(r, dict) and isinstance(r.get("id"), int)]
    return JsonResponse(replay.replay_data(sequence=sequence, recording_ids=ids))


# --- the sequence preview -------------------------------------------------------------------------


@login_required
def sequence_preview(request: HttpRequest, study_id: int, sequence_id: int) -> HttpResponse:
    """Scrub through a sequence's frames before a run: orientation, size, slice axis."""
    sequence, role = sequence_for(request, study_id, sequence_id, READERS)
    study = sequence.study
    frame_url = reverse("sequence-frame-image", args=[study.pk, sequence.pk, 0])
    config = {"frameUrlPrefix": frame_url[: -len("0.png")], "nFrames": sequence.n_frames,
              "width": sequence.width, "height": sequence.height}
    return render(request, "segmentation/preview.html", {
        "study": study, "sequence": sequence, "role": role, "config": config,
        "is_volume": volumes.is_volume(sequence),
        "axis_text": _axis_text(sequence) if volumes.is_volume(sequence) else "",
        "spacing": sequence.spacing,
        "latest_run": selectors.run_latest_succeeded(sequence=sequence),
    })
