from django.apps import AppConfig


class CrowdConfig(AppConfig):
    name = "crowd"
    verbose_name = "Studies, sequences and members"
    default_auto_field = "django.db.models.BigAutoField"
