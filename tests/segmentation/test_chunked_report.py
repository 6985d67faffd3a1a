"""A chunked run writes the per-annotator and ROC report a whole-sequence run writes."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from segmentation import services
from segmentation.models import Report, Run

from .conftest import OBSERVERS
from .test_chunked_runs import chunk_small_sequences, long_sequence, sixteen_slices  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_chunked_run_writes_its_report_like_a_whole_run(study, long_sequence, client_for,  # noqa: F811
                                                          carol, bob):
    (whole,) = services.study_run_create(study=study, sequence=long_sequence,
                                         parameters={"compare": False, "chunk_frames": 16})
    (cut,) = services.study_run_create(study=study, sequence=long_sequence,
                                       parameters={"compare": True, "chunk_frames": 4})
    whole.refresh_from_db()
    cut.refresh_from_db()
    assert whole.status == cut.status == Run.Status.SUCCEEDED, (whole.error, cut.error)
    assert cut.timings["chunked"]["chunks"] == 4 and cut.timings["report"] > 0
    a, b = Report.objects.get(run=whole), Report.objects.get(run=cut)
    assert set(a.files) == set(b.files)
    assert {"report.html", "observers.csv", "roc.png", "summary.json"} <= set(b.files)
    assert b.scored_frames == a.scored_frames and len(b.scored_frames) == 16

    researcher = client_for(carol)
    base = f"/api/studies/{study.pk}/runs"
    html = researcher.get(f"{base}/{cut.pk}/report/report.html")
    assert html.status_code == 200 and b"Chunked run: 16 frames in 4 chunks" in html.content
    tables = [pd.read_csv(io.BytesIO(researcher.get(f"{base}/{r.pk}/report/observers.csv").content))
              .set_index("observer") for r in (whole, cut)]
    assert set(tables[1].index) == set(OBSERVERS)
    # Same observers, same weights and flags; the scores agree up to the seams' rounding.
    pd.testing.assert_series_equal(tables[0]["flagged"], tables[1]["flagged"])
    pd.testing.assert_series_equal(tables[0]["weight"], tables[1]["weight"], atol=1e-3)
    pd.testing.assert_series_equal(tables[0]["auc_probability"], tables[1]["auc_probability"],
                                   atol=1e-3)
    assert client_for(bob).get(f"{base}/{cut.pk}/report/report.html").status_code == 403

    # The results page lists the baselines scored and names the one a chunked run cannot.
    from django.test import Client
    from django.urls import reverse

    page = Client()
    page.force_login(carol)
    html = page.get(reverse("web:run", args=[study.pk, cut.pk])).content.decode()
    assert set(cut.metrics["methods"]) == {"eel", "el", "probability"}
    assert 'data-not-compared="vilarino"' in html and "whole sequence" in html
    for method in ("el", "probability"):
        assert f"<td>{method}</td>" in html


@pytest.fixture
def default_chunks_of_four(monkeypatch):
    """Runs started with the defaults (the quorum's) cut the 16 slices into 4 chunks."""
    from segmentation import parameters

    monkeypatch.setitem(parameters.DEFAULTS, "chunk_frames", 4)


def test_a_finished_recording_of_a_chunked_sequence_prepares_nothing_whole(
        study, default_chunks_of_four, long_sequence, settings):  # noqa: F811
    """The estimate task of a long sequence would prepare the whole sequence in one process
    (the memory chunked runs avoid): it leaves the estimates to the chunked run, and the quorum
    still starts that run."""
    from annotation.models import Recording
    from crowd.services import study_update
    from segmentation.models import ObserverEstimate, PreparedSequence

    recordings = list(Recording.objects.filter(sequence=long_sequence))
    assert len(recordings) == len(OBSERVERS)
    assert not PreparedSequence.objects.exists() and not ObserverEstimate.objects.exists()
    study_update(study=study, quorum=len(OBSERVERS))
    assert services.recording_estimate(recording_id=recordings[0].pk) is None
    assert not PreparedSequence.objects.exists() and not ObserverEstimate.objects.exists()
    run = Run.objects.get(sequence=long_sequence)
    assert run.trigger == Run.Trigger.QUORUM and run.status == Run.Status.SUCCEEDED, run.error
    assert "chunked" in run.timings and Report.objects.filter(run=run).exists()
    # A sequence below the pixel budget keeps its cached estimate.
    settings.GAZECROWD_CHUNKED_RUN_MIN_PIXELS = 10**12
    assert services.recording_estimate(recording_id=recordings[1].pk) is not None
    assert ObserverEstimate.objects.filter(recording=recordings[1]).exists()
