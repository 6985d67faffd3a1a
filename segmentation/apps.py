from django.apps import AppConfig


def _estimate_when_finished(recording_id: int) -> None:
    """A finished recording gets its per-observer estimate on the quick queue.

    Not a recording of an image collection: its images are not a sequence to propagate
    through, and its gaze becomes boxes on request (:mod:`segmentation.services.gaze_boxes`).
    """
    from annotation.models import Recording
    from crowd.models import Study

    from .tasks import estimate_recording

    kind = Recording.objects.filter(pk=recording_id).values_list("sequence__study__kind", flat=True).first()
    if kind == Study.Kind.IMAGES:
        return
    estimate_recording.delay(recording_id)


class SegmentationConfig(AppConfig):
    name = "segmentation"
    verbose_name = "Segmentation runs, ground truth and reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # annotation sits below segmentation in the layers, so it cannot call us: we register.
        from annotation.hooks import on_recording_finished

        # The services queue our tasks by name (crowd.celery.enqueue_on_commit): register them
        # in every process, the web server's too, not only where a worker autodiscovers them.
        from . import tasks  # noqa: F401

        on_recording_finished(_estimate_when_finished)
