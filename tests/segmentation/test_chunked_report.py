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
                                       parameters={"compare": False, "chunk_frames": 4})
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
