"""Reads of the segmentation app."""

from __future__ import annotations

from crowd.models import Sequence, Study

from .models import Run


def run_latest_succeeded(*, sequence: Sequence) -> Run | None:
    """The newest successful run of ``sequence`` (its ground truth is the current one)."""
    return (Run.objects.filter(sequence=sequence, status=Run.Status.SUCCEEDED)
            .select_related("ground_truth", "report", "sequence").order_by("-finished_at", "-id")
            .first())


def study_latest_runs(*, study: Study) -> list[tuple[Sequence, Run | None]]:
    """Each sequence of ``study`` with its newest successful run (None when it has none)."""
    return [(s, run_latest_succeeded(sequence=s)) for s in study.sequences.order_by("id")]


def runs_for_study(*, study: Study):
    return Run.objects.filter(study=study).select_related("sequence", "ground_truth").order_by("-created_at", "-id")


def run_of_study(*, study: Study, run_id: int) -> Run | None:
    """Run ``run_id`` if it belongs to ``study`` (whose access the caller has checked)."""
    return (Run.objects.filter(pk=run_id, study=study)
            .select_related("sequence", "sequence__study", "report", "ground_truth").first())
