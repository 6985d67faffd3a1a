"""URLs of the segmentation API, mounted under ``/api/``."""

from django.urls import path

from . import api, dicomweb_api, image_api

urlpatterns = [
    path("studies/<int:study_id>/dicomweb/push/", dicomweb_api.DicomWebPushApi.as_view(), name="dicomweb-push"),
    path("studies/<int:study_id>/runs/", api.RunListCreateApi.as_view(), name="run-list"),
    path("studies/<int:study_id>/runs/<int:run_id>/", api.RunDetailApi.as_view(), name="run-detail"),
    path("studies/<int:study_id>/runs/<int:run_id>/retry/", api.RunRetryApi.as_view(), name="run-retry"),
    path("studies/<int:study_id>/runs/<int:run_id>/export/<str:fmt>/", api.RunExportApi.as_view(),
         name="run-export"),
    path("studies/<int:study_id>/runs/<int:run_id>/report/<str:name>", api.RunReportFileApi.as_view(),
         name="run-report-file"),
    path("studies/<int:study_id>/runs/<int:run_id>/threshold/", api.RunThresholdApi.as_view(),
         name="run-threshold"),
    path("studies/<int:study_id>/runs/<int:run_id>/compare/", api.RunCompareApi.as_view(), name="run-compare"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/ground-truth/versions/",
         api.GroundTruthVersionListApi.as_view(), name="ground-truth-versions"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/ground-truth/<str:fmt>/",
         api.SequenceGroundTruthApi.as_view(), name="sequence-ground-truth"),
    path("studies/<int:study_id>/gaze-boxes/", image_api.GazeBoxesApi.as_view(), name="gaze-boxes"),
    path("studies/<int:study_id>/gaze-boxes/<str:kind>/", image_api.GazeBoxesFileApi.as_view(),
         name="gaze-boxes-file"),
    path("studies/<int:study_id>/labelling-times/", image_api.LabellingTimesApi.as_view(),
         name="labelling-times"),
]
