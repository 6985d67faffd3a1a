"""URLs of the segmentation app's web pages, included by :mod:`crowd.web_urls` in the ``web``
namespace (by module path, so that crowd, the lowest layer, imports nothing above it)."""

from django.urls import path

from . import review_views, views

urlpatterns = [
    path("studies/<int:study_id>/", views.study_dashboard, name="study"),
    path("studies/<int:study_id>/runs/start/", views.run_start, name="run-start"),
    path("studies/<int:study_id>/gaze-boxes/", views.gaze_boxes_start, name="gaze-boxes"),
    path("studies/<int:study_id>/runs/<int:run_id>/", views.run_results, name="run"),
    path("studies/<int:study_id>/runs/<int:run_id>/retry/", views.run_retry, name="run-retry"),
    path("studies/<int:study_id>/runs/<int:run_id>/overlay/<int:index>.png", views.run_overlay,
         name="run-overlay"),
    path("studies/<int:study_id>/runs/<int:run_id>/review/<str:layer>/<int:index>.bin", views.run_review_layer,
         name="run-review-layer"),
    # review pages: volume viewer, gaze replay with the observer panel, sequence preview
    path("studies/<int:study_id>/sequences/<int:sequence_id>/volume/", review_views.volume_viewer,
         name="sequence-volume"),
    path("studies/<int:study_id>/runs/<int:run_id>/volume/", review_views.volume_viewer,
         {"sequence_id": None}, name="run-volume"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/volume.nii.gz",
         review_views.sequence_volume_nifti, name="sequence-volume-nifti"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/reference.nii.gz",
         review_views.sequence_reference_nifti, name="sequence-reference-nifti"),
    path("studies/<int:study_id>/runs/<int:run_id>/mask.nii.gz", review_views.run_mask_nifti,
         name="run-mask-nifti"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/replay/", review_views.gaze_replay,
         name="sequence-replay"),
    path("studies/<int:study_id>/runs/<int:run_id>/replay/", review_views.gaze_replay, name="run-replay"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/replay.json",
         review_views.sequence_replay_json, name="sequence-replay-json"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/preview/", review_views.sequence_preview,
         name="sequence-preview"),
]
