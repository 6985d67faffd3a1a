"""URLs of the annotation API, mounted under ``/api/``."""

from django.urls import path

from . import api

urlpatterns = [
    path("studies/<int:study_id>/status/", api.StudyStatusApi.as_view(), name="study-status"),
    path("studies/<int:study_id>/recordings/bids.zip", api.StudyBidsApi.as_view(), name="study-bids"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/recordings/", api.RecordingListApi.as_view(),
         name="recording-list"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/recordings/import/",
         api.RecordingImportApi.as_view(), name="recording-import"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/labels/", api.ImageLabelListApi.as_view(),
         name="image-label-list"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/image-visits/", api.ImageVisitListApi.as_view(),
         name="image-visit-list"),
    path("recordings/<int:recording_id>/", api.RecordingDetailApi.as_view(), name="recording-detail"),
    path("recordings/<int:recording_id>/batches/", api.GazeBatchApi.as_view(), name="recording-batches"),
    path("recordings/<int:recording_id>/progress/", api.RecordingProgressApi.as_view(), name="recording-progress"),
    path("recordings/<int:recording_id>/finish/", api.RecordingFinishApi.as_view(), name="recording-finish"),
    path("recordings/<int:recording_id>/abort/", api.RecordingAbortApi.as_view(), name="recording-abort"),
    path("recordings/<int:recording_id>/gaze/", api.RecordingGazeApi.as_view(), name="recording-gaze"),
]
