from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Recordings, gaze and manual labels"
    default_auto_field = "django.db.models.BigAutoField"
