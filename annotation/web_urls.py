"""URLs of the annotation app's web pages, included by :mod:`crowd.web_urls` in the ``web`` namespace.

Included by module path (a string) so that crowd, the lowest layer, imports nothing above it.
"""

from django.urls import path

from . import views

urlpatterns = [
    path("assignments/", views.assignments, name="assignments"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/record/", views.record, name="record"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/label/", views.label, name="label"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/upload-gaze/", views.gaze_upload, name="gaze-upload"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/gaze-paths.json", views.gaze_paths, name="gaze-paths"),
    path("recordings/<int:recording_id>/", views.recording_detail, name="recording"),
    path("privacy/webcam/", views.webcam_privacy, name="webcam-privacy"),
]
