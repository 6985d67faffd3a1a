"""One statement of which observers a run flags: the report, the run's stored summary (the
API) and the results page say the same (docs/crowd.md, "Only a recording's own gaze may
silence it"). A new user found the report flagging an observer the page did not."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from django.test import Client

from annotation import services as annotation_services
from crowd import services as crowd_services
from crowd import storage
from segmentation import selectors
from segmentation import services as seg_services

pytestmark = pytest.mark.django_db(transaction=True)


def test_report_summary_and_page_flag_the_same_observers(study, sequence, small_sample, import_recordings,
                                                         alice, tmp_path):
    import_recordings()
    # A sixth observer who looked 40 pixels to the right throughout: compliant by own gaze, but
    # far from the crowd. The report used to mark that "differs from the crowd" in the column
    # where the page shows its notes; it is now in a column of its own, never a flag.
    shifted = pd.read_csv(small_sample["gaze"]["observer-2"], keep_default_na=True)
    shifted["observer"], shifted["x"] = "observer-shifted", shifted["x"] + 40
    shifted_path = tmp_path / "observer-shifted.csv"
    shifted.to_csv(shifted_path, index=False, na_rep="")
    annotation_services.recording_import_file(
        sequence=sequence, observer=crowd_services.user_get_or_create(username="observer-shifted"),
        path=shifted_path, fmt="csv", ensure_member=True)
    # A fifth observer whose tracker lost the eye on most samples: non-compliant by own gaze.
    table = pd.read_csv(small_sample["gaze"]["observer-1"], keep_default_na=True)
    table["observer"] = "observer-lost"
    lost = np.random.default_rng(0).random(len(table)) < 0.8
    table.loc[lost, ["x", "y"]] = np.nan
    path = tmp_path / "observer-lost.csv"
    table.to_csv(path, index=False, na_rep="")
    user = crowd_services.user_get_or_create(username="observer-lost")
    annotation_services.recording_import_file(sequence=sequence, observer=user, path=path, fmt="csv",
                                              ensure_member=True)
    (run,) = seg_services.study_run_create(study=study, sequence=sequence, parameters={"compare": False})
    run.refresh_from_db()
    assert run.status == run.Status.SUCCEEDED, run.error

    stored = run.observers["flagged"]
    report = json.loads(storage.read_bytes(f"{run.report.folder}/summary.json"))
    page_rows = [name for name, _w, flagged, _r, _n in selectors.run_summary(run=run)["weights"] if flagged]
    assert "observer-lost" in stored
    assert report["flagged"] == report["pool"]["flagged"] == stored
    assert sorted(page_rows) == sorted(stored)

    # The report's table marks the same rows, and says why in the same words as the page.
    observers = pd.read_csv(io.BytesIO(storage.read_bytes(f"{run.report.folder}/observers.csv")),
                            keep_default_na=False).set_index("observer")
    assert sorted(observers.index[observers["flagged"].astype(str) == "True"]) == sorted(stored)
    page = {name: (reason, note) for name, _w, _f, reason, note in selectors.run_summary(run=run)["weights"]}
    for name, (reason, note) in page.items():
        assert (observers.loc[name, "flag_reason"], observers.loc[name, "note"]) == (reason, note), name
    assert "observer-shifted" not in stored
    assert "far above the crowd's median" in observers.loc["observer-shifted", "differs_from_crowd"]

    client = Client()
    client.force_login(alice)
    html = client.get(f"/studies/{study.pk}/runs/{run.pk}/").content.decode()
    assert html.count('<span class="warn">flagged</span>') == len(stored)
