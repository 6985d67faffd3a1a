"""The bounds migrations succeed on a database that holds what the old code let in.

A deployment upgrades a database where a client once stored a study frame rate of 1e308, a
quorum of 2**31 - 1, a recording with an infinite sampling rate, a screen of 2**31 - 1
pixels, a repeat and a batch numbered 2**31 - 1. The data migrations (crowd 0004, annotation
0003) bring those rows within bounds, so that the constraints (crowd 0005, annotation 0004)
can be added; the rows that were fine stay exactly as they were.
"""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("crowd", "0003_image_collections"), ("annotation", "0002_image_labels"),
          ("segmentation", "0002_gaze_boxes_job")]
AFTER = [("crowd", "0005_bounds"), ("annotation", "0004_bounds")]


@pytest.fixture
def back_to_the_latest_schema():
    """Whatever happens, the test database ends at the latest migration of every app."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migrations_clean_old_rows_then_constrain_them(back_to_the_latest_schema):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("auth", "User")
    Study, Sequence = old.get_model("crowd", "Study"), old.get_model("crowd", "Sequence")
    Recording, GazeBatch = old.get_model("annotation", "Recording"), old.get_model("annotation", "GazeBatch")
    bob = User.objects.create(username="bob")
    wild = Study.objects.create(name="wild", frame_rate=1e308, quorum=2**31 - 1, repeats_per_observer=10**6)
    fine = Study.objects.create(name="fine", frame_rate=12.5, quorum=3, repeats_per_observer=2)
    sequence = Sequence.objects.create(study=wild, name="s", modality="images", frames_file="f.npy", n_frames=2,
                                       height=4, width=5, dtype="uint8", fps=1e9)
    inf = Recording.objects.create(observer=bob, sequence=sequence, repeat=1, playback_fps=1e300,
                                   sampling_rate_hz=float("inf"), screen_width_px=2**31 - 1,
                                   screen_height_px=1080, expected_batches=2**31 - 1,
                                   calibration_error_deg=float("nan"))
    far = Recording.objects.create(observer=bob, sequence=sequence, repeat=2**31 - 1, playback_fps=10.0)
    for number in (0, 2**31 - 1):
        GazeBatch.objects.create(recording=inf, number=number, n_samples=1, n_lost=0, t_first_ms=0.0,
                                 t_last_ms=1e300, digest="d", samples=b"\0" * 32)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Study, Sequence = new.get_model("crowd", "Study"), new.get_model("crowd", "Sequence")
    Recording, GazeBatch = new.get_model("annotation", "Recording"), new.get_model("annotation", "GazeBatch")
    wild, fine = Study.objects.get(name="wild"), Study.objects.get(name="fine")
    assert (wild.frame_rate, wild.quorum, wild.repeats_per_observer) == (None, 10_000, 100)
    assert (fine.frame_rate, fine.quorum, fine.repeats_per_observer) == (12.5, 3, 2)
    assert Sequence.objects.get().fps is None
    inf = Recording.objects.get(pk=inf.pk)
    assert (inf.playback_fps, inf.sampling_rate_hz, inf.screen_width_px, inf.screen_height_px,
            inf.expected_batches, inf.calibration_error_deg) == (1000.0, None, None, 1080, None, None)
    assert Recording.objects.get(pk=far.pk).repeat == 2  # the first free repeat number
    batches = list(GazeBatch.objects.values_list("number", "t_last_ms"))
    assert batches == [(0, None)]
    # And the constraints hold from now on.
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Study.objects.filter(pk=fine.pk).update(quorum=2**31 - 1)
