"""Root URL configuration: admin, the API (crowd, annotation, segmentation), its schema and docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import api, dicomweb_api

api_patterns = [
    path("", api.ApiRootApi.as_view(), name="api-root"),
    path("auth/token/", api.AuthTokenApi.as_view(), name="auth-token"),
    path("studies/", api.StudyListApi.as_view(), name="study-list"),
    path("studies/<int:study_id>/", api.StudyDetailApi.as_view(), name="study-detail"),
    path("studies/<int:study_id>/sequences/", api.SequenceListApi.as_view(), name="sequence-list"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/", api.SequenceDetailApi.as_view(),
         name="sequence-detail"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/frames/", api.SequenceFramesApi.as_view(),
         name="sequence-frames"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/frames/<int:index>.png",
         api.SequenceFrameImageApi.as_view(), name="sequence-frame-image"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/masks/", api.SequenceMasksApi.as_view(),
         name="sequence-masks"),
    path("studies/<int:study_id>/members/", api.MemberListApi.as_view(), name="member-list"),
    path("studies/<int:study_id>/members/<int:member_id>/", api.MemberDetailApi.as_view(), name="member-detail"),
    path("studies/<int:study_id>/invitations/", api.InvitationListApi.as_view(), name="invitation-list"),
    path("studies/<int:study_id>/audit/", api.MemberEventListApi.as_view(), name="member-event-list"),
    path("studies/<int:study_id>/invitations/<int:invitation_id>/", api.InvitationDetailApi.as_view(),
         name="invitation-detail"),
    path("studies/<int:study_id>/dicomweb/", dicomweb_api.DicomWebServerApi.as_view(), name="dicomweb-server"),
    path("studies/<int:study_id>/dicomweb/studies/", dicomweb_api.DicomWebStudiesApi.as_view(),
         name="dicomweb-studies"),
    path("studies/<int:study_id>/dicomweb/studies/<str:study_uid>/series/", dicomweb_api.DicomWebSeriesApi.as_view(),
         name="dicomweb-series"),
    path("studies/<int:study_id>/dicomweb/import/", dicomweb_api.DicomWebImportApi.as_view(),
         name="dicomweb-import"),
    path("invitations/<str:token>/accept/", api.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("studies/<int:study_id>/assignments/", api.AssignmentListApi.as_view(), name="assignment-list"),
    path("studies/<int:study_id>/assignments/<int:assignment_id>/", api.AssignmentDetailApi.as_view(),
         name="assignment-detail"),
    path("", include("annotation.urls")),
    path("", include("segmentation.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include(api_patterns)),
    path("", include("crowd.web_urls")),
]
