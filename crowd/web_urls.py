"""URLs of the web pages, mounted at the site root by :mod:`crowd.urls`.

``login`` and ``logout`` keep their global names (``settings.LOGIN_URL = "login"``); every page
is in the ``web`` namespace (``{% url 'web:study' study.pk %}``) so that its names never clash
with the API's (``study-detail``, ``recording-detail``...).

The pages of the annotation and segmentation apps are included by module path, as strings:
crowd is the lowest layer of the import contracts and must not import the apps above it, while
Django's ``include`` resolves the strings at URL-loading time. Their ``urlpatterns`` are in
``annotation/web_urls.py`` and ``segmentation/web_urls.py``.
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

pages = [
    path("", views.home, name="home"),
    path("studies/new/", views.study_create, name="study-create"),
    path("studies/<int:study_id>/edit/", views.study_edit, name="study-edit"),
    path("studies/<int:study_id>/sequences/upload/", views.sequence_upload, name="sequence-upload"),
    path("studies/<int:study_id>/sequences/<int:sequence_id>/delete/", views.sequence_delete,
         name="sequence-delete"),
    path("studies/<int:study_id>/members/", views.study_members, name="members"),
    path("studies/<int:study_id>/members/add/", views.member_add, name="member-add"),
    path("studies/<int:study_id>/members/<int:member_id>/role/", views.member_role, name="member-role"),
    path("studies/<int:study_id>/members/<int:member_id>/remove/", views.member_remove,
         name="member-remove"),
    path("studies/<int:study_id>/invitations/bulk/", views.invitations_bulk, name="invitations-bulk"),
    path("studies/<int:study_id>/invitations/new/", views.invitation_create, name="invitation-create"),
    path("studies/<int:study_id>/invitations/<int:invitation_id>/revoke/", views.invitation_revoke,
         name="invitation-revoke"),
    path("studies/<int:study_id>/assignments/", views.assignments_save, name="assignments-save"),
    path("invite/<str:token>/", views.invitation_page, name="invitation"),
    path("", include("annotation.web_urls")),
    path("", include("segmentation.web_urls")),
]

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include((pages, "web"))),
]
