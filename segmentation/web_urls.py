"""URLs of the segmentation app's web pages, included by :mod:`crowd.web_urls` in the ``web``
namespace (by module path, so that crowd, the lowest layer, imports nothing above it)."""

from django.urls import path

from . import views

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
]
