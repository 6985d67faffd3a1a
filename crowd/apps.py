from django.apps import AppConfig


class CrowdConfig(AppConfig):
    name = "crowd"
    verbose_name = "Studies, sequences and members"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Pillow refuses, at open and before decoding, an image of more than twice this many
        # pixels (DecompressionBombError) and warns above it: the sequence budget, for any
        # image this process opens. The readers also check each size against what is left of
        # the budget (segmentation.engine.io.sequences).
        from django.conf import settings
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = int(settings.GAZECROWD_MAX_SEQUENCE_PIXELS)
